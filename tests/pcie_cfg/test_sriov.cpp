// The SR-IOV extended capability: read-only VF geometry, NumVFs and control, VF BAR sizing
// (vtd-pcie.md §5). Plain C++: no SystemC elaboration. Expected values worked out bit by bit.
#include <array>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/pcie/config_space.hpp>

using namespace iovsim::pcie;

namespace {

// An 82599-like PF: 64 VFs at offset 0x80, stride 2; VF BAR0 16 KiB 64-bit prefetchable (BAR1 its
// upper half), VF BAR2 4 KiB 32-bit.
std::array<BarInfo, 6> vf_bars() {
  std::array<BarInfo, 6> bars{};
  bars[0] = {0x4000, true, true};
  bars[2] = {0x1000, false, false};
  return bars;
}

ConfigSpace pf() {
  ConfigSpace cs(0x8086, 0x10FB, 0x020000);
  cs.add_pcie(2);
  return cs;
}

}  // namespace

TEST_CASE("SR-IOV read-only geometry", "[pcie_cfg]") {
  ConfigSpace cs = pf();
  const uint16_t s = cs.add_sriov(64, 0x80, 2, 0x10ED, vf_bars());
  REQUIRE(s == 0x100);
  CHECK(cs.find_ext_capability(kExtCapSriov) == 0x100);
  CHECK(cs.read(0x100, 4) == 0x00010010);  // id 0x10, version 1, last
  CHECK(cs.read(0x104, 4) == 0);           // no migration, ARI capable hierarchy preserved 0
  CHECK(cs.read(0x10C, 4) == 0x00400040);  // InitialVFs 64, TotalVFs 64
  CHECK(cs.read(0x114, 4) == 0x00020080);  // First VF Offset 0x80, VF Stride 2
  CHECK(cs.read(0x118, 4) == 0x10ED0000);  // reserved, VF Device ID
  CHECK(cs.read(0x11C, 4) == 0x00000001);  // supported page sizes: 4 KiB
  CHECK(cs.read(0x120, 4) == 0x00000001);  // system page size: 4 KiB
  for (uint16_t off : std::initializer_list<uint16_t>{0x104, 0x10C, 0x114, 0x118, 0x11C, 0x13C})
    cs.write(off, 4, 0xFFFFFFFF);
  cs.write(0x112, 2, 0xFFFF);  // function dependency link
  CHECK(cs.read(0x104, 4) == 0);
  CHECK(cs.read(0x10C, 4) == 0x00400040);
  CHECK(cs.read(0x110, 4) == 0x00000000);  // NumVFs untouched, FDL read-only 0
  CHECK(cs.read(0x114, 4) == 0x00020080);
  CHECK(cs.read(0x118, 4) == 0x10ED0000);
  CHECK(cs.read(0x11C, 4) == 0x00000001);
  CHECK(cs.read(0x13C, 4) == 0);  // VF migration state array offset
  // The next extended capability follows the 0x40-byte structure.
  CHECK(cs.add_ari(0) == 0x140);
  CHECK(cs.read(0x100, 4) == 0x14010010);
}

TEST_CASE("SR-IOV control, status, NumVFs and system page size", "[pcie_cfg]") {
  ConfigSpace cs = pf();
  cs.add_sriov(64, 0x80, 2, 0x10ED, vf_bars());
  std::vector<std::pair<uint16_t, unsigned>> seen;
  cs.on_write([&](uint16_t offset, unsigned size) { seen.emplace_back(offset, size); });
  // Control: VF Enable (0), VF MSE (3), ARI capable hierarchy (4) = 0x19.
  cs.write(0x108, 2, 0xFFFF);
  CHECK(cs.read(0x108, 2) == 0x0019);
  cs.write(0x108, 2, 0x0009);
  CHECK(cs.read(0x108, 2) == 0x0009);
  cs.write(0x10A, 2, 0xFFFF);  // status: no migration, nothing to clear
  CHECK(cs.read(0x10A, 2) == 0);
  CHECK(cs.read(0x110, 2) == 0);
  cs.write(0x110, 2, 8);
  CHECK(cs.read(0x110, 2) == 8);
  CHECK(cs.read(0x110, 4) == 0x00000008);
  cs.write(0x110, 2, 0xFFFF);  // NumVFs is plain RW (software must not exceed TotalVFs)
  CHECK(cs.read(0x110, 2) == 0xFFFF);
  cs.write(0x120, 4, 0x00000010);  // 64 KiB pages
  CHECK(cs.read(0x120, 4) == 0x00000010);
  const std::vector<std::pair<uint16_t, unsigned>> expected = {
      {0x108, 2}, {0x108, 2}, {0x110, 2}, {0x110, 2}, {0x120, 4}};
  CHECK(seen == expected);
}

TEST_CASE("SR-IOV VF BAR sizing", "[pcie_cfg]") {
  ConfigSpace cs = pf();
  cs.add_sriov(64, 0x80, 2, 0x10ED, vf_bars());
  // VF BAR0 at 0x124 (64-bit prefetchable: flags 0xC), VF BAR1 at 0x128 its upper half.
  CHECK(cs.read(0x124, 4) == 0x0000000C);
  CHECK(cs.read(0x128, 4) == 0x00000000);
  CHECK(cs.vf_bar_address(0) == uint64_t{0});
  cs.write(0x124, 4, 0xFFFFFFFF);
  cs.write(0x128, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x124, 4) == 0xFFFFC00C);  // per-VF size 16 KiB: bits 31:14
  CHECK(cs.read(0x128, 4) == 0xFFFFFFFF);
  CHECK(cs.vf_bar_address(0) == std::nullopt);
  cs.write(0x124, 4, 0xD0000000);
  cs.write(0x128, 4, 0x00000002);
  CHECK(cs.read(0x124, 4) == 0xD000000C);
  CHECK(cs.vf_bar_address(0) == uint64_t{0x2D0000000});
  CHECK(cs.vf_bar_address(1) == std::nullopt);
  // VF BAR2 at 0x12C: 32-bit 4 KiB.
  cs.write(0x12C, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x12C, 4) == 0xFFFFF000);
  CHECK(cs.vf_bar_address(2) == std::nullopt);
  cs.write(0x12C, 4, 0xD1000FFF);
  CHECK(cs.read(0x12C, 4) == 0xD1000000);
  CHECK(cs.vf_bar_address(2) == uint64_t{0xD1000000});
  // VF BAR3..5 not implemented.
  for (uint16_t off : std::initializer_list<uint16_t>{0x130, 0x134, 0x138}) {
    cs.write(off, 4, 0xFFFFFFFF);
    CHECK(cs.read(off, 4) == 0);
  }
  CHECK(cs.vf_bar_address(3) == std::nullopt);
  CHECK(cs.vf_bar_address(6) == std::nullopt);
  // The PF's own BARs are separate.
  CHECK(cs.bar_address(0) == std::nullopt);
  CHECK(cs.bar_info(0).size == 0);
}

TEST_CASE("SR-IOV VF BARs of 4 GiB and more", "[pcie_cfg]") {
  ConfigSpace cs = pf();
  std::array<BarInfo, 6> bars{};
  bars[4] = {uint64_t{4} << 30, true, true};
  cs.add_sriov(4, 1, 1, 0x1515, bars);
  cs.write(0x134, 4, 0xFFFFFFFF);
  cs.write(0x138, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x134, 4) == 0x0000000C);
  CHECK(cs.read(0x138, 4) == 0xFFFFFFFF);
  CHECK(cs.vf_bar_address(4) == std::nullopt);
  cs.write(0x138, 4, 0x00000010);
  CHECK(cs.vf_bar_address(4) == uint64_t{0x1000000000});
}

TEST_CASE("SR-IOV rejects impossible VF BAR layouts and duplicates", "[pcie_cfg]") {
  ConfigSpace none = pf();
  CHECK(none.vf_bar_address(0) == std::nullopt);

  std::array<BarInfo, 6> at5{};
  at5[5] = {0x1000, true, false};  // no BAR6 for the upper half
  std::array<BarInfo, 6> upper{};
  upper[0] = {0x1000, true, false};
  upper[1] = {0x1000, false, false};  // BAR1 is BAR0's upper half
  std::array<BarInfo, 6> tiny{};
  tiny[0] = {8, false, false};
  ConfigSpace cs = pf();
  CHECK_THROWS_AS(cs.add_sriov(4, 1, 1, 0x1515, at5), std::invalid_argument);
  CHECK_THROWS_AS(cs.add_sriov(4, 1, 1, 0x1515, upper), std::invalid_argument);
  CHECK_THROWS_AS(cs.add_sriov(4, 1, 1, 0x1515, tiny), std::invalid_argument);
  CHECK(cs.read(0x100, 4) == 0);  // nothing was added
  CHECK(cs.find_ext_capability(kExtCapSriov) == 0);
  cs.add_sriov(4, 1, 1, 0x1515, vf_bars());
  CHECK_THROWS_AS(cs.add_sriov(4, 1, 1, 0x1515, vf_bars()), std::logic_error);
  CHECK(cs.read(0x100, 4) == 0x00010010);
}

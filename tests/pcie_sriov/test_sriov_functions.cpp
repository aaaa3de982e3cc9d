// SriovFunctions, device side (vtd-pcie.md §5): NumVFs, VF Enable, VF MSE, read-only offset and
// stride, the VF routing id formula with a carry into the next bus, VF BAR sizing and decode, and
// configuration requests routed by id. Plain C++; expected values worked out by hand.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/pcie/config_space.hpp>
#include <iovsim/pcie/sriov.hpp>

using namespace iovsim::pcie;

namespace {

constexpr uint16_t kCap = 0x108;  // after the ARI capability at 0x100
constexpr uint16_t kCtrl = kCap + 0x08, kNumVfs = kCap + 0x10, kGeometry = kCap + 0x14,
                   kVfBar0Reg = kCap + 0x24;

// VF BAR0 16 KiB 64-bit prefetchable (VF BAR1 its upper half), VF BAR2 4 KiB 32-bit.
std::array<BarInfo, 6> vf_bars() {
  std::array<BarInfo, 6> bars{};
  bars[0] = {0x4000, true, true};
  bars[2] = {0x1000, false, false};
  return bars;
}

SriovConfig config(uint16_t total = 200, uint16_t offset = 0x80, uint16_t stride = 2) {
  SriovConfig c;
  c.total_vfs = total;
  c.first_vf_offset = offset;
  c.vf_stride = stride;
  c.vf_device_id = 0x10ED;
  c.vf_bars = vf_bars();
  return c;
}

// A PF at 02:00.0 (unless told otherwise) whose factory builds what a careless NIC model might: a
// VF with a real vendor/device, a header BAR and every Command bit writable.
struct Nic {
  ConfigSpace pf{0x8086, 0x10FB, 0x020000};
  std::vector<unsigned> built;
  std::vector<std::pair<unsigned, unsigned>> changes;
  bool fail_at_3 = false;
  std::unique_ptr<SriovFunctions> sriov;

  explicit Nic(const SriovConfig& c = config(), uint16_t rid = 0x0200) {
    pf.add_pcie(2);
    pf.add_ari(0);
    sriov = std::make_unique<SriovFunctions>(pf, rid, c, [this](unsigned i) {
      if (fail_at_3 && i == 3) throw std::runtime_error("out of VF memory");
      built.push_back(i);
      auto cs = std::make_unique<ConfigSpace>(0x8086, 0x10ED, 0x020000);
      cs->define_bar(0, 0x4000, true, true);
      cs->add_pcie(2);
      cs->add_msix(4, 0, 0, 0, 0x2000);
      return cs;
    });
    sriov->on_change([this](unsigned before, unsigned now) { changes.emplace_back(before, now); });
  }
  void ctrl(uint16_t v) { pf.write(kCtrl, 2, v); }
  void num_vfs(uint16_t v) { pf.write(kNumVfs, 2, v); }
};

uint64_t ecam(uint16_t rid, uint16_t reg) {
  return uint64_t{rid} << 12 | reg;
}

}  // namespace

TEST_CASE("SR-IOV functions add the capability and refuse impossible geometry", "[pcie_sriov]") {
  Nic nic;
  CHECK(nic.sriov->sriov_offset() == kCap);
  CHECK(nic.pf.find_ext_capability(kExtCapSriov) == kCap);
  CHECK(nic.pf.read(kCap + 0x0C, 4) == 0x00C800C8);  // InitialVFs = TotalVFs = 200
  CHECK(nic.pf.read(kGeometry, 4) == 0x00020080);    // stride 2, offset 0x80
  CHECK(nic.pf.read(kCap + 0x18, 4) == 0x10ED0000);  // VF Device ID
  CHECK(nic.sriov->pf_rid() == 0x0200);
  CHECK(nic.sriov->config().total_vfs == 200);
  CHECK(nic.sriov->num_vfs() == 0);
  CHECK_FALSE(nic.sriov->vf_enabled());

  auto make = [](
                  ConfigSpace& pf, uint16_t rid, const SriovConfig& c,
                  SriovFunctions::VfFactory f = [](unsigned) {
                    return std::make_unique<ConfigSpace>(0x8086, 0x10ED, 0x020000);
                  }) { SriovFunctions s(pf, rid, c, std::move(f)); };
  ConfigSpace pf(0x8086, 0x10FB, 0x020000);
  pf.add_pcie(2);
  CHECK_THROWS_AS(make(pf, 0x0200, config(0)), std::invalid_argument);
  CHECK_THROWS_AS(make(pf, 0x0200, config(8, 0)), std::invalid_argument);  // VF 0 = the PF
  CHECK_THROWS_AS(make(pf, 0x0200, config(8, 1, 0)), std::invalid_argument);
  // 0xFF00 + 0x80 + 2 * 64 = 0x10000: one VF too many.
  CHECK_THROWS_AS(make(pf, 0xFF00, config(65)), std::invalid_argument);
  CHECK_THROWS_AS(make(pf, 0x0200, config(), nullptr), std::invalid_argument);
  std::array<BarInfo, 6> bad{};
  bad[5] = {0x1000, true, false};  // no VF BAR6 for the upper half
  SriovConfig c = config();
  c.vf_bars = bad;
  CHECK_THROWS_AS(make(pf, 0x0200, c), std::invalid_argument);
  CHECK(pf.find_ext_capability(kExtCapSriov) == 0);  // nothing was added
  CHECK(pf.read(0x100, 4) == 0);

  // The limits themselves are fine: 0xFF00 + 0x80 + 2 * 63 = 0xFFFE; stride 0 with one VF.
  ConfigSpace top(0x8086, 0x10FB, 0x020000);
  SriovFunctions at_top(top, 0xFF00, config(64), [](unsigned) {
    return std::make_unique<ConfigSpace>(0x8086, 0x10ED, 0x020000);
  });
  CHECK(at_top.vf_rid(63) == 0xFFFE);
  ConfigSpace single(0x8086, 0x10FB, 0x020000);
  SriovFunctions one(single, 0x0300, config(1, 4, 0), [](unsigned) {
    return std::make_unique<ConfigSpace>(0x8086, 0x10ED, 0x020000);
  });
  CHECK(one.vf_rid(0) == 0x0304);
}

TEST_CASE("SR-IOV NumVFs is writable up to TotalVFs and only while VF Enable is clear",
          "[pcie_sriov]") {
  Nic nic;
  nic.num_vfs(8);
  CHECK(nic.pf.read(kNumVfs, 2) == 8);
  nic.num_vfs(200);
  CHECK(nic.pf.read(kNumVfs, 2) == 200);
  nic.num_vfs(201);  // above TotalVFs: clamped
  CHECK(nic.pf.read(kNumVfs, 2) == 200);
  nic.pf.write(kNumVfs, 4, 0xFFFFFFFF);  // with the read-only Function Dependency Link
  CHECK(nic.pf.read(kNumVfs, 4) == 200);
  nic.pf.write(kNumVfs + 1, 1, 0x01);  // high byte alone: 0x1C8 = 456 > 200
  CHECK(nic.pf.read(kNumVfs, 2) == 200);
  nic.pf.write(kNumVfs, 1, 0x03);  // low byte alone: 0x03
  CHECK(nic.pf.read(kNumVfs, 2) == 3);

  nic.ctrl(kSriovCtrlVfEnable);
  REQUIRE(nic.sriov->num_vfs() == 3);
  nic.num_vfs(5);  // ignored while VF Enable is set
  CHECK(nic.pf.read(kNumVfs, 2) == 3);
  CHECK(nic.sriov->num_vfs() == 3);
  nic.ctrl(kSriovCtrlVfEnable | kSriovCtrlVfMse);  // VF Enable stays: the VF set is kept
  CHECK(nic.sriov->num_vfs() == 3);
  CHECK(nic.built == std::vector<unsigned>{0, 1, 2});
  nic.ctrl(0);
  nic.num_vfs(5);  // writable again
  CHECK(nic.pf.read(kNumVfs, 2) == 5);
}

TEST_CASE("SR-IOV VF Enable creates NumVFs VFs and clearing it removes them", "[pcie_sriov]") {
  Nic nic;
  nic.num_vfs(4);
  CHECK(nic.built.empty());  // NumVFs alone creates nothing
  nic.ctrl(kSriovCtrlVfEnable);
  CHECK(nic.sriov->vf_enabled());
  CHECK(nic.sriov->num_vfs() == 4);
  CHECK(nic.built == std::vector<unsigned>{0, 1, 2, 3});
  CHECK(nic.changes == std::vector<std::pair<unsigned, unsigned>>{{0, 4}});
  for (unsigned i = 0; i < 4; ++i) {
    CHECK(nic.sriov->function(nic.sriov->vf_rid(i)) == &nic.sriov->vf(i));
    CHECK(nic.sriov->vf_index(nic.sriov->vf_rid(i)) == i);
  }
  CHECK(nic.sriov->function(0x0200) == &nic.pf);
  CHECK(nic.sriov->function(nic.sriov->vf_rid(4)) == nullptr);  // not enabled
  CHECK_THROWS_AS(nic.sriov->vf(4), std::out_of_range);

  nic.ctrl(0);
  CHECK_FALSE(nic.sriov->vf_enabled());
  CHECK(nic.sriov->num_vfs() == 0);
  CHECK(nic.sriov->function(nic.sriov->vf_rid(0)) == nullptr);
  CHECK(nic.changes == std::vector<std::pair<unsigned, unsigned>>{{0, 4}, {4, 0}});

  // VF Enable with NumVFs 0: enabled, nothing created, nothing reported.
  nic.num_vfs(0);
  nic.ctrl(kSriovCtrlVfEnable);
  CHECK(nic.sriov->vf_enabled());
  CHECK(nic.sriov->num_vfs() == 0);
  nic.ctrl(0);
  CHECK(nic.changes.size() == 2);

  // Writes elsewhere in the PF (its header, the VF BARs) leave the VFs alone.
  nic.num_vfs(2);
  nic.ctrl(kSriovCtrlVfEnable);
  nic.pf.write(kCfgCommand, 2, kCmdMemorySpace);
  nic.pf.write(kVfBar0Reg, 4, 0xFFFFFFFF);
  CHECK(nic.sriov->num_vfs() == 2);
  CHECK(nic.built.size() == 6);
}

TEST_CASE("SR-IOV a failing VF factory leaves VF Enable clear", "[pcie_sriov]") {
  Nic nic;
  nic.fail_at_3 = true;
  nic.num_vfs(8);
  CHECK_THROWS_AS(nic.ctrl(kSriovCtrlVfEnable | kSriovCtrlVfMse), std::runtime_error);
  CHECK(nic.pf.read(kCtrl, 2) == kSriovCtrlVfMse);
  CHECK_FALSE(nic.sriov->vf_enabled());
  CHECK(nic.sriov->num_vfs() == 0);
  CHECK(nic.changes.empty());
  nic.num_vfs(3);  // still writable
  nic.ctrl(kSriovCtrlVfEnable);
  CHECK(nic.sriov->num_vfs() == 3);
}

TEST_CASE("SR-IOV First VF Offset and VF Stride are read-only", "[pcie_sriov]") {
  Nic nic;
  nic.pf.write(kGeometry, 4, 0xFFFFFFFF);
  nic.pf.write(kGeometry, 2, 0x0001);
  nic.pf.write(kGeometry + 2, 2, 0x0007);
  CHECK(nic.pf.read(kGeometry, 4) == 0x00020080);
  nic.num_vfs(200);  // they do not change with NumVFs either
  CHECK(nic.pf.read(kGeometry, 4) == 0x00020080);
  nic.ctrl(kSriovCtrlAriHierarchy);  // nor with ARI Capable Hierarchy
  CHECK(nic.pf.read(kCtrl, 2) == kSriovCtrlAriHierarchy);
  CHECK(nic.pf.read(kGeometry, 4) == 0x00020080);
  CHECK(nic.sriov->vf_rid(1) == 0x0282);
}

TEST_CASE("SR-IOV VF routing ids follow the formula and carry into the next buses",
          "[pcie_sriov]") {
  // PF 02:00.0, First VF Offset 0x80, VF Stride 2, 200 VFs: 0x0280 + 2 * i.
  Nic nic;
  CHECK(nic.sriov->vf_rid(0) == 0x0280);    // 02:10.0
  CHECK(nic.sriov->vf_rid(63) == 0x02FE);   // 02:1f.6, the last on bus 2
  CHECK(nic.sriov->vf_rid(64) == 0x0300);   // 03:00.0
  CHECK(nic.sriov->vf_rid(191) == 0x03FE);  // 03:1f.6
  CHECK(nic.sriov->vf_rid(192) == 0x0400);  // 04:00.0
  CHECK(nic.sriov->vf_rid(199) == 0x040E);  // 04:01.6
  CHECK_THROWS_AS(nic.sriov->vf_rid(200), std::out_of_range);
  for (unsigned i = 0; i < 200; ++i) CHECK(nic.sriov->vf_rid(i) == 0x0280 + 2 * i);

  nic.num_vfs(100);
  nic.ctrl(kSriovCtrlVfEnable);
  for (unsigned i = 0; i < 100; ++i) CHECK(nic.sriov->vf_index(uint16_t(0x0280 + 2 * i)) == i);
  CHECK(nic.sriov->vf_index(0x0200) == std::nullopt);  // the PF
  CHECK(nic.sriov->vf_index(0x027E) == std::nullopt);  // before VF 0
  CHECK(nic.sriov->vf_index(0x0281) == std::nullopt);  // between VF 0 and VF 1
  CHECK(nic.sriov->vf_index(0x0348) == std::nullopt);  // VF 100: not enabled
  CHECK(nic.sriov->vf_index(0x0346) == 99u);
  CHECK(nic.sriov->vf_index(0xFFFF) == std::nullopt);
  CHECK(nic.sriov->vf_index(0x0000) == std::nullopt);
}

TEST_CASE("SR-IOV VF configuration spaces behave as VFs", "[pcie_sriov]") {
  Nic nic;
  nic.num_vfs(3);
  nic.ctrl(kSriovCtrlVfEnable);
  REQUIRE(nic.sriov->num_vfs() == 3);
  ConfigSpace& vf = nic.sriov->vf(1);
  CHECK(vf.read(kCfgVendor, 4) == 0xFFFFFFFF);  // vendor and device
  CHECK(vf.read(kCfgRevision, 4) == 0x02000000);
  // The factory's header BAR is gone: VF BARs live in the PF.
  for (uint16_t reg = kCfgBar0; reg < kCfgBar0 + 24; reg += 4) {
    vf.write(reg, 4, 0xFFFFFFFF);
    CHECK(vf.read(reg, 4) == 0);
  }
  CHECK(vf.bar_info(0).size == 0);
  CHECK(vf.bar_address(0) == std::nullopt);
  // Command: only Bus Master Enable is the VF's.
  vf.write(kCfgCommand, 2, 0xFFFF);
  CHECK(vf.read(kCfgCommand, 2) == kCmdBusMaster);
  CHECK(vf.bus_master());
  CHECK_FALSE(vf.memory_enabled());
  CHECK_FALSE(nic.sriov->vf(0).bus_master());  // per VF
  CHECK_FALSE(nic.sriov->vf(2).bus_master());
  // The factory's capabilities stay.
  CHECK(vf.find_capability(kCapPcie) != 0);
  CHECK(vf.find_capability(kCapMsix) != 0);
}

TEST_CASE("SR-IOV VF BARs are sized through the capability and decoded per VF", "[pcie_sriov]") {
  Nic nic;
  // Sizing, as software does it: all ones, read back.
  nic.pf.write(kVfBar0Reg, 4, 0xFFFFFFFF);
  nic.pf.write(kVfBar0Reg + 4, 4, 0xFFFFFFFF);
  nic.pf.write(kVfBar0Reg + 8, 4, 0xFFFFFFFF);
  CHECK(nic.pf.read(kVfBar0Reg, 4) == 0xFFFFC00C);  // 16 KiB per VF, 64-bit prefetchable
  CHECK(nic.pf.read(kVfBar0Reg + 4, 4) == 0xFFFFFFFF);
  CHECK(nic.pf.read(kVfBar0Reg + 8, 4) == 0xFFFFF000);  // 4 KiB per VF, 32-bit
  nic.num_vfs(200);
  nic.ctrl(kSriovCtrlVfEnable | kSriovCtrlVfMse);
  CHECK(nic.sriov->vf_bar_base(0, 0) == std::nullopt);  // still being sized
  CHECK(nic.sriov->vf_bar_hit(0xFFFFC000, 4) == std::nullopt);

  const uint64_t bar0 = 0x2'0000'0000, bar2 = 0xD000'0000;
  nic.pf.write(kVfBar0Reg, 4, uint32_t(bar0));
  nic.pf.write(kVfBar0Reg + 4, 4, uint32_t(bar0 >> 32));
  nic.pf.write(kVfBar0Reg + 8, 4, uint32_t(bar2));
  CHECK(nic.sriov->vf_bar_base(0, 0) == bar0);
  CHECK(nic.sriov->vf_bar_base(1, 0) == bar0 + 0x4000);
  CHECK(nic.sriov->vf_bar_base(199, 0) == bar0 + 199 * 0x4000);
  CHECK(nic.sriov->vf_bar_base(200, 0) == std::nullopt);
  CHECK(nic.sriov->vf_bar_base(0, 1) == std::nullopt);  // BAR0's upper half
  CHECK(nic.sriov->vf_bar_base(5, 2) == bar2 + 5 * 0x1000);
  CHECK(nic.sriov->vf_bar_base(0, 3) == std::nullopt);
  CHECK(nic.sriov->vf_bar_base(0, 6) == std::nullopt);

  using Hit = SriovFunctions::BarHit;
  auto hit = [&](uint64_t addr, uint64_t len) { return nic.sriov->vf_bar_hit(addr, len); };
  auto same = [](const std::optional<Hit>& h, unsigned vf, unsigned bar, uint64_t off) {
    return h && h->vf == vf && h->bar == bar && h->offset == off;
  };
  CHECK(same(hit(bar0, 4), 0, 0, 0));                                 // first VF, first byte
  CHECK(same(hit(bar0 + 0x3FF8, 8), 0, 0, 0x3FF8));                   // first VF, last bytes
  CHECK(same(hit(bar0 + 0x4000, 8), 1, 0, 0));                        // second VF
  CHECK(same(hit(bar0 + 199 * 0x4000 + 0x3FFC, 4), 199, 0, 0x3FFC));  // last VF, last bytes
  CHECK(same(hit(bar2 + 7 * 0x1000 + 0x10, 4), 7, 2, 0x10));
  CHECK(same(hit(bar2 + 199 * 0x1000 + 0xFFF, 1), 199, 2, 0xFFF));
  CHECK(hit(bar0 + 200 * 0x4000, 4) == std::nullopt);  // just past the last VF
  CHECK(hit(bar0 - 4, 4) == std::nullopt);             // just before the first
  CHECK(hit(bar0 + 0x3FFC, 8) == std::nullopt);        // across two VFs' BARs
  CHECK(hit(bar2 + 200 * 0x1000, 4) == std::nullopt);
  CHECK(hit(0, 4) == std::nullopt);
  CHECK(hit(~uint64_t{0}, 1) == std::nullopt);

  // The PF's own memory-space bit does not matter; VF MSE does.
  CHECK_FALSE(nic.pf.memory_enabled());
  nic.ctrl(kSriovCtrlVfEnable);
  CHECK_FALSE(nic.sriov->vf_mse());
  CHECK(nic.sriov->vf_bar_base(0, 0) == std::nullopt);
  CHECK(hit(bar0, 4) == std::nullopt);
  nic.ctrl(kSriovCtrlVfEnable | kSriovCtrlVfMse);
  CHECK(nic.sriov->vf_mse());
  CHECK(same(hit(bar0, 4), 0, 0, 0));

  // Only enabled VFs decode.
  nic.ctrl(kSriovCtrlVfMse);
  CHECK(hit(bar0, 4) == std::nullopt);
  nic.num_vfs(10);
  nic.ctrl(kSriovCtrlVfEnable | kSriovCtrlVfMse);
  CHECK(same(hit(bar0 + 9 * 0x4000, 4), 9, 0, 0));
  CHECK(hit(bar0 + 10 * 0x4000, 4) == std::nullopt);
  CHECK(nic.sriov->vf_bar_base(10, 0) == std::nullopt);
}

TEST_CASE("SR-IOV VF BAR slices beyond 2^64 decode nothing", "[pcie_sriov]") {
  SriovConfig c = config(4, 1, 1);
  c.vf_bars = {};
  c.vf_bars[0] = {uint64_t{1} << 62, true, false};
  ConfigSpace pf(0x8086, 0x10FB, 0x020000);
  SriovFunctions s(pf, 0x0100, c, [](unsigned) {
    return std::make_unique<ConfigSpace>(0x8086, 0x10ED, 0x020000);
  });
  const uint16_t cap = s.sriov_offset();
  pf.write(uint16_t(cap + 0x24), 4, 0);
  pf.write(uint16_t(cap + 0x28), 4, 0x80000000);  // base 2^63: VF 2 would start at 2^64
  pf.write(uint16_t(cap + 0x10), 2, 4);
  pf.write(uint16_t(cap + 0x08), 2, kSriovCtrlVfEnable | kSriovCtrlVfMse);
  CHECK(s.vf_bar_base(1, 0) == (uint64_t{3} << 62));
  CHECK(s.vf_bar_base(2, 0) == std::nullopt);
  CHECK(s.vf_bar_base(3, 0) == std::nullopt);
  const auto h = s.vf_bar_hit(~uint64_t{0}, 1);  // the last byte: VF 1's
  REQUIRE(h);
  CHECK(h->vf == 1);
  CHECK(h->offset == (uint64_t{1} << 62) - 1);
}

TEST_CASE("SR-IOV configuration requests are routed by routing id", "[pcie_sriov]") {
  Nic nic;
  uint32_t v = 0;
  // The PF: its header, and its SR-IOV capability programmed through ECAM offsets.
  REQUIRE(nic.sriov->config_access(ecam(0x0200, kCfgVendor), true, 4, v));
  CHECK(v == 0x10FB8086);
  v = 64;
  REQUIRE(nic.sriov->config_access(ecam(0x0200, kNumVfs), false, 2, v));
  v = kSriovCtrlVfEnable;
  REQUIRE(nic.sriov->config_access(ecam(0x0200, kCtrl), false, 4, v));
  REQUIRE(nic.sriov->num_vfs() == 64);

  // VF 0 on the PF's bus, VF 63 last on it, VF 64's rid would be bus 3: not enabled.
  for (uint16_t rid : {uint16_t(0x0280), uint16_t(0x02FE)}) {
    INFO("rid " << rid);
    REQUIRE(nic.sriov->config_access(ecam(rid, kCfgVendor), true, 4, v));
    CHECK(v == 0xFFFFFFFF);
    REQUIRE(nic.sriov->config_access(ecam(rid, kCfgRevision), true, 4, v));
    CHECK(v == 0x02000000);
    REQUIRE(nic.sriov->config_access(ecam(rid, 0x0B), true, 1, v));  // base class byte
    CHECK(v == 0x02);
  }
  CHECK_FALSE(nic.sriov->config_access(ecam(0x0300, kCfgVendor), true, 4, v));
  CHECK_FALSE(nic.sriov->config_access(ecam(0x0281, kCfgVendor), true, 4, v));  // between VFs
  CHECK_FALSE(nic.sriov->config_access(ecam(0x0201, kCfgVendor), true, 4, v));  // PF function 1
  CHECK_FALSE(nic.sriov->config_access(ecam(0x0200, 0x01), true, 2, v));        // misaligned
  CHECK_FALSE(nic.sriov->config_access(ecam(0x0200, 0x00), true, 3, v));        // bad size
  CHECK_FALSE(nic.sriov->config_access(ecam(0x0200, 0x00), true, 8, v));
  CHECK_FALSE(nic.sriov->config_access(uint64_t{1} << 28 | ecam(0x0200, 0), true, 4, v));

  // A write reaches the VF it is addressed to, and only as wide as the access.
  v = 0xFFFF0004;
  REQUIRE(nic.sriov->config_access(ecam(0x0284, kCfgCommand), false, 2, v));  // VF 2
  CHECK(nic.sriov->vf(2).bus_master());
  CHECK(nic.sriov->vf(2).raw(kCfgStatus, 2) == kStatusCapList);  // not written
  CHECK_FALSE(nic.sriov->vf(1).bus_master());
  CHECK_FALSE(nic.sriov->vf(3).bus_master());
  CHECK_FALSE(nic.pf.bus_master());

  // Spilling onto the next buses once all 200 are enabled.
  v = 0;
  REQUIRE(nic.sriov->config_access(ecam(0x0200, kCtrl), false, 2, v));
  v = 200;
  REQUIRE(nic.sriov->config_access(ecam(0x0200, kNumVfs), false, 2, v));
  v = kSriovCtrlVfEnable;
  REQUIRE(nic.sriov->config_access(ecam(0x0200, kCtrl), false, 2, v));
  for (uint16_t rid : {uint16_t(0x0300), uint16_t(0x03FE), uint16_t(0x0400), uint16_t(0x040E)}) {
    INFO("rid " << rid);
    REQUIRE(nic.sriov->config_access(ecam(rid, kCfgRevision), true, 4, v));
    CHECK(v == 0x02000000);
  }
  CHECK_FALSE(nic.sriov->config_access(ecam(0x0410, kCfgRevision), true, 4, v));
  v = kCmdBusMaster;
  REQUIRE(nic.sriov->config_access(ecam(0x040E, kCfgCommand), false, 2, v));
  CHECK(nic.sriov->vf(199).bus_master());
}

TEST_CASE("SR-IOV the PF survives its SriovFunctions", "[pcie_sriov]") {
  ConfigSpace pf(0x8086, 0x10FB, 0x020000);
  uint16_t cap = 0;
  {
    SriovFunctions s(pf, 0x0100, config(8, 1, 1), [](unsigned) {
      return std::make_unique<ConfigSpace>(0x8086, 0x10ED, 0x020000);
    });
    cap = s.sriov_offset();
  }
  pf.write(uint16_t(cap + 0x10), 2, 4);
  pf.write(uint16_t(cap + 0x08), 2, kSriovCtrlVfEnable);
  CHECK(pf.read(uint16_t(cap + 0x08), 2) == kSriovCtrlVfEnable);
}

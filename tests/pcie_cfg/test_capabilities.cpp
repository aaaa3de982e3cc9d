// Standard and extended capability lists and the ready-made capability structures
// (vtd-pcie.md §5). Plain C++: no SystemC elaboration. Expected values worked out bit by bit.
#include <stdexcept>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/pcie/config_space.hpp>

using namespace iovsim::pcie;

namespace {

ConfigSpace endpoint() {
  return ConfigSpace(0x8086, 0x1234, 0x020000);
}

// (offset, id) of every standard capability, walked as software does: from 0x34 through the next
// bytes, with a bound so a broken list fails instead of hanging.
std::vector<std::pair<unsigned, unsigned>> walk(const ConfigSpace& cs) {
  std::vector<std::pair<unsigned, unsigned>> caps;
  if (!(cs.read(kCfgStatus, 2) & kStatusCapList)) return caps;
  for (unsigned off = cs.read(kCfgCapPtr, 1); off != 0 && caps.size() < 64;
       off = cs.read(static_cast<uint16_t>(off + 1), 1))
    caps.emplace_back(off, cs.read(static_cast<uint16_t>(off), 1));
  return caps;
}

// (offset, id, version) of every extended capability from 0x100.
struct Ext {
  unsigned offset, id, version;
  bool operator==(const Ext& o) const {
    return offset == o.offset && id == o.id && version == o.version;
  }
};
std::vector<Ext> walk_ext(const ConfigSpace& cs) {
  std::vector<Ext> caps;
  for (unsigned off = kCfgExtCapStart; off != 0 && caps.size() < 64;) {
    const uint32_t h = cs.read(static_cast<uint16_t>(off), 4);
    if (h == 0) break;
    caps.push_back({off, h & 0xFFFF, (h >> 16) & 0xF});
    off = h >> 20;
  }
  return caps;
}

}  // namespace

TEST_CASE("no capabilities: empty lists", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  CHECK(cs.read(kCfgCapPtr, 1) == 0);
  CHECK((cs.read(kCfgStatus, 2) & kStatusCapList) == 0);
  CHECK(cs.read(kCfgExtCapStart, 4) == 0);
  CHECK(cs.find_capability(kCapPcie) == 0);
  CHECK(cs.find_ext_capability(kExtCapAri) == 0);
  CHECK(walk(cs).empty());
  CHECK(walk_ext(cs).empty());
}

TEST_CASE("standard capability list walked from 0x34", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  // MSI 64-bit with masking: 0x18 bytes at 0x40; MSI-X: 12 at 0x58; PCIe: 0x3C at 0x64;
  // vendor-specific (0x09): at 0x64 + 0x3C = 0xA0.
  CHECK(cs.add_msi(2, true, true) == 0x40);
  CHECK(cs.add_msix(64, 0, 0x2000, 0, 0x3000) == 0x58);
  CHECK(cs.add_pcie(2) == 0x64);
  CHECK(cs.add_capability(0x09, 5) == 0xA0);
  CHECK(cs.add_capability(0x09, 4) == 0xA8);  // 0xA0 + 5 rounded up to a dword
  CHECK(cs.read(kCfgStatus, 2) == kStatusCapList);
  CHECK(cs.read(kCfgCapPtr, 1) == 0x40);
  // id byte | next byte << 8.
  CHECK(cs.read(0x40, 2) == 0x5805);
  CHECK(cs.read(0x58, 2) == 0x6411);
  CHECK(cs.read(0x64, 2) == 0xA010);
  CHECK(cs.read(0xA0, 2) == 0xA809);
  CHECK(cs.read(0xA8, 2) == 0x0009);
  const std::vector<std::pair<unsigned, unsigned>> expected = {
      {0x40, 0x05}, {0x58, 0x11}, {0x64, 0x10}, {0xA0, 0x09}, {0xA8, 0x09}};
  CHECK(walk(cs) == expected);
  CHECK(cs.find_capability(kCapMsi) == 0x40);
  CHECK(cs.find_capability(kCapMsix) == 0x58);
  CHECK(cs.find_capability(kCapPcie) == 0x64);
  CHECK(cs.find_capability(0x09) == 0xA0);  // the first of that id
  CHECK(cs.find_capability(0x01) == 0);
  // Headers are read-only.
  cs.write(0x40, 2, 0x0000);
  cs.write(kCfgCapPtr, 1, 0x58);
  CHECK(walk(cs) == expected);
}

TEST_CASE("extended capability list walked from 0x100", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  cs.add_pcie(1);
  CHECK(cs.add_ari(0) == 0x100);
  CHECK(cs.add_ats(0) == 0x108);
  CHECK(cs.add_pasid(20) == 0x110);
  CHECK(cs.add_sriov(8, 0x80, 1, 0x10ED, {}) == 0x118);
  CHECK(cs.add_ext_capability(0x0B, 1, 0x14) == 0x158);
  CHECK(cs.add_ext_capability(0x0D, 2, 6) == 0x16C);
  // id | version << 16 | next << 20.
  CHECK(cs.read(0x100, 4) == 0x1081000E);
  CHECK(cs.read(0x108, 4) == 0x1101000F);
  CHECK(cs.read(0x110, 4) == 0x1181001B);
  CHECK(cs.read(0x118, 4) == 0x15810010);
  CHECK(cs.read(0x158, 4) == 0x16C1000B);
  CHECK(cs.read(0x16C, 4) == 0x0002000D);
  const std::vector<Ext> expected = {{0x100, 0x0E, 1}, {0x108, 0x0F, 1}, {0x110, 0x1B, 1},
                                     {0x118, 0x10, 1}, {0x158, 0x0B, 1}, {0x16C, 0x0D, 2}};
  CHECK(walk_ext(cs) == expected);
  CHECK(cs.find_ext_capability(kExtCapAri) == 0x100);
  CHECK(cs.find_ext_capability(kExtCapAts) == 0x108);
  CHECK(cs.find_ext_capability(kExtCapPasid) == 0x110);
  CHECK(cs.find_ext_capability(kExtCapSriov) == 0x118);
  CHECK(cs.find_ext_capability(0x0D) == 0x16C);
  CHECK(cs.find_ext_capability(0x01) == 0);
  cs.write(0x100, 4, 0);  // read-only header
  CHECK(walk_ext(cs) == expected);
  // The standard list is separate.
  CHECK(cs.find_capability(kCapPcie) == 0x40);
  CHECK(cs.read(0x40, 2) == 0x0010);
  CHECK_THROWS_AS(cs.add_ext_capability(0x0B, 16, 8), std::invalid_argument);
}

TEST_CASE("capabilities that do not fit are refused", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  CHECK_THROWS_AS(cs.add_capability(0x09, 3), std::invalid_argument);
  CHECK(cs.add_capability(0x09, 0xBC) == 0x40);  // 0x40..0xFB
  CHECK(cs.add_capability(0x09, 4) == 0xFC);     // exactly to 0xFF
  CHECK_THROWS_AS(cs.add_capability(0x09, 4), std::length_error);
  CHECK_THROWS_AS(cs.add_msi(0, false, false), std::length_error);
  CHECK(cs.read(0xFC, 2) == 0x0009);  // the list is unchanged by the failures

  ConfigSpace big = endpoint();
  CHECK_THROWS_AS(big.add_capability(0x09, 0xC4), std::length_error);
  CHECK(big.read(kCfgCapPtr, 1) == 0);
  CHECK(big.add_capability(0x09, 0xC0) == 0x40);
  CHECK_THROWS_AS(big.add_pcie(0), std::length_error);

  ConfigSpace ext = endpoint();
  CHECK_THROWS_AS(ext.add_ext_capability(0x0B, 1, 3), std::invalid_argument);
  CHECK_THROWS_AS(ext.add_ext_capability(0x0B, 1, 0xF04), std::length_error);
  CHECK(ext.add_ext_capability(0x0B, 1, 0xF00) == 0x100);
  CHECK_THROWS_AS(ext.add_ari(0), std::length_error);
  CHECK(ext.read(0x100, 4) == 0x0001000B);
}

TEST_CASE("MSI 64-bit with per-vector masking", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  const uint16_t msi = cs.add_msi(2, true, true);  // 4 vectors
  REQUIRE(msi == 0x40);
  // Control: MMC 2 << 1 = 0x004, 64-bit 0x080, per-vector masking 0x100.
  CHECK(cs.read(0x42, 2) == 0x0184);
  cs.write(0x42, 2, 0xFFFF);  // + enable 0x001 + MME 0x070
  CHECK(cs.read(0x42, 2) == 0x01F5);
  cs.write(0x42, 2, 0x0000);
  CHECK(cs.read(0x42, 2) == 0x0184);
  cs.write(0x44, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x44, 4) == 0xFFFFFFFC);  // address lo, dword aligned
  cs.write(0x48, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x48, 4) == 0xFFFFFFFF);  // address hi
  cs.write(0x4C, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x4C, 4) == 0x0000FFFF);  // data 16 bits
  cs.write(0x50, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x50, 4) == 0x0000000F);  // mask: one bit per implemented vector
  cs.set_raw(0x54, 4, 0x2);               // pending: set by the device
  cs.write(0x54, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x54, 4) == 0x00000002);
  cs.write(0x54, 4, 0);
  CHECK(cs.read(0x54, 4) == 0x00000002);
  CHECK(cs.add_capability(0x09, 4) == 0x58);  // length 0x18
}

TEST_CASE("MSI layouts: 32-bit, masking, vector counts", "[pcie_cfg]") {
  ConfigSpace a = endpoint();  // 32-bit, 1 vector, no masking: 0xC bytes, data at +8
  a.add_msi(0, false, false);
  CHECK(a.read(0x42, 2) == 0x0000);
  a.write(0x42, 2, 0xFFFF);
  CHECK(a.read(0x42, 2) == 0x0071);
  a.write(0x44, 4, 0xFFFFFFFF);
  CHECK(a.read(0x44, 4) == 0xFFFFFFFC);
  a.write(0x48, 4, 0xFFFFFFFF);
  CHECK(a.read(0x48, 4) == 0x0000FFFF);
  CHECK(a.add_capability(0x09, 4) == 0x4C);

  ConfigSpace b = endpoint();  // 32-bit, 32 vectors, masking: data +8, mask +0xC, pending +0x10
  b.add_msi(5, false, true);
  CHECK(b.read(0x42, 2) == 0x010A);  // MMC 5 << 1, masking
  b.write(0x48, 4, 0xFFFFFFFF);
  CHECK(b.read(0x48, 4) == 0x0000FFFF);
  b.write(0x4C, 4, 0xFFFFFFFF);
  CHECK(b.read(0x4C, 4) == 0xFFFFFFFF);
  b.write(0x50, 4, 0xFFFFFFFF);
  CHECK(b.read(0x50, 4) == 0);
  CHECK(b.add_capability(0x09, 4) == 0x54);

  ConfigSpace c = endpoint();  // 64-bit, 8 vectors, no masking: data +0xC, 0x10 bytes
  c.add_msi(3, true, false);
  CHECK(c.read(0x42, 2) == 0x0086);
  c.write(0x4C, 4, 0xFFFFFFFF);
  CHECK(c.read(0x4C, 4) == 0x0000FFFF);
  CHECK(c.add_capability(0x09, 4) == 0x50);

  ConfigSpace d = endpoint();
  CHECK_THROWS_AS(d.add_msi(6, false, false), std::invalid_argument);
}

TEST_CASE("MSI-X control, table and PBA registers", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  REQUIRE(cs.add_msix(64, 2, 0x2000, 3, 0x3000) == 0x40);
  CHECK(cs.read(0x42, 2) == 0x003F);  // table size - 1
  cs.write(0x42, 2, 0xFFFF);
  CHECK(cs.read(0x42, 2) == 0xC03F);  // + function mask + enable
  cs.write(0x42, 2, 0x4000);
  CHECK(cs.read(0x42, 2) == 0x403F);
  CHECK(cs.read(0x44, 4) == 0x00002002);  // offset 0x2000 | BIR 2
  CHECK(cs.read(0x48, 4) == 0x00003003);  // offset 0x3000 | BIR 3
  cs.write(0x44, 4, 0xFFFFFFFF);
  cs.write(0x48, 4, 0);
  CHECK(cs.read(0x44, 4) == 0x00002002);
  CHECK(cs.read(0x48, 4) == 0x00003003);
  CHECK(cs.add_capability(0x09, 4) == 0x4C);  // 12 bytes

  ConfigSpace max = endpoint();
  max.add_msix(2048, 0, 0, 0, 0x8000);
  CHECK(max.read(0x42, 2) == 0x07FF);
  ConfigSpace bad = endpoint();
  CHECK_THROWS_AS(bad.add_msix(0, 0, 0, 0, 0), std::invalid_argument);
  CHECK_THROWS_AS(bad.add_msix(2049, 0, 0, 0, 0), std::invalid_argument);
  CHECK_THROWS_AS(bad.add_msix(1, 6, 0, 0, 0), std::invalid_argument);
  CHECK_THROWS_AS(bad.add_msix(1, 0, 0x2004, 0, 0), std::invalid_argument);
  CHECK(bad.read(kCfgCapPtr, 1) == 0);
}

TEST_CASE("PCI Express capability registers", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  REQUIRE(cs.add_pcie(2) == 0x40);        // 512 B max payload, endpoint
  CHECK(cs.read(0x40, 4) == 0x00020010);  // version 2, type 0
  cs.write(0x42, 2, 0xFFFF);
  CHECK(cs.read(0x42, 2) == 0x0002);
  // Device capabilities: MPS supported 2, role-based error reporting (bit 15).
  CHECK(cs.read(0x44, 4) == 0x00008002);
  cs.write(0x44, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x44, 4) == 0x00008002);
  // Device control reset: MRRS 2 << 12, no snoop 1 << 11, relaxed ordering 1 << 4.
  CHECK(cs.read(0x48, 2) == 0x2810);
  // Writable: 14:12, 11, 7:5, 4:0 = 0x7000 | 0x0800 | 0x00E0 | 0x001F = 0x78FF.
  cs.write(0x48, 2, 0xFFFF);
  CHECK(cs.read(0x48, 2) == 0x78FF);
  // Device status: bits 3:0 RW1C, transactions pending (5) read-only.
  cs.set_raw(0x4A, 2, 0x002F);
  cs.write(0x4A, 2, 0x0000);
  CHECK(cs.read(0x4A, 2) == 0x002F);
  cs.write(0x4A, 2, 0x0001);
  CHECK(cs.read(0x4A, 2) == 0x002E);
  cs.write(0x4A, 2, 0xFFFF);
  CHECK(cs.read(0x4A, 2) == 0x0020);
  // Link: Gen3 (speed 3) x8 (width 8 << 4), all read-only.
  CHECK(cs.read(0x4C, 4) == 0x00000083);
  cs.write(0x4C, 4, 0xFFFFFFFF);
  cs.write(0x50, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x4C, 4) == 0x00000083);
  CHECK(cs.read(0x50, 4) == 0x00830000);  // link control 0, link status 0x0083

  ConfigSpace rp(0x8086, 0x3C02, 0x060400, 1);
  rp.add_pcie(5, 4);
  CHECK(rp.read(0x42, 2) == 0x0042);
  CHECK(rp.read(0x44, 4) == 0x00008005);
  CHECK_THROWS_AS(rp.add_pcie(6), std::invalid_argument);
  CHECK_THROWS_AS(rp.add_pcie(0, 16), std::invalid_argument);
}

TEST_CASE("MPS and MRRS decode and clamping", "[pcie_cfg]") {
  ConfigSpace none = endpoint();
  CHECK(none.mps() == 128);
  CHECK(none.mrrs() == 128);

  ConfigSpace cs = endpoint();
  cs.add_msi(0, false, false);  // the PCIe capability is found by walking, not assumed first
  const uint16_t pcie = cs.add_pcie(2);  // max 512 B
  REQUIRE(pcie == 0x4C);
  const auto devctl = static_cast<uint16_t>(pcie + 8);
  CHECK(cs.mps() == 128);       // reset MPS 0
  CHECK(cs.mrrs() == 512);      // reset MRRS 2
  cs.write(devctl, 2, 0x0020);  // MPS 1, MRRS 0
  CHECK(cs.mps() == 256);
  CHECK(cs.mrrs() == 128);
  cs.write(devctl, 2, 0x5040);  // MPS 2, MRRS 5
  CHECK(cs.mps() == 512);
  CHECK(cs.mrrs() == 4096);
  cs.write(devctl, 2, 0x3060);          // MPS 3 (1024) above the supported 512: clamped
  CHECK(cs.read(devctl, 2) == 0x3060);  // but reads back as written
  CHECK(cs.mps() == 512);
  CHECK(cs.mrrs() == 1024);
  cs.write(devctl, 2, 0x70E0);  // MPS 7, MRRS 7 (reserved): 512 and 4096
  CHECK(cs.mps() == 512);
  CHECK(cs.mrrs() == 4096);
  cs.write(devctl, 1, 0x80);  // byte write: MPS 4
  CHECK(cs.read(devctl, 2) == 0x7080);
  CHECK(cs.mps() == 512);

  ConfigSpace big = endpoint();
  big.add_pcie(5);
  big.write(0x48, 2, 0x00A0);  // MPS 5
  CHECK(big.mps() == 4096);
  big.write(0x48, 2, 0x0080);
  CHECK(big.mps() == 2048);
}

TEST_CASE("ARI capability", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  REQUIRE(cs.add_ari(0x05) == 0x100);
  CHECK(cs.read(0x100, 4) == 0x0001000E);
  CHECK(cs.read(0x104, 2) == 0x0500);  // next function number 15:8
  cs.write(0x104, 4, 0xFFFFFFFF);      // capability and control all read-only
  CHECK(cs.read(0x104, 4) == 0x00000500);
}

TEST_CASE("ATS capability", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  REQUIRE(cs.add_ats(8) == 0x100);
  CHECK(cs.read(0x100, 4) == 0x0001000F);
  CHECK(cs.read(0x104, 2) == 0x0028);  // depth 8 | page aligned request 1 << 5
  cs.write(0x104, 2, 0xFFFF);
  CHECK(cs.read(0x104, 2) == 0x0028);
  cs.write(0x106, 2, 0xFFFF);
  CHECK(cs.read(0x106, 2) == 0x801F);  // enable | STU
  cs.write(0x106, 2, 0x0003);
  CHECK(cs.read(0x104, 4) == 0x00030028);

  ConfigSpace d32 = endpoint();
  d32.add_ats(32);  // 32 encodes as 0
  CHECK(d32.read(0x104, 2) == 0x0020);
  ConfigSpace d0 = endpoint();
  d0.add_ats(0);
  CHECK(d0.read(0x104, 2) == 0x0020);
  CHECK_THROWS_AS(d0.add_ats(33), std::invalid_argument);
}

TEST_CASE("PASID capability", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  REQUIRE(cs.add_pasid(20) == 0x100);
  CHECK(cs.read(0x100, 4) == 0x0001001B);
  CHECK(cs.read(0x104, 2) == 0x1400);  // max width 20 << 8
  cs.write(0x104, 4, 0xFFFFFFFF);      // only the enable bit (bit 0 of +6) is writable
  CHECK(cs.read(0x104, 4) == 0x00011400);
  cs.write(0x106, 2, 0x0000);
  CHECK(cs.read(0x106, 2) == 0x0000);

  ConfigSpace narrow = endpoint();
  narrow.add_pasid(5);
  CHECK(narrow.read(0x104, 2) == 0x0500);
  CHECK_THROWS_AS(narrow.add_pasid(21), std::invalid_argument);
}

// Configuration space header, access rules and BAR sizing (vtd-pcie.md §5). Plain C++: no SystemC
// elaboration. Expected values are worked out bit by bit in the comments.
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/pcie/config_space.hpp>

using namespace iovsim::pcie;

namespace {

// An Ethernet controller (class 02/00/00).
ConfigSpace endpoint() {
  return ConfigSpace(0x8086, 0x1234, 0x020000);
}

}  // namespace

TEST_CASE("header identification registers are read-only", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  CHECK(cs.read(kCfgVendor, 4) == 0x12348086);
  CHECK(cs.read(kCfgVendor, 2) == 0x8086);
  CHECK(cs.read(kCfgDevice, 2) == 0x1234);
  CHECK(cs.read(kCfgVendor, 1) == 0x86);
  CHECK(cs.read(0x01, 1) == 0x80);
  CHECK(cs.read(kCfgRevision, 4) == 0x02000000);  // revision 0, prog-if 0, subclass 0, class 2
  CHECK(cs.read(0x0B, 1) == 0x02);
  cs.write(kCfgVendor, 4, 0xFFFFFFFF);
  cs.write(kCfgRevision, 4, 0xFFFFFFFF);
  cs.write(kCfgHeaderType, 1, 0xFF);
  CHECK(cs.read(kCfgVendor, 4) == 0x12348086);
  CHECK(cs.read(kCfgRevision, 4) == 0x02000000);
  CHECK(cs.read(kCfgHeaderType, 1) == 0x00);
  CHECK(cs.vendor() == 0x8086);
  // The device sets read-only fields with set_raw; software cannot change them.
  cs.set_raw(kCfgRevision, 1, 0x03);
  cs.set_raw(kCfgSubsystemVendor, 4, 0xABCD8086);
  cs.write(kCfgSubsystemVendor, 4, 0);
  CHECK(cs.read(kCfgRevision, 4) == 0x02000003);
  CHECK(cs.read(kCfgSubsystemVendor, 2) == 0x8086);
  CHECK(cs.read(kCfgSubsystem, 2) == 0xABCD);
  CHECK(cs.raw(kCfgSubsystemVendor, 4) == 0xABCD8086);
}

TEST_CASE("header type and the multifunction bit", "[pcie_cfg]") {
  ConfigSpace single = endpoint();
  CHECK(single.read(kCfgHeaderType, 1) == 0x00);
  CHECK(single.header_type() == 0);
  CHECK_FALSE(single.multifunction());

  ConfigSpace multi(0x8086, 0x1234, 0x020000, 0, true);
  CHECK(multi.read(kCfgHeaderType, 1) == 0x80);
  CHECK(multi.header_type() == 0);
  CHECK(multi.multifunction());

  ConfigSpace bridge(0x8086, 0x3C02, 0x060400, 1, true);
  CHECK(bridge.read(kCfgHeaderType, 1) == 0x81);
  CHECK(bridge.header_type() == 1);
  CHECK(bridge.multifunction());
  // Header type 0x0E sits in the dword at 0x0C: cache line 0, latency 0, header 0x81, BIST 0.
  CHECK(bridge.read(0x0C, 4) == 0x00810000);

  CHECK_THROWS_AS(ConfigSpace(0x8086, 1, 0, 2), std::invalid_argument);
  CHECK_THROWS_AS(ConfigSpace(0x8086, 1, 0x1000000), std::invalid_argument);
}

TEST_CASE("command register: only the implemented bits are writable", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  CHECK(cs.read(kCfgCommand, 2) == 0);
  CHECK_FALSE(cs.memory_enabled());
  CHECK_FALSE(cs.bus_master());
  // Bits 1, 2, 6, 8, 10: 0x0002 | 0x0004 | 0x0040 | 0x0100 | 0x0400 = 0x0546.
  cs.write(kCfgCommand, 2, 0xFFFF);
  CHECK(cs.read(kCfgCommand, 2) == 0x0546);
  CHECK(cs.command() == 0x0546);
  CHECK(cs.memory_enabled());
  CHECK(cs.bus_master());
  cs.write(kCfgCommand, 2, kCmdMemorySpace);
  CHECK(cs.memory_enabled());
  CHECK_FALSE(cs.bus_master());
  cs.write(kCfgCommand, 2, kCmdBusMaster | 0x0001);  // I/O space (bit 0) is not implemented
  CHECK(cs.read(kCfgCommand, 2) == 0x0004);
  CHECK_FALSE(cs.memory_enabled());
  CHECK(cs.bus_master());
  // A byte write to the high half touches only bits 15:8: 0xFF & 0x05 -> bits 8 and 10.
  cs.write(kCfgCommand + 1, 1, 0xFF);
  CHECK(cs.read(kCfgCommand, 2) == 0x0504);
  // A dword write to 0x04 reaches command and status; status has no plain RW bits.
  cs.write(kCfgCommand, 4, 0x00000002);
  CHECK(cs.read(kCfgCommand, 4) == 0x00000002);
}

TEST_CASE("status register: error bits are RW1C, the rest read-only", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  CHECK(cs.read(kCfgStatus, 2) == 0);
  cs.write(kCfgStatus, 2, 0xFFFF);  // nothing set, nothing writable
  CHECK(cs.read(kCfgStatus, 2) == 0);
  // The device reports detected parity error (15), received master abort (13) and master data
  // parity error (8), plus a read-only bit (DEVSEL timing, bit 9).
  cs.set_raw(kCfgStatus, 2, 0x8000 | 0x2000 | 0x0100 | 0x0200);
  CHECK(cs.read(kCfgStatus, 2) == 0xA300);
  cs.write(kCfgStatus, 2, 0x0000);  // writing 0 leaves them
  CHECK(cs.read(kCfgStatus, 2) == 0xA300);
  cs.write(kCfgStatus, 2, 0x8000);  // clears bit 15 only
  CHECK(cs.read(kCfgStatus, 2) == 0x2300);
  cs.write(kCfgStatus + 1, 1, 0x01);  // bit 8 via a byte write
  CHECK(cs.read(kCfgStatus, 2) == 0x2200);
  cs.write(kCfgStatus, 2, 0xFFFF);  // bit 13 cleared, bit 9 is not RW1C
  CHECK(cs.read(kCfgStatus, 2) == 0x0200);
  // The capability-list bit comes with the first capability and cannot be cleared.
  cs.add_capability(0x09, 4);
  CHECK(cs.read(kCfgStatus, 2) == 0x0210);
  cs.write(kCfgStatus, 2, 0xFFFF);
  CHECK(cs.read(kCfgStatus, 2) == 0x0210);
}

TEST_CASE("interrupt line is RW, pin and capability pointer are read-only", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  cs.set_raw(kCfgInterruptPin, 1, 0x01);  // INTA#
  cs.write(kCfgInterruptLine, 1, 0xAB);
  cs.write(kCfgInterruptPin, 1, 0xFF);
  CHECK(cs.read(kCfgInterruptLine, 2) == 0x01AB);
  cs.write(kCfgInterruptLine, 4, 0xFFFFFF0B);  // min_gnt/max_lat read-only 0
  CHECK(cs.read(kCfgInterruptLine, 4) == 0x0000010B);
  cs.write(kCfgCapPtr, 1, 0xFF);
  CHECK(cs.read(kCfgCapPtr, 1) == 0);
  cs.write(0x30, 4, 0xFFFFFFFF);  // no expansion ROM
  CHECK(cs.read(0x30, 4) == 0);
}

TEST_CASE("misaligned and out-of-range accesses", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  CHECK(cs.read(0x01, 2) == 0xFFFF);
  CHECK(cs.read(0x02, 4) == 0xFFFFFFFF);
  CHECK(cs.read(0x00, 3) == 0xFFFFFFFF);
  CHECK(cs.read(0x00, 8) == 0xFFFFFFFF);
  CHECK(cs.read(ConfigSpace::kSize, 4) == 0xFFFFFFFF);
  CHECK(cs.read(ConfigSpace::kSize, 1) == 0xFF);
  CHECK(cs.read(0xFFFF, 1) == 0xFF);
  CHECK(cs.read(ConfigSpace::kSize - 4, 4) == 0);  // the last dword is in range
  CHECK(cs.read(ConfigSpace::kSize - 1, 1) == 0);

  int hooks = 0;
  cs.on_write([&](uint16_t, unsigned) { ++hooks; });
  // Misaligned writes covering a writable byte are ignored: 0x03..0x04 reaches command bits 7:0,
  // 0x3B..0x3C reaches the interrupt line.
  cs.write(0x03, 2, 0xFFFF);
  cs.write(0x3B, 2, 0xFFFF);
  cs.write(0x02, 4, 0xFFFFFFFF);
  cs.write(0x04, 3, 0xFFFFFF);
  cs.write(ConfigSpace::kSize, 4, 0xFFFFFFFF);
  CHECK(cs.read(kCfgCommand, 2) == 0);
  CHECK(cs.read(kCfgInterruptLine, 1) == 0);
  CHECK(hooks == 0);
  // Device-side access out of range is a programming error.
  CHECK_THROWS_AS(cs.raw(ConfigSpace::kSize - 2, 4), std::out_of_range);
  CHECK_THROWS_AS(cs.set_raw(ConfigSpace::kSize, 1, 0), std::out_of_range);
  CHECK_THROWS_AS(cs.set_rw_mask(0, 3, 0), std::out_of_range);
}

TEST_CASE("write hooks fire with the access after a change only", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  std::vector<std::pair<uint16_t, unsigned>> seen;
  cs.on_write([&](uint16_t offset, unsigned size) { seen.emplace_back(offset, size); });
  cs.write(kCfgCommand, 2, kCmdMemorySpace);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == std::make_pair(uint16_t{kCfgCommand}, 2u));
  cs.write(kCfgCommand, 2, kCmdMemorySpace);  // same value: nothing changed
  cs.write(kCfgVendor, 4, 0);                 // read-only: nothing changed
  cs.write(kCfgStatus, 2, 0xFFFF);            // no RW1C bit set: nothing cleared
  CHECK(seen.size() == 1);
  cs.set_raw(kCfgStatus, 2, 0x4000);
  cs.write(kCfgStatus, 2, 0x4000);  // clears an RW1C bit
  REQUIRE(seen.size() == 2);
  CHECK(seen[1] == std::make_pair(uint16_t{kCfgStatus}, 2u));
  cs.write(kCfgStatus, 2, 0x4000);  // already clear
  CHECK(seen.size() == 2);
  cs.write(kCfgInterruptLine, 1, 0x0A);
  REQUIRE(seen.size() == 3);
  CHECK(seen[2] == std::make_pair(uint16_t{kCfgInterruptLine}, 1u));
  // Every registered hook runs.
  int second = 0;
  cs.on_write([&](uint16_t, unsigned) { ++second; });
  cs.write(kCfgInterruptLine, 1, 0x0B);
  CHECK(seen.size() == 4);
  CHECK(second == 1);
}

TEST_CASE("RW and RW1C masks set by the device", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  const uint16_t cap = cs.add_capability(0x09, 8);
  REQUIRE(cap == 0x40);
  cs.write(0x44, 4, 0xFFFFFFFF);  // bytes after the header start read-only
  CHECK(cs.read(0x44, 4) == 0);
  cs.set_rw_mask(0x44, 4, 0x0000FFFF);
  cs.write(0x44, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x44, 4) == 0x0000FFFF);
  // Bits 7:0 become RW1C (and stop being RW); bits 15:8 stay RW.
  cs.set_rw1c_mask(0x44, 1, 0xFF);
  cs.set_raw(0x44, 4, 0x000012A5);
  cs.write(0x44, 4, 0x00000001);  // byte 0: 0xA5 & ~0x01 = 0xA4; byte 1: RW, becomes 0x00
  CHECK(cs.read(0x44, 4) == 0x000000A4);
  cs.write(0x44, 1, 0x00);
  CHECK(cs.read(0x44, 4) == 0x000000A4);
  // And back to RW.
  cs.set_rw_mask(0x44, 1, 0xFF);
  cs.write(0x44, 1, 0x5A);
  CHECK(cs.read(0x44, 4) == 0x0000005A);
}

TEST_CASE("32-bit BAR sizing and programming", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  cs.define_bar(0, 0x1000, false);
  CHECK(cs.bar_info(0).size == 0x1000);
  CHECK_FALSE(cs.bar_info(0).is64);
  CHECK(cs.read(kCfgBar0, 4) == 0x00000000);  // memory, 32-bit, not prefetchable
  CHECK(cs.bar_address(0) == uint64_t{0});
  cs.write(kCfgBar0, 4, 0xFFFFFFFF);
  // Address bits 31:12 writable, 11:4 zero, flags 0: ~(0xFFFFF000) + 1 = 0x1000.
  CHECK(cs.read(kCfgBar0, 4) == 0xFFFFF000);
  CHECK(cs.bar_address(0) == std::nullopt);
  cs.write(kCfgBar0, 4, 0xFEBF0ABC);  // low bits are not writable
  CHECK(cs.read(kCfgBar0, 4) == 0xFEBF0000);
  CHECK(cs.bar_address(0) == uint64_t{0xFEBF0000});
  // Byte writes reach individual address bytes: byte 1 bits 7:4 = address bits 15:12.
  cs.write(kCfgBar0 + 1, 1, 0xFF);
  CHECK(cs.read(kCfgBar0, 4) == 0xFEBFF000);
}

TEST_CASE("32-bit prefetchable BAR and the smallest BAR", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  cs.define_bar(1, 0x100000, false, true);  // 1 MiB
  cs.define_bar(2, 16, false);
  CHECK(cs.read(0x14, 4) == 0x00000008);
  cs.write(0x14, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x14, 4) == 0xFFF00008);  // bits 31:20 | prefetchable
  CHECK(cs.bar_address(1) == std::nullopt);
  cs.write(0x14, 4, 0xE0012345);
  CHECK(cs.read(0x14, 4) == 0xE0000008);
  CHECK(cs.bar_address(1) == uint64_t{0xE0000000});
  cs.write(0x18, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x18, 4) == 0xFFFFFFF0);
  CHECK(cs.bar_address(2) == std::nullopt);
  cs.write(0x18, 4, 0x12345678);
  CHECK(cs.read(0x18, 4) == 0x12345670);
  CHECK(cs.bar_address(2) == uint64_t{0x12345670});
}

TEST_CASE("64-bit BAR below 4 GiB", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  cs.define_bar(2, 0x4000, true);  // 16 KiB, BAR3 is its upper half
  CHECK(cs.bar_info(2).is64);
  CHECK(cs.bar_info(3).size == 0);
  CHECK(cs.read(0x18, 4) == 0x00000004);
  CHECK(cs.read(0x1C, 4) == 0x00000000);
  cs.write(0x18, 4, 0xFFFFFFFF);
  // Lower half only: address 0x0000_0000_FFFF_C000 is a real (if odd) address, not sizing.
  CHECK(cs.read(0x18, 4) == 0xFFFFC004);
  CHECK(cs.bar_address(2) == uint64_t{0xFFFFC000});
  cs.write(0x1C, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x1C, 4) == 0xFFFFFFFF);
  CHECK(cs.bar_address(2) == std::nullopt);
  CHECK(cs.bar_address(3) == std::nullopt);
  // Size from the pair: ~0xFFFFFFFF_FFFFC000 + 1 = 0x4000.
  const uint64_t sized = (uint64_t{cs.read(0x1C, 4)} << 32) | (cs.read(0x18, 4) & ~0xFu);
  CHECK(~sized + 1 == 0x4000);
  cs.write(0x18, 4, 0xFE000000);
  cs.write(0x1C, 4, 0x00000001);
  CHECK(cs.read(0x18, 4) == 0xFE000004);
  CHECK(cs.bar_address(2) == uint64_t{0x1FE000000});
}

TEST_CASE("64-bit BAR of 4 GiB and more", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  cs.define_bar(4, uint64_t{8} << 30, true, true);  // 8 GiB prefetchable
  CHECK(cs.read(0x20, 4) == 0x0000000C);
  cs.write(0x20, 4, 0xFFFFFFFF);
  cs.write(0x24, 4, 0xFFFFFFFF);
  // No writable bit in the lower dword; upper dword bits 31:1 (address bits 63:33).
  CHECK(cs.read(0x20, 4) == 0x0000000C);
  CHECK(cs.read(0x24, 4) == 0xFFFFFFFE);
  CHECK(cs.bar_address(4) == std::nullopt);
  const uint64_t sized = (uint64_t{cs.read(0x24, 4)} << 32) | (cs.read(0x20, 4) & ~0xFu);
  CHECK(~sized + 1 == (uint64_t{8} << 30));
  cs.write(0x24, 4, 0x00000005);  // bit 0 (address bit 32) is below the size
  CHECK(cs.read(0x24, 4) == 0x00000004);
  CHECK(cs.bar_address(4) == uint64_t{0x400000000});

  ConfigSpace exact = endpoint();
  exact.define_bar(0, uint64_t{4} << 30, true);  // exactly 4 GiB
  exact.write(0x10, 4, 0xFFFFFFFF);
  exact.write(0x14, 4, 0xFFFFFFFF);
  CHECK(exact.read(0x10, 4) == 0x00000004);
  CHECK(exact.read(0x14, 4) == 0xFFFFFFFF);
  CHECK(exact.bar_address(0) == std::nullopt);
  exact.write(0x14, 4, 0x00000002);
  CHECK(exact.bar_address(0) == uint64_t{0x200000000});
}

TEST_CASE("unimplemented BARs and invalid BAR layouts", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  cs.define_bar(2, 0x1000, true);
  cs.write(0x24, 4, 0xFFFFFFFF);  // BAR5 not implemented
  CHECK(cs.read(0x24, 4) == 0);
  CHECK(cs.bar_address(5) == std::nullopt);
  CHECK(cs.bar_address(6) == std::nullopt);
  CHECK(cs.bar_info(5).size == 0);
  CHECK_THROWS_AS(cs.define_bar(3, 0x1000, false), std::invalid_argument);  // upper half of BAR2
  CHECK_THROWS_AS(cs.define_bar(1, 0x1000, true), std::invalid_argument);   // would overlap BAR2
  CHECK_THROWS_AS(cs.define_bar(5, 0x1000, true), std::invalid_argument);   // no BAR6
  CHECK_THROWS_AS(cs.define_bar(6, 0x1000, false), std::out_of_range);
  CHECK_THROWS_AS(cs.define_bar(0, 24, false), std::invalid_argument);
  CHECK_THROWS_AS(cs.define_bar(0, 8, false), std::invalid_argument);
  CHECK_THROWS_AS(cs.define_bar(0, uint64_t{4} << 30, false), std::invalid_argument);
  // Redefining BAR2 as 32-bit frees BAR3's dword.
  cs.define_bar(2, 0x100, false);
  cs.write(0x1C, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x1C, 4) == 0);
  cs.write(0x18, 4, 0xFFFFFFFF);
  CHECK(cs.read(0x18, 4) == 0xFFFFFF00);
}

TEST_CASE("bar_hit decodes only with memory space enabled", "[pcie_cfg]") {
  ConfigSpace cs = endpoint();
  cs.define_bar(0, 0x1000, false);
  cs.define_bar(2, 0x4000, true);
  cs.write(0x10, 4, 0xFEBF0000);
  cs.write(0x18, 4, 0xFE000000);
  cs.write(0x1C, 4, 0x00000001);
  CHECK(cs.bar_hit(0xFEBF0000, 4) == std::nullopt);
  CHECK(cs.bar_hit(0x1FE000000, 4) == std::nullopt);
  cs.write(kCfgCommand, 2, kCmdMemorySpace);
  CHECK(cs.bar_hit(0xFEBF0000, 4) == 0u);
  CHECK(cs.bar_hit(0xFEBF0FFC, 4) == 0u);
  CHECK(cs.bar_hit(0xFEBF0000, 0x1000) == 0u);
  CHECK(cs.bar_hit(0xFEBF0000, 0x1001) == std::nullopt);  // runs past the end
  CHECK(cs.bar_hit(0xFEBF0FFD, 4) == std::nullopt);
  CHECK(cs.bar_hit(0xFEBF1000, 1) == std::nullopt);
  CHECK(cs.bar_hit(0xFEBEFFFF, 2) == std::nullopt);  // starts before the base
  CHECK(cs.bar_hit(0x1FE000000, 8) == 2u);
  CHECK(cs.bar_hit(0x1FE003FF8, 8) == 2u);
  CHECK(cs.bar_hit(0x1FE004000, 1) == std::nullopt);
  CHECK(cs.bar_hit(0xFE000000, 4) == std::nullopt);  // the upper half counts
  // While BAR0 is sized it decodes nothing, not even at its all-ones address.
  cs.write(0x10, 4, 0xFFFFFFFF);
  CHECK(cs.bar_hit(0xFEBF0000, 4) == std::nullopt);
  CHECK(cs.bar_hit(0xFFFFF000, 4) == std::nullopt);
  CHECK(cs.bar_hit(0x1FE000000, 4) == 2u);
  cs.write(0x10, 4, 0xFEBF0000);
  CHECK(cs.bar_hit(0xFEBF0000, 4) == 0u);
  cs.write(kCfgCommand, 2, kCmdBusMaster);  // bus master alone does not decode
  CHECK(cs.bar_hit(0xFEBF0000, 4) == std::nullopt);
}

TEST_CASE("type 1 header: two BARs and bus numbers", "[pcie_cfg]") {
  ConfigSpace rp(0x8086, 0x3C02, 0x060400, 1);
  CHECK(rp.read(kCfgRevision, 4) == 0x06040000);
  rp.define_bar(0, 0x100000, true);  // 1 MiB 64-bit: BAR0 + BAR1
  CHECK_THROWS_AS(rp.define_bar(2, 0x1000, false), std::out_of_range);
  rp.write(0x10, 4, 0xFFFFFFFF);
  rp.write(0x14, 4, 0xFFFFFFFF);
  CHECK(rp.read(0x10, 4) == 0xFFF00004);
  CHECK(rp.read(0x14, 4) == 0xFFFFFFFF);
  CHECK(rp.bar_address(0) == std::nullopt);
  rp.write(0x10, 4, 0xC0000000);
  rp.write(0x14, 4, 0);
  CHECK(rp.bar_address(0) == uint64_t{0xC0000000});

  ConfigSpace rp32(0x8086, 0x3C02, 0x060400, 1);
  rp32.define_bar(0, 0x1000, false);
  rp32.define_bar(1, 0x10, false, true);
  CHECK_THROWS_AS(rp32.define_bar(1, 0x10, true), std::invalid_argument);  // no BAR2 for the upper
  rp32.write(0x10, 4, 0xFFFFFFFF);
  rp32.write(0x14, 4, 0xFFFFFFFF);
  CHECK(rp32.read(0x10, 4) == 0xFFFFF000);
  CHECK(rp32.read(0x14, 4) == 0xFFFFFFF8);

  // Primary, secondary, subordinate bus RW; secondary latency timer (0x1B) read-only 0.
  CHECK(rp.secondary_bus() == 0);
  rp.write(kCfgPrimaryBus, 4, 0xFFFFFFFF);
  CHECK(rp.read(kCfgPrimaryBus, 4) == 0x00FFFFFF);
  rp.write(kCfgPrimaryBus, 1, 0x00);
  rp.write(kCfgSecondaryBus, 1, 0x02);
  rp.write(kCfgSubordinateBus, 1, 0x05);
  CHECK(rp.read(kCfgPrimaryBus, 4) == 0x00050200);
  CHECK(rp.secondary_bus() == 2);
  CHECK(rp.subordinate_bus() == 5);
  rp.write(kCfgPrimaryBus, 2, 0x0301);
  CHECK(rp.read(kCfgPrimaryBus, 4) == 0x00050301);
  CHECK(rp.secondary_bus() == 3);

  // Type 0: 0x18 is BAR2, here not implemented.
  ConfigSpace ep = endpoint();
  ep.write(kCfgPrimaryBus, 4, 0xFFFFFFFF);
  CHECK(ep.read(kCfgPrimaryBus, 4) == 0);
  CHECK(ep.secondary_bus() == 0);
  CHECK(ep.subordinate_bus() == 0);

  // Root port capabilities hang off 0x34 as on an endpoint.
  const uint16_t pcie = rp.add_pcie(1, 4);
  CHECK(pcie == 0x40);
  CHECK(rp.read(kCfgCapPtr, 1) == 0x40);
  CHECK(rp.read(pcie, 4) == 0x00420010);  // version 2, port type 4, next 0, id 0x10
}

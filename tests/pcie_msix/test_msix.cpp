// Device-side MSI-X (table, PBA, masks, pending, release on unmask) and plain MSI (MME multiple
// messages, per-vector mask and pending), vtd-pcie.md §5 and the PCI spec. Plain C++: no SystemC
// elaboration. Expected values worked out by hand.
#include <cstdint>
#include <memory>
#include <stdexcept>

#include <catch2/catch.hpp>

#include <iovsim/pcie/config_space.hpp>
#include <iovsim/pcie/msix.hpp>

using namespace iovsim::pcie;

namespace {

constexpr uint16_t kMsixEnable = 0x8000, kMsixFunctionMask = 0x4000;

// An endpoint with a 16 KiB BAR 0 holding the table at 0 and the PBA at 0x2000.
struct MsixFixture {
  ConfigSpace cs{0x8086, 0x1234, 0x020000};  // declared first: cap and table are built from it
  uint16_t cap;
  MsixTable table;

  explicit MsixFixture(unsigned vectors)
      : cap((cs.define_bar(0, 0x4000, false), cs.add_msix(vectors, 0, 0x0, 0, 0x2000))),
        table(cs, cap, vectors) {}

  void control(uint16_t value) { cs.write(static_cast<uint16_t>(cap + 2), 2, value); }
  // Programs entry `v` with 4-byte writes, leaving its mask as it is.
  void program(unsigned v, uint64_t address, uint32_t data) {
    table.table_write(16 * v + 0, 4, static_cast<uint32_t>(address));
    table.table_write(16 * v + 4, 4, static_cast<uint32_t>(address >> 32));
    table.table_write(16 * v + 8, 4, data);
  }
  void mask(unsigned v, bool on) { table.table_write(16 * v + 12, 4, on ? 1 : 0); }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// MSI-X

TEST_CASE("MSI-X table checks the capability it is given", "[msix]") {
  ConfigSpace cs(0x8086, 0x1234, 0x020000);
  const uint16_t msi = cs.add_msi(0, false, false);
  const uint16_t msix = cs.add_msix(8, 0, 0, 0, 0x800);
  CHECK_THROWS_AS(MsixTable(cs, msi, 8), std::invalid_argument);
  CHECK_THROWS_AS(MsixTable(cs, msix, 7), std::invalid_argument);
  CHECK_THROWS_AS(MsixTable(cs, msix, 9), std::invalid_argument);
  MsixTable t(cs, msix, 8);
  CHECK(t.size() == 8);
  CHECK(t.table_bytes() == 128);
  CHECK(t.pba_bytes() == 8);

  ConfigSpace big(0x8086, 0x1234, 0x020000);
  MsixTable t70(big, big.add_msix(70, 0, 0, 0, 0x800), 70);
  CHECK(t70.table_bytes() == 70 * 16);
  CHECK(t70.pba_bytes() == 16);  // two qwords
}

TEST_CASE("MSI-X reset state: disabled, every vector masked, nothing pending", "[msix]") {
  MsixFixture f(8);
  CHECK_FALSE(f.table.enabled());
  CHECK_FALSE(f.table.function_masked());
  for (unsigned v = 0; v < 8; ++v) {
    CHECK(f.table.masked(v));
    CHECK_FALSE(f.table.pending(v));
    CHECK(f.table.table_read(16 * v + 0, 8) == 0);             // address
    CHECK(f.table.table_read(16 * v + 8, 8) == 0x1'00000000);  // data 0, control 1
    CHECK(f.table.table_read(16 * v + 12, 4) == 1);
  }
  CHECK(f.table.pba_read(0, 8) == 0);
  // Control in config space: table size - 1 = 7, enable and function mask clear.
  CHECK(f.cs.read(static_cast<uint16_t>(f.cap + 2), 2) == 0x0007);
  CHECK_THROWS_AS(f.table.masked(8), std::out_of_range);
  CHECK_THROWS_AS(f.table.pending(8), std::out_of_range);
}

TEST_CASE("MSI-X table programming and read-back, 4- and 8-byte accesses", "[msix]") {
  MsixFixture f(8);
  auto& t = f.table;

  SECTION("dword writes, dword and qword reads") {
    t.table_write(0x30, 4, 0xFEE01004);
    t.table_write(0x34, 4, 0x12345678);
    t.table_write(0x38, 4, 0x00004041);
    t.table_write(0x3C, 4, 0);
    CHECK(t.table_read(0x30, 4) == 0xFEE01004);
    CHECK(t.table_read(0x34, 4) == 0x12345678);
    CHECK(t.table_read(0x38, 4) == 0x00004041);
    CHECK(t.table_read(0x3C, 4) == 0);
    CHECK(t.table_read(0x30, 8) == 0x12345678'FEE01004);
    CHECK(t.table_read(0x38, 8) == 0x00000000'00004041);
    CHECK_FALSE(t.masked(3));
    const MsiMessage m = t.message(3);
    CHECK(m.address == 0x12345678'FEE01004);
    CHECK(m.data == 0x4041);
    CHECK(m.vector == 3);
    // Neighbours untouched.
    CHECK(t.table_read(0x20, 8) == 0);
    CHECK(t.table_read(0x40, 8) == 0);
    CHECK(t.masked(2));
    CHECK(t.masked(4));
  }

  SECTION("qword writes split into the two dwords") {
    t.table_write(0x50, 8, 0xAABBCCDD'FEE00003);
    t.table_write(0x58, 8, 0xFFFFFFFF'00000022);
    CHECK(t.table_read(0x50, 4) == 0xFEE00000);  // address bits 1:0 read 0
    CHECK(t.table_read(0x54, 4) == 0xAABBCCDD);
    CHECK(t.table_read(0x58, 4) == 0x22);
    CHECK(t.table_read(0x5C, 4) == 1);  // mask bit set, reserved bits 31:1 read 0
    CHECK(t.table_read(0x58, 8) == 0x00000001'00000022);
    CHECK(t.masked(5));
    t.table_write(0x58, 8, 0xFFFFFFFE'12345678);
    CHECK(t.table_read(0x58, 8) == 0x00000000'12345678);
    CHECK_FALSE(t.masked(5));
  }

  SECTION("reserved vector control bits read 0") {
    t.table_write(0x0C, 4, 0xFFFFFFFF);
    CHECK(t.table_read(0x0C, 4) == 1);
    t.table_write(0x0C, 4, 0x80000000);
    CHECK(t.table_read(0x0C, 4) == 0);
    CHECK_FALSE(t.masked(0));
  }

  SECTION("last entry, and past the table: reads 0, writes ignored") {
    t.table_write(0x70, 8, 0x00000000'FEE0000C);
    t.table_write(0x78, 4, 0x99);
    CHECK(t.table_read(0x70, 8) == 0xFEE0000C);
    CHECK(t.table_read(0x78, 4) == 0x99);
    t.table_write(0x80, 8, 0xFFFFFFFF'FFFFFFFF);
    CHECK(t.table_read(0x80, 8) == 0);
    CHECK(t.table_read(0x7C, 4) == 1);
  }

  SECTION("unaligned or odd-sized accesses are rejected") {
    CHECK_THROWS_AS(t.table_read(0x2, 4), std::invalid_argument);
    CHECK_THROWS_AS(t.table_read(0x4, 8), std::invalid_argument);
    CHECK_THROWS_AS(t.table_read(0x0, 2), std::invalid_argument);
    CHECK_THROWS_AS(t.table_write(0x1, 4, 0), std::invalid_argument);
    CHECK_THROWS_AS(t.table_write(0xC, 8, 0), std::invalid_argument);
    CHECK_THROWS_AS(t.pba_read(0x4, 8), std::invalid_argument);
    CHECK_THROWS_AS(t.pba_read(0x0, 1), std::invalid_argument);
  }
}

TEST_CASE("MSI-X signal while disabled: nothing sent, nothing pending", "[msix]") {
  MsixFixture f(8);
  f.program(1, 0xFEE00000, 0x31);
  f.mask(1, false);
  CHECK_FALSE(f.table.signal(1).has_value());
  CHECK_FALSE(f.table.pending(1));
  CHECK_FALSE(f.table.signal(2).has_value());  // masked too: still not pending
  CHECK_FALSE(f.table.pending(2));
  CHECK(f.table.pba_read(0, 8) == 0);
  CHECK(f.table.take_released().empty());
  // Function mask without enable: still nothing.
  f.control(kMsixFunctionMask);
  CHECK_FALSE(f.table.signal(1).has_value());
  CHECK_FALSE(f.table.pending(1));
  CHECK_THROWS_AS(f.table.signal(8), std::out_of_range);
}

TEST_CASE("MSI-X signal while enabled and unmasked sends the programmed message", "[msix]") {
  MsixFixture f(8);
  f.program(6, 0x1'FEE02000, 0x4066);
  f.mask(6, false);
  f.control(kMsixEnable);
  CHECK(f.table.enabled());
  CHECK(f.cs.read(static_cast<uint16_t>(f.cap + 2), 2) == 0x8007);
  const auto m = f.table.signal(6);
  REQUIRE(m.has_value());
  CHECK(m->address == 0x1'FEE02000);
  CHECK(m->data == 0x4066);
  CHECK(m->vector == 6);
  CHECK_FALSE(f.table.pending(6));
  CHECK(f.table.pba_read(0, 8) == 0);
  CHECK(f.table.take_released().empty());
  // Signalled twice: sent twice (edge semantics, nothing accumulates).
  CHECK(f.table.signal(6).has_value());
  CHECK(f.table.take_released().empty());
}

TEST_CASE("MSI-X vector mask: pending bit in the PBA, released on unmask", "[msix]") {
  MsixFixture f(8);
  f.program(2, 0xFEE00000, 0x22);
  f.control(kMsixEnable);  // vector 2 still masked from reset
  CHECK_FALSE(f.table.signal(2).has_value());
  CHECK(f.table.pending(2));
  CHECK(f.table.pba_read(0, 8) == 0x4);
  CHECK(f.table.pba_read(0, 4) == 0x4);
  CHECK(f.table.pba_read(4, 4) == 0);
  // Signalled again while pending: one pending bit, one message later.
  CHECK_FALSE(f.table.signal(2).has_value());
  // The PBA is read-only.
  f.table.pba_write(0, 8, 0);
  CHECK(f.table.pba_read(0, 8) == 0x4);
  // Reprogramming the masked entry: no release yet.
  f.program(2, 0x3'FEE0F000, 0x4052);
  CHECK(f.table.take_released().empty());
  CHECK(f.table.pending(2));

  f.mask(2, false);
  const auto released = f.table.take_released();
  REQUIRE(released.size() == 1);
  CHECK(released[0].address == 0x3'FEE0F000);  // programmed at release time
  CHECK(released[0].data == 0x4052);
  CHECK(released[0].vector == 2);
  CHECK_FALSE(f.table.pending(2));
  CHECK(f.table.pba_read(0, 8) == 0);
  CHECK(f.table.take_released().empty());
  // Now unmasked: sent directly.
  CHECK(f.table.signal(2).has_value());
}

TEST_CASE("MSI-X unmask by a qword write of data and control uses the new data", "[msix]") {
  MsixFixture f(4);
  f.program(1, 0xFEE00000, 0x10);
  f.control(kMsixEnable);
  CHECK_FALSE(f.table.signal(1).has_value());
  f.table.table_write(0x18, 8, 0x00000000'00000077);  // data 0x77, mask 0
  const auto released = f.table.take_released();
  REQUIRE(released.size() == 1);
  CHECK(released[0].address == 0xFEE00000);
  CHECK(released[0].data == 0x77);
  CHECK(released[0].vector == 1);
  CHECK_FALSE(f.table.pending(1));
}

TEST_CASE("MSI-X function mask: pending, released on function unmask", "[msix]") {
  MsixFixture f(8);
  f.program(0, 0xFEE00000, 0x40);
  f.program(5, 0xFEE01000, 0x45);
  f.program(7, 0xFEE02000, 0x47);
  f.mask(0, false);
  f.mask(5, false);  // vector 7 stays masked
  f.control(kMsixEnable | kMsixFunctionMask);
  CHECK(f.table.function_masked());
  CHECK_FALSE(f.table.signal(5).has_value());
  CHECK_FALSE(f.table.signal(0).has_value());
  CHECK_FALSE(f.table.signal(7).has_value());
  CHECK(f.table.pba_read(0, 8) == 0xA1);  // bits 0, 5, 7
  CHECK(f.table.take_released().empty());
  // Reprogram vector 5 while the function is masked.
  f.program(5, 0xFEE03000, 0x55);
  CHECK(f.table.take_released().empty());

  f.control(kMsixEnable);  // function unmask through config space
  CHECK_FALSE(f.table.function_masked());
  const auto released = f.table.take_released();
  REQUIRE(released.size() == 2);  // in vector order; vector 7 still masked
  CHECK(released[0].vector == 0);
  CHECK(released[0].address == 0xFEE00000);
  CHECK(released[0].data == 0x40);
  CHECK(released[1].vector == 5);
  CHECK(released[1].address == 0xFEE03000);
  CHECK(released[1].data == 0x55);
  CHECK(f.table.pba_read(0, 8) == 0x80);
  CHECK_FALSE(f.table.pending(0));
  CHECK_FALSE(f.table.pending(5));
  CHECK(f.table.pending(7));
  CHECK(f.table.take_released().empty());

  f.mask(7, false);
  const auto last = f.table.take_released();
  REQUIRE(last.size() == 1);
  CHECK(last[0].vector == 7);
  CHECK(last[0].data == 0x47);
  CHECK(f.table.pba_read(0, 8) == 0);
}

TEST_CASE("MSI-X vector unmask under the function mask releases nothing until it clears",
          "[msix]") {
  MsixFixture f(8);
  f.program(3, 0xFEE00000, 0x33);
  f.control(kMsixEnable | kMsixFunctionMask);
  CHECK_FALSE(f.table.signal(3).has_value());
  f.mask(3, false);
  CHECK(f.table.take_released().empty());
  CHECK(f.table.pending(3));
  f.control(kMsixEnable);
  const auto released = f.table.take_released();
  REQUIRE(released.size() == 1);
  CHECK(released[0].vector == 3);
  CHECK(released[0].data == 0x33);
  CHECK_FALSE(f.table.pending(3));
}

TEST_CASE("MSI-X unmask then mask again before take_released still releases", "[msix]") {
  MsixFixture f(8);
  f.program(4, 0xFEE00000, 0x44);
  f.control(kMsixEnable);
  CHECK_FALSE(f.table.signal(4).has_value());
  f.mask(4, false);  // released here
  f.mask(4, true);
  const auto released = f.table.take_released();
  REQUIRE(released.size() == 1);
  CHECK(released[0].data == 0x44);
  CHECK_FALSE(f.table.pending(4));
}

TEST_CASE("MSI-X pending bits survive a disable and are released when re-enabled", "[msix]") {
  MsixFixture f(8);
  f.program(1, 0xFEE00000, 0x11);
  f.control(kMsixEnable);
  CHECK_FALSE(f.table.signal(1).has_value());
  f.control(0);
  f.mask(1, false);
  CHECK(f.table.take_released().empty());  // disabled: nothing is sent
  CHECK(f.table.pending(1));
  f.control(kMsixEnable);
  const auto released = f.table.take_released();
  REQUIRE(released.size() == 1);
  CHECK(released[0].vector == 1);
  CHECK_FALSE(f.table.pending(1));
}

TEST_CASE("MSI-X PBA layout across qwords", "[msix]") {
  MsixFixture f(70);
  f.control(kMsixEnable);  // everything masked
  for (unsigned v : {33u, 64u, 69u}) CHECK_FALSE(f.table.signal(v).has_value());
  CHECK(f.table.pba_read(0, 8) == 0x2'00000000);  // vector 33: qword 0 bit 33
  CHECK(f.table.pba_read(0, 4) == 0);
  CHECK(f.table.pba_read(4, 4) == 0x2);
  CHECK(f.table.pba_read(8, 8) == 0x21);  // vectors 64 and 69: qword 1 bits 0 and 5
  CHECK(f.table.pba_read(8, 4) == 0x21);
  CHECK(f.table.pba_read(12, 4) == 0);
  CHECK(f.table.pba_read(16, 8) == 0);  // past the PBA
  f.table.pba_write(8, 8, 0);
  CHECK(f.table.pba_read(8, 8) == 0x21);

  f.program(64, 0xFEE00000, 0x64);
  f.mask(64, false);
  const auto released = f.table.take_released();
  REQUIRE(released.size() == 1);
  CHECK(released[0].vector == 64);
  CHECK(released[0].data == 0x64);
  CHECK(f.table.pba_read(8, 8) == 0x20);
}

TEST_CASE("MSI-X config hook is harmless after the table is gone", "[msix]") {
  ConfigSpace cs(0x8086, 0x1234, 0x020000);
  const uint16_t cap = cs.add_msix(4, 0, 0, 0, 0x800);
  {
    MsixTable t(cs, cap, 4);
    CHECK_FALSE(t.enabled());
  }
  cs.write(static_cast<uint16_t>(cap + 2), 2, kMsixEnable);
  CHECK(cs.read(static_cast<uint16_t>(cap + 2), 2) == 0x8003);
}

// ---------------------------------------------------------------------------------------------
// MSI

TEST_CASE("MSI checks the capability it is given", "[msi]") {
  ConfigSpace cs(0x8086, 0x1234, 0x020000);
  const uint16_t msix = cs.add_msix(4, 0, 0, 0, 0x800);
  const uint16_t msi = cs.add_msi(3, true, true);
  CHECK_THROWS_AS(MsiCapability(cs, msix), std::invalid_argument);
  MsiCapability m(cs, msi);
  CHECK(m.capable() == 8);
  CHECK(m.vectors() == 1);
  CHECK(m.has_mask());
  CHECK_FALSE(m.enabled());
  CHECK(m.mask_offset() == msi + 0x10);
  CHECK(m.pending_offset() == msi + 0x14);
}

TEST_CASE("MSI disabled: nothing sent, nothing pending", "[msi]") {
  ConfigSpace cs(0x8086, 0x1234, 0x020000);
  const uint16_t cap = cs.add_msi(2, false, true);
  MsiCapability m(cs, cap);
  cs.write(static_cast<uint16_t>(cap + 4), 4, 0xFEE00000);
  cs.write(static_cast<uint16_t>(cap + 0xC), 4, 0x1);  // vector 0 masked
  CHECK_FALSE(m.signal(0).has_value());
  CHECK_FALSE(m.pending(0));
  CHECK(cs.read(static_cast<uint16_t>(cap + 0x10), 4) == 0);
  CHECK(m.take_released().empty());
}

TEST_CASE("MSI with multiple messages: data low bits carry the vector", "[msi]") {
  ConfigSpace cs(0x8086, 0x1234, 0x020000);
  const uint16_t cap = cs.add_msi(3, true, false);  // 8 vectors capable, 64-bit, no masking
  MsiCapability m(cs, cap);
  const auto at = [cap](unsigned rel) { return static_cast<uint16_t>(cap + rel); };
  // Control: MMC 3 (bits 3:1 = 0x6), 64-bit (0x80).
  CHECK(cs.read(at(2), 2) == 0x0086);
  cs.write(at(4), 4, 0xFEE00000);
  cs.write(at(8), 4, 0x1);
  cs.write(at(0xC), 2, 0x4023);

  SECTION("MME 2: four vectors, data bits 1:0 replaced") {
    cs.write(at(2), 2, 0x0021);  // enable, MME 2
    CHECK(cs.read(at(2), 2) == 0x00A7);
    CHECK(m.vectors() == 4);
    const auto v0 = m.signal(0);
    REQUIRE(v0.has_value());
    CHECK(v0->address == 0x1'FEE00000);
    CHECK(v0->data == 0x4020);
    CHECK(v0->vector == 0);
    CHECK(m.signal(1)->data == 0x4021);
    CHECK(m.signal(3)->data == 0x4023);
    CHECK_FALSE(m.signal(4).has_value());  // capable but not allocated
    CHECK_FALSE(m.signal(7).has_value());
    CHECK_THROWS_AS(m.signal(8), std::out_of_range);
  }

  SECTION("MME 0: one vector, data as programmed") {
    cs.write(at(2), 2, 0x0001);
    CHECK(m.vectors() == 1);
    CHECK(m.signal(0)->data == 0x4023);
    CHECK_FALSE(m.signal(1).has_value());
  }

  SECTION("MME 3: eight vectors, data bits 2:0 replaced") {
    cs.write(at(0xC), 2, 0x4025);
    cs.write(at(2), 2, 0x0031);
    CHECK(m.vectors() == 8);
    CHECK(m.signal(5)->data == 0x4025);
    CHECK(m.signal(2)->data == 0x4022);
    CHECK(m.signal(7)->data == 0x4027);
  }

  SECTION("no per-vector masking: never masked, never pending") {
    cs.write(at(2), 2, 0x0031);
    CHECK_FALSE(m.has_mask());
    CHECK_FALSE(m.masked(3));
    CHECK(m.signal(3).has_value());
    CHECK_FALSE(m.pending(3));
    CHECK(m.take_released().empty());
  }
}

TEST_CASE("MSI MME beyond MMC is clamped to MMC", "[msi]") {
  ConfigSpace cs(0x8086, 0x1234, 0x020000);
  const uint16_t cap = cs.add_msi(1, false, false);  // 2 vectors capable, 32-bit address
  MsiCapability m(cs, cap);
  cs.write(static_cast<uint16_t>(cap + 4), 4, 0xFEE0100C);
  cs.write(static_cast<uint16_t>(cap + 8), 2, 0x4023);
  cs.write(static_cast<uint16_t>(cap + 2), 2, 0x0031);  // enable, MME 3 (> MMC 1)
  CHECK(m.capable() == 2);
  CHECK(m.vectors() == 2);
  const auto msg = m.signal(1);
  REQUIRE(msg.has_value());
  CHECK(msg->address == 0xFEE0100C);
  CHECK(msg->data == 0x4023);
  CHECK(m.signal(0)->data == 0x4022);
  CHECK_THROWS_AS(m.signal(2), std::out_of_range);
}

TEST_CASE("MSI per-vector mask: pending set by the device, released on unmask", "[msi]") {
  ConfigSpace cs(0x8086, 0x1234, 0x020000);
  const uint16_t cap = cs.add_msi(3, true, true);  // mask +0x10, pending +0x14
  MsiCapability m(cs, cap);
  const auto at = [cap](unsigned rel) { return static_cast<uint16_t>(cap + rel); };
  cs.write(at(4), 4, 0xFEE00000);
  cs.write(at(0xC), 2, 0x4020);
  cs.write(at(0x10), 4, 0xFFFFFFFF);
  CHECK(cs.read(at(0x10), 4) == 0xFF);  // mask bits only for the 8 vectors
  cs.write(at(0x10), 4, 0x5);           // vectors 0 and 2 masked
  cs.write(at(2), 2, 0x0021);           // enable, MME 2: four vectors
  CHECK(m.masked(0));
  CHECK_FALSE(m.masked(1));
  CHECK(m.masked(2));

  CHECK_FALSE(m.signal(2).has_value());
  CHECK(m.pending(2));
  CHECK(cs.read(at(0x14), 4) == 0x4);
  CHECK(m.signal(1)->data == 0x4021);  // unmasked vector unaffected
  // The pending register is read-only to software.
  cs.write(at(0x14), 4, 0);
  cs.write(at(0x14), 4, 0xFFFFFFFF);
  CHECK(cs.read(at(0x14), 4) == 0x4);
  CHECK(m.take_released().empty());

  SECTION("unmask releases with the data programmed at release time") {
    cs.write(at(0xC), 2, 0x5000);
    cs.write(at(4), 4, 0xFEE0F000);
    CHECK(m.take_released().empty());
    cs.write(at(0x10), 4, 0x1);  // unmask vector 2
    const auto released = m.take_released();
    REQUIRE(released.size() == 1);
    CHECK(released[0].address == 0xFEE0F000);
    CHECK(released[0].data == 0x5002);
    CHECK(released[0].vector == 2);
    CHECK_FALSE(m.pending(2));
    CHECK(cs.read(at(0x14), 4) == 0);
    CHECK(m.take_released().empty());
  }

  SECTION("several pending vectors are released in vector order") {
    CHECK_FALSE(m.signal(0).has_value());
    CHECK(cs.read(at(0x14), 4) == 0x5);
    cs.write(at(0x10), 4, 0x4);  // unmask vector 0 only
    auto released = m.take_released();
    REQUIRE(released.size() == 1);
    CHECK(released[0].vector == 0);
    CHECK(released[0].data == 0x4020);
    CHECK(cs.read(at(0x14), 4) == 0x4);
    cs.write(at(0x10), 4, 0x0);
    released = m.take_released();
    REQUIRE(released.size() == 1);
    CHECK(released[0].vector == 2);
    CHECK(released[0].data == 0x4022);
    CHECK(cs.read(at(0x14), 4) == 0);
  }

  SECTION("a pending bit set by the device with set_raw is released too") {
    cs.write(at(0x10), 4, 0x0);
    (void)m.take_released();
    cs.write(at(0x10), 4, 0x8);  // vector 3 masked
    cs.set_raw(at(0x14), 4, 0x8);
    CHECK(m.pending(3));
    cs.write(at(0x10), 4, 0x0);
    const auto released = m.take_released();
    REQUIRE(released.size() == 1);
    CHECK(released[0].vector == 3);
    CHECK(released[0].data == 0x4023);
  }

  SECTION("pending while disabled-then-unmasked waits for enable") {
    cs.write(at(2), 2, 0x0020);  // disable, MME 2 kept
    cs.write(at(0x10), 4, 0x0);
    CHECK(m.take_released().empty());
    CHECK(m.pending(2));
    cs.write(at(2), 2, 0x0021);
    const auto released = m.take_released();
    REQUIRE(released.size() == 1);
    CHECK(released[0].data == 0x4022);
  }
}

TEST_CASE("MSI 32-bit address with per-vector mask: mask and pending after the data", "[msi]") {
  ConfigSpace cs(0x8086, 0x1234, 0x020000);
  const uint16_t cap = cs.add_msi(0, false, true);  // +4 addr, +8 data, +0xC mask, +0x10 pending
  MsiCapability m(cs, cap);
  CHECK(m.mask_offset() == cap + 0xC);
  CHECK(m.pending_offset() == cap + 0x10);
  const auto at = [cap](unsigned rel) { return static_cast<uint16_t>(cap + rel); };
  cs.write(at(4), 4, 0xFEE00000);
  cs.write(at(8), 2, 0x0041);
  cs.write(at(0xC), 4, 0xFFFFFFFF);
  CHECK(cs.read(at(0xC), 4) == 0x1);  // a single mask bit
  cs.write(at(2), 2, 0x0001);
  CHECK_FALSE(m.signal(0).has_value());
  CHECK(cs.read(at(0x10), 4) == 0x1);
  cs.write(at(0xC), 4, 0);
  const auto released = m.take_released();
  REQUIRE(released.size() == 1);
  CHECK(released[0].address == 0xFEE00000);
  CHECK(released[0].data == 0x0041);
  CHECK(released[0].vector == 0);
  CHECK(cs.read(at(0x10), 4) == 0);
  CHECK(m.signal(0)->data == 0x0041);
}

// The IOMMU driver's interrupt remapping against the fake remapping unit: IRTA, the GCMD sequence,
// interrupt-entry-cache descriptors, every IRTE field and the MSI messages, decoded bit by bit here
// from ../shared/reference/vtd-pcie.md §2–4 and §8 step 4 (not through the driver's or the iommu
// models' structs).
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/cpu_stub/iommu_driver.hpp>
#include <iovsim/cpu_stub/page_allocator.hpp>

#include "fake_machine.hpp"

using namespace iovsim::cpu_stub;
using namespace iovsim::cpu_stub::test;

namespace {

constexpr uint64_t kPool = 0x10000000, kPoolSize = 4 << 20;
using FM = FakeMachine;

uint64_t field(uint64_t v, unsigned hi, unsigned lo) {
  return (v >> lo) & ((hi - lo == 63) ? ~0ull : ((1ull << (hi - lo + 1)) - 1));
}

// GCMD / GSTS bit positions (§2).
constexpr uint32_t kTe = 1u << 31, kRtps = 1u << 30, kQie = 1u << 26, kIre = 1u << 25,
                   kSirtp = 1u << 24;

struct Rig {
  FakeMachine m;
  PageAllocator pages;
  IommuDriver drv;
  explicit Rig(IommuDriverOptions o = {}, uint64_t ecap = make_ecap())
      : pages(m, kPool, kPoolSize), drv(m, FM::kMmioBase, pages, o) {
    m.ecap = ecap;
  }
  Rig& up() {
    drv.bring_up();
    m.writes.clear();
    m.descriptors.clear();
    return *this;
  }
  Rig& ir(unsigned entries = 256) {
    up();
    drv.enable_interrupt_remapping(entries);
    m.writes.clear();
    m.descriptors.clear();
    return *this;
  }
  uint64_t irt() { return m.irta & ~0xfffull; }
  uint64_t irte_lo(unsigned i) { return m.mem.read_u64(irt() + 16 * uint64_t{i}); }
  uint64_t irte_hi(unsigned i) { return m.mem.read_u64(irt() + 16 * uint64_t{i} + 8); }
};

IommuDriverOptions register_mode() {
  IommuDriverOptions o;
  o.invalidation = InvalidationMode::kRegister;
  return o;
}

// An IEC descriptor (type 4): G 4, IM 31:27, IIDX 47:32, nothing else; hi = 0.
void check_iec(const Desc& d, bool index_selective, unsigned im, unsigned iidx) {
  INFO("lo 0x" << std::hex << d.lo << " hi 0x" << d.hi);
  CHECK(field(d.lo, 3, 0) == 4);
  CHECK(field(d.lo, 4, 4) == (index_selective ? 1u : 0u));
  CHECK(field(d.lo, 26, 5) == 0);
  CHECK(field(d.lo, 31, 27) == im);
  CHECK(field(d.lo, 47, 32) == iidx);
  CHECK(field(d.lo, 63, 48) == 0);
  CHECK(d.hi == 0);
}

// The wait descriptor the driver puts after every descriptor: type 5, SW, status data 1, the
// status address (4-byte aligned, in the pool), and the status word written.
void check_wait(FakeMachine& m, const Desc& d) {
  INFO("wait lo 0x" << std::hex << d.lo << " hi 0x" << d.hi);
  CHECK(field(d.lo, 3, 0) == 5);
  CHECK(field(d.lo, 4, 4) == 0);  // IF
  CHECK(field(d.lo, 5, 5) == 1);  // SW
  CHECK(field(d.lo, 6, 6) == 0);  // FN
  CHECK(field(d.lo, 31, 7) == 0);
  CHECK(field(d.lo, 63, 32) == 1);
  CHECK(field(d.hi, 1, 0) == 0);
  CHECK(d.hi >= kPool);
  CHECK(d.hi < kPool + kPoolSize);
  CHECK(m.mem.read_u32(d.hi) == 1);
}

// The IRTE fields of §4, decoded from the raw 128 bits.
struct IrteBits {
  uint64_t lo, hi;
  unsigned p() const { return static_cast<unsigned>(field(lo, 0, 0)); }
  unsigned fpd() const { return static_cast<unsigned>(field(lo, 1, 1)); }
  unsigned dm() const { return static_cast<unsigned>(field(lo, 2, 2)); }
  unsigned rh() const { return static_cast<unsigned>(field(lo, 3, 3)); }
  unsigned tm() const { return static_cast<unsigned>(field(lo, 4, 4)); }
  unsigned dlm() const { return static_cast<unsigned>(field(lo, 7, 5)); }
  unsigned avail() const { return static_cast<unsigned>(field(lo, 11, 8)); }
  unsigned im() const { return static_cast<unsigned>(field(lo, 15, 15)); }
  unsigned vector() const { return static_cast<unsigned>(field(lo, 23, 16)); }
  unsigned xapic_dst() const { return static_cast<unsigned>(field(lo, 47, 40)); }
  unsigned sid() const { return static_cast<unsigned>(field(hi, 15, 0)); }
  unsigned sq() const { return static_cast<unsigned>(field(hi, 17, 16)); }
  unsigned svt() const { return static_cast<unsigned>(field(hi, 19, 18)); }
};

void check_irte(uint64_t lo, uint64_t hi, const IrteSpec& s) {
  INFO("IRTE lo 0x" << std::hex << lo << " hi 0x" << hi);
  const IrteBits e{lo, hi};
  CHECK(e.p() == 1);
  CHECK(e.fpd() == (s.fpd ? 1u : 0u));
  CHECK(e.dm() == (s.logical ? 1u : 0u));
  CHECK(e.rh() == 0);
  CHECK(e.tm() == (s.level ? 1u : 0u));
  CHECK(e.dlm() == s.delivery_mode);
  CHECK(e.avail() == 0);
  CHECK(e.im() == 0);  // remapped format
  CHECK(e.vector() == s.vector);
  CHECK(e.xapic_dst() == s.dest_apic);
  CHECK(e.sid() == s.sid);
  CHECK(e.sq() == s.sq);
  CHECK(e.svt() == s.svt);
  // Reserved: 14:12, 31:24, 127:84; xAPIC: DST bits other than 15:8 (entry 39:32, 63:48).
  CHECK(field(lo, 14, 12) == 0);
  CHECK(field(lo, 31, 24) == 0);
  CHECK(field(lo, 39, 32) == 0);
  CHECK(field(lo, 63, 48) == 0);
  CHECK(field(hi, 63, 20) == 0);
}

// The remappable-format address (§4): 31:20 0xFEE, handle[14:0] 19:5, IF 4, SHV 3, handle[15] 2.
unsigned check_remappable(const MsiProgramming& msg) {
  INFO("address 0x" << std::hex << msg.address << " data 0x" << msg.data);
  CHECK(field(msg.address, 63, 32) == 0);
  CHECK(field(msg.address, 31, 20) == 0xFEE);
  CHECK(field(msg.address, 4, 4) == 1);  // IF
  CHECK(field(msg.address, 3, 3) == 0);  // SHV
  CHECK(field(msg.address, 1, 0) == 0);
  CHECK(msg.data == 0);
  return static_cast<unsigned>(field(msg.address, 19, 5) | field(msg.address, 2, 2) << 15);
}

}  // namespace

TEST_CASE("enable_interrupt_remapping: IRTA, SIRTP, global IEC invalidation, IRE",
          "[cpu_stub][iommu_driver][ir]") {
  const unsigned entries = GENERATE(2u, 256u, 4096u, 65536u);
  Rig r;
  r.up();
  REQUIRE(r.m.gsts == (kTe | kRtps | kQie));
  const uint64_t used_before = r.pages.pages_used();
  const uint64_t inval_before = r.drv.invalidations_issued();
  CHECK_FALSE(r.drv.interrupt_remapping_enabled());
  r.drv.enable_interrupt_remapping(entries);
  CHECK(r.drv.interrupt_remapping_enabled());
  CHECK(r.drv.irt_entries() == entries);

  // IRTA: base 63:12, EIME 11 = 0 (xAPIC), 10:4 zero, S 3:0 with 2^(S+1) = entries.
  REQUIRE(r.m.writes.size() == 4);
  const MmioWrite irta = r.m.writes[0];
  CHECK(irta.off == 0xB8);
  CHECK(irta.size == 8);
  const uint64_t base = irta.value & ~0xfffull;
  CHECK(field(irta.value, 11, 11) == 0);
  CHECK(field(irta.value, 10, 4) == 0);
  CHECK((2ull << field(irta.value, 3, 0)) == entries);
  CHECK(base == r.drv.irt_base());
  CHECK(base >= kPool);
  // One contiguous region, zeroed, from the pool.
  const uint64_t table_pages = std::max<uint64_t>(1, entries * 16ull / 4096);
  CHECK(r.pages.pages_used() - used_before == table_pages);
  CHECK(base + table_pages * 4096 <= kPool + r.pages.pages_used() * 4096);
  for (uint64_t i = 0; i < entries; i += std::max(1u, entries / 64)) {
    CHECK(r.m.mem.read_u64(base + 16 * i) == 0);
    CHECK(r.m.mem.read_u64(base + 16 * i + 8) == 0);
  }

  // GCMD: GSTS image without the one-shot RTPS, | SIRTP; then the IEC flush (IQT); then | IRE
  // (the latched IRTPS is masked again).
  CHECK(r.m.writes[1] == MmioWrite{0x18, 4, kTe | kQie | kSirtp});
  CHECK(r.m.writes[2].off == 0x88);
  CHECK(r.m.writes[3] == MmioWrite{0x18, 4, kTe | kQie | kIre});
  CHECK((r.m.gsts & (kIre | kSirtp)) == (kIre | kSirtp));  // IRES, IRTPS

  REQUIRE(r.m.descriptors.size() == 2);
  check_iec(r.m.descriptors[0], false, 0, 0);
  check_wait(r.m, r.m.descriptors[1]);
  CHECK(r.drv.invalidations_issued() == inval_before + 1);
}

TEST_CASE("enable_interrupt_remapping: refusals", "[cpu_stub][iommu_driver][ir]") {
  SECTION("before bring_up") {
    Rig r;
    CHECK_THROWS_AS(r.drv.enable_interrupt_remapping(), std::logic_error);
    CHECK(r.m.writes.empty());
  }
  SECTION("no ECAP.IR") {
    Rig r({}, make_ecap() & ~(uint64_t{1} << 3));
    r.up();
    CHECK_THROWS_AS(r.drv.enable_interrupt_remapping(), std::invalid_argument);
    CHECK(r.m.writes.empty());
    CHECK_FALSE(r.drv.interrupt_remapping_enabled());
  }
  SECTION("register-mode invalidation") {
    Rig r(register_mode());
    r.up();
    try {
      r.drv.enable_interrupt_remapping();
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Catch::Contains("queued invalidation"));
    }
    CHECK(r.m.writes.empty());
    CHECK(r.m.irta == 0);
  }
  SECTION("queued requested but no ECAP.QI: register fallback, refused too") {
    Rig r({}, make_ecap(false));
    r.up();
    CHECK_THROWS_AS(r.drv.enable_interrupt_remapping(), std::invalid_argument);
    CHECK(r.m.writes.empty());
  }
  SECTION("table sizes the IRTA cannot express") {
    Rig r;
    r.up();
    for (unsigned n : {0u, 1u, 3u, 100u, 131072u})
      CHECK_THROWS_AS(r.drv.enable_interrupt_remapping(n), std::invalid_argument);
    CHECK(r.m.writes.empty());
  }
  SECTION("twice") {
    Rig r;
    r.ir();
    CHECK_THROWS_AS(r.drv.enable_interrupt_remapping(), std::logic_error);
    CHECK(r.m.writes.empty());
  }
  SECTION("interrupt calls before enabling") {
    Rig r;
    r.up();
    CHECK_THROWS_AS(r.drv.map_interrupt(IrteSpec{}), std::logic_error);
    CHECK_THROWS_AS(r.drv.update_interrupt(0, IrteSpec{}), std::logic_error);
    CHECK_THROWS_AS(r.drv.free_interrupt(0), std::logic_error);
  }
  SECTION("IRTPS never set: the poll times out") {
    IommuDriverOptions o;
    o.max_poll = 50;
    Rig r(o);
    r.up();
    r.m.gsts_stuck = true;
    CHECK_THROWS_AS(r.drv.enable_interrupt_remapping(), std::runtime_error);
    CHECK_FALSE(r.drv.interrupt_remapping_enabled());
  }
}

TEST_CASE("map_interrupt: KVM's step 4 entry at index 2 -> 0xFEE00050",
          "[cpu_stub][iommu_driver][ir]") {
  Rig r;
  r.ir();
  const uint16_t sid = 0x0100;
  IrteSpec other;
  other.sid = 0x0008;
  other.vector = 0x30;
  uint16_t i0 = 99, i1 = 99, i2 = 99;
  r.drv.map_interrupt(other, &i0);
  r.drv.map_interrupt(other, &i1);
  CHECK(i0 == 0);
  CHECK(i1 == 1);
  r.m.descriptors.clear();
  IrteSpec kvm;  // P, FPD, physical, edge, fixed, DST 0, SQ 0, SVT 1
  kvm.sid = sid;
  kvm.vector = 0xEE;
  kvm.fpd = true;
  const MsiProgramming msg = r.drv.map_interrupt(kvm, &i2);
  CHECK(i2 == 2);
  CHECK(msg.address == 0xFEE00050u);
  CHECK(msg.data == 0u);
  CHECK(check_remappable(msg) == 2);
  check_irte(r.irte_lo(2), r.irte_hi(2), kvm);
  CHECK(r.irte_lo(2) == (1ull | 1ull << 1 | 0xEEull << 16));
  CHECK(r.irte_hi(2) == (0x0100ull | 1ull << 18));
  REQUIRE(r.m.descriptors.size() == 2);
  check_iec(r.m.descriptors[0], true, 0, 2);
  check_wait(r.m, r.m.descriptors[1]);
}

TEST_CASE("map_interrupt: every IRTE field, IEC after the entry is complete",
          "[cpu_stub][iommu_driver][ir]") {
  Rig r;
  r.ir();
  std::vector<IrteSpec> specs(4);
  specs[0].sid = 0x0210;  // defaults: fixed, physical, edge, SVT 1, SQ 0
  specs[0].vector = 0x41;
  specs[0].dest_apic = 1;
  specs[1].sid = 0x0207;  // bus range: buses 2..7 (start 15:8, end 7:0)
  specs[1].vector = 0x31;
  specs[1].dest_apic = 0x5A;
  specs[1].logical = true;
  specs[1].level = true;
  specs[1].delivery_mode = 1;
  specs[1].svt = 2;
  specs[2].sid = 0xFFFF;
  specs[2].vector = 0xFF;
  specs[2].dest_apic = 0xFF;
  specs[2].delivery_mode = 7;
  specs[2].svt = 1;
  specs[2].sq = 3;
  specs[2].fpd = true;
  specs[3].sid = 0x1234;
  specs[3].vector = 0x02;
  specs[3].dest_apic = 0x80;
  specs[3].delivery_mode = 4;  // NMI
  specs[3].svt = 0;
  specs[3].sq = 2;

  // When the unit processes each IEC descriptor, the entry it names is already complete.
  int seen = 0;
  r.m.on_descriptor = [&](const Desc& d) {
    if ((d.lo & 0xf) != 4) return;
    const auto idx = static_cast<unsigned>(field(d.lo, 47, 32));
    REQUIRE(idx < specs.size());
    check_irte(r.irte_lo(idx), r.irte_hi(idx), specs[idx]);
    ++seen;
  };
  for (unsigned i = 0; i < specs.size(); ++i) {
    uint16_t idx = 0xFFFF;
    const MsiProgramming msg = r.drv.map_interrupt(specs[i], &idx);
    CHECK(idx == i);
    CHECK(check_remappable(msg) == i);
    CHECK(msg.address == (0xFEE00000u | i << 5 | 1u << 4));
  }
  CHECK(seen == 4);
  REQUIRE(r.m.descriptors.size() == 8);
  for (unsigned i = 0; i < specs.size(); ++i) {
    check_iec(r.m.descriptors[2 * i], true, 0, i);
    check_wait(r.m, r.m.descriptors[2 * i + 1]);
    check_irte(r.irte_lo(i), r.irte_hi(i), specs[i]);
  }
  // Exact images of two of them.
  CHECK(r.irte_lo(1) == (1ull | 1ull << 2 | 1ull << 4 | 1ull << 5 | 0x31ull << 16 | 0x5Aull << 40));
  CHECK(r.irte_hi(1) == (0x0207ull | 2ull << 18));
  CHECK(r.irte_lo(2) == (1ull | 1ull << 1 | 7ull << 5 | 0xFFull << 16 | 0xFFull << 40));
  CHECK(r.irte_hi(2) == (0xFFFFull | 3ull << 16 | 1ull << 18));
  // Nothing else in the table.
  CHECK(r.irte_lo(4) == 0);
  CHECK(r.irte_hi(4) == 0);
}

TEST_CASE("map_interrupt: handle[15] at address bit 2 for indices from 0x8000",
          "[cpu_stub][iommu_driver][ir]") {
  Rig r;
  r.ir(65536);
  IrteSpec s;
  s.sid = 0x0300;
  s.vector = 0x50;
  MsiProgramming msg;
  uint16_t idx = 0;
  for (unsigned i = 0; i < 0x7FFF; ++i) r.drv.map_interrupt(s, &idx);
  CHECK(idx == 0x7FFE);
  msg = r.drv.map_interrupt(s, &idx);  // 0x7FFF: all of handle[14:0], bit 2 clear
  CHECK(idx == 0x7FFF);
  CHECK(msg.address == 0xFEEFFFF0u);
  CHECK(check_remappable(msg) == 0x7FFF);
  r.m.descriptors.clear();
  s.vector = 0x51;
  msg = r.drv.map_interrupt(s, &idx);
  CHECK(idx == 0x8000);
  CHECK(msg.address == 0xFEE00014u);
  CHECK(check_remappable(msg) == 0x8000);
  check_irte(r.irte_lo(0x8000), r.irte_hi(0x8000), s);
  REQUIRE(r.m.descriptors.size() == 2);
  check_iec(r.m.descriptors[0], true, 0, 0x8000);
  msg = r.drv.map_interrupt(s, &idx);
  CHECK(idx == 0x8001);
  CHECK(msg.address == (0xFEE00000u | 1u << 5 | 1u << 4 | 1u << 2));
  CHECK(check_remappable(msg) == 0x8001);
}

TEST_CASE("map_interrupt: table full, lowest free index reused", "[cpu_stub][iommu_driver][ir]") {
  Rig r;
  r.ir(4);
  IrteSpec s;
  s.vector = 0x40;
  for (unsigned i = 0; i < 4; ++i) {
    uint16_t idx = 0xFFFF;
    r.drv.map_interrupt(s, &idx);
    CHECK(idx == i);
  }
  r.m.writes.clear();
  r.m.descriptors.clear();
  CHECK_THROWS_AS(r.drv.map_interrupt(s), std::runtime_error);
  CHECK(r.m.writes.empty());
  CHECK(r.m.descriptors.empty());
  CHECK(r.m.mem.read_u64(r.irt() + 4 * 16) == 0);  // nothing written past the table

  r.drv.free_interrupt(1);
  uint16_t idx = 0;
  r.drv.map_interrupt(s, &idx);
  CHECK(idx == 1);
}

TEST_CASE("map_interrupt: invalid specs are refused before anything is written",
          "[cpu_stub][iommu_driver][ir]") {
  {
    Rig q;
    q.ir(8);
    IrteSpec bad;
    bad.vector = 256;
    CHECK_THROWS_AS(q.drv.map_interrupt(bad), std::invalid_argument);
    bad = IrteSpec{};
    bad.dest_apic = 256;  // xAPIC: 8 bits
    CHECK_THROWS_AS(q.drv.map_interrupt(bad), std::invalid_argument);
    bad = IrteSpec{};
    bad.svt = 3;
    CHECK_THROWS_AS(q.drv.map_interrupt(bad), std::invalid_argument);
    bad = IrteSpec{};
    bad.sq = 4;
    CHECK_THROWS_AS(q.drv.map_interrupt(bad), std::invalid_argument);
    for (unsigned dlm : {3u, 6u, 8u}) {
      bad = IrteSpec{};
      bad.delivery_mode = dlm;
      CHECK_THROWS_AS(q.drv.map_interrupt(bad), std::invalid_argument);
    }
    CHECK(q.m.writes.empty());
    CHECK(q.m.descriptors.empty());
    uint16_t first = 0xFFFF;
    q.drv.map_interrupt(IrteSpec{}, &first);
    CHECK(first == 0);  // no index was consumed
  }
}

TEST_CASE("update_interrupt rewrites the entry, free_interrupt clears P",
          "[cpu_stub][iommu_driver][ir]") {
  Rig r;
  r.ir();
  IrteSpec s;
  s.sid = 0x0108;
  s.vector = 0x60;
  s.dest_apic = 1;
  uint16_t idx = 0xFFFF;
  r.drv.map_interrupt(s, &idx);
  r.drv.map_interrupt(s);  // a neighbour that must stay untouched
  const uint64_t n_lo = r.irte_lo(1), n_hi = r.irte_hi(1);
  REQUIRE(idx == 0);
  r.m.descriptors.clear();

  // New destination and vector (irq affinity change).
  s.dest_apic = 3;
  s.vector = 0x61;
  s.level = true;
  r.m.on_descriptor = [&](const Desc& d) {
    if ((d.lo & 0xf) == 4) check_irte(r.irte_lo(0), r.irte_hi(0), s);
  };
  r.drv.update_interrupt(0, s);
  check_irte(r.irte_lo(0), r.irte_hi(0), s);
  CHECK(IrteBits{r.irte_lo(0), r.irte_hi(0)}.xapic_dst() == 3);
  REQUIRE(r.m.descriptors.size() == 2);
  check_iec(r.m.descriptors[0], true, 0, 0);
  check_wait(r.m, r.m.descriptors[1]);

  // Free: P (indeed the whole entry) is clear by the time the IEC descriptor is processed.
  r.m.descriptors.clear();
  bool checked = false;
  r.m.on_descriptor = [&](const Desc& d) {
    if ((d.lo & 0xf) != 4) return;
    CHECK(field(r.irte_lo(0), 0, 0) == 0);
    checked = true;
  };
  r.drv.free_interrupt(0);
  CHECK(checked);
  CHECK(r.irte_lo(0) == 0);
  CHECK(r.irte_hi(0) == 0);
  REQUIRE(r.m.descriptors.size() == 2);
  check_iec(r.m.descriptors[0], true, 0, 0);
  CHECK(r.irte_lo(1) == n_lo);
  CHECK(r.irte_hi(1) == n_hi);
  r.m.on_descriptor = nullptr;

  // A freed or never-allocated index is refused.
  CHECK_THROWS_AS(r.drv.free_interrupt(0), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.update_interrupt(0, s), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.free_interrupt(7), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.free_interrupt(256), std::invalid_argument);
  IrteSpec bad = s;
  bad.vector = 300;
  CHECK_THROWS_AS(r.drv.update_interrupt(1, bad), std::invalid_argument);
  CHECK(r.irte_lo(1) == n_lo);
}

TEST_CASE("IEC invalidations: index-selective IM, register mode skips them",
          "[cpu_stub][iommu_driver][ir]") {
  SECTION("queued") {
    Rig r;
    r.up();
    const uint64_t before = r.drv.invalidations_issued();
    r.drv.invalidate_iec_index(8, 3);
    r.drv.invalidate_iec_index(0x8000, 15);
    r.drv.invalidate_iec_index(0, 16);
    r.drv.invalidate_iec_global();
    REQUIRE(r.m.descriptors.size() == 8);
    check_iec(r.m.descriptors[0], true, 3, 8);
    check_iec(r.m.descriptors[2], true, 15, 0x8000);
    check_iec(r.m.descriptors[4], true, 16, 0);
    check_iec(r.m.descriptors[6], false, 0, 0);
    for (int i = 1; i < 8; i += 2) check_wait(r.m, r.m.descriptors[i]);
    CHECK(r.drv.invalidations_issued() == before + 4);
    r.m.descriptors.clear();
    CHECK_THROWS_AS(r.drv.invalidate_iec_index(4, 3), std::invalid_argument);  // not 8-aligned
    CHECK_THROWS_AS(r.drv.invalidate_iec_index(0, 17), std::invalid_argument);
    CHECK(r.m.descriptors.empty());
  }
  SECTION("register mode: no IEC register, nothing issued") {
    Rig r(register_mode());
    r.up();
    const uint64_t before = r.drv.invalidations_issued();
    r.drv.invalidate_iec_global();
    r.drv.invalidate_iec_index(2, 0);
    CHECK(r.m.writes.empty());
    CHECK(r.drv.invalidations_issued() == before);
  }
  SECTION("before bring_up") {
    Rig r;
    CHECK_THROWS_AS(r.drv.invalidate_iec_global(), std::logic_error);
    CHECK_THROWS_AS(r.drv.invalidate_iec_index(0, 0), std::logic_error);
  }
}

TEST_CASE("compat_message: the compatibility-format MSI", "[cpu_stub][iommu_driver][ir]") {
  const MsiProgramming m = IommuDriver::compat_message(0x12, 0x41, 1, true);
  CHECK(m.address == 0xFEE12000u);
  CHECK(field(m.address, 31, 20) == 0xFEE);
  CHECK(field(m.address, 19, 12) == 0x12);  // destination APIC id
  CHECK(field(m.address, 4, 4) == 0);       // IF = 0: compatibility
  CHECK(field(m.address, 3, 3) == 0);       // RH
  CHECK(field(m.address, 2, 2) == 0);       // DM physical
  CHECK(field(m.data, 7, 0) == 0x41);
  CHECK(field(m.data, 10, 8) == 1);
  CHECK(field(m.data, 15, 15) == 1);  // trigger: level
  CHECK(m.data == (0x41u | 1u << 8 | 1u << 15));
  const MsiProgramming e = IommuDriver::compat_message(0xFF, 0xEE);
  CHECK(e.address == 0xFEEFF000u);
  CHECK(e.data == 0xEEu);
  CHECK_THROWS_AS(IommuDriver::compat_message(0x100, 0x41), std::invalid_argument);
  CHECK_THROWS_AS(IommuDriver::compat_message(0, 0x100), std::invalid_argument);
  CHECK_THROWS_AS(IommuDriver::compat_message(0, 0x41, 3), std::invalid_argument);
}

TEST_CASE("PageAllocator::alloc_pages: contiguous, zeroed, all or nothing",
          "[cpu_stub][page_allocator]") {
  FakeMachine m;
  m.mem.write_u64(0x10001000, 0xDEADBEEF);
  m.mem.write_u64(0x10003FF8, 0xDEADBEEF);
  PageAllocator p(m, 0x10000000, 8 * 4096);
  CHECK(p.alloc_page() == 0x10000000);
  CHECK(p.alloc_pages(3) == 0x10001000);
  CHECK(p.pages_used() == 4);
  CHECK(m.mem.read_u64(0x10001000) == 0);
  CHECK(m.mem.read_u64(0x10003FF8) == 0);
  CHECK_THROWS_AS(p.alloc_pages(5), std::runtime_error);
  CHECK(p.pages_used() == 4);  // nothing taken
  CHECK_THROWS_AS(p.alloc_pages(0), std::invalid_argument);
  CHECK(p.alloc_pages(4) == 0x10004000);
  CHECK_THROWS_AS(p.alloc_page(), std::runtime_error);
}

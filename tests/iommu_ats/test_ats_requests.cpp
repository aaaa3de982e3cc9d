// The remapping unit serving ATS requests at module level (b_transport before sc_start), with
// hand-encoded tables (vtd-pcie.md §1) whose context entries have TT = 1 (01:00.0) and TT = 0
// (01:01.0): translation requests answered with completion entries checked bit by bit (§6),
// translated requests passed to memory without IOTLB lookup or walk, and fault 0xD for TT != 1.
#include <cstring>

#include "../iommu/machine.hpp"

using namespace iovsim;
using namespace iovsim::iommu::vtd;
using core::AddressType;
using iovsim::test::kR;
using iovsim::test::kW;
using iovsim::test::Machine;
using iovsim::test::put_entry;

namespace {

constexpr uint64_t kRoot = 0x101000, kCtx = 0x103000, kL4 = 0x104000, kL3 = 0x105000,
                   kL2 = 0x106000, kL1 = 0x107000, kPageA = 0x200000, kPageB = 0x201000,
                   kHuge = 0x40000000, kQueue = 0x100000;
constexpr uint16_t kAts = 0x0100;    // 01:00.0, TT = 1
constexpr uint16_t kPlain = 0x0108;  // 01:01.0, TT = 0, same domain
constexpr uint16_t kDid = 5;
constexpr uint64_t kPs = 1u << 7;

iommu::RemappingUnitConfig dt_config() {
  auto c = Machine::default_config();
  c.caps.dt = true;
  c.walker.caps = c.caps;
  return c;
}

// IOVA 0x0 -> page A (R/W), 0x1000 -> page B (read-only), 0x2000 unmapped,
// 0x200000..0x3FFFFF -> the 2 MiB superpage at kHuge (R/W).
void build_tables(Machine& m) {
  auto& s = m.store();
  put_entry(s, kRoot + 16 * 0x01, kCtx | 1);
  put_entry(s, kCtx + 16 * 0x00, kL4 | (1u << 2) | 1, (uint64_t{kDid} << 8) | 2);  // TT 1, AW 2
  put_entry(s, kCtx + 16 * 0x08, kL4 | (0u << 2) | 1, (uint64_t{kDid} << 8) | 2);  // TT 0
  s.write_u64(kL4, kL3 | kR | kW);
  s.write_u64(kL3, kL2 | kR | kW);
  s.write_u64(kL2, kL1 | kR | kW);
  s.write_u64(kL2 + 8, kHuge | kPs | kR | kW);
  s.write_u64(kL1 + 0, kPageA | kR | kW);
  s.write_u64(kL1 + 8, kPageB | kR);
}

void enable(Machine& m) {
  m.set_reg(kRtaddr, 8, kRoot);
  m.gcmd(kGcmdSrtp);
  m.set_reg(kIqa, 8, kQueue);
  m.set_reg(kIqt, 8, 0);
  m.gcmd(kGcmdQie);
  m.gcmd(kGcmdTe);
}

uint64_t field(uint64_t v, unsigned hi, unsigned lo) {
  return (v >> lo) & ((uint64_t{1} << (hi - lo + 1)) - 1);
}

struct Answer {
  iovsim::test::DmaResult r;
  uint64_t entry[2] = {~uint64_t{0}, ~uint64_t{0}};
};
Answer translate(Machine& m, uint16_t sid, uint64_t iova, unsigned entries = 1, double at_ns = 0) {
  Answer a;
  a.r = m.dma(sid, false, iova, a.entry, 8 * entries, at_ns, AddressType::kTranslationRequest);
  return a;
}

uint64_t frcd_hi(Machine& m) {
  return m.reg(m.unit().config().caps.frcd_offset(0) + 8, 8);
}

}  // namespace

TEST_CASE("translation request for a 4 KiB page: address, S = 0, N = 0, U = 0, W = 1, R = 1") {
  Machine m(dt_config());
  build_tables(m);
  enable(m);
  const Answer a = translate(m, kAts, 0x0123);
  REQUIRE(a.r.ok);
  const uint64_t e = a.entry[0];
  CHECK(field(e, 63, 12) == kPageA >> 12);
  CHECK(field(e, 11, 11) == 0);  // S
  CHECK(field(e, 10, 10) == 0);  // N
  CHECK(field(e, 9, 3) == 0);
  CHECK(field(e, 2, 2) == 0);  // U
  CHECK(field(e, 1, 1) == 1);  // W
  CHECK(field(e, 0, 0) == 1);  // R
  CHECK(e == (kPageA | 0x3));
  CHECK(m.counter("iommu.ats.translation_requests") == 1);
  CHECK(m.counter("iommu.walks") == 1);
  CHECK(m.counter("iommu.requests") == 0);  // not a DMA request
  // The walk filled the IOTLB: the same translation again is an IOTLB hit costing the lookup.
  const Answer again = translate(m, kAts, 0x0, 1, 10000);
  CHECK(again.entry[0] == a.entry[0]);
  CHECK(m.counter("iommu.iotlb.hits") == 1);
  const auto& cfg = m.unit().config();
  CHECK(again.r.latency_ns == Approx(cfg.iotlb.hit_cycles * cfg.walker.cycle_ps / 1000.0));
}

TEST_CASE("translation request for a 2 MiB superpage: S = 1 and ADDR 19:12 set") {
  Machine m(dt_config());
  build_tables(m);
  enable(m);
  const Answer a = translate(m, kAts, 0x205000);
  REQUIRE(a.r.ok);
  const uint64_t e = a.entry[0];
  CHECK(field(e, 63, 21) == kHuge >> 21);
  CHECK(field(e, 20, 20) == 0);     // the first 0 above the ones ends the size
  CHECK(field(e, 19, 12) == 0xFF);  // 8 trailing ones: 8 KiB << 8 = 2 MiB
  CHECK(field(e, 11, 11) == 1);     // S
  CHECK(field(e, 1, 0) == 3);
  CHECK(e == 0x400FF803ull);
}

TEST_CASE("translation request without a mapping: R = W = 0, no fault; read-only: R = 1 W = 0") {
  Machine m(dt_config());
  build_tables(m);
  enable(m);
  const Answer none = translate(m, kAts, 0x2000);
  REQUIRE(none.r.ok);  // a successful completion
  CHECK(none.r.status == core::CompletionStatus::kSC);
  CHECK(field(none.entry[0], 1, 0) == 0);
  CHECK(m.counter("iommu.faults") == 0);
  CHECK(m.reg(kFsts, 4) == 0);
  CHECK(m.counter("iommu.ats.no_translation") == 1);
  const Answer ro = translate(m, kAts, 0x1000);
  REQUIRE(ro.r.ok);
  CHECK(ro.entry[0] == (kPageB | 0x1));
  // Two entries in one request: page A's, then the next range's (page B).
  const Answer two = translate(m, kAts, 0x0, 2);
  REQUIRE(two.r.ok);
  CHECK(two.entry[0] == (kPageA | 0x3));
  CHECK(two.entry[1] == (kPageB | 0x1));
  CHECK(m.counter("iommu.faults") == 0);
}

TEST_CASE("translation request with TT = 0: fault 0xD recorded with the SID, UR") {
  Machine m(dt_config());
  build_tables(m);
  enable(m);
  const Answer a = translate(m, kPlain, 0x0);
  CHECK_FALSE(a.r.ok);
  CHECK(a.r.status == core::CompletionStatus::kUR);
  const uint64_t hi = frcd_hi(m);
  CHECK(field(hi, 15, 0) == kPlain);  // SID
  CHECK(field(hi, 39, 32) == 0xD);    // FR
  CHECK(field(hi, 62, 62) == 1);      // T: read
  CHECK(field(hi, 63, 63) == 1);      // F
  CHECK(m.counter("iommu.fault_reasons.0xd") == 1);
  CHECK(m.counter("iommu.ats.blocked") == 1);
  // Again, with the context now cached: blocked at once, recorded (collapsed into the same record).
  CHECK_FALSE(translate(m, kPlain, 0x0, 1, 5000).r.ok);
  CHECK(m.counter("iommu.fault_reasons.0xd") == 2);
}

TEST_CASE(
    "translated requests bypass the IOMMU walk: memory at the given HPA, counters unchanged") {
  Machine m(dt_config());
  build_tables(m);
  enable(m);
  REQUIRE(translate(m, kAts, 0x0).r.ok);  // reads the context entry into the context cache
  const auto before = m.stats();
  // An HPA the IOMMU never mapped: ATS trusts the device's translation.
  m.store().write_u32(0x300040, 0xFEEDF00D);
  uint32_t v = 0;
  auto rd = m.dma(kAts, false, 0x300040, &v, 4, 10000, AddressType::kTranslated);
  REQUIRE(rd.ok);
  CHECK(v == 0xFEEDF00Du);
  uint32_t w = 0xC0FFEE;
  REQUIRE(m.dma(kAts, true, 0x300080, &w, 4, 20000, AddressType::kTranslated).ok);
  CHECK(m.store().read_u32(0x300080) == 0xC0FFEEu);
  const auto after = m.stats();
  for (const char* name : {"iommu.iotlb.hits", "iommu.iotlb.misses", "iommu.walks",
                           "iommu.walk_mem_reads", "iommu.requests", "iommu.faults"}) {
    INFO(name);
    CHECK(after.at(name) == before.at(name));
  }
  CHECK(m.counter("iommu.ats.translated_requests") == 2);
  // The context-cache lookup (to check TT) and the memory access: no IOTLB lookup, no walk.
  const auto& cfg = m.unit().config();
  CHECK(rd.latency_ns ==
        Approx(cfg.walker.context_cache_hit_cycles * cfg.walker.cycle_ps / 1000.0 + 80));
}

TEST_CASE("translated request with TT = 0: fault 0xD, a read gets UR, a write is dropped") {
  Machine m(dt_config());
  build_tables(m);
  enable(m);
  m.store().write_u32(kPageA, 0x1111);
  uint32_t v = 0;
  auto rd = m.dma(kPlain, false, kPageA, &v, 4, 0, AddressType::kTranslated);
  CHECK_FALSE(rd.ok);
  CHECK(rd.status == core::CompletionStatus::kUR);
  CHECK(field(frcd_hi(m), 39, 32) == 0xD);
  CHECK(field(frcd_hi(m), 15, 0) == kPlain);
  uint32_t w = 0x2222;
  CHECK_FALSE(m.dma(kPlain, true, kPageA, &w, 4, 5000, AddressType::kTranslated).ok);
  CHECK(m.store().read_u32(kPageA) == 0x1111u);
  CHECK(m.counter("iommu.fault_reasons.0xd") == 2);
  CHECK(m.counter("iommu.ats.blocked") == 2);
  CHECK(m.counter("iommu.ats.translated_requests") == 0);
}

TEST_CASE("ATS requests with translation disabled: translation requests UR, translated pass") {
  Machine m(dt_config());
  build_tables(m);
  const Answer a = translate(m, kAts, 0x0);
  CHECK_FALSE(a.r.ok);
  CHECK(m.counter("iommu.faults") == 0);
  m.store().write_u32(0x5000, 0xAB);
  uint32_t v = 0;
  REQUIRE(m.dma(kAts, false, 0x5000, &v, 4, 0, AddressType::kTranslated).ok);
  CHECK(v == 0xABu);
  CHECK(m.counter("iommu.bypassed") == 1);
}

TEST_CASE("without ECAP.DT a TT = 1 context is invalid programming (0x3)") {
  Machine m;  // dt = false
  build_tables(m);
  enable(m);
  const Answer a = translate(m, kAts, 0x0);
  CHECK_FALSE(a.r.ok);
  CHECK(field(frcd_hi(m), 39, 32) == 0x3);
}

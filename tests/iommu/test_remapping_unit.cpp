// The remapping unit end to end at module level: blocking and recording of faults (with the
// fault-event MSI), stale translations until invalidation, coalesced misses, and the timing of hits
// and misses.
#include "machine.hpp"

using namespace iovsim;
using namespace iovsim::iommu::vtd;
using iovsim::test::kR;
using iovsim::test::kW;
using iovsim::test::Machine;
using iovsim::test::put_entry;

namespace {

constexpr uint64_t kRoot = 0x101000, kCtx = 0x103000, kL4 = 0x104000, kL3 = 0x105000,
                   kL2 = 0x106000, kL1 = 0x107000, kPageA = 0x200000, kPageB = 0x201000,
                   kQueue = 0x100000;
constexpr uint16_t kSid = 0x0100;  // 01:00.0
constexpr uint16_t kDid = 5;

// Root/context/4-level tables mapping IOVA 0x0 -> page A (R/W) and 0x1000 -> page B (read-only).
void build_tables(Machine& m, bool fpd = false) {
  auto& s = m.store();
  put_entry(s, kRoot + 16 * 0x01, kCtx | 1);
  put_entry(s, kCtx + 16 * 0x00, kL4 | (fpd ? 0b11 : 0b01),
            (uint64_t{kDid} << 8) | 2);  // AW 2: 4-level
  s.write_u64(kL4, kL3 | kR | kW);
  s.write_u64(kL3, kL2 | kR | kW);
  s.write_u64(kL2, kL1 | kR | kW);
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

uint64_t frcd_hi(Machine& m, unsigned i) {
  return m.reg(m.unit().config().caps.frcd_offset(i) + 8, 8);
}
uint64_t frcd_lo(Machine& m, unsigned i) {
  return m.reg(m.unit().config().caps.frcd_offset(i), 8);
}

// Queues one 128-bit descriptor and a wait(SW) after it, then writes IQT; returns the status word.
uint32_t queue_and_wait(Machine& m, uint64_t lo, uint64_t hi) {
  auto& s = m.store();
  const unsigned tail = static_cast<unsigned>(m.reg(kIqt, 8) >> 4);
  const uint64_t status = 0x300000;
  s.write_u32(status, 0);
  put_entry(s, kQueue + 16 * tail, lo, hi);
  put_entry(s, kQueue + 16 * (tail + 1), 0x5 | (1u << 5) | (uint64_t{0xCAFE} << 32), status);
  m.set_reg(kIqt, 8, uint64_t{tail + 2} << 4);
  return s.read_u32(status);
}

}  // namespace

TEST_CASE("with translation disabled, DMA passes untranslated") {
  Machine m;
  m.store().write_u32(0x5000, 0xAB);
  uint32_t v = 0;
  REQUIRE(m.dma(kSid, false, 0x5000, &v, 4).ok);
  CHECK(v == 0xAB);
  CHECK(m.counter("iommu.bypassed") == 1);
  CHECK(m.counter("iommu.walks") == 0);
}

TEST_CASE("a read of an unmapped page is blocked with UR and recorded in FRCD[0]") {
  Machine m;
  build_tables(m);
  enable(m);
  uint32_t v = 0;
  auto r = m.dma(kSid, false, 0x2000, &v, 4);  // L1 entry 2 is zero: not present
  CHECK_FALSE(r.ok);
  CHECK(r.status == core::CompletionStatus::kUR);
  // FRCD: FI = 0x2000 (63:12), SID 79:64, FR 103:96 = 0x6, T (bit 126) = 1 read, F (bit 127).
  CHECK(frcd_lo(m, 0) == 0x2000);
  CHECK(frcd_hi(m, 0) ==
        (uint64_t{kSid} | (uint64_t{0x6} << 32) | (uint64_t{1} << 62) | (uint64_t{1} << 63)));
  CHECK(m.reg(kFsts, 4) == (1u << 1));  // PPF, FRI = 0
  CHECK(m.counter("iommu.faults") == 1);
  CHECK(m.counter("iommu.fault_reasons.0x6") == 1);
  CHECK(m.irq().delivered() == 0);  // FECTL.IM resets to 1: no fault event
}

TEST_CASE(
    "a write to a read-only page is dropped, fault 0x5, and the fault event MSI is sent when "
    "unmasked") {
  Machine m;
  build_tables(m);
  enable(m);
  m.set_reg(kFedata, 4, 0x41);
  m.set_reg(kFeaddr, 4, 0xFEE00000);
  m.set_reg(kFectl, 4, 0);  // IM = 0
  m.store().write_u32(kPageB, 0x1111);
  uint32_t v = 0x2222;
  auto r = m.dma(kSid, true, 0x1000, &v, 4);
  CHECK_FALSE(r.ok);
  CHECK(m.store().read_u32(kPageB) == 0x1111);  // dropped
  CHECK(((frcd_hi(m, 0) >> 32) & 0xff) == 0x5);
  CHECK(((frcd_hi(m, 0) >> 62) & 1) == 0);  // T = 0: write
  REQUIRE(m.irq().delivered() == 1);
  CHECK(m.irq().received()[0].vector == 0x41);
  // The same page still reads fine.
  CHECK(m.dma(kSid, false, 0x1000, &v, 4).ok);
  CHECK(v == 0x1111);
}

TEST_CASE("FPD suppresses recording but still blocks") {
  Machine m;
  build_tables(m, /*fpd=*/true);
  enable(m);
  uint32_t v = 0;
  CHECK_FALSE(m.dma(kSid, false, 0x2000, &v, 4).ok);
  CHECK(m.counter("iommu.faults") == 1);
  CHECK(m.counter("iommu.faults_recorded") == 0);
  CHECK(m.reg(kFsts, 4) == 0);
}

TEST_CASE("a stale translation is used until the IOTLB is invalidated, page-selectively by QI") {
  Machine m;
  build_tables(m);
  enable(m);
  m.store().write_u32(kPageA, 0xAAAA);
  m.store().write_u32(0x202000, 0xCCCC);
  uint32_t v = 0;
  REQUIRE(m.dma(kSid, false, 0x0, &v, 4).ok);
  CHECK(v == 0xAAAA);
  m.store().write_u64(kL1, 0x202000 | kR | kW);  // remap IOVA 0 without telling the IOMMU
  REQUIRE(m.dma(kSid, false, 0x0, &v, 4).ok);
  CHECK(v == 0xAAAA);  // stale
  // IOTLB page-selective (G = 3), DID 5, ADDR 0, AM 0; IH 0.
  CHECK(queue_and_wait(m, 0x2 | (3u << 4) | (uint64_t{kDid} << 16), 0x0) == 0xCAFE);
  REQUIRE(m.dma(kSid, false, 0x0, &v, 4).ok);
  CHECK(v == 0xCCCC);
}

TEST_CASE("register-based domain invalidation drops the domain's translations") {
  Machine m;
  build_tables(m);
  enable(m);
  uint32_t v = 0;
  REQUIRE(m.dma(kSid, false, 0x0, &v, 4).ok);
  CHECK(m.counter("iommu.walks") == 1);
  const uint32_t iro = m.unit().config().caps.iotlb_offset();
  m.set_reg(
      iro, 8,
      (uint64_t{1} << 63) | (uint64_t{2} << 60) | (uint64_t{kDid} << 32));  // IVT, IIRG domain
  CHECK(((m.reg(iro, 8) >> 63) & 1) == 0);                                  // IVT cleared: done
  REQUIRE(m.dma(kSid, false, 0x0, &v, 4).ok);
  CHECK(m.counter("iommu.walks") == 2);
}

TEST_CASE(
    "a miss costs the walk, a hit the IOTLB lookup, a second miss to a page being walked "
    "coalesces") {
  Machine m;
  build_tables(m);
  enable(m);
  const auto& cfg = m.unit().config();
  const double cycle = cfg.walker.cycle_ps / 1000.0;
  const double hit = cfg.iotlb.hit_cycles * cycle;
  uint32_t v = 0;
  // Cold: IOTLB lookup (hit_cycles), then the walk: root and context entries and 4 paging levels,
  // each a DRAM read (80 ns) plus level_cycles of processing, and one paging-structure-cache
  // lookup.
  const double read = 80 + cfg.walker.level_cycles * cycle;
  const double psc = cfg.walker.psc_hit_cycles * cycle;
  auto miss = m.dma(kSid, false, 0x0, &v, 4, 0);
  REQUIRE(miss.ok);
  CHECK(m.counter("iommu.walk_mem_reads") == 6);
  const double xlate_miss = std::get<double>(m.stats().at("iommu.translation_latency_ns.max"));
  CHECK(xlate_miss == Approx(hit + 6 * read + psc));
  // The access itself: DRAM again after the translation.
  CHECK(miss.latency_ns == Approx(hit + 6 * read + psc + 80));
  // Hit: the lookup only.
  auto hit_r = m.dma(kSid, false, 0x0, &v, 4, 10000);
  CHECK(hit_r.latency_ns == Approx(hit + 80));
  // Page B shares every table but the last: context-cache hit, PSC hit at level 2, one paging read.
  // Two requests to it arriving together: one walk, the second waits for it.
  const double ctx = cfg.walker.context_cache_hit_cycles * cycle;
  auto b1 = m.dma(kSid, false, 0x1000, &v, 4, 20000);
  auto b2 = m.dma(kSid, false, 0x1000, &v, 4, 20000);
  CHECK(b1.latency_ns == Approx(hit + ctx + psc + read + 80));
  CHECK(b2.latency_ns == Approx(b1.latency_ns));
  CHECK(m.counter("iommu.walks") == 2);
  CHECK(m.counter("iommu.coalesced_misses") == 1);
  CHECK(b2.latency_ns == Approx(b1.latency_ns));
  CHECK(m.counter("iommu.iotlb.misses") == 3);
  CHECK(m.counter("iommu.iotlb.hits") == 1);
  CHECK(m.counter("iommu.by_rid.0100.iotlb_misses") == 3);
}

TEST_CASE("global invalidation by QI drops every translation and the paging-structure caches") {
  Machine m;
  build_tables(m);
  enable(m);
  uint32_t v = 0;
  REQUIRE(m.dma(kSid, false, 0x0, &v, 4).ok);
  REQUIRE(m.dma(kSid, false, 0x1000, &v, 4, 10000).ok);
  CHECK(m.counter("iommu.walk_mem_reads") == 6 + 1);
  CHECK(queue_and_wait(m, 0x2 | (1u << 4), 0) == 0xCAFE);  // IOTLB, G = 1 global
  REQUIRE(m.dma(kSid, false, 0x1000, &v, 4, 20000).ok);
  // The context cache survives an IOTLB invalidation; the walk re-reads all 4 paging levels.
  CHECK(m.counter("iommu.walks") == 3);
  CHECK(m.counter("iommu.walk_mem_reads") == 6 + 1 + 4);
  CHECK(m.counter("iommu.invalidations.iotlb_global") >= 1);
}

TEST_CASE("a request crossing a page boundary is translated page by page") {
  Machine m;
  build_tables(m);
  enable(m);
  m.store().write_u32(kPageA + 0xFFC, 0x11111111);
  m.store().write_u32(kPageB, 0x22222222);
  uint32_t v[2] = {0, 0};
  REQUIRE(m.dma(kSid, false, 0xFFC, v, 8).ok);
  CHECK(v[0] == 0x11111111);
  CHECK(v[1] == 0x22222222);
  CHECK(m.counter("iommu.requests") == 2);
}

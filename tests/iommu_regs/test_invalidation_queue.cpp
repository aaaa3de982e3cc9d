// Queued invalidation (vtd-pcie.md §3): descriptors written by hand into host memory, each type
// decoded into the right hook call, wait timing and status write, completion interrupt, device-TLB
// completions delaying a wait, IQE on malformed descriptors, wrap-around, statistics and the
// descriptor_cycles parameter.
#include <catch2/catch.hpp>

#include <iovsim/core/params.hpp>
#include <iovsim/core/sparse_store.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/iommu/invalidation_queue.hpp>

#include <utility>
#include <vector>

#include "regs_fixture.hpp"

using namespace regs_test;
using iommu::InvalidationQueue;
using iommu::IommuCaps;
using iommu::QiHooks;
using iommu::QiTiming;
using iommu::RegisterFile;

namespace {

constexpr uint64_t kLatency = 50000;  // 50 ns per access
constexpr uint64_t kQueue = 0x100000;
constexpr uint64_t kStatus = 0x200040;

// Host memory with a fixed access latency; remembers when each write was issued.
struct FixedMemory : iommu::QiMemory {
  iovsim::core::SparseStore store{1ull << 30};
  std::vector<std::pair<uint64_t, uint64_t>> writes;  // (address, issue time)
  bool read(uint64_t hpa, void* dst, unsigned len, uint64_t* t_ps) override {
    if (!store.contains(hpa, len)) return false;
    store.read(hpa, dst, len);
    *t_ps += kLatency;
    return true;
  }
  bool write(uint64_t hpa, const void* src, unsigned len, uint64_t* t_ps) override {
    if (!store.contains(hpa, len)) return false;
    writes.emplace_back(hpa, *t_ps);
    store.write(hpa, src, len);
    *t_ps += kLatency;
    return true;
  }
};

struct DevTlbCall {
  uint16_t sid;
  uint64_t addr;
  bool s;
  uint64_t t;
};
struct IecCall {
  bool global;
  uint16_t index;
  unsigned im;
};

// A register file with QI enabled on a 256-entry queue at kQueue, and an engine whose hooks record.
struct Bench {
  explicit Bench(IommuCaps k = caps())
      : regs(k, rec.hooks(), &root), q(regs, mem, qhooks(), {}, &root) {
    regs.write(0x90, 8, kQueue);    // IQA: QS 0, DW 0
    regs.write(0x18, 4, 1u << 26);  // QIE
  }
  static IommuCaps caps() {
    IommuCaps k;
    k.dt = true;
    return k;
  }
  QiHooks qhooks() {
    QiHooks h;
    h.invalidate_context = [this](vtd::Granularity g, uint16_t did, uint16_t sid, unsigned fm) {
      context.push_back({g, did, sid, fm});
    };
    h.invalidate_iotlb = [this](vtd::Granularity g, uint16_t did, uint64_t addr, unsigned am,
                                bool ih) {
      iotlb.push_back({g, did, addr, am, ih});
    };
    h.invalidate_device_tlb = [this](uint16_t sid, uint64_t addr, bool s,
                                     uint64_t t) -> iommu::DeviceTlbOutcome {
      devtlb.push_back({sid, addr, s, t});
      if (!devtlb_outcomes.empty()) {
        const iommu::DeviceTlbOutcome o = devtlb_outcomes.front();
        devtlb_outcomes.erase(devtlb_outcomes.begin());
        return o;
      }
      return t + devtlb_delay;
    };
    h.wait_stalled = [this](uint64_t stall) { stalls.push_back(stall); };
    h.invalidate_iec = [this](bool global, uint16_t index, unsigned im) {
      iec.push_back({global, index, im});
    };
    return h;
  }
  void put(unsigned slot, uint64_t lo, uint64_t hi) {
    mem.store.write_u64(kQueue + 16 * slot, lo);
    mem.store.write_u64(kQueue + 16 * slot + 8, hi);
  }
  void tail(unsigned index) { regs.write(0x88, 8, uint64_t{index} << 4); }
  uint64_t stat(const std::string& name) {
    iovsim::core::StatMap m;
    root.collect(m);
    return std::get<uint64_t>(m.at("iommu." + name));
  }

  Recorder rec;
  iovsim::core::StatGroup root{"iommu"};
  FixedMemory mem;
  RegisterFile regs;
  std::vector<ContextCall> context;
  std::vector<IotlbCall> iotlb;
  std::vector<DevTlbCall> devtlb;
  std::vector<IecCall> iec;
  uint64_t devtlb_delay = 0;
  std::vector<iommu::DeviceTlbOutcome> devtlb_outcomes;  // answers before devtlb_delay's
  std::vector<uint64_t> stalls;                          // wait_stalled calls
  InvalidationQueue q;
};

// Hand-encoded descriptors (lo, hi).
constexpr uint64_t kCtxDevice = 0x0001010800420031ull;    // type 1, G 3, DID 0x42, SID 0x108, FM 1
constexpr uint64_t kIotlbPageLo = 0x00000000000700F2ull;  // type 2, G 3, DW, DR, DID 7
constexpr uint64_t kIotlbPageHi = 0x00000000ABCDE042ull;  // ADDR 0xABCDE000, IH, AM 2
constexpr uint64_t kIotlbGlobal = 0x12;
constexpr uint64_t kWaitSwLo = 0x1234ABCD00000025ull;    // type 5, SW, data 0x1234ABCD
constexpr uint64_t kWaitSwIfLo = 0x1234ABCD00000035ull;  // type 5, IF, SW

}  // namespace

TEST_CASE("context-cache and IOTLB descriptors call the hooks with decoded fields",
          "[iommu_regs]") {
  Bench b;
  b.put(0, kCtxDevice, 0);
  b.put(1, 0x0000000000000011ull, 0);  // context global
  b.put(2, 0x0000000000050021ull, 0);  // context domain 5
  b.put(3, kIotlbPageLo, kIotlbPageHi);
  b.put(4, kIotlbGlobal, 0);
  b.put(5, 0x0000000000030022ull, 0);  // IOTLB domain 3
  b.tail(6);
  CHECK(b.rec.tail_writes == 1);
  const uint64_t done = b.q.process(1000000);
  // Six descriptors, each fetched (50 ns) and processed (10 cycles of 1 ns).
  CHECK(done == 1000000 + 6 * 60000);
  CHECK(b.regs.read(0x80, 8) == 0x60);
  REQUIRE(b.context.size() == 3);
  CHECK(b.context[0].g == vtd::Granularity::kDeviceOrPage);
  CHECK(b.context[0].did == 0x42);
  CHECK(b.context[0].sid == 0x108);
  CHECK(b.context[0].fm == 1);
  CHECK(b.context[1].g == vtd::Granularity::kGlobal);
  CHECK(b.context[2].g == vtd::Granularity::kDomain);
  CHECK(b.context[2].did == 5);
  REQUIRE(b.iotlb.size() == 3);
  CHECK(b.iotlb[0].g == vtd::Granularity::kDeviceOrPage);
  CHECK(b.iotlb[0].did == 7);
  CHECK(b.iotlb[0].addr == 0xABCDE000);
  CHECK(b.iotlb[0].am == 2);
  CHECK(b.iotlb[0].ih);
  CHECK(b.iotlb[1].g == vtd::Granularity::kGlobal);
  CHECK(b.iotlb[2].g == vtd::Granularity::kDomain);
  CHECK(b.iotlb[2].did == 3);
  CHECK(b.stat("qi.descriptors") == 6);
  CHECK(b.stat("invalidations.context_device") == 1);
  CHECK(b.stat("invalidations.context_global") == 1);
  CHECK(b.stat("invalidations.context_domain") == 1);
  CHECK(b.stat("invalidations.iotlb_page") == 1);
  CHECK(b.stat("invalidations.iotlb_global") == 1);
  CHECK(b.stat("invalidations.iotlb_domain") == 1);
  CHECK(b.regs.read(0x34, 4) == 0);
  // Nothing left: a second call does nothing.
  CHECK(b.q.process(5000000) == 5000000);
}

TEST_CASE("device-TLB and interrupt-entry-cache descriptors", "[iommu_regs]") {
  Bench b;
  // Device-TLB: PFSID 0x0ABC (lo 15:12 = 0xC, 63:52 = 0x0AB), MIP 0, SID 0x0300; ADDR 0x7000, S.
  b.put(0, 0x0AB003000000C003ull, 0x7001);
  b.put(1, 0x4, 0);                    // IEC global
  b.put(2, 0x0000002018000014ull, 0);  // IEC index-selective: IM 3, IIDX 0x20
  b.tail(3);
  CHECK(b.q.process(0) == 3 * 60000);
  REQUIRE(b.devtlb.size() == 1);
  CHECK(b.devtlb[0].sid == 0x300);
  CHECK(b.devtlb[0].addr == 0x7000);
  CHECK(b.devtlb[0].s);
  CHECK(b.devtlb[0].t == 60000);  // sent once fetched and processed
  REQUIRE(b.iec.size() == 2);
  CHECK(b.iec[0].global);
  CHECK_FALSE(b.iec[1].global);
  CHECK(b.iec[1].index == 0x20);
  CHECK(b.iec[1].im == 3);
  CHECK(b.stat("invalidations.device_tlb") == 1);
  CHECK(b.stat("invalidations.iec") == 2);
}

TEST_CASE("wait with SW writes the status word at the exact time", "[iommu_regs]") {
  Bench b;
  b.put(0, kCtxDevice, 0);
  b.put(1, kWaitSwLo, kStatus);
  b.tail(2);
  const uint64_t done = b.q.process(1000000);
  // ctx: fetched 1,050,000, processed 1,060,000; wait: fetched 1,110,000, processed 1,120,000;
  // status write issued 1,120,000, done 1,170,000.
  REQUIRE(b.mem.writes.size() == 1);
  CHECK(b.mem.writes[0].first == kStatus);
  CHECK(b.mem.writes[0].second == 1120000);
  CHECK(done == 1170000);
  CHECK(b.mem.store.read_u32(kStatus) == 0x1234ABCDu);
  CHECK(b.mem.store.read_u32(kStatus + 4) == 0);  // only 32 bits written
  CHECK(b.regs.read(0x80, 8) == 0x20);
  CHECK(b.regs.read(0x9C, 4) == 0);  // no IF: IWC untouched
  CHECK(b.rec.msis.empty());
  CHECK(b.stat("qi.waits") == 1);
  // The engine is busy until 1,170,000: an earlier request starts then.
  b.put(2, kIotlbGlobal, 0);
  b.tail(3);
  CHECK(b.q.process(1100000) == 1170000 + 60000);
}

TEST_CASE("wait with IF raises the completion MSI unless IECTL.IM", "[iommu_regs]") {
  Bench b;
  b.regs.write(0xA4, 4, 0x55);
  b.regs.write(0xA8, 4, 0xFEE01000);
  b.put(0, kWaitSwIfLo, kStatus);
  b.tail(1);
  b.q.process(0);
  // IECTL.IM is set at reset: pending.
  CHECK(b.regs.read(0x9C, 4) == 1);
  CHECK(b.regs.read(0xA0, 4) == 0xC0000000);
  CHECK(b.rec.msis.empty());
  CHECK(b.mem.store.read_u32(kStatus) == 0x1234ABCDu);
  // Unmasked: the next completion (after IWC is cleared) sends at once.
  b.regs.write(0x9C, 4, 1);
  b.regs.write(0xA0, 4, 0);
  CHECK(b.rec.msis.empty());
  b.put(1, 0x0000000000000015ull, 0);  // wait, IF only
  b.tail(2);
  b.q.process(0);
  REQUIRE(b.rec.msis.size() == 1);
  CHECK(b.rec.msis[0].addr == 0xFEE01000);
  CHECK(b.rec.msis[0].data == 0x55);
  CHECK(b.regs.read(0x9C, 4) == 1);
  CHECK(b.regs.read(0xA0, 4) == 0);
  CHECK(b.mem.writes.size() == 1);  // the second wait had no SW
}

TEST_CASE("a device-TLB completion delays the following wait", "[iommu_regs]") {
  Bench b;
  b.devtlb_delay = 2000000;  // 2 us round trip to the device
  b.put(0, 0x0000030000000003ull, 0x7000);
  b.put(1, kIotlbGlobal, 0);
  b.put(2, kWaitSwLo, kStatus);
  b.tail(3);
  const uint64_t done = b.q.process(0);
  // devtlb sent at 60,000 (back at 2,060,000); IOTLB does not wait for it (120,000); the wait is
  // processed at 180,000 but completes only at 2,060,000: status write issued then.
  REQUIRE(b.devtlb.size() == 1);
  CHECK(b.devtlb[0].t == 60000);
  CHECK_FALSE(b.devtlb[0].s);
  REQUIRE(b.mem.writes.size() == 1);
  CHECK(b.mem.writes[0].second == 2060000);
  CHECK(done == 2110000);
  // A later wait no longer waits for that completion.
  b.put(3, kWaitSwLo, kStatus);
  b.tail(4);
  CHECK(b.q.process(3000000) == 3000000 + 60000 + 50000);
  CHECK(b.mem.writes[1].second == 3060000);
}

TEST_CASE("a wait stalls on a pending device-TLB completion and resumes when it is reported",
          "[iommu_regs]") {
  Bench b;
  b.devtlb_outcomes.push_back(iommu::DeviceTlbOutcome::pending());
  b.put(0, 0x0000030000000003ull, 0x7000);
  b.put(1, kIotlbGlobal, 0);
  b.put(2, kWaitSwLo, kStatus);
  b.tail(3);
  // devtlb sent at 60,000 (pending), IOTLB done at 120,000, the wait reached at 180,000: stalled
  // there, IQH on it, nothing written.
  CHECK(b.q.process(0) == 180000);
  CHECK(b.q.stalled());
  CHECK(b.q.device_tlb_pending() == 1);
  CHECK(b.regs.read(0x80, 8) == 0x20);
  CHECK(b.mem.writes.empty());
  CHECK(b.stat("qi.descriptors") == 2);
  // More work behind it waits too: the engine is in order.
  b.put(3, kCtxDevice, 0);
  b.tail(4);
  CHECK(b.q.process(500000) == 500000);
  CHECK(b.context.empty());
  // The completion is back at 2,000,000: the wait writes its status then, and the rest follows.
  CHECK(b.q.device_tlb_completed(2000000));
  CHECK(b.q.process(2000000) == 2000000 + 50000 + 60000);
  REQUIRE(b.mem.writes.size() == 1);
  CHECK(b.mem.writes[0].second == 2000000);
  CHECK(b.mem.store.read_u32(kStatus) == 0x1234ABCDu);
  CHECK(b.context.size() == 1);
  CHECK(b.regs.read(0x80, 8) == 0x40);
  CHECK_FALSE(b.q.stalled());
  CHECK(b.stat("qi.descriptors") == 4);
  CHECK(b.stat("qi.waits") == 1);
  CHECK(b.stalls == std::vector<uint64_t>{2000000 - 180000});
  // A completion nobody waits for resumes nothing.
  CHECK_FALSE(b.q.device_tlb_completed(3000000));
}

TEST_CASE("a completion reported before the engine reaches the wait does not stall it",
          "[iommu_regs]") {
  Bench b;
  b.devtlb_outcomes.push_back(iommu::DeviceTlbOutcome::pending());
  b.put(0, 0x0000030000000003ull, 0x7000);
  b.tail(1);
  CHECK(b.q.process(0) == 60000);
  CHECK_FALSE(b.q.device_tlb_completed(900000));  // not stalled: nothing to resume
  b.put(1, kWaitSwLo, kStatus);
  b.tail(2);
  // Reached at 160,000, held until the completion's 900,000.
  CHECK(b.q.process(100000) == 900000 + 50000);
  CHECK(b.mem.writes.at(0).second == 900000);
  CHECK(b.stalls == std::vector<uint64_t>{900000 - 160000});
}

TEST_CASE("a device-TLB descriptor that finds no free ITag stalls and is sent again later",
          "[iommu_regs]") {
  Bench b;
  b.devtlb_outcomes.push_back(iommu::DeviceTlbOutcome::no_itag());
  b.put(0, 0x0000030000000003ull, 0x7000);
  b.put(1, kWaitSwLo, kStatus);
  b.tail(2);
  CHECK(b.q.process(0) == 60000);
  CHECK(b.q.stalled());
  CHECK(b.regs.read(0x80, 8) == 0);  // IQH on the device-TLB descriptor
  // Another invalidation's completion frees an ITag: sent again at 300,000 (completing at once,
  // no second fetch), then the wait.
  CHECK(b.q.device_tlb_completed(300000));
  CHECK(b.q.process(300000) == 300000 + 60000 + 50000);
  REQUIRE(b.devtlb.size() == 2);
  CHECK(b.devtlb[1].t == 300000);
  CHECK(b.stat("invalidations.device_tlb") == 1);
  CHECK(b.mem.writes.at(0).second == 360000);
  CHECK(b.regs.read(0x80, 8) == 0x20);
}

TEST_CASE("device-TLB with an empty hook completes immediately", "[iommu_regs]") {
  Recorder rec;
  FixedMemory mem;
  IommuCaps k;
  k.dt = true;
  RegisterFile regs(k, rec.hooks());
  InvalidationQueue q(regs, mem, QiHooks{}, QiTiming{500, 4}, nullptr);
  regs.write(0x90, 8, kQueue);
  regs.write(0x18, 4, 1u << 26);
  mem.store.write_u64(kQueue, 0x0000030000000003ull);
  mem.store.write_u64(kQueue + 16, kWaitSwLo);
  mem.store.write_u64(kQueue + 24, kStatus);
  regs.write(0x88, 8, 0x20);
  // Each descriptor: 50,000 fetch + 4 x 500 processing; then the 50,000 status write.
  CHECK(q.process(0) == 2 * 52000 + 50000);
  CHECK(mem.writes.at(0).second == 104000);
}

TEST_CASE("a malformed descriptor sets IQE and stops with IQH on it", "[iommu_regs]") {
  Bench b;
  b.put(0, kIotlbGlobal, 0);
  b.put(1, 0x7, 0);  // type 7: not a legacy-mode descriptor
  b.put(2, kWaitSwLo, kStatus);
  b.tail(3);
  const uint64_t done = b.q.process(0);
  CHECK(done == 2 * 60000);
  CHECK(b.iotlb.size() == 1);
  CHECK(b.regs.read(0x34, 4) == 0x10);  // IQE
  CHECK(b.regs.read(0xB0, 8) == 0x3);   // IQEI: invalid descriptor type
  CHECK(b.regs.read(0x80, 8) == 0x10);  // IQH on the culprit
  CHECK(b.mem.writes.empty());          // the wait did not run
  CHECK(b.regs.read(0x38, 4) == 0xC0000000);
  CHECK(b.stat("qi.errors") == 1);
  CHECK(b.stat("qi.descriptors") == 1);
  // While IQE is set nothing is fetched.
  CHECK(b.q.process(500000) == 500000);
  CHECK(b.mem.writes.empty());
  // Software fixes the slot and clears IQE: processing resumes from IQH.
  b.put(1, 0x0000000000000021ull, 0);
  b.regs.write(0x34, 4, 0x10);
  b.tail(3);
  CHECK(b.q.process(1000000) == 1000000 + 2 * 60000 + 50000);
  CHECK(b.context.size() == 1);
  CHECK(b.mem.writes.size() == 1);
  CHECK(b.regs.read(0x80, 8) == 0x30);
}

TEST_CASE("reserved granularity, AM > MAMV, IM > MHMV and unadvertised types are errors",
          "[iommu_regs]") {
  struct Case {
    uint64_t lo, hi, iqei;
  };
  const Case cases[] = {
      {0x1, 0, 0x4},                    // context-cache G 0
      {0x2, 0, 0x4},                    // IOTLB G 0
      {0x32, 0xABC0000A, 0x4},          // IOTLB page, AM 10 > MAMV 9
      {0x0, 0, 0x3},                    // type 0
      {0x8, 0, 0x3},                    // type 8
      {0x0000000080000014ull, 0, 0x4},  // IEC index-selective IM 16 > MHMV 15
  };
  for (const Case& c : cases) {
    Bench b;
    b.put(0, c.lo, c.hi);
    b.tail(1);
    b.q.process(0);
    CHECK(b.regs.read(0x34, 4) == 0x10);
    CHECK(b.regs.read(0xB0, 8) == c.iqei);
    CHECK(b.regs.read(0x80, 8) == 0);
    CHECK(b.context.empty());
    CHECK(b.iotlb.empty());
    CHECK(b.iec.empty());
  }
  // Without ECAP.DT a device-TLB descriptor is an invalid type; without ECAP.IR so is an IEC one.
  IommuCaps k;
  k.dt = false;
  k.ir = false;
  Bench b(k);
  b.put(0, 0x0000030000000003ull, 0x7000);
  b.tail(1);
  b.q.process(0);
  CHECK(b.regs.read(0xB0, 8) == 0x3);
  CHECK(b.devtlb.empty());
  b.regs.write(0x34, 4, 0x10);
  b.put(0, 0x4, 0);
  b.tail(1);
  b.q.process(0);
  CHECK(b.regs.read(0xB0, 8) == 0x3);
  CHECK(b.iec.empty());
}

TEST_CASE("IQT beyond the queue and 256-bit queues set IQE before any fetch", "[iommu_regs]") {
  Bench b;
  b.put(0, kIotlbGlobal, 0);
  b.tail(300);  // QS 0: 256 entries
  CHECK(b.q.process(0) == 0);
  CHECK(b.regs.read(0x34, 4) == 0x10);
  CHECK(b.regs.read(0xB0, 8) == 0x1);
  CHECK(b.regs.read(0x80, 8) == 0);
  CHECK(b.iotlb.empty());

  Bench w;
  w.regs.write(0x18, 4, 0);                    // QIE off to reprogram IQA
  w.regs.write(0x90, 8, kQueue | (1u << 11));  // DW = 1
  w.regs.write(0x18, 4, 1u << 26);
  w.put(0, kIotlbGlobal, 0);
  w.tail(2);
  CHECK(w.q.process(0) == 0);
  CHECK(w.regs.read(0x34, 4) == 0x10);
  CHECK(w.regs.read(0xB0, 8) == 0x5);
  CHECK(w.iotlb.empty());
}

TEST_CASE("the queue wraps around its end", "[iommu_regs]") {
  Bench b;
  for (unsigned i = 0; i < 254; ++i) b.put(i, kIotlbGlobal, 0);
  b.tail(254);
  b.q.process(0);
  CHECK(b.regs.read(0x80, 8) == 254u << 4);
  CHECK(b.iotlb.size() == 254);
  b.put(254, kCtxDevice, 0);
  b.put(255, kIotlbPageLo, kIotlbPageHi);
  b.put(0, kWaitSwLo, kStatus);
  b.tail(1);
  const uint64_t start = 100000000;
  CHECK(b.q.process(start) == start + 3 * 60000 + 50000);
  CHECK(b.regs.read(0x80, 8) == 0x10);
  CHECK(b.context.size() == 1);
  REQUIRE(b.iotlb.size() == 255);
  CHECK(b.iotlb.back().addr == 0xABCDE000);
  CHECK(b.mem.store.read_u32(kStatus) == 0x1234ABCDu);
  CHECK(b.stat("qi.descriptors") == 257);
}

TEST_CASE("a Linux-style submission: descriptor, wait, IQT, poll the status word", "[iommu_regs]") {
  Bench b;
  uint64_t now = 0;
  b.put(0, kIotlbPageLo, kIotlbPageHi);
  b.put(1, kWaitSwLo, kStatus);
  CHECK(b.mem.store.read_u32(kStatus) == 0);
  b.tail(2);
  CHECK(b.rec.tail_writes == 1);  // the shell runs the engine on this hook
  now = b.q.process(now);
  CHECK(now == 2 * 60000 + 50000);
  CHECK(b.mem.store.read_u32(kStatus) == 0x1234ABCDu);
  CHECK(b.regs.read(0x80, 8) == b.regs.read(0x88, 8));
}

TEST_CASE("iommu.qi.descriptor_cycles is declared and read by QiTiming::from", "[iommu_regs]") {
  const auto* info = iovsim::core::ParamRegistry::instance().find("iommu.qi.descriptor_cycles");
  REQUIRE(info != nullptr);
  CHECK(info->type == iovsim::core::ParamType::kInt);
  CHECK(std::get<int64_t>(info->default_value) == 10);
  iovsim::core::Config c;
  QiTiming t = QiTiming::from(c, 500);
  CHECK(t.cycle_ps == 500);
  CHECK(t.descriptor_cycles == 10);
  c.set("iommu.qi.descriptor_cycles", "4");
  CHECK(QiTiming::from(c, 500).descriptor_cycles == 4);
}

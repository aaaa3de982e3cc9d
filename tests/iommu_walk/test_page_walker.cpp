// The VT-d page walker against tables hand-encoded from reference/vtd-pcie.md §1 (literal bit
// patterns, never built by code under test): 3-, 4- and 5-level walks, superpages, pass-through,
// every DMA-remapping fault reason, FPD, exact timing, the context cache and the PSCs.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>

#include <iovsim/core/sparse_store.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/iommu/page_walker.hpp>

namespace {

using iovsim::core::AddressType;
using iovsim::core::SparseStore;
using iovsim::core::StatGroup;
using iovsim::core::StatMap;
using namespace iovsim::iommu;
using FR = vtd::FaultReason;

constexpr uint64_t kMemBytes = 0x4000'0000;  // 1 GiB: anything at or above reads as an error
constexpr uint64_t kLatencyPs = 50'000;      // 50 ns per table read
constexpr uint64_t kCyclePs = 1'000;         // 1 GHz IOMMU
constexpr uint64_t kReadPs = kLatencyPs + 4 * kCyclePs;  // a read plus level_cycles = 4
constexpr uint64_t kHitPs = 2 * kCyclePs;                // context-cache hit, PSC lookup

// Host memory with a fixed latency per read; reads outside [0, size) fail.
class TestMemory : public WalkMemory {
 public:
  explicit TestMemory(uint64_t size) : store_(size) {}
  bool read(uint64_t hpa, void* dst, unsigned len, uint64_t* t_ps) override {
    ++reads;
    *t_ps += kLatencyPs;
    if (!store_.contains(hpa, len)) return false;
    store_.read(hpa, dst, len);
    return true;
  }
  void put64(uint64_t addr, uint64_t v) { store_.write_u64(addr, v); }
  void put128(uint64_t addr, uint64_t lo, uint64_t hi) {
    store_.write_u64(addr, lo);
    store_.write_u64(addr + 8, hi);
  }
  unsigned reads = 0;

 private:
  SparseStore store_;
};

// Table layout (all literal):
//   RTADDR 0x10000, context table 0x11000 for bus 1.
//   4-level domain 5: SLPTPTR 0x20000 -> L3 0x21000 -> L2 0x22000 -> L1 0x23000
//   3-level domain 6: 0x30000 -> 0x31000 -> 0x32000
//   5-level domain 7: 0x40000 -> 0x41000 -> 0x42000 -> 0x43000 -> 0x44000
constexpr uint64_t kRt = 0x10000;
constexpr uint16_t kSid4 = 0x0108;    // bus 1, dev 1, fn 0: 4-level, DID 5
constexpr uint16_t kSid3 = 0x0110;    // 3-level, DID 6
constexpr uint16_t kSid5 = 0x0118;    // 5-level, DID 7
constexpr uint16_t kSidFpd = 0x0140;  // 4-level tables of DID 5 with FPD set, DID 8
constexpr uint16_t kSidTt1 = 0x0138;  // TT = 1 (device-TLB), DID 5
constexpr uint16_t kSidPt = 0x0148;   // TT = 2 (pass-through), DID 9

// iova with index 1 at L4, L3, L2, L1 and offset 0xabc.
constexpr uint64_t kIova4 = 0x80'4020'1abc;
constexpr uint64_t kHpa4 = 0x7654'3abc;
constexpr uint64_t kIova4Next = 0x80'4020'2abc;  // same L1 table, index 2: read-only page

struct Platform {
  TestMemory mem{kMemBytes};
  StatGroup stats{"iommu"};
  WalkerConfig cfg;
  std::unique_ptr<PageWalker> walker;

  Platform() {
    cfg.cycle_ps = kCyclePs;
    // Root table: bus 1 -> context table 0x11000 (P).
    mem.put128(kRt + 16 * 1, 0x0000'0000'0001'1001, 0);
    // Bus 3: reserved bit 1 set. Bus 4: CTP outside memory. Bus 5: reserved bit in hi.
    mem.put128(kRt + 16 * 3, 0x0000'0000'0001'1003, 0);
    mem.put128(kRt + 16 * 4, 0x0000'0000'8000'0001, 0);
    mem.put128(kRt + 16 * 5, 0x0000'0000'0001'1001, 0x1);

    // Context entries (lo: SLPTPTR | TT<<2 | FPD<<1 | P; hi: DID<<8 | AW).
    mem.put128(0x11000 + 16 * 0x08, 0x0000'0000'0002'0001, 0x0502);  // 4-level, DID 5
    mem.put128(0x11000 + 16 * 0x10, 0x0000'0000'0003'0001, 0x0601);  // 3-level, DID 6
    mem.put128(0x11000 + 16 * 0x18, 0x0000'0000'0004'0001, 0x0703);  // 5-level, DID 7
    mem.put128(0x11000 + 16 * 0x21, 0x2, 0);                         // not present, FPD
    mem.put128(0x11000 + 16 * 0x28, 0x0000'0000'0002'0013, 0x0502);  // bit 4 reserved (+FPD)
    mem.put128(0x11000 + 16 * 0x29, 0x0000'0000'0002'0001, 0x0582);  // hi bit 7 reserved
    mem.put128(0x11000 + 16 * 0x30, 0x0000'0000'0002'0001, 0x0503);  // AW 3 (not in SAGAW)
    mem.put128(0x11000 + 16 * 0x31, 0x0000'0000'0002'000d, 0x0502);  // TT = 3
    mem.put128(0x11000 + 16 * 0x32, 0x0000'0000'0002'0005, 0x0502);  // TT = 1
    mem.put128(0x11000 + 16 * 0x33, 0x0000'0000'0002'000f, 0x0502);  // TT = 3, FPD
    mem.put128(0x11000 + 16 * 0x38, 0x0000'0000'0002'0005, 0x0502);  // TT = 1, DID 5
    mem.put128(0x11000 + 16 * 0x40, 0x0000'0000'0002'0003, 0x0802);  // FPD, DID 8, 4-level
    mem.put128(0x11000 + 16 * 0x48, 0x0000'0000'0000'0009, 0x0902);  // TT = 2, DID 9

    // 4-level tables, index 1 at each level (entry = address | PS<<7 | W<<1 | R).
    mem.put64(0x20000 + 8 * 1, 0x2'1003);
    mem.put64(0x21000 + 8 * 1, 0x2'2003);
    mem.put64(0x22000 + 8 * 1, 0x2'3003);
    mem.put64(0x23000 + 8 * 1, 0x7654'3003);            // R/W 4 KiB page
    mem.put64(0x23000 + 8 * 2, 0x7655'5001);            // read-only
    mem.put64(0x23000 + 8 * 4, 0x7656'6002);            // write-only
    mem.put64(0x23000 + 8 * 5, 0x0000'4000'7657'7003);  // bit 46 (HAW = 46) set: reserved
    // L2 index 2: 2 MiB page at 0x4060'0000; index 3: 2 MiB with bit 12 set; index 5: L1 table
    // outside memory; index 6 not present.
    mem.put64(0x22000 + 8 * 2, 0x4060'0083);
    mem.put64(0x22000 + 8 * 3, 0x4060'1083);
    mem.put64(0x22000 + 8 * 5, 0x8000'0003);
    // L3 index 2: 1 GiB page at 0x8000'0000; index 3: 1 GiB with bit 21 set; index 4: read-only
    // pointer to the same L2 table.
    mem.put64(0x21000 + 8 * 2, 0x8000'0083);
    mem.put64(0x21000 + 8 * 3, 0x8020'0083);
    mem.put64(0x21000 + 8 * 4, 0x2'2001);
    // L4 index 2: PS set at level 4 (reserved).
    mem.put64(0x20000 + 8 * 2, 0x2'1083);

    // 3-level tables: iova 0x4020'1abc -> 0x1234'5abc.
    mem.put64(0x30000 + 8 * 1, 0x3'1003);
    mem.put64(0x31000 + 8 * 1, 0x3'2003);
    mem.put64(0x32000 + 8 * 1, 0x1234'5003);

    // 5-level tables: iova 0x1'0080'4020'1abc -> 0x5555'6abc.
    mem.put64(0x40000 + 8 * 1, 0x4'1003);
    mem.put64(0x41000 + 8 * 1, 0x4'2003);
    mem.put64(0x42000 + 8 * 1, 0x4'3003);
    mem.put64(0x43000 + 8 * 1, 0x4'4003);
    mem.put64(0x44000 + 8 * 1, 0x5555'6003);
  }

  PageWalker& make() {
    walker.reset();
    walker = std::make_unique<PageWalker>(cfg, mem, &stats);
    walker->set_root_table(kRt);
    return *walker;
  }
  WalkResult walk(uint16_t sid, uint64_t iova, bool write = false,
                  AddressType at = AddressType::kUntranslated, uint64_t start_ps = 0) {
    if (!walker) make();
    TranslationRequest req;
    req.sid = sid;
    req.iova = iova;
    req.write = write;
    req.at = at;
    return walker->translate(req, start_ps);
  }
  uint64_t stat(const std::string& name) const {
    StatMap m;
    stats.collect(m);
    auto it = m.find(name);
    REQUIRE(it != m.end());
    return std::get<uint64_t>(it->second);
  }
};

void require_fault(const WalkResult& r, FR reason, bool recorded, unsigned mem_reads) {
  CHECK(r.fault == reason);
  CHECK(r.record_fault == recorded);
  CHECK(r.mem_reads == mem_reads);
}

}  // namespace

TEST_CASE("4-level walk translates a 4 KiB page with exact timing", "[walk]") {
  Platform p;
  const WalkResult r = p.walk(kSid4, kIova4, false, AddressType::kUntranslated, 1'000'000);
  CHECK(r.fault == FR::kNone);
  CHECK(r.did == 5);
  CHECK_FALSE(r.pass_through);
  CHECK(r.hpa == kHpa4);
  CHECK(r.iova_base == 0x80'4020'1000);
  CHECK(r.hpa_base == 0x7654'3000);
  CHECK(r.page_shift == 12);
  CHECK(r.read);
  CHECK(r.write);
  CHECK(r.mem_reads == 6);  // root, context, 4 paging entries
  CHECK(r.levels == 4);
  CHECK_FALSE(r.context_cache_hit);
  CHECK(r.psc_hit_level == 0);
  // 6 reads + one PSC lookup (it missed).
  CHECK(r.done_ps == 1'000'000 + 6 * kReadPs + kHitPs);
  CHECK(p.mem.reads == 6);
}

TEST_CASE("3-level and 5-level walks", "[walk]") {
  Platform p;
  SECTION("3-level (AW 1)") {
    const WalkResult r = p.walk(kSid3, 0x4020'1abc);
    CHECK(r.fault == FR::kNone);
    CHECK(r.did == 6);
    CHECK(r.hpa == 0x1234'5abc);
    CHECK(r.mem_reads == 5);
    CHECK(r.levels == 3);
    CHECK(r.done_ps == 5 * kReadPs + kHitPs);
  }
  SECTION("5-level (AW 3, SAGAW bit 3, MGAW 57)") {
    p.cfg.caps.sagaw = 0b1110;
    p.cfg.caps.mgaw = 57;
    const WalkResult r = p.walk(kSid5, 0x1'0080'4020'1abc);
    CHECK(r.fault == FR::kNone);
    CHECK(r.did == 7);
    CHECK(r.hpa == 0x5555'6abc);
    CHECK(r.mem_reads == 7);
    CHECK(r.levels == 5);
    CHECK(r.done_ps == 7 * kReadPs + kHitPs);
    // Same L5 entry, L4 index 2 (not present): starts below the cached L5 entry.
    const WalkResult n = p.walk(kSid5, 0x1'0100'0000'0000);
    CHECK(n.context_cache_hit);
    CHECK(n.psc_hit_level == 5);
    require_fault(n, FR::kReadDenied, true, 1);
    CHECK(p.stat("iommu.psc.l5.hits") == 1);
  }
  SECTION("5-level context without SAGAW bit 3 is invalid programming") {
    require_fault(p.walk(kSid5, 0x1'0080'4020'1abc), FR::kContextInvalid, true, 2);
  }
}

TEST_CASE("superpages", "[walk]") {
  Platform p;
  SECTION("2 MiB") {
    const WalkResult r = p.walk(kSid4, 0x80'4041'2345, true);
    CHECK(r.fault == FR::kNone);
    CHECK(r.hpa == 0x4061'2345);
    CHECK(r.page_shift == 21);
    CHECK(r.iova_base == 0x80'4040'0000);
    CHECK(r.hpa_base == 0x4060'0000);
    CHECK(r.levels == 3);
    CHECK(r.mem_reads == 5);
  }
  SECTION("1 GiB") {
    const WalkResult r = p.walk(kSid4, 0x80'8123'4567);
    CHECK(r.fault == FR::kNone);
    CHECK(r.hpa == 0x8123'4567);
    CHECK(r.page_shift == 30);
    CHECK(r.iova_base == 0x80'8000'0000);
    CHECK(r.hpa_base == 0x8000'0000);
    CHECK(r.levels == 2);
    CHECK(r.mem_reads == 4);
  }
  SECTION("2 MiB leaf with bit 12 set is reserved") {
    require_fault(p.walk(kSid4, 0x80'4060'0000), FR::kPagingEntryReserved, true, 5);
  }
  SECTION("1 GiB leaf with bit 21 set is reserved") {
    require_fault(p.walk(kSid4, 0x80'c000'0000), FR::kPagingEntryReserved, true, 4);
  }
  SECTION("SLLPS without 2 MiB") {
    p.cfg.caps.sllps = 0b10;
    require_fault(p.walk(kSid4, 0x80'4041'2345), FR::kPagingEntryReserved, true, 5);
    CHECK(p.walk(kSid4, 0x80'8123'4567).fault == FR::kNone);
  }
  SECTION("SLLPS without 1 GiB") {
    p.cfg.caps.sllps = 0b01;
    require_fault(p.walk(kSid4, 0x80'8123'4567), FR::kPagingEntryReserved, true, 4);
    CHECK(p.walk(kSid4, 0x80'4041'2345).fault == FR::kNone);
  }
}

TEST_CASE("pass-through and device-TLB translation types", "[walk]") {
  Platform p;
  SECTION("TT = 2 passes through without a walk") {
    const WalkResult r = p.walk(kSidPt, 0x1234'5678'9abc, true, AddressType::kUntranslated, 500);
    CHECK(r.fault == FR::kNone);
    CHECK(r.pass_through);
    CHECK(r.did == 9);
    CHECK(r.hpa == 0x1234'5678'9abc);
    CHECK(r.iova_base == 0x1234'5678'9000);
    CHECK(r.hpa_base == 0x1234'5678'9000);
    CHECK(r.page_shift == 12);
    CHECK(r.read);
    CHECK(r.write);
    CHECK(r.mem_reads == 2);
    CHECK(r.levels == 0);
    CHECK(r.done_ps == 500 + 2 * kReadPs);  // no PSC lookup
  }
  SECTION("TT = 2 without ECAP.PT") {
    p.cfg.caps.pt = false;
    require_fault(p.walk(kSidPt, 0x1000), FR::kContextInvalid, true, 2);
  }
  SECTION("TT = 1 with ECAP.DT: untranslated requests walk, translated ones pass") {
    p.cfg.caps.dt = true;
    const WalkResult r = p.walk(kSidTt1, kIova4);
    CHECK(r.fault == FR::kNone);
    CHECK(r.hpa == kHpa4);
    CHECK(r.mem_reads == 6);
    const WalkResult t = p.walk(kSidTt1, 0x9'8765'4321, false, AddressType::kTranslated);
    CHECK(t.fault == FR::kNone);
    CHECK(t.pass_through);
    CHECK(t.hpa == 0x9'8765'4321);
    CHECK(t.mem_reads == 0);  // context cached by the first walk
    // A translation request returns the permissions; R = W = 0 is an answer, not a fault.
    const WalkResult q = p.walk(kSidTt1, kIova4Next, true, AddressType::kTranslationRequest);
    CHECK(q.fault == FR::kNone);
    CHECK(q.hpa == 0x7655'5abc);
    CHECK(q.read);
    CHECK_FALSE(q.write);
    const WalkResult n = p.walk(kSidTt1, 0x80'4020'3000, false, AddressType::kTranslationRequest);
    CHECK(n.fault == FR::kNone);
    CHECK_FALSE(n.read);
    CHECK_FALSE(n.write);
  }
}

TEST_CASE("root and context-table faults 0x1 0x8 0x9 0xA are always recorded", "[fault]") {
  Platform p;
  SECTION("0x1 root entry not present") {
    require_fault(p.walk(0x0200, 0x1000), FR::kRootNotPresent, true, 1);
  }
  SECTION("0x8 error reading the root table") {
    p.make().set_root_table(0x8000'0000);
    const WalkResult r = p.walk(kSid4, kIova4);
    require_fault(r, FR::kRootTableReadError, true, 1);
    CHECK(r.done_ps == kReadPs);
  }
  SECTION("0xA reserved bits in the root entry (lo bit 1, and hi)") {
    require_fault(p.walk(0x0308, 0x1000), FR::kRootReserved, true, 1);
    require_fault(p.walk(0x0508, 0x1000), FR::kRootReserved, true, 1);
  }
  SECTION("0x9 error reading the context table") {
    require_fault(p.walk(0x0408, 0x1000), FR::kContextTableReadError, true, 2);
  }
}

TEST_CASE("context-entry faults 0x2 0x3 0xB and FPD", "[fault]") {
  Platform p;
  SECTION("0x2 context entry not present") {
    require_fault(p.walk(0x0120, 0x1000), FR::kContextNotPresent, true, 2);
    require_fault(p.walk(0x0121, 0x1000), FR::kContextNotPresent, false, 2);  // FPD
  }
  SECTION("0xB reserved bits in the context entry, recorded despite FPD") {
    require_fault(p.walk(0x0128, 0x1000), FR::kContextReserved, true, 2);
    require_fault(p.walk(0x0129, 0x1000), FR::kContextReserved, true, 2);
  }
  SECTION("0x3 invalid programming: AW, TT = 3, TT = 1 without DT") {
    require_fault(p.walk(0x0130, 0x1000), FR::kContextInvalid, true, 2);
    require_fault(p.walk(0x0131, 0x1000), FR::kContextInvalid, true, 2);
    require_fault(p.walk(0x0132, 0x1000), FR::kContextInvalid, true, 2);
    require_fault(p.walk(0x0133, 0x1000), FR::kContextInvalid, false, 2);  // FPD
  }
}

TEST_CASE("request faults 0x4-0x7 0xC 0xD with and without FPD", "[fault]") {
  Platform p;
  const bool fpd = GENERATE(false, true);
  const uint16_t sid = fpd ? kSidFpd : kSid4;
  const bool rec = !fpd;
  SECTION("0x4 address beyond AGAW") {
    require_fault(p.walk(sid, 0x1'0000'0000'0000), FR::kAddressBeyondAgaw, rec, 2);
    CHECK(p.walk(sid, 0xffff'ffff'f000).fault != FR::kAddressBeyondAgaw);
  }
  SECTION("0x4 address beyond MGAW below AGAW") {
    p.cfg.caps.mgaw = 39;
    require_fault(p.walk(sid, 0x80'0000'0000), FR::kAddressBeyondAgaw, rec, 2);
  }
  SECTION("0x5 write to a read-only page") {
    const WalkResult r = p.walk(sid, kIova4Next, true);
    require_fault(r, FR::kWriteDenied, rec, 6);
    CHECK(r.read);
    CHECK_FALSE(r.write);
    CHECK(p.walk(sid, kIova4Next, false).fault == FR::kNone);
  }
  SECTION("0x5 write through a read-only non-leaf entry stops the walk there") {
    const WalkResult r = p.walk(sid, 0x81'0020'1000, true);  // L3 index 4: R only
    require_fault(r, FR::kWriteDenied, rec, 4);
    CHECK(r.levels == 2);
    CHECK(p.walk(sid, 0x81'0020'1000, false).hpa == 0x7654'3000);
  }
  SECTION("0x6 read of a write-only page") {
    const WalkResult r = p.walk(sid, 0x80'4020'4000, false);
    require_fault(r, FR::kReadDenied, rec, 6);
    CHECK_FALSE(r.read);
    CHECK(r.write);
    CHECK(p.walk(sid, 0x80'4020'4000, true).hpa == 0x7656'6000);
  }
  SECTION("not-present leaf: 0x6 for a read, 0x5 for a write") {
    require_fault(p.walk(sid, 0x80'4020'3000, false), FR::kReadDenied, rec, 6);
    require_fault(p.walk(sid, 0x80'4020'3000, true), FR::kWriteDenied, rec, 1);  // both hit
  }
  SECTION("0x7 error reading a paging entry") {
    const WalkResult r = p.walk(sid, 0x80'40a0'0000);
    require_fault(r, FR::kPagingEntryReadError, rec, 6);
    CHECK(r.levels == 4);
  }
  SECTION("0xC bits HAW..51 set") {
    require_fault(p.walk(sid, 0x80'4020'5000), FR::kPagingEntryReserved, rec, 6);
  }
  SECTION("0xC PS at level 4") {
    require_fault(p.walk(sid, 0x100'0000'0000), FR::kPagingEntryReserved, rec, 3);
  }
  SECTION("0xD translated and translation requests with TT = 0") {
    require_fault(p.walk(sid, kIova4, false, AddressType::kTranslated), FR::kBlockedByTt, rec, 2);
    require_fault(p.walk(sid, kIova4, false, AddressType::kTranslationRequest), FR::kBlockedByTt,
                  rec, 0);  // context now cached
  }
}

TEST_CASE("timing with context-cache and PSC hits", "[timing]") {
  Platform p;
  SECTION("neighbouring page: context hit + PSC L2 hit -> one memory read") {
    p.walk(kSid4, kIova4);
    const WalkResult r = p.walk(kSid4, kIova4Next, false, AddressType::kUntranslated, 10'000'000);
    CHECK(r.fault == FR::kNone);
    CHECK(r.hpa == 0x7655'5abc);
    CHECK_FALSE(r.write);
    CHECK(r.context_cache_hit);
    CHECK(r.psc_hit_level == 2);
    CHECK(r.mem_reads == 1);
    CHECK(r.levels == 1);
    CHECK(r.done_ps == 10'000'000 + kHitPs + kHitPs + kReadPs);
    CHECK(p.stat("iommu.context_cache.hits") == 1);
    CHECK(p.stat("iommu.context_cache.misses") == 1);
    CHECK(p.stat("iommu.psc.hits") == 1);
    CHECK(p.stat("iommu.psc.misses") == 1);
    CHECK(p.stat("iommu.psc.l2.hits") == 1);
    CHECK(p.stat("iommu.psc.l3.hits") == 0);
    CHECK(p.stat("iommu.psc.l4.hits") == 0);
    CHECK(p.stat("iommu.psc.l5.hits") == 0);
  }
  SECTION("PSC L3 and L4 hits") {
    p.walk(kSid4, kIova4);
    const WalkResult l3 = p.walk(kSid4, 0x80'4041'2345);  // other L2 entry, same L3 entry
    CHECK(l3.psc_hit_level == 3);
    CHECK(l3.mem_reads == 1);
    const WalkResult l4 = p.walk(kSid4, 0x80'8123'4567);  // other L3 entry, same L4 entry
    CHECK(l4.psc_hit_level == 4);
    CHECK(l4.mem_reads == 1);
    CHECK(l4.done_ps == kHitPs + kHitPs + kReadPs);
    CHECK(p.stat("iommu.psc.l3.hits") == 1);
    CHECK(p.stat("iommu.psc.l4.hits") == 1);
  }
  SECTION("caches disabled: every walk reads everything, no lookup cost") {
    p.cfg.context_cache_entries = 0;
    for (unsigned l = 0; l < 6; ++l) p.cfg.psc_entries[l] = 0;
    p.walk(kSid4, kIova4);
    const WalkResult r = p.walk(kSid4, kIova4Next, false, AddressType::kUntranslated, 7);
    CHECK(r.mem_reads == 6);
    CHECK(r.done_ps == 7 + 6 * kReadPs);
    CHECK_FALSE(r.context_cache_hit);
    CHECK(r.psc_hit_level == 0);
  }
  SECTION("cycle costs scale with the configured cycles") {
    p.cfg.cycle_ps = 500;
    p.cfg.level_cycles = 10;
    p.cfg.context_cache_hit_cycles = 3;
    p.cfg.psc_hit_cycles = 5;
    const WalkResult a = p.walk(kSid4, kIova4);
    CHECK(a.done_ps == 6 * (kLatencyPs + 10 * 500) + 5 * 500);
    const WalkResult b = p.walk(kSid4, kIova4Next);
    CHECK(b.done_ps == 3 * 500 + 5 * 500 + (kLatencyPs + 10 * 500));
  }
  SECTION("one PSC entry per level: LRU eviction") {
    p.cfg.psc_entries[2] = 1;
    p.walk(kSid4, kIova4);          // caches L2 entry for region 0x80'4020'0000
    p.walk(kSid4, 0x80'40a0'0000);  // replaces it (read error at L1 does not matter)
    const WalkResult r = p.walk(kSid4, kIova4Next);
    CHECK(r.psc_hit_level == 3);
    CHECK(r.mem_reads == 2);
  }
}

TEST_CASE("context-cache invalidation granularities", "[invalidate]") {
  Platform p;
  PageWalker& w = p.make();
  p.walk(kSid4, kIova4);
  p.walk(kSid3, 0x4020'1abc);
  auto reads4 = [&] { return p.walk(kSid4, kIova4Next).mem_reads; };  // PSC L2 hit either way
  auto reads3 = [&] { return p.walk(kSid3, 0x4020'1abc).mem_reads; };
  SECTION("global") {
    w.invalidate_context_all();
    CHECK(reads4() == 3);
    CHECK(reads3() == 3);
  }
  SECTION("domain") {
    w.invalidate_context_domain(6);
    CHECK(reads4() == 1);
    CHECK(reads3() == 3);
    w.invalidate_context_domain(5);
    CHECK(reads4() == 3);
  }
  SECTION("device, FM 0: exact SID") {
    w.invalidate_context_device(0x010c, 0);
    CHECK(reads4() == 1);
    w.invalidate_context_device(kSid4, 0);
    CHECK(reads4() == 3);
    CHECK(reads3() == 1);
  }
  SECTION("device, FM 1 masks bit 2") {
    w.invalidate_context_device(0x010c, 1);
    CHECK(reads4() == 3);
    CHECK(reads3() == 1);
  }
  SECTION("device, FM 2 masks bits 2:1") {
    w.invalidate_context_device(0x0109, 2);  // bit 0 differs: kept
    CHECK(reads4() == 1);
    w.invalidate_context_device(0x010e, 2);
    CHECK(reads4() == 3);
  }
  SECTION("device, FM 3 masks bits 2:0") {
    w.invalidate_context_device(0x010f, 3);
    CHECK(reads4() == 3);
    CHECK(reads3() == 1);
  }
  SECTION("SRTP invalidates nothing") {
    w.set_root_table(0x8000'0000);
    CHECK(reads4() == 1);
  }
}

TEST_CASE("paging-structure-cache invalidation granularities", "[invalidate]") {
  Platform p;
  PageWalker& w = p.make();
  p.walk(kSid4, kIova4);  // caches L4 index 1, L3 index 1, L2 index 1 entries of DID 5
  auto paging_reads = [&](uint64_t iova) { return p.walk(kSid4, iova).levels; };
  SECTION("global") {
    w.invalidate_psc_all();
    CHECK(paging_reads(kIova4Next) == 4);
  }
  SECTION("domain") {
    w.invalidate_psc_domain(6);
    CHECK(paging_reads(kIova4Next) == 1);
    w.invalidate_psc_domain(5);
    CHECK(paging_reads(kIova4Next) == 4);
  }
  SECTION("pages: only entries whose range overlaps") {
    w.invalidate_psc_pages(6, kIova4, 0);  // other domain: nothing
    CHECK(paging_reads(kIova4Next) == 1);
    // A page in another 1 GiB region of the same 512 GiB: only the L4 entry covers it.
    w.invalidate_psc_pages(5, 0x80'8000'0000, 0);
    CHECK(paging_reads(kIova4Next) == 1);      // L2 entry still there
    CHECK(paging_reads(0x80'8123'4567) == 2);  // L4 gone: reads L4, L3
    CHECK(paging_reads(0x80'8123'4567) == 1);  // refilled
    // A page in another 2 MiB region of the same 1 GiB: the L3 and L4 entries cover it.
    w.invalidate_psc_pages(5, 0x80'4040'0000, 0);
    CHECK(paging_reads(kIova4Next) == 1);      // L2 entry for 0x80'4020'0000 kept
    CHECK(paging_reads(0x80'4041'2345) == 3);  // L4, L3, L2 (2 MiB leaf)
    // A 2 MiB range (AM 9) covering the L2 entry's region: every level's entry covers it.
    w.invalidate_psc_pages(5, 0x80'4020'0000, 9);
    CHECK(paging_reads(kIova4Next) == 4);
  }
}

TEST_CASE("caching mode: not-present entries cached only with CAP.CM", "[cm]") {
  Platform p;
  SECTION("without CM a not-present context entry is re-read every time") {
    require_fault(p.walk(0x0120, 0x1000), FR::kContextNotPresent, true, 2);
    const WalkResult r = p.walk(0x0120, 0x1000);
    require_fault(r, FR::kContextNotPresent, true, 2);
    CHECK_FALSE(r.context_cache_hit);
    require_fault(p.walk(0x0128, 0x1000), FR::kContextReserved, true, 2);
    require_fault(p.walk(0x0128, 0x1000), FR::kContextReserved, true, 2);
    CHECK(p.stat("iommu.context_cache.misses") == 4);
  }
  SECTION("with CM it is cached (tagged DID 0) until invalidated") {
    p.cfg.caps.cm = true;
    require_fault(p.walk(0x0121, 0x1000), FR::kContextNotPresent, false, 2);
    const WalkResult r = p.walk(0x0121, 0x1000, false, AddressType::kUntranslated, 100);
    require_fault(r, FR::kContextNotPresent, false, 0);  // FPD remembered
    CHECK(r.context_cache_hit);
    CHECK(r.done_ps == 100 + kHitPs);
    require_fault(p.walk(0x0128, 0x1000), FR::kContextReserved, true, 2);
    require_fault(p.walk(0x0128, 0x1000), FR::kContextReserved, true, 0);
    p.walker->invalidate_context_domain(0);
    require_fault(p.walk(0x0121, 0x1000), FR::kContextNotPresent, false, 2);
    require_fault(p.walk(0x0128, 0x1000), FR::kContextReserved, true, 2);
  }
  SECTION("without CM a not-present L2 entry is re-read") {
    p.walk(kSid4, 0x80'40c0'0000);
    const WalkResult r = p.walk(kSid4, 0x80'40c0'0000);
    require_fault(r, FR::kReadDenied, true, 1);
    CHECK(r.psc_hit_level == 3);
  }
  SECTION("with CM a not-present L2 entry is cached in the PSC") {
    p.cfg.caps.cm = true;
    p.walk(kSid4, 0x80'40c0'0000);
    const WalkResult r = p.walk(kSid4, 0x80'40c0'0000, true);
    require_fault(r, FR::kWriteDenied, true, 0);
    CHECK(r.psc_hit_level == 2);
    CHECK(r.done_ps == kHitPs + kHitPs);
    p.walker->invalidate_psc_pages(5, 0x80'40c0'0000, 0);
    CHECK(p.walk(kSid4, 0x80'40c0'0000).mem_reads == 3);
  }
}

TEST_CASE("WalkerConfig::from reads the declared parameters", "[params]") {
  iovsim::core::Config c;
  c.set("iommu.clock_mhz", "500");
  c.set("iommu.context_cache.entries", "32");
  c.set("iommu.context_cache.hit_cycles", "3");
  c.set("iommu.psc.l2.entries", "64");
  c.set("iommu.psc.l5.entries", "0");
  c.set("iommu.psc.hit_cycles", "1");
  c.set("iommu.walk.level_cycles", "6");
  c.set("iommu.cap.cm", "true");
  const WalkerConfig w = WalkerConfig::from(c);
  CHECK(w.cycle_ps == 2000);
  CHECK(w.context_cache_entries == 32);
  CHECK(w.context_cache_hit_cycles == 3);
  CHECK(w.psc_entries[2] == 64);
  CHECK(w.psc_entries[3] == 16);
  CHECK(w.psc_entries[4] == 16);
  CHECK(w.psc_entries[5] == 0);
  CHECK(w.psc_hit_cycles == 1);
  CHECK(w.level_cycles == 6);
  CHECK(w.caps.cm);
  const WalkerConfig d = WalkerConfig::from(iovsim::core::Config{});
  CHECK(d.cycle_ps == 1000);
  CHECK(d.context_cache_entries == 16);
  CHECK(d.level_cycles == 4);
}

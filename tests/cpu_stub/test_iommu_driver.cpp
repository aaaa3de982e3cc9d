// The IOMMU driver against the fake remapping unit: register sequences, queued descriptors and
// every table entry it writes, decoded bit by bit here from ../shared/reference/vtd-pcie.md §1–3
// (not through the driver's lookup or the iommu models' decoders).
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
constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;
using FM = FakeMachine;

uint64_t field(uint64_t v, unsigned hi, unsigned lo) {
  return (v >> lo) & ((hi - lo == 63) ? ~0ull : ((1ull << (hi - lo + 1)) - 1));
}

struct Rig {
  FakeMachine m;
  PageAllocator pages;
  IommuDriver drv;
  explicit Rig(IommuDriverOptions o = {}, uint64_t cap = make_cap(), uint64_t ecap = make_ecap())
      : pages(m, kPool, kPoolSize), drv(m, FM::kMmioBase, pages, o) {
    m.cap = cap;
    m.ecap = ecap;
  }
  // Brings the unit up and forgets what that wrote, so a test sees only its own traffic.
  Rig& up() {
    drv.bring_up();
    m.writes.clear();
    m.descriptors.clear();
    return *this;
  }
  uint64_t rd(uint64_t a) { return m.mem.read_u64(a); }
  // Root entry for bus, context entry for sid.
  uint64_t root_lo(unsigned bus) { return rd(drv.root_table() + 16 * bus); }
  uint64_t ctx_addr(uint16_t sid) { return (root_lo(sid >> 8) & ~0xfffull) + 16 * (sid & 0xff); }
  uint64_t slpt(uint16_t sid) { return rd(ctx_addr(sid)) & ~0xfffull; }
  // Non-zero 8-byte entries in a table.
  int used_entries(uint64_t table) {
    int n = 0;
    for (int i = 0; i < 512; ++i) n += rd(table + 8 * i) != 0;
    return n;
  }
};

IommuDriverOptions register_mode() {
  IommuDriverOptions o;
  o.invalidation = InvalidationMode::kRegister;
  return o;
}

// A non-leaf second-level entry: next table | R | W, nothing else; returns the next table.
uint64_t check_nonleaf(uint64_t e) {
  INFO("entry 0x" << std::hex << e);
  CHECK(field(e, 0, 0) == 1);   // R
  CHECK(field(e, 1, 1) == 1);   // W
  CHECK(field(e, 7, 7) == 0);   // PS
  CHECK(field(e, 11, 2) == 0);  // nothing else below the address
  CHECK(field(e, 63, 52) == 0);
  const uint64_t next = e & 0x000FFFFFFFFFF000ull;
  CHECK(next >= kPool);
  CHECK(next < kPool + kPoolSize);
  return next;
}

// A queued IOTLB page-selective descriptor's fields.
void check_psi(const Desc& d, uint16_t did, uint64_t addr, unsigned am) {
  INFO("lo 0x" << std::hex << d.lo << " hi 0x" << d.hi);
  CHECK(field(d.lo, 3, 0) == 2);  // type IOTLB
  CHECK(field(d.lo, 5, 4) == 3);  // page-selective
  CHECK(field(d.lo, 7, 6) == 0);  // DW, DR
  CHECK(field(d.lo, 31, 16) == did);
  CHECK(field(d.lo, 63, 32) == 0);
  CHECK(field(d.lo, 15, 8) == 0);
  CHECK(field(d.hi, 5, 0) == am);
  CHECK(field(d.hi, 6, 6) == 0);  // IH = 0: paging-structure caches too
  CHECK(field(d.hi, 11, 7) == 0);
  CHECK((d.hi & ~0xfffull) == addr);
}

// Wait descriptor with SW: status data to a 4-byte aligned status word, no IF / FN.
void check_wait(FakeMachine& m, const Desc& d) {
  INFO("lo 0x" << std::hex << d.lo << " hi 0x" << d.hi);
  CHECK(field(d.lo, 3, 0) == 5);
  CHECK(field(d.lo, 4, 4) == 0);  // IF
  CHECK(field(d.lo, 5, 5) == 1);  // SW
  CHECK(field(d.lo, 6, 6) == 0);  // FN
  CHECK(field(d.lo, 31, 7) == 0);
  CHECK(field(d.lo, 63, 32) != 0);
  CHECK(field(d.hi, 1, 0) == 0);
  CHECK(m.mem.read_u32(d.hi) == field(d.lo, 63, 32));
}

// Every other descriptor is a wait: returns the invalidation descriptors after checking the waits.
std::vector<Desc> invalidations(FakeMachine& m) {
  REQUIRE(m.descriptors.size() % 2 == 0);
  std::vector<Desc> out;
  for (std::size_t i = 0; i < m.descriptors.size(); i += 2) {
    out.push_back(m.descriptors[i]);
    check_wait(m, m.descriptors[i + 1]);
  }
  return out;
}

template <typename F>
std::string runtime_error_of(F f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no std::runtime_error)";
}

}  // namespace

TEST_CASE("bring_up with queued invalidation: register sequence and descriptors",
          "[cpu_stub][iommu_driver]") {
  Rig r;
  r.drv.bring_up();
  const uint64_t root = r.drv.root_table();
  CHECK(root == kPool);
  CHECK(r.drv.cap() == make_cap());
  CHECK(r.drv.ecap() == make_ecap());
  const uint64_t queue = kPool + 0x1000;
  const std::vector<MmioWrite> expected{
      {FM::kRtaddr, 8, root},     // TTM = 0
      {FM::kGcmd, 4, FM::kSrtp},  // GSTS was 0
      {FM::kIqa, 8, queue | 0},   // DW = 0, QS = 0
      {FM::kIqt, 8, 0},
      {FM::kGcmd, 4, FM::kQie},  // RTPS (bit 30) is not echoed back
      {FM::kIqt, 8, 2 << 4},     // context-cache global + wait
      {FM::kIqt, 8, 4 << 4},     // IOTLB global + wait
      {FM::kGcmd, 4, FM::kTe | FM::kQie},
  };
  CHECK(r.m.writes == expected);
  CHECK(r.m.gsts == (FM::kTe | FM::kSrtp | FM::kQie));  // TES | RTPS | QIES
  CHECK(r.m.rtaddr == root);
  for (int i = 0; i < 512; ++i) CHECK(r.rd(root + 8 * i) == 0);

  const auto inv = invalidations(r.m);
  REQUIRE(inv.size() == 2);
  CHECK(inv[0].lo == (1 | 1 << 4));  // context-cache, global
  CHECK(inv[0].hi == 0);
  CHECK(inv[1].lo == (2 | 1 << 4));  // IOTLB, global
  CHECK(inv[1].hi == 0);
  // The wait's status word is its own page, apart from the queue.
  CHECK((r.m.descriptors[1].hi & ~0xfffull) != queue);
  CHECK(r.drv.invalidations_issued() == 2);
  CHECK(r.m.relaxes == 0);  // the fake completes at once: no poll had to wait
  CHECK_THROWS_AS(r.drv.bring_up(), std::logic_error);
}

TEST_CASE("bring_up with register invalidation", "[cpu_stub][iommu_driver]") {
  SECTION("chosen") {
    Rig r(register_mode());
    r.drv.bring_up();
    const std::vector<MmioWrite> expected{
        {FM::kRtaddr, 8, r.drv.root_table()},
        {FM::kGcmd, 4, FM::kSrtp},
        {FM::kCcmd, 8, 1ull << 63 | 1ull << 61},   // ICC, CIRG global
        {FM::kIotlb, 8, 1ull << 63 | 1ull << 60},  // IVT, IIRG global (IRO 0x30 -> 0x308)
        {FM::kGcmd, 4, FM::kTe},
    };
    CHECK(r.m.writes == expected);
    CHECK(r.drv.invalidations_issued() == 2);
    CHECK(r.pages.pages_used() == 1);
  }
  SECTION("queued asked for but ECAP.QI clear: falls back like Linux") {
    Rig r({}, make_cap(), make_ecap(/*qi=*/false));
    r.drv.bring_up();
    REQUIRE(r.m.writes.size() == 5);
    CHECK(r.m.writes[2].off == FM::kCcmd);
    CHECK(r.m.writes[3].off == FM::kIotlb);
    CHECK(r.m.descriptors.empty());
  }
}

TEST_CASE("GCMD writes carry the status image without one-shot bits", "[cpu_stub][iommu_driver]") {
  Rig r;
  // Firmware left interrupt remapping on: IRES and IRTPS set.
  r.m.gsts = FM::kIre | FM::kSirtp;
  r.drv.bring_up();
  REQUIRE(r.m.writes.size() == 8);
  CHECK(r.m.writes[1] == MmioWrite{FM::kGcmd, 4, FM::kIre | FM::kSrtp});
  CHECK(r.m.writes[4] == MmioWrite{FM::kGcmd, 4, FM::kIre | FM::kQie});
  CHECK(r.m.writes[7] == MmioWrite{FM::kGcmd, 4, FM::kIre | FM::kQie | FM::kTe});
}

TEST_CASE("queue size and wrap-around", "[cpu_stub][iommu_driver]") {
  SECTION("one page: 256 descriptors, tail wraps") {
    Rig r;
    r.up();
    for (int i = 0; i < 200; ++i) r.drv.invalidate_iotlb_domain(static_cast<uint16_t>(i));
    // 4 descriptors from bring_up, 400 more: tail = 404 mod 256.
    CHECK(r.m.writes.back() == MmioWrite{FM::kIqt, 8, (404 % 256) << 4});
    const auto inv = invalidations(r.m);
    REQUIRE(inv.size() == 200);
    for (int i = 0; i < 200; ++i) CHECK(inv[i].lo == (2 | 2 << 4 | uint64_t(i) << 16));
    CHECK(r.drv.invalidations_issued() == 202);
  }
  SECTION("two pages: QS = 1, 512 descriptors") {
    IommuDriverOptions o;
    o.queue_pages = 2;
    Rig r(o);
    r.drv.bring_up();
    CHECK(r.m.writes[2] == MmioWrite{FM::kIqa, 8, (kPool + 0x1000) | 1});
    r.m.descriptors.clear();
    for (int i = 0; i < 300; ++i) r.drv.invalidate_iotlb_global();
    CHECK(r.m.writes.back() == MmioWrite{FM::kIqt, 8, (604 % 512) << 4});
    CHECK(invalidations(r.m).size() == 300);
  }
  SECTION("sizes the hardware cannot express") {
    FakeMachine m;
    PageAllocator pages(m, kPool, kPoolSize);
    for (unsigned n : {0u, 3u, 256u}) {
      IommuDriverOptions o;
      o.queue_pages = n;
      CHECK_THROWS_AS(IommuDriver(m, FM::kMmioBase, pages, o), std::invalid_argument);
    }
  }
}

TEST_CASE("attach_device writes root and context entries bit by bit", "[cpu_stub][iommu_driver]") {
  Rig r;
  r.up();
  const uint64_t before = r.pages.pages_used();
  const uint16_t sid = 0x0310;  // bus 3, device 2, function 0
  r.drv.attach_device(sid, 5, /*aw=*/1, /*tt=*/0, /*fpd=*/true);
  CHECK(r.pages.pages_used() == before + 2);  // top-level table + context table

  const uint64_t root = r.drv.root_table();
  const uint64_t re_lo = r.rd(root + 16 * 3), re_hi = r.rd(root + 16 * 3 + 8);
  CHECK(field(re_lo, 0, 0) == 1);   // P
  CHECK(field(re_lo, 11, 1) == 0);  // reserved
  CHECK(re_hi == 0);
  const uint64_t ctp = re_lo & ~0xfffull;
  CHECK(ctp >= kPool);
  CHECK(ctp < kPool + kPoolSize);
  for (unsigned bus = 0; bus < 256; ++bus)
    if (bus != 3) CHECK(r.rd(root + 16 * bus) == 0);

  const uint64_t ce_lo = r.rd(ctp + 16 * 0x10), ce_hi = r.rd(ctp + 16 * 0x10 + 8);
  CHECK(field(ce_lo, 0, 0) == 1);   // P
  CHECK(field(ce_lo, 1, 1) == 1);   // FPD
  CHECK(field(ce_lo, 3, 2) == 0);   // TT
  CHECK(field(ce_lo, 11, 4) == 0);  // reserved
  const uint64_t slpt = ce_lo & ~0xfffull;
  CHECK(slpt >= kPool);
  CHECK(slpt != ctp);
  CHECK(r.used_entries(slpt) == 0);
  CHECK(field(ce_hi, 2, 0) == 1);  // AW: 39-bit, 3-level
  CHECK(field(ce_hi, 7, 7) == 0);
  CHECK(field(ce_hi, 23, 8) == 5);  // DID
  CHECK(field(ce_hi, 63, 24) == 0);
  CHECK(r.used_entries(ctp) == 2);  // this entry's two halves only

  auto inv = invalidations(r.m);
  REQUIRE(inv.size() == 1);
  CHECK(field(inv[0].lo, 3, 0) == 1);      // context-cache
  CHECK(field(inv[0].lo, 5, 4) == 3);      // device-selective
  CHECK(field(inv[0].lo, 31, 16) == 5);    // DID
  CHECK(field(inv[0].lo, 47, 32) == sid);  // SID
  CHECK(field(inv[0].lo, 49, 48) == 0);    // FM
  CHECK(field(inv[0].lo, 15, 6) == 0);
  CHECK(field(inv[0].lo, 63, 50) == 0);
  CHECK(inv[0].hi == 0);

  SECTION("same bus, same domain: shares the context table and the page table") {
    const uint64_t n = r.pages.pages_used();
    r.drv.attach_device(0x0311, 5, 1);
    CHECK(r.pages.pages_used() == n);
    CHECK(r.root_lo(3) == re_lo);
    const uint64_t lo2 = r.rd(ctp + 16 * 0x11);
    CHECK((lo2 & ~0xfffull) == slpt);
    CHECK(field(lo2, 3, 0) == 1);  // P, FPD 0, TT 0
    CHECK(r.rd(ctp + 16 * 0x11 + 8) == (1 | 5 << 8));
  }
  SECTION("pass-through on another bus: no page table, SLPTPTR 0") {
    const uint64_t n = r.pages.pages_used();
    r.drv.attach_device(0x2008, 6, /*aw=*/2, /*tt=*/2);
    CHECK(r.pages.pages_used() == n + 1);  // the context table only
    const uint64_t ce = r.ctx_addr(0x2008);
    CHECK(r.rd(ce) == (1 | 2 << 2));
    CHECK(r.rd(ce + 8) == (2 | 6 << 8));
    CHECK(r.drv.lookup(0x2008, 0x123456789) == 0x123456789ull);
    CHECK_THROWS_AS(r.drv.map(6, 0, 0, 4096, 4096), std::invalid_argument);
  }
}

TEST_CASE("attach_device rejects what the unit cannot do", "[cpu_stub][iommu_driver]") {
  SECTION("before bring_up") {
    Rig r;
    CHECK_THROWS_AS(r.drv.attach_device(1, 1), std::logic_error);
    CHECK_THROWS_AS(r.drv.invalidate_iotlb_global(), std::logic_error);
  }
  Rig r({}, make_cap(0b0110, 0b11, true, 9, /*nd=*/0), make_ecap(true, /*pt=*/false));
  r.up();
  CHECK_THROWS_AS(r.drv.attach_device(1, 1, /*aw=*/3), std::invalid_argument);  // not in SAGAW
  CHECK_THROWS_AS(r.drv.attach_device(1, 1, /*aw=*/0), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.attach_device(1, 1, /*aw=*/7), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.attach_device(1, 1, 2, /*tt=*/3), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.attach_device(1, 1, 2, /*tt=*/2), std::invalid_argument);  // no ECAP.PT
  CHECK_THROWS_AS(r.drv.attach_device(1, 1, 2, /*tt=*/1), std::invalid_argument);  // no ECAP.DT
  CHECK_THROWS_AS(r.drv.attach_device(1, 16, 2), std::invalid_argument);  // ND 0: 16 domains
  CHECK(r.m.writes.empty());
  CHECK(r.pages.pages_used() == 3);  // nothing allocated by the refusals
  r.drv.attach_device(1, 15, 2);
  CHECK_THROWS_AS(r.drv.attach_device(1, 15, 2), std::invalid_argument);  // already attached
  CHECK_THROWS_AS(r.drv.attach_device(2, 15, 1), std::invalid_argument);  // domain is AW 2
  CHECK_THROWS_AS(r.drv.detach_device(3), std::invalid_argument);
}

TEST_CASE("map builds a 3-level table: every level checked", "[cpu_stub][iommu_driver]") {
  Rig r;
  r.up();
  const uint16_t sid = 0x0008;
  r.drv.attach_device(sid, 1, /*aw=*/1);
  r.m.descriptors.clear();
  const uint64_t pages0 = r.pages.pages_used();
  // Level-3 index 5, level-2 index 7, level-1 index 9.
  const uint64_t iova = (5ull << 30) | (7ull << 21) | (9ull << 12);
  REQUIRE(iova == 0x140E09000ull);
  r.drv.map(1, iova, 0x87654000, 4096, 4096);
  CHECK(r.pages.pages_used() == pages0 + 2);  // level-2 and level-1 tables

  const uint64_t l3 = r.slpt(sid);
  CHECK(r.used_entries(l3) == 1);
  const uint64_t l2 = check_nonleaf(r.rd(l3 + 8 * 5));
  CHECK(r.used_entries(l2) == 1);
  const uint64_t l1 = check_nonleaf(r.rd(l2 + 8 * 7));
  CHECK(r.used_entries(l1) == 1);
  CHECK(r.rd(l1 + 8 * 9) == (0x87654000ull | 1 | 2));  // frame | R | W, no PS

  // Permissions are the leaf's: read-only, write-only.
  r.drv.map(1, iova + 0x1000, 0x11111000, 4096, 4096, true, false);
  r.drv.map(1, iova + 0x2000, 0x22222000, 4096, 4096, false, true);
  CHECK(r.rd(l1 + 8 * 10) == (0x11111000ull | 1));
  CHECK(r.rd(l1 + 8 * 11) == (0x22222000ull | 2));
  CHECK(r.pages.pages_used() == pages0 + 2);
  CHECK(r.m.descriptors.empty());  // no caching mode: a map needs no invalidation

  CHECK(r.drv.lookup(sid, iova + 0x123) == 0x87654123ull);
  CHECK(r.drv.lookup(sid, iova + 0x3000) == std::nullopt);
  CHECK(r.drv.lookup(0x0009, iova) == std::nullopt);
}

TEST_CASE("map builds a 4-level table: every level checked", "[cpu_stub][iommu_driver]") {
  Rig r;
  r.up();
  r.drv.attach_device(0x0100, 2, /*aw=*/2);
  // Level-4 index 3, level-3 index 5, level-2 index 7, level-1 index 9..10 (two pages).
  const uint64_t iova = (3ull << 39) | (5ull << 30) | (7ull << 21) | (9ull << 12);
  r.drv.map(2, iova, 0xABCDE000, 8192, 4096);
  const uint64_t l4 = r.slpt(0x0100);
  CHECK(r.used_entries(l4) == 1);
  const uint64_t l3 = check_nonleaf(r.rd(l4 + 8 * 3));
  CHECK(r.used_entries(l3) == 1);
  const uint64_t l2 = check_nonleaf(r.rd(l3 + 8 * 5));
  CHECK(r.used_entries(l2) == 1);
  const uint64_t l1 = check_nonleaf(r.rd(l2 + 8 * 7));
  CHECK(r.used_entries(l1) == 2);
  CHECK(r.rd(l1 + 8 * 9) == (0xABCDE000ull | 3));
  CHECK(r.rd(l1 + 8 * 10) == (0xABCDF000ull | 3));
  CHECK(r.drv.lookup(0x0100, iova + 0x1FFF) == 0xABCDFFFFull);
}

TEST_CASE("2 MiB and 1 GiB leaves carry PS", "[cpu_stub][iommu_driver]") {
  Rig r;
  r.up();
  r.drv.attach_device(0x0200, 3, /*aw=*/2);
  const uint64_t l4 = r.slpt(0x0200);
  const uint64_t n0 = r.pages.pages_used();

  // 4 MiB in 2 MiB leaves: level-4 index 0, level-3 index 1, level-2 indices 2 and 3.
  r.drv.map(3, (1ull << 30) | (2ull << 21), 0x100000000ull, 4 * kMiB, 2 * kMiB);
  CHECK(r.pages.pages_used() == n0 + 2);  // no level-1 table
  const uint64_t l3 = check_nonleaf(r.rd(l4 + 8 * 0));
  const uint64_t l2 = check_nonleaf(r.rd(l3 + 8 * 1));
  CHECK(r.used_entries(l2) == 2);
  for (int i = 0; i < 2; ++i) {
    const uint64_t e = r.rd(l2 + 8 * (2 + i));
    CHECK(field(e, 0, 0) == 1);
    CHECK(field(e, 1, 1) == 1);
    CHECK(field(e, 7, 7) == 1);    // PS
    CHECK(field(e, 20, 12) == 0);  // superpage frame alignment
    CHECK((e & ~0xfffull) == 0x100000000ull + i * 2 * kMiB);
    CHECK(e == (0x100000000ull + i * 2 * kMiB | 1 << 7 | 3));
  }

  // 1 GiB read-only leaf: level-4 index 1, level-3 index 3.
  r.drv.map(3, (1ull << 39) | (3ull << 30), 5 * kGiB, kGiB, kGiB, true, false);
  const uint64_t l3b = check_nonleaf(r.rd(l4 + 8 * 1));
  CHECK(r.used_entries(l3b) == 1);
  const uint64_t e = r.rd(l3b + 8 * 3);
  CHECK(e == (5 * kGiB | 1 << 7 | 1));
  CHECK(field(e, 29, 12) == 0);
  CHECK(r.drv.lookup(0x0200, (1ull << 39) | (3ull << 30) | 0x12345678) == 5 * kGiB + 0x12345678);
  CHECK(r.drv.lookup(0x0200, (1ull << 30) | (2ull << 21) | 0x201234) == 0x100000000ull + 0x201234);
}

TEST_CASE("map rejects bad arguments and overlaps", "[cpu_stub][iommu_driver]") {
  SECTION("superpages the unit does not support") {
    Rig none({}, make_cap(0b0110, /*sllps=*/0));
    none.up();
    none.drv.attach_device(1, 1, 2);
    CHECK_THROWS_AS(none.drv.map(1, 0, 0, 2 * kMiB, 2 * kMiB), std::invalid_argument);
    CHECK_THROWS_AS(none.drv.map(1, 0, 0, kGiB, kGiB), std::invalid_argument);
    Rig two({}, make_cap(0b0110, /*sllps=*/0b01));
    two.up();
    two.drv.attach_device(1, 1, 2);
    CHECK_THROWS_AS(two.drv.map(1, 0, 0, kGiB, kGiB), std::invalid_argument);
    two.drv.map(1, 0, 0, 2 * kMiB, 2 * kMiB);
    CHECK(two.drv.lookup(1, 0x1000) == 0x1000ull);
  }
  Rig r;
  r.up();
  r.drv.attach_device(1, 1, /*aw=*/1);
  const uint64_t n = r.pages.pages_used();
  CHECK_THROWS_AS(r.drv.map(1, 0x800, 0, 4096, 4096), std::invalid_argument);  // iova
  CHECK_THROWS_AS(r.drv.map(1, 0, 0x800, 4096, 4096), std::invalid_argument);  // hpa
  CHECK_THROWS_AS(r.drv.map(1, 0, 0, 6144, 4096), std::invalid_argument);      // size
  CHECK_THROWS_AS(r.drv.map(1, 0, 0, 0, 4096), std::invalid_argument);         // empty
  CHECK_THROWS_AS(r.drv.map(1, 0, 0x1000, 2 * kMiB, 2 * kMiB), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.map(1, 2 * kMiB, 0, kMiB, 2 * kMiB), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.map(1, 0, 0, 8192, 8192), std::invalid_argument);  // page size
  CHECK_THROWS_AS(r.drv.map(1, 0, 0, 4096, 4096, false, false), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.map(1, 1ull << 39, 0, 4096, 4096), std::invalid_argument);  // > AGAW
  CHECK_THROWS_AS(r.drv.map(1, (1ull << 39) - 4096, 0, 8192, 4096), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.map(2, 0, 0, 4096, 4096), std::invalid_argument);  // no such domain
  CHECK(r.pages.pages_used() == n);
  CHECK(r.used_entries(r.slpt(1)) == 0);

  // Overlaps are refused before anything is written.
  r.drv.map(1, 0x200000, 0x5000000, 4096, 4096);
  const uint64_t n1 = r.pages.pages_used();
  CHECK_THROWS_AS(r.drv.map(1, 0x1FF000, 0x6000000, 8192, 4096), std::invalid_argument);
  CHECK(r.drv.lookup(1, 0x1FF000) == std::nullopt);  // the first page was not written
  CHECK_THROWS_AS(r.drv.map(1, 0x200000, 0x6000000, 2 * kMiB, 2 * kMiB), std::invalid_argument);
  r.drv.map(1, 0x400000, 0x6000000, 2 * kMiB, 2 * kMiB);
  CHECK_THROWS_AS(r.drv.map(1, 0x401000, 0x7000000, 4096, 4096), std::invalid_argument);
  CHECK(r.pages.pages_used() == n1);
  CHECK(r.drv.lookup(1, 0x200000) == 0x5000000ull);
}

TEST_CASE("unmap clears exactly the leaves and picks AM blocks", "[cpu_stub][iommu_driver]") {
  Rig r;
  r.up();
  r.drv.attach_device(0x0010, 4, /*aw=*/1);
  r.drv.map(4, 0, 0x30000000, 64 * kKiB, 4096);  // 16 pages, level-1 indices 0..15
  const uint64_t l3 = r.slpt(0x0010);
  const uint64_t l2 = r.rd(l3) & ~0xfffull;
  const uint64_t l1 = r.rd(l2) & ~0xfffull;
  r.m.descriptors.clear();
  const uint64_t issued = r.drv.invalidations_issued();

  SECTION("16 KiB at 0x4000: one AM = 2 descriptor") {
    r.drv.unmap(4, 0x4000, 16 * kKiB);
    for (int i = 0; i < 16; ++i) {
      INFO("index " << i);
      if (i >= 4 && i < 8)
        CHECK(r.rd(l1 + 8 * i) == 0);
      else
        CHECK(r.rd(l1 + 8 * i) == (0x30000000ull + 0x1000 * i | 3));
    }
    const auto inv = invalidations(r.m);
    REQUIRE(inv.size() == 1);
    check_psi(inv[0], 4, 0x4000, 2);
    CHECK(r.drv.invalidations_issued() == issued + 1);
    // Intermediate tables stay.
    CHECK(r.rd(l3) == (l2 | 3));
    CHECK(r.rd(l2) == (l1 | 3));
  }
  SECTION("12 KiB at 0x1000: AM = 0 at 0x1000, AM = 1 at 0x2000") {
    r.drv.unmap(4, 0x1000, 12 * kKiB);
    CHECK(r.rd(l1) != 0);
    for (int i = 1; i < 4; ++i) CHECK(r.rd(l1 + 8 * i) == 0);
    CHECK(r.rd(l1 + 8 * 4) != 0);
    const auto inv = invalidations(r.m);
    REQUIRE(inv.size() == 2);
    check_psi(inv[0], 4, 0x1000, 0);
    check_psi(inv[1], 4, 0x2000, 1);
  }
  SECTION("60 KiB at 0x1000: 0x1000/0, 0x2000/1, 0x4000/2, 0x8000/3") {
    r.drv.unmap(4, 0x1000, 60 * kKiB);
    CHECK(r.used_entries(l1) == 1);
    const auto inv = invalidations(r.m);
    REQUIRE(inv.size() == 4);
    check_psi(inv[0], 4, 0x1000, 0);
    check_psi(inv[1], 4, 0x2000, 1);
    check_psi(inv[2], 4, 0x4000, 2);
    check_psi(inv[3], 4, 0x8000, 3);
  }
  SECTION("unmapping what is not mapped still invalidates, writes nothing") {
    r.drv.unmap(4, 0x100000, 8 * kKiB);
    CHECK(r.used_entries(l1) == 16);
    const auto inv = invalidations(r.m);
    REQUIRE(inv.size() == 1);
    check_psi(inv[0], 4, 0x100000, 1);
  }
  SECTION("bad ranges") {
    CHECK_THROWS_AS(r.drv.unmap(4, 0x800, 4096), std::invalid_argument);
    CHECK_THROWS_AS(r.drv.unmap(4, 0x1000, 100), std::invalid_argument);
    CHECK_THROWS_AS(r.drv.unmap(4, 0, 0), std::invalid_argument);
    CHECK_THROWS_AS(r.drv.unmap(9, 0, 4096), std::invalid_argument);
    CHECK_THROWS_AS(r.drv.unmap(4, 1ull << 39, 4096), std::invalid_argument);
    CHECK(r.m.descriptors.empty());
  }
}

TEST_CASE("unmap of superpages and the domain-selective fallback", "[cpu_stub][iommu_driver]") {
  SECTION("a 2 MiB leaf: one AM = 9 descriptor; part of it is refused") {
    Rig r;
    r.up();
    r.drv.attach_device(0x0010, 4, /*aw=*/2);
    r.drv.map(4, 0x40000000, 0x80000000, 2 * kMiB, 2 * kMiB);
    r.m.descriptors.clear();
    CHECK_THROWS_AS(r.drv.unmap(4, 0x40000000, 4096), std::invalid_argument);
    CHECK(r.drv.lookup(0x0010, 0x40000000) == 0x80000000ull);
    CHECK(r.m.descriptors.empty());
    r.drv.unmap(4, 0x40000000, 2 * kMiB);
    CHECK(r.drv.lookup(0x0010, 0x40000000) == std::nullopt);
    const auto inv = invalidations(r.m);
    REQUIRE(inv.size() == 1);
    check_psi(inv[0], 4, 0x40000000, 9);
  }
  SECTION("range above 2^MAMV pages: domain-selective") {
    Rig r({}, make_cap(0b0110, 0b11, true, /*mamv=*/1));
    r.up();
    r.drv.attach_device(0x0010, 4, 1);
    r.drv.map(4, 0, 0x30000000, 16 * kKiB, 4096);
    r.m.descriptors.clear();
    r.drv.unmap(4, 0, 8 * kKiB);  // 2 pages = 2^MAMV: still page-selective
    auto inv = invalidations(r.m);
    REQUIRE(inv.size() == 1);
    check_psi(inv[0], 4, 0, 1);
    r.m.descriptors.clear();
    r.drv.unmap(4, 0, 16 * kKiB);
    inv = invalidations(r.m);
    REQUIRE(inv.size() == 1);
    CHECK(inv[0].lo == (2 | 2 << 4 | 4 << 16));
    CHECK(inv[0].hi == 0);
    CHECK_THROWS_AS(r.drv.invalidate_iotlb_pages(4, 0, 2), std::invalid_argument);  // AM > MAMV
  }
  SECTION("no PSI: domain-selective") {
    Rig r({}, make_cap(0b0110, 0b11, /*psi=*/false));
    r.up();
    r.drv.attach_device(0x0010, 4, 1);
    r.drv.map(4, 0, 0x30000000, 4096, 4096);
    r.m.descriptors.clear();
    r.drv.unmap(4, 0, 4096);
    const auto inv = invalidations(r.m);
    REQUIRE(inv.size() == 1);
    CHECK(inv[0].lo == (2 | 2 << 4 | 4 << 16));
    CHECK_THROWS_AS(r.drv.invalidate_iotlb_pages(4, 0, 0), std::invalid_argument);
  }
  SECTION("page-selective address must be aligned to its block") {
    Rig r;
    r.up();
    CHECK_THROWS_AS(r.drv.invalidate_iotlb_pages(1, 0x1000, 1), std::invalid_argument);
    r.drv.invalidate_iotlb_pages(1, 0x2000, 1);
    CHECK(r.drv.invalidations_issued() == 3);
  }
}

TEST_CASE("caching mode: map invalidates the range it filled", "[cpu_stub][iommu_driver]") {
  Rig r({}, make_cap(0b0110, 0b11, true, 9, 2, /*cm=*/true));
  r.up();
  r.drv.attach_device(0x0010, 4, 1);
  r.m.descriptors.clear();
  r.drv.map(4, 0x2000, 0x30000000, 8 * kKiB, 4096);
  const auto inv = invalidations(r.m);
  REQUIRE(inv.size() == 1);
  check_psi(inv[0], 4, 0x2000, 1);
}

TEST_CASE("detach_device clears the context entry and invalidates", "[cpu_stub][iommu_driver]") {
  Rig r;
  r.up();
  r.drv.attach_device(0x0a18, 9, 1);
  r.drv.map(9, 0, 0x30000000, 4096, 4096);
  const uint64_t root_lo = r.root_lo(0x0a);
  const uint64_t ce = r.ctx_addr(0x0a18);
  r.m.descriptors.clear();
  r.drv.detach_device(0x0a18);
  CHECK(r.rd(ce) == 0);
  CHECK(r.rd(ce + 8) == 0);
  CHECK(r.root_lo(0x0a) == root_lo);  // the root entry stays
  const auto inv = invalidations(r.m);
  REQUIRE(inv.size() == 2);
  CHECK(inv[0].lo == (1 | 3 << 4 | 9 << 16 | 0x0a18ull << 32));
  CHECK(inv[1].lo == (2 | 2 << 4 | 9 << 16));
  CHECK(r.drv.lookup(0x0a18, 0) == std::nullopt);
  // Re-attach to the same domain: the old page table comes back.
  r.drv.attach_device(0x0a18, 9, 1);
  CHECK(r.drv.lookup(0x0a18, 0x10) == 0x30000010ull);
}

TEST_CASE("register-mode invalidation values", "[cpu_stub][iommu_driver]") {
  Rig r(register_mode());
  r.up();
  r.drv.attach_device(0x0101, 7, 1);
  CHECK(r.m.writes ==
        std::vector<MmioWrite>{{FM::kCcmd, 8, 1ull << 63 | 3ull << 61 | 0x0101ull << 16 | 7}});
  r.m.writes.clear();
  r.drv.invalidate_iotlb_pages(7, 0x40000, 2);
  CHECK(r.m.writes ==
        std::vector<MmioWrite>{{FM::kIva, 8, 0x40000 | 2},
                               {FM::kIotlb, 8, 1ull << 63 | 3ull << 60 | 7ull << 32}});
  r.m.writes.clear();
  r.drv.invalidate_iotlb_domain(7);
  r.drv.invalidate_context_global();
  r.drv.invalidate_context_device(0x0203, 8);
  r.drv.invalidate_iotlb_global();
  CHECK(r.m.writes == std::vector<MmioWrite>{
                          {FM::kIotlb, 8, 1ull << 63 | 2ull << 60 | 7ull << 32},
                          {FM::kCcmd, 8, 1ull << 63 | 1ull << 61},
                          {FM::kCcmd, 8, 1ull << 63 | 3ull << 61 | 0x0203ull << 16 | 8},
                          {FM::kIotlb, 8, 1ull << 63 | 1ull << 60},
                      });
  r.m.writes.clear();
  r.drv.map(7, 0, 0x30000000, 16 * kKiB, 4096);
  r.drv.unmap(7, 0, 16 * kKiB);
  CHECK(r.m.writes ==
        std::vector<MmioWrite>{{FM::kIva, 8, 0x0 | 2},
                               {FM::kIotlb, 8, 1ull << 63 | 3ull << 60 | 7ull << 32}});
  r.m.writes.clear();
  r.drv.detach_device(0x0101);
  CHECK(r.m.writes == std::vector<MmioWrite>{
                          {FM::kCcmd, 8, 1ull << 63 | 3ull << 61 | 0x0101ull << 16 | 7},
                          {FM::kIotlb, 8, 1ull << 63 | 2ull << 60 | 7ull << 32},
                      });
  CHECK(r.m.descriptors.empty());
  CHECK(r.drv.invalidations_issued() == 2 + 1 + 1 + 4 + 1 + 2);
}

TEST_CASE("polling gives up instead of hanging", "[cpu_stub][iommu_driver]") {
  IommuDriverOptions o;
  o.max_poll = 50;
  SECTION("GSTS never shows RTPS") {
    Rig r(o);
    r.m.gsts_stuck = true;
    CHECK_THAT(runtime_error_of([&] { r.drv.bring_up(); }),
               Catch::Contains("RTPS") && Catch::Contains("timed out"));
    CHECK(r.m.relaxes == 50);
  }
  SECTION("invalidation wait never written") {
    Rig r(o);
    r.up();
    r.m.qi_stall = true;
    CHECK_THAT(runtime_error_of([&] { r.drv.invalidate_iotlb_global(); }),
               Catch::Contains("timed out"));
    CHECK(r.m.relaxes == 50);
  }
  SECTION("queue error reported by FSTS.IQE") {
    Rig r(o);
    r.up();
    r.m.qi_stall = true;
    r.m.fsts = 1u << 4;
    CHECK_THAT(runtime_error_of([&] { r.drv.invalidate_iotlb_global(); }), Catch::Contains("IQE"));
  }
  SECTION("CCMD.ICC never clears") {
    o.invalidation = InvalidationMode::kRegister;
    Rig r(o);
    r.up();
    r.m.ccmd_stuck = true;
    CHECK_THAT(runtime_error_of([&] { r.drv.invalidate_context_global(); }),
               Catch::Contains("ICC") && Catch::Contains("timed out"));
    CHECK(r.m.relaxes == 50);
  }
  SECTION("IOTLB.IVT never clears") {
    o.invalidation = InvalidationMode::kRegister;
    Rig r(o);
    r.m.iotlb_stuck = true;
    CHECK_THAT(runtime_error_of([&] { r.drv.bring_up(); }),
               Catch::Contains("IVT") && Catch::Contains("timed out"));
  }
}

TEST_CASE("table pages running out is an error, not a crash", "[cpu_stub][iommu_driver]") {
  FakeMachine m;
  PageAllocator pages(m, kPool, 4 * 4096);  // root, queue, status word, one more
  IommuDriver drv(m, FM::kMmioBase, pages);
  drv.bring_up();
  CHECK(pages.pages_used() == 3);
  // Wants a page table and a context table: the second one is not there.
  CHECK_THROWS_AS(drv.attach_device(0x0100, 1, 1), std::runtime_error);
  CHECK(pages.pages_used() == 4);
}

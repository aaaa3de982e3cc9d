// The IOTLB: parameters, statistics names, domain tagging, superpages and the set-index rule of
// contract.md §2, exact hit counts against a reference, invalidations and bad configurations.
#include <catch2/catch.hpp>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/iommu/iotlb.hpp>

#include <algorithm>
#include <list>
#include <map>
#include <vector>

namespace core = iovsim::core;
using Catch::Matchers::Contains;
using iovsim::iommu::Iotlb;
using iovsim::iommu::IotlbConfig;
using iovsim::iommu::IotlbEntry;
using iovsim::iommu::PolicyRegistry;
using iovsim::iommu::ReplacementPolicy;

namespace {

constexpr uint64_t k4K = 0x1000, k2M = 0x200000, k1G = 0x40000000;

IotlbConfig config(unsigned entries, unsigned ways, const std::string& policy = "lru") {
  IotlbConfig c;
  c.entries = entries;
  c.ways = ways;
  c.policy = policy;
  return c;
}

IotlbEntry entry(uint16_t did, uint64_t iova, unsigned shift = 12, uint64_t hpa = 0) {
  IotlbEntry e;
  e.did = did;
  e.iova_base = iova;
  e.hpa_base = hpa ? hpa : (iova ^ 0x7000000000ull);
  e.page_shift = shift;
  e.read = e.write = true;
  return e;
}

// Access as the remapping unit does: look up, fill a 4 KiB entry on a miss.
bool access(Iotlb& t, uint16_t did, uint64_t iova) {
  if (t.lookup(did, iova)) return true;
  t.insert(entry(did, iova & ~(k4K - 1)));
  return false;
}

uint64_t stat(const core::StatGroup& root, const std::string& name) {
  core::StatMap m;
  root.collect(m);
  REQUIRE(m.count(name) == 1);
  return std::get<uint64_t>(m.at(name));
}

}  // namespace

TEST_CASE("iotlb parameters are declared with the contract's names", "[iotlb]") {
  auto& reg = core::ParamRegistry::instance();
  const core::ParamInfo* policy = reg.find("iommu.iotlb.policy");
  REQUIRE(policy);
  CHECK(policy->choices == std::vector<std::string>{"lru", "plru", "fifo", "random"});
  const core::ParamInfo* pf = reg.find("iommu.iotlb.prefetcher");
  REQUIRE(pf);
  CHECK(pf->choices == std::vector<std::string>{"none", "next-page"});
  for (const char* n : {"iommu.iotlb.entries", "iommu.iotlb.ways", "iommu.iotlb.hit_cycles"}) {
    CHECK(reg.find(n) != nullptr);
  }

  core::Config c;
  IotlbConfig d = IotlbConfig::from(c);
  CHECK(d.entries == 64);
  CHECK(d.ways == 0);
  CHECK(d.policy == "lru");
  CHECK(d.hit_cycles == 2);
  CHECK(d.prefetcher == "none");
  c.set("iommu.iotlb.entries", "1K");
  c.set("iommu.iotlb.ways", "8");
  c.set("iommu.iotlb.policy", "plru");
  c.set("iommu.iotlb.hit_cycles", "5");
  c.set("iommu.iotlb.prefetcher", "next-page");
  IotlbConfig s = IotlbConfig::from(c);
  CHECK(s.entries == 1024);
  CHECK(s.ways == 8);
  CHECK(s.policy == "plru");
  CHECK(s.hit_cycles == 5);
  CHECK(s.prefetcher == "next-page");
  CHECK_THROWS_AS(c.set("iommu.iotlb.policy", "mru"), core::ConfigError);
  CHECK_THROWS_AS(c.set("iommu.iotlb.entries", "-1"), core::ConfigError);
}

TEST_CASE("iotlb statistics live in an iotlb group the caller can extend", "[iotlb]") {
  core::StatGroup root;
  core::StatGroup iommu("iommu", &root);
  Iotlb t(config(4, 0), &iommu);
  t.stats().add_counter("hits", "IOTLB hits");
  core::StatMap m;
  root.collect(m);
  for (const char* n : {"fills", "evictions", "invalidations_global", "invalidations_domain",
                        "invalidations_page", "entries_invalidated", "occupancy", "hits"}) {
    CHECK(m.count(std::string("iommu.iotlb.") + n) == 1);
  }
  for (uint64_t p = 0; p < 3; ++p) t.insert(entry(1, p * k4K));
  core::StatMap m2;
  root.collect(m2);
  CHECK(std::get<double>(m2.at("iommu.iotlb.occupancy")) == Approx(0.75));
  for (uint64_t p = 3; p < 6; ++p) t.insert(entry(1, p * k4K));
  CHECK(stat(root, "iommu.iotlb.fills") == 6);
  CHECK(stat(root, "iommu.iotlb.evictions") == 2);
}

TEST_CASE("iotlb hits translate, and entries are tagged with the domain", "[iotlb]") {
  Iotlb t(config(16, 0), nullptr);
  IotlbEntry e = entry(3, 0x12345000, 12, 0xABCDE000);
  e.sid = 0x0100;
  e.ready_ps = 777;
  e.write = false;
  t.insert(e);
  const IotlbEntry* h = t.lookup(3, 0x12345ABC);
  REQUIRE(h);
  CHECK(h->translate(0x12345ABC) == 0xABCDEABC);
  CHECK(h->sid == 0x0100);
  CHECK(h->ready_ps == 777);
  CHECK(h->read);
  CHECK_FALSE(h->write);
  CHECK(t.lookup(4, 0x12345ABC) == nullptr);  // same iova, other domain
  CHECK(t.lookup(3, 0x12346000) == nullptr);  // next page
  // Unaligned bases are aligned down.
  t.insert(entry(4, 0x12345678, 12, 0x999123));
  REQUIRE(t.lookup(4, 0x12345000));
  CHECK(t.lookup(4, 0x12345000)->translate(0x12345010) == 0x999010);
  CHECK(t.size() == 2);
}

TEST_CASE("a superpage entry is one entry and hits for every 4 KiB page inside", "[iotlb]") {
  Iotlb t(config(4, 0), nullptr);
  t.insert(entry(1, 3 * k2M, 21, 0x80000000));
  t.insert(entry(1, 2 * k1G, 30, 0x1000000000));
  CHECK(t.size() == 2);
  for (uint64_t off = 0; off < k2M; off += k4K) {
    const IotlbEntry* h = t.lookup(1, 3 * k2M + off + 0x18);
    REQUIRE(h);
    REQUIRE(h->translate(3 * k2M + off + 0x18) == 0x80000000 + off + 0x18);
  }
  CHECK(t.lookup(1, 3 * k2M - 1) == nullptr);
  CHECK(t.lookup(1, 4 * k2M) == nullptr);
  for (uint64_t off = 0; off < k1G; off += k4K) {
    const IotlbEntry* h = t.lookup(1, 2 * k1G + off);
    REQUIRE(h);
    REQUIRE(h->translate(2 * k1G + off) == 0x1000000000 + off);
  }
  CHECK(t.lookup(1, 3 * k1G) == nullptr);
  CHECK(t.lookup(2, 2 * k1G) == nullptr);
  // A 4 KiB entry inside a superpage takes precedence over it.
  t.insert(entry(1, 3 * k2M + 5 * k4K, 12, 0x5000000));
  CHECK(t.lookup(1, 3 * k2M + 5 * k4K)->page_shift == 12);
  CHECK(t.lookup(1, 3 * k2M + 6 * k4K)->page_shift == 21);
  CHECK_THROWS_AS(t.insert(entry(1, 0, 13)), std::invalid_argument);
}

TEST_CASE("set index: 4 KiB frame, or the superpage's own frame, modulo sets", "[iotlb]") {
  Iotlb t(config(8, 1), nullptr);  // direct mapped, 8 sets
  CHECK(t.sets() == 8);
  t.insert(entry(1, 0 * k4K));
  t.insert(entry(1, 1 * k4K));
  CHECK(t.size() == 2);         // sets 0 and 1
  t.insert(entry(1, 8 * k4K));  // set 0 again: evicts frame 0
  CHECK(t.lookup(1, 0) == nullptr);
  CHECK(t.lookup(1, 8 * k4K) != nullptr);
  CHECK(t.lookup(1, 1 * k4K) != nullptr);
  // The 2 MiB page at 0x200000 has frame 1: set 1, so it evicts the 4 KiB frame 1...
  t.insert(entry(1, 1 * k2M, 21));
  CHECK(t.lookup(1, 1 * k4K) == nullptr);
  // ...while the 4 KiB page at the same address (frame 0x200, set 0) goes to set 0.
  t.insert(entry(1, 1 * k2M + 2 * k4K));  // frame 0x202: set 2
  CHECK(t.size() == 3);
  t.insert(entry(2, 1 * k2M));  // frame 0x200, set 0: evicts frame 8 of did 1
  CHECK(t.lookup(1, 8 * k4K) == nullptr);
  CHECK(t.lookup(1, 1 * k2M + 0x1000)->page_shift == 21);
  // The domain does not pick the set: did 2's frame 1 conflicts with did 1's superpage.
  t.insert(entry(2, 1 * k4K));
  CHECK(t.lookup(1, 1 * k2M) == nullptr);
}

TEST_CASE("iotlb hit counts match a reference lru per set", "[iotlb]") {
  // Reference: per set a std::list of (did, page), most recent first.
  for (unsigned ways : {0u, 1u, 4u}) {
    CAPTURE(ways);
    const unsigned entries = 32;
    const unsigned sets = ways == 0 ? 1 : entries / ways;
    const unsigned assoc = ways == 0 ? entries : ways;
    Iotlb t(config(entries, ways), nullptr);
    std::vector<std::list<std::pair<uint16_t, uint64_t>>> ref(sets);
    uint64_t x = 88172645463325252ull, hits = 0, ref_hits = 0;
    for (int i = 0; i < 20000; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      uint16_t did = static_cast<uint16_t>(1 + (x & 1));
      uint64_t page = (x >> 8) % ((x & 6) ? 24 : 120);
      uint64_t iova = page * k4K + ((x >> 32) & 0xFFF);
      hits += access(t, did, iova);
      auto& l = ref[page % sets];
      auto it = std::find(l.begin(), l.end(), std::make_pair(did, page));
      if (it != l.end()) {
        l.splice(l.begin(), l, it);
        ++ref_hits;
      } else {
        if (l.size() == assoc) l.pop_back();
        l.emplace_front(did, page);
      }
    }
    CHECK(hits == ref_hits);
    CHECK(hits > 2000);
  }
}

TEST_CASE("fully associative iotlb with cyclic pages: closed forms", "[iotlb]") {
  const unsigned entries = 64, rounds = 4;
  for (uint64_t pages : {64u, 65u, 10u}) {
    Iotlb t(config(entries, 0), nullptr);
    uint64_t hits = 0;
    for (unsigned r = 0; r < rounds; ++r)
      for (uint64_t p = 0; p < pages; ++p) hits += access(t, 5, p * k4K);
    CHECK(hits == (pages <= entries ? (rounds - 1) * pages : 0));
  }
}

TEST_CASE("invalidate_all and invalidate_domain", "[iotlb]") {
  core::StatGroup root;
  Iotlb t(config(64, 0), &root);
  for (uint16_t did : {1, 2, 3})
    for (uint64_t p = 0; p < 8; ++p) t.insert(entry(did, p * k4K));
  t.insert(entry(2, 5 * k2M, 21));
  CHECK(t.size() == 25);
  t.invalidate_domain(2);
  CHECK(t.size() == 16);
  CHECK(t.lookup(2, 0) == nullptr);
  CHECK(t.lookup(2, 5 * k2M) == nullptr);
  CHECK(t.lookup(1, 7 * k4K) != nullptr);
  CHECK(t.lookup(3, 7 * k4K) != nullptr);
  CHECK(stat(root, "iotlb.invalidations_domain") == 1);
  CHECK(stat(root, "iotlb.entries_invalidated") == 9);
  t.invalidate_all();
  CHECK(t.size() == 0);
  CHECK(t.lookup(1, 0) == nullptr);
  CHECK(stat(root, "iotlb.invalidations_global") == 1);
  CHECK(stat(root, "iotlb.entries_invalidated") == 25);
  // Everything is free again: refilling evicts nothing.
  for (uint64_t p = 0; p < 64; ++p) t.insert(entry(1, p * k4K));
  CHECK(stat(root, "iotlb.evictions") == 0);
}

TEST_CASE("page-selective invalidation with an address mask", "[iotlb]") {
  // A mask spanning fewer frames than the cache holds erases exact keys, a larger one scans: the
  // cases run with a nearly empty cache and with 2000 filler entries so AM 9 and 10 take both
  // paths.
  for (unsigned filler : {0u, 2000u}) {
    CAPTURE(filler);
    core::StatGroup root;
    Iotlb t(config(4096, 0), &root);
    for (uint64_t f = 0; f < filler; ++f) t.insert(entry(9, (1000 + f) * k2M));
    for (uint16_t did : {1, 2})
      for (uint64_t p = 0; p < 16; ++p) t.insert(entry(did, p * k4K));
    t.insert(entry(1, 1 * k2M, 21));  // [2M, 4M)
    t.insert(entry(1, 2 * k2M, 21));  // [4M, 6M)
    t.insert(entry(1, 1 * k1G, 30));  // [1G, 2G)
    t.insert(entry(2, 1 * k2M, 21));

    // AM 2: [0x4000, 0x8000) of did 1, from an address inside the range.
    t.invalidate_pages(1, 0x5678, 2);
    for (uint64_t p = 0; p < 16; ++p) {
      CAPTURE(p);
      CHECK((t.lookup(1, p * k4K) == nullptr) == (p >= 4 && p < 8));
      CHECK(t.lookup(2, p * k4K) != nullptr);
    }
    CHECK(stat(root, "iotlb.entries_invalidated") == 4);

    // AM 0 inside a 2 MiB superpage removes the superpage, not its neighbour or did 2's.
    t.invalidate_pages(1, 1 * k2M + 0x3000, 0);
    CHECK(t.lookup(1, 1 * k2M + 0x3000) == nullptr);
    CHECK(t.lookup(1, 1 * k2M) == nullptr);
    CHECK(t.lookup(1, 2 * k2M) != nullptr);
    CHECK(t.lookup(2, 1 * k2M) != nullptr);

    // AM 9 (2 MiB) at 1 GiB + 4 MiB removes the 1 GiB page containing it.
    t.invalidate_pages(1, 1 * k1G + 2 * k2M, 9);
    CHECK(t.lookup(1, 1 * k1G) == nullptr);
    CHECK(t.lookup(1, 2 * k2M) != nullptr);
    CHECK(stat(root, "iotlb.entries_invalidated") == 6);

    // AM 10 (4 MiB) at 0: did 1's remaining 4 KiB pages go; its superpage at [4M, 6M) stays.
    t.invalidate_pages(1, 0, 10);
    for (uint64_t p = 0; p < 16; ++p) CHECK(t.lookup(1, p * k4K) == nullptr);
    CHECK(t.lookup(1, 2 * k2M) != nullptr);
    CHECK(stat(root, "iotlb.entries_invalidated") == 18);

    // A mask wider than any address: the whole domain.
    t.invalidate_pages(1, 0, 60);
    CHECK(t.lookup(1, 2 * k2M) == nullptr);
    CHECK(t.size() == filler + 17);
    CHECK(stat(root, "iotlb.invalidations_page") == 5);
  }
}

TEST_CASE("an iotlb of 0 entries never holds anything", "[iotlb]") {
  core::StatGroup root;
  Iotlb t(config(0, 0), &root);
  t.insert(entry(1, 0));
  CHECK(t.lookup(1, 0) == nullptr);
  CHECK(t.size() == 0);
  CHECK(t.capacity() == 0);
  t.invalidate_pages(1, 0, 0);
  core::StatMap m;
  root.collect(m);
  CHECK(std::get<double>(m.at("iotlb.occupancy")) == 0.0);
}

TEST_CASE("bad iotlb configurations are ConfigErrors", "[iotlb]") {
  CHECK_THROWS_WITH(Iotlb(config(6, 4), nullptr),
                    Contains("iommu.iotlb.entries") && Contains("iommu.iotlb.ways"));
  CHECK_THROWS_AS(Iotlb(config(6, 4), nullptr), core::ConfigError);
  CHECK_THROWS_AS(Iotlb(config(6, 3, "plru"), nullptr), core::ConfigError);
  CHECK_THROWS_WITH(Iotlb(config(6, 3, "plru"), nullptr), Contains("power-of-two"));
  CHECK_THROWS_AS(Iotlb(config(64, 0, "mru"), nullptr), core::ConfigError);
  CHECK_THROWS_WITH(Iotlb(config(64, 0, "mru"), nullptr),
                    Contains("mru") && Contains("fifo, lru, plru, random"));
  CHECK_NOTHROW(Iotlb(config(64, 4, "plru"), nullptr));
}

namespace {
// Evicts the highest way; counts calls.
class TopWayPolicy : public ReplacementPolicy {
 public:
  TopWayPolicy(unsigned ways, uint64_t* calls) : ways_(ways), calls_(calls) {}
  void touch(unsigned, unsigned) override { ++*calls_; }
  void fill(unsigned, unsigned) override { ++*calls_; }
  void remove(unsigned, unsigned) override { ++*calls_; }
  unsigned victim(unsigned) override {
    ++*calls_;
    return ways_ - 1;
  }

 private:
  unsigned ways_;
  uint64_t* calls_;
};
uint64_t top_way_calls = 0;
}  // namespace

TEST_CASE("an iotlb uses a policy registered at run time", "[iotlb]") {
  PolicyRegistry::instance().add("test-top-way", [](unsigned, unsigned ways, uint64_t) {
    return std::make_unique<TopWayPolicy>(ways, &top_way_calls);
  });
  top_way_calls = 0;
  Iotlb t(config(4, 0, "test-top-way"), nullptr);
  for (uint64_t p = 0; p < 4; ++p) t.insert(entry(1, p * k4K));  // ways 0..3
  CHECK(t.lookup(1, 0) != nullptr);
  t.insert(entry(1, 10 * k4K));  // evicts way 3: page 3
  CHECK(t.lookup(1, 3 * k4K) == nullptr);
  for (uint64_t p : {0u, 1u, 2u, 10u}) CHECK(t.lookup(1, p * k4K) != nullptr);
  CHECK(top_way_calls == 4 + 1 + 2 + 4);  // fills, touch, victim + fill, touches
}

TEST_CASE("a 16K-entry fully associative iotlb does O(1) work per access", "[iotlb]") {
  // Structural: every lookup is at most three hash probes and one policy call; every insert one
  // policy fill (plus one victim call when full). No time is measured.
  PolicyRegistry::instance().add("test-top-way", [](unsigned, unsigned ways, uint64_t) {
    return std::make_unique<TopWayPolicy>(ways, &top_way_calls);
  });
  const unsigned n = 16384;
  Iotlb t(config(n, 0, "test-top-way"), nullptr);
  CHECK(t.sets() == 1);
  top_way_calls = 0;
  for (uint64_t p = 0; p < n; ++p) t.insert(entry(1, p * k4K));
  CHECK(top_way_calls == n);
  top_way_calls = 0;
  for (uint64_t p = 0; p < n; ++p) REQUIRE(t.lookup(1, p * k4K + 8));
  for (uint64_t p = n; p < 2 * n; ++p) REQUIRE_FALSE(t.lookup(1, p * k4K));
  CHECK(top_way_calls == n);  // one touch per hit, none per miss
  top_way_calls = 0;
  t.insert(entry(1, 2 * n * k4K));
  CHECK(top_way_calls == 2);  // victim + fill
  CHECK(t.size() == n);
}

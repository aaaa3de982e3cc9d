// The set-associative cache: exact hit counts against straightforward reference simulations
// written here with std::list, closed forms for cyclic access, set conflicts, the 0-entry cache,
// bad geometries and a policy registered by the test.
#include <catch2/catch.hpp>

#include <iovsim/core/params.hpp>
#include <iovsim/iommu/set_assoc_cache.hpp>

#include <algorithm>
#include <list>
#include <memory>
#include <vector>

namespace core = iovsim::core;
using iovsim::iommu::PolicyRegistry;
using iovsim::iommu::ReplacementPolicy;
using iovsim::iommu::SetAssocCache;

namespace {

// Reference: one std::list per set, front = most recently used (lru) or most recently inserted
// (fifo).
struct RefCache {
  RefCache(unsigned entries, unsigned ways, bool lru)
      : ways_(ways == 0 ? entries : ways), sets_(entries / ways_), lru_(lru), sets(sets_) {}
  bool access(uint64_t key) {
    auto& l = sets[key % sets_];
    auto it = std::find(l.begin(), l.end(), key);
    if (it != l.end()) {
      if (lru_) l.splice(l.begin(), l, it);
      return true;
    }
    if (l.size() == ways_) {
      l.pop_back();
      ++evictions;
    }
    l.push_front(key);
    return false;
  }
  unsigned ways_, sets_;
  bool lru_;
  std::vector<std::list<uint64_t>> sets;
  uint64_t evictions = 0;
};

// Cache access as the IOMMU does it: look up, insert on a miss. The hint is the key itself.
bool access(SetAssocCache<uint64_t>& c, uint64_t key) {
  if (const uint64_t* v = c.lookup(key, key)) {
    REQUIRE(*v == key * 3);
    return true;
  }
  c.insert(key, key, key * 3);
  return false;
}

// A small deterministic generator (xorshift64) for key streams with locality.
struct Stream {
  uint64_t s;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

uint64_t cyclic_hits(SetAssocCache<uint64_t>& c, uint64_t pages, unsigned rounds) {
  uint64_t hits = 0;
  for (unsigned r = 0; r < rounds; ++r)
    for (uint64_t p = 0; p < pages; ++p) hits += access(c, p) ? 1 : 0;
  return hits;
}

}  // namespace

TEST_CASE("lru and fifo match the reference access by access", "[set_assoc_cache]") {
  struct Geometry {
    unsigned entries, ways;
  };
  for (const char* policy : {"lru", "fifo"}) {
    for (Geometry g :
         {Geometry{16, 0}, Geometry{16, 4}, Geometry{64, 8}, Geometry{8, 1}, Geometry{32, 32}}) {
      CAPTURE(policy, g.entries, g.ways);
      SetAssocCache<uint64_t> c(g.entries, g.ways, policy, 1);
      RefCache ref(g.entries, g.ways, std::string(policy) == "lru");
      Stream s{0x9E3779B97F4A7C15ull};
      uint64_t hits = 0, ref_hits = 0;
      for (int i = 0; i < 20000; ++i) {
        // Mostly a hot set of 24 keys, sometimes one of 200: hits and misses both frequent.
        uint64_t r = s.next();
        uint64_t key = (r & 7) ? (r >> 8) % 24 : (r >> 8) % 200;
        bool h = access(c, key);
        bool rh = ref.access(key);
        REQUIRE(h == rh);
        hits += h;
        ref_hits += rh;
      }
      CHECK(hits == ref_hits);
      CHECK(hits > 1000);
      CHECK(c.evictions() == ref.evictions);
      CHECK(c.size() == g.entries);
    }
  }
}

TEST_CASE("fully associative lru with cyclic access: closed forms", "[set_assoc_cache]") {
  const unsigned entries = 64, rounds = 5;
  for (uint64_t pages : {1u, 17u, 63u, 64u}) {
    SetAssocCache<uint64_t> c(entries, 0, "lru", 1);
    CHECK(cyclic_hits(c, pages, rounds) == (rounds - 1) * pages);
    CHECK(c.evictions() == 0);
  }
  for (uint64_t pages : {65u, 100u, 1000u}) {
    SetAssocCache<uint64_t> c(entries, 0, "lru", 1);
    CHECK(cyclic_hits(c, pages, rounds) == 0);
    CHECK(c.evictions() == rounds * pages - entries);
  }
}

TEST_CASE("keys mapping to the same set evict each other", "[set_assoc_cache]") {
  // 4 sets of 2 ways: keys 0, 4, 8 share set 0 and thrash it under lru, while 1, 5 fit set 1.
  SetAssocCache<uint64_t> c(8, 2, "lru", 1);
  CHECK(c.sets() == 4);
  CHECK(c.ways() == 2);
  CHECK(c.capacity() == 8);
  uint64_t hits = 0;
  for (int r = 0; r < 10; ++r)
    for (uint64_t k : {0u, 4u, 8u}) hits += access(c, k) ? 1 : 0;
  CHECK(hits == 0);
  hits = 0;
  for (int r = 0; r < 10; ++r)
    for (uint64_t k : {1u, 5u}) hits += access(c, k) ? 1 : 0;
  CHECK(hits == 18);
  // The same three keys fully associatively all fit.
  SetAssocCache<uint64_t> fa(8, 0, "lru", 1);
  hits = 0;
  for (int r = 0; r < 10; ++r)
    for (uint64_t k : {0u, 4u, 8u}) hits += access(fa, k) ? 1 : 0;
  CHECK(hits == 27);
}

TEST_CASE("lookup honours the set hint", "[set_assoc_cache]") {
  SetAssocCache<uint64_t> c(8, 2, "lru", 1);
  c.insert(100, 1, 7);
  CHECK(c.peek(100, 1) != nullptr);
  CHECK(c.peek(100, 5) != nullptr);  // 5 % 4 == 1
  CHECK(c.peek(100, 2) == nullptr);
  CHECK(c.lookup(100, 2) == nullptr);
  // Re-inserting under another set moves the entry.
  c.insert(100, 2, 8);
  CHECK(c.peek(100, 1) == nullptr);
  REQUIRE(c.peek(100, 2) != nullptr);
  CHECK(*c.peek(100, 2) == 8);
  CHECK(c.size() == 1);
}

TEST_CASE("fifo and lru differ on a crafted sequence", "[set_assoc_cache]") {
  // Two entries, A B A C A: lru keeps A (2 hits); fifo evicts A for C (1 hit).
  const uint64_t seq[] = {1, 2, 1, 3, 1};
  SetAssocCache<uint64_t> lru(2, 0, "lru", 1), fifo(2, 0, "fifo", 1);
  uint64_t lru_hits = 0, fifo_hits = 0;
  for (uint64_t k : seq) {
    lru_hits += access(lru, k);
    fifo_hits += access(fifo, k);
  }
  CHECK(lru_hits == 2);
  CHECK(fifo_hits == 1);
}

TEST_CASE("random replacement is deterministic per seed", "[set_assoc_cache]") {
  auto run = [](uint64_t seed) {
    SetAssocCache<uint64_t> c(16, 0, "random", seed);
    std::vector<bool> outcome;
    Stream s{12345};
    for (int i = 0; i < 2000; ++i) outcome.push_back(access(c, s.next() % 40));
    return outcome;
  };
  CHECK(run(7) == run(7));
  CHECK(run(7) != run(8));
}

TEST_CASE("plru cache with 4 ways evicts as traced", "[set_assoc_cache]") {
  SetAssocCache<uint64_t> c(4, 4, "plru", 1);
  for (uint64_t k : {10u, 11u, 12u, 13u}) c.insert(k, 0, k);  // ways 0..3
  CHECK(c.lookup(10, 0) != nullptr);                          // way 0: victim becomes way 2
  CHECK(c.insert(14, 0, 14));
  CHECK(c.peek(12, 0) == nullptr);
  for (uint64_t k : {10u, 11u, 13u, 14u}) CHECK(c.peek(k, 0) != nullptr);
}

TEST_CASE("insert overwrites, erase and erase_if remove, clear empties", "[set_assoc_cache]") {
  SetAssocCache<uint64_t> c(8, 2, "lru", 1);
  for (uint64_t k = 0; k < 8; ++k) CHECK_FALSE(c.insert(k, k, k));
  CHECK(c.size() == 8);
  CHECK_FALSE(c.insert(3, 3, 33));  // overwrite, no eviction
  CHECK(c.size() == 8);
  CHECK(*c.peek(3, 3) == 33);
  CHECK(c.erase(3, 3));
  CHECK_FALSE(c.erase(3, 3));
  CHECK(c.size() == 7);
  CHECK_FALSE(c.insert(11, 11, 11));  // set 3 has a free way again
  CHECK(c.erase_if([](uint64_t k, const uint64_t&) { return k % 2 == 0; }) == 4);
  CHECK(c.size() == 4);
  for (uint64_t k : {1u, 5u, 7u, 11u}) CHECK(c.peek(k, k) != nullptr);
  c.clear();
  CHECK(c.size() == 0);
  CHECK(c.lookup(1, 1) == nullptr);
  // After clear every way is free again: 8 inserts, no evictions.
  for (uint64_t k = 0; k < 8; ++k) CHECK_FALSE(c.insert(k, k, k));
  CHECK(c.evictions() == 0);
  CHECK(c.insert(8, 8, 8));
  CHECK(c.evictions() == 1);
}

TEST_CASE("a 0-entry cache never holds anything", "[set_assoc_cache]") {
  for (unsigned ways : {0u, 4u}) {
    SetAssocCache<uint64_t> c(0, ways, "lru", 1);
    CHECK(c.capacity() == 0);
    CHECK(c.sets() >= 1);
    CHECK_FALSE(c.insert(1, 1, 1));
    CHECK(c.lookup(1, 1) == nullptr);
    CHECK(c.peek(1, 1) == nullptr);
    CHECK_FALSE(c.erase(1, 1));
    CHECK(c.size() == 0);
    CHECK(c.erase_if([](uint64_t, const uint64_t&) { return true; }) == 0);
    c.clear();
  }
}

TEST_CASE("bad cache geometries are ConfigErrors", "[set_assoc_cache]") {
  CHECK_THROWS_AS(SetAssocCache<int>(6, 4, "lru", 1), core::ConfigError);
  CHECK_THROWS_AS(SetAssocCache<int>(6, 3, "plru", 1), core::ConfigError);
  CHECK_THROWS_AS(SetAssocCache<int>(48, 0, "plru", 1), core::ConfigError);
  CHECK_THROWS_AS(SetAssocCache<int>(64, 4, "nope", 1), core::ConfigError);
  CHECK_THROWS_AS(SetAssocCache<int>(0, 0, "nope", 1), core::ConfigError);
}

namespace {
// Records every call, evicts way 0: shows the cache calls the policy exactly once per operation.
struct Calls {
  uint64_t touch = 0, fill = 0, remove = 0, victim = 0;
};
class CountingPolicy : public ReplacementPolicy {
 public:
  explicit CountingPolicy(std::shared_ptr<Calls> calls) : calls_(std::move(calls)) {}
  void touch(unsigned, unsigned) override { ++calls_->touch; }
  void fill(unsigned, unsigned) override { ++calls_->fill; }
  void remove(unsigned, unsigned) override { ++calls_->remove; }
  unsigned victim(unsigned) override {
    ++calls_->victim;
    return 0;
  }

 private:
  std::shared_ptr<Calls> calls_;
};

// A value that counts its copies: a cache that moved or scanned values per access would show.
struct Counted {
  static inline uint64_t copies = 0;
  uint64_t v = 0;
  Counted() = default;
  explicit Counted(uint64_t x) : v(x) {}
  Counted(const Counted& o) : v(o.v) { ++copies; }
  Counted& operator=(const Counted& o) {
    v = o.v;
    ++copies;
    return *this;
  }
};
}  // namespace

TEST_CASE("a policy registered by name is used", "[set_assoc_cache]") {
  auto calls = std::make_shared<Calls>();
  PolicyRegistry::instance().add("test-way0", [calls](unsigned, unsigned, uint64_t) {
    return std::make_unique<CountingPolicy>(calls);
  });
  auto names = PolicyRegistry::instance().names();
  CHECK(std::find(names.begin(), names.end(), "test-way0") != names.end());

  SetAssocCache<uint64_t> c(4, 4, "test-way0", 1);
  for (uint64_t k = 0; k < 4; ++k) c.insert(k, 0, k);
  CHECK(calls->fill == 4);
  CHECK(c.lookup(2, 0) != nullptr);
  CHECK(calls->touch == 1);
  CHECK(c.insert(9, 0, 9));  // evicts way 0, which holds key 0
  CHECK(calls->victim == 1);
  CHECK(c.peek(0, 0) == nullptr);
  CHECK(c.erase(1, 0));
  CHECK(calls->remove == 1);
}

TEST_CASE("per-access work does not grow with the cache (structural)", "[set_assoc_cache]") {
  // A 16K-entry fully associative cache: each lookup is one policy touch and no value copies; each
  // insert one fill, one value copy, and one victim call when full. No timing is measured.
  auto calls = std::make_shared<Calls>();
  PolicyRegistry::instance().add("test-count", [calls](unsigned, unsigned, uint64_t) {
    return std::make_unique<CountingPolicy>(calls);
  });
  const unsigned n = 16384;
  SetAssocCache<Counted> c(n, 0, "test-count", 1);
  CHECK(c.sets() == 1);
  CHECK(c.ways() == n);
  Counted::copies = 0;
  for (uint64_t k = 0; k < n; ++k) c.insert(k, k, Counted(k));
  CHECK(Counted::copies == n);
  CHECK(calls->fill == n);
  CHECK(calls->victim == 0);
  Counted::copies = 0;
  for (uint64_t k = 0; k < n; ++k) REQUIRE(c.lookup(k, k)->v == k);
  CHECK(Counted::copies == 0);
  CHECK(calls->touch == n);
  c.insert(n, n, Counted(n));
  CHECK(calls->victim == 1);
  CHECK(Counted::copies == 1);
  CHECK(c.size() == n);
}

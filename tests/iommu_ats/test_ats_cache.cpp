// The device-side translation cache (pcie/ats_cache.hpp) and the invalidation tracker
// (pcie/ats_invalidation.hpp): plain C++, no simulation.
#include <catch2/catch.hpp>

#include <iovsim/core/stats.hpp>
#include <iovsim/pcie/ats_cache.hpp>
#include <iovsim/pcie/ats_invalidation.hpp>

using namespace iovsim;
using core::ats::Range;
using core::ats::TranslationEntry;
using pcie::AtsCache;
using pcie::AtsCacheConfig;

namespace {

TranslationEntry entry(uint64_t hpa, unsigned shift = 12, bool r = true, bool w = true) {
  TranslationEntry e;
  e.translated_base = hpa;
  e.shift = shift;
  e.r = r;
  e.w = w;
  return e;
}

struct Rig {
  explicit Rig(unsigned entries = 4, const char* policy = "lru")
      : cache(AtsCacheConfig{entries, policy, 1}, &stats) {}
  uint64_t stat(const std::string& n) {
    core::StatMap m;
    stats.collect(m);
    return std::get<uint64_t>(m.at("atc." + n));
  }
  core::StatGroup stats{"atc"};
  AtsCache cache;
};

}  // namespace

TEST_CASE("a cached translation hits for the page and translates the offset", "[ats_cache]") {
  Rig r;
  CHECK_FALSE(r.cache.lookup(0x5123, false));
  CHECK(r.cache.insert(0x5123, entry(0x9000)));
  auto t = r.cache.lookup(0x5abc, false);
  REQUIRE(t);
  CHECK(t->translate(0x5abc) == 0x9abc);
  CHECK(t->untranslated.base == 0x5000);
  CHECK(t->untranslated.shift == 12);
  CHECK_FALSE(r.cache.lookup(0x6000, false));
  CHECK(r.stat("hits") == 1);
  CHECK(r.stat("misses") == 2);
  CHECK(r.stat("fills") == 1);
}

TEST_CASE("permissions: a read-only entry misses for a write; R = W = 0 is not cached",
          "[ats_cache]") {
  Rig r;
  CHECK(r.cache.insert(0x1000, entry(0xA000, 12, true, false)));
  CHECK(r.cache.lookup(0x1000, false));
  CHECK_FALSE(r.cache.lookup(0x1000, true));
  CHECK(r.stat("permission_misses") == 1);
  CHECK_FALSE(r.cache.insert(0x2000, entry(0, 12, false, false)));
  CHECK_FALSE(r.cache.contains(0x2000));
  CHECK(r.cache.size() == 1);
}

TEST_CASE("superpage entries cover their whole range", "[ats_cache]") {
  Rig r;
  CHECK(r.cache.insert(0x212345, entry(0x40000000, 21)));
  auto t = r.cache.lookup(0x3FF000, true);
  REQUIRE(t);
  CHECK(t->untranslated.base == 0x200000);
  CHECK(t->translate(0x3FF010) == 0x401FF010);
  CHECK_FALSE(r.cache.contains(0x400000));
  CHECK_FALSE(r.cache.contains(0x1FF000));
  // A 4 KiB entry inside it replaces it (one answer per address), and vice versa.
  CHECK(r.cache.insert(0x201000, entry(0x7000)));
  CHECK(r.cache.size() == 1);
  CHECK_FALSE(r.cache.contains(0x202000));
  CHECK(r.cache.lookup(0x201000, false)->translate(0x201004) == 0x7004);
  CHECK(r.cache.insert(0x203000, entry(0x8000)));
  CHECK(r.cache.insert(0x200000, entry(0x40000000, 21)));
  CHECK(r.cache.size() == 1);
  CHECK(r.cache.lookup(0x203000, false)->translate(0x203000) == 0x40003000);
}

TEST_CASE("LRU evicts the least recently used entry, FIFO the oldest", "[ats_cache]") {
  {
    Rig r(2, "lru");
    r.cache.insert(0x1000, entry(0xA000));
    r.cache.insert(0x2000, entry(0xB000));
    CHECK(r.cache.lookup(0x1000, false));  // 0x2000 is now least recently used
    r.cache.insert(0x3000, entry(0xC000));
    CHECK(r.cache.contains(0x1000));
    CHECK_FALSE(r.cache.contains(0x2000));
    CHECK(r.cache.contains(0x3000));
    CHECK(r.stat("evictions") == 1);
  }
  {
    Rig r(2, "fifo");
    r.cache.insert(0x1000, entry(0xA000));
    r.cache.insert(0x2000, entry(0xB000));
    CHECK(r.cache.lookup(0x1000, false));  // a hit does not save the oldest
    r.cache.insert(0x3000, entry(0xC000));
    CHECK_FALSE(r.cache.contains(0x1000));
    CHECK(r.cache.contains(0x2000));
    CHECK(r.cache.contains(0x3000));
  }
  {
    // Random: a victim among the entries, the same for the same seed.
    Rig a(3, "random"), b(3, "random");
    for (Rig* r : {&a, &b})
      for (uint64_t p = 1; p <= 10; ++p) r->cache.insert(p << 12, entry(p << 20));
    CHECK(a.cache.size() == 3);
    for (uint64_t p = 1; p <= 10; ++p)
      CHECK(a.cache.contains(p << 12) == b.cache.contains(p << 12));
  }
  CHECK_THROWS_AS(AtsCache(AtsCacheConfig{4, "plru", 1}, nullptr), std::invalid_argument);
  // No entries: nothing is cached.
  Rig none(0);
  CHECK_FALSE(none.cache.insert(0x1000, entry(0xA000)));
  CHECK_FALSE(none.cache.lookup(0x1000, false));
}

TEST_CASE("invalidation removes every entry overlapping the S-encoded range", "[ats_cache]") {
  Rig r(8);
  r.cache.insert(0x10000, entry(0xA000));
  r.cache.insert(0x11000, entry(0xB000));
  r.cache.insert(0x14000, entry(0xC000));
  r.cache.insert(0x200000, entry(0x40000000, 21));
  // 8 KiB at 0x10000 (S = 1, bit 12 clear): the first two.
  CHECK(r.cache.invalidate(core::ats::decode_range(0x10000, true)) == 2);
  CHECK_FALSE(r.cache.contains(0x10000));
  CHECK_FALSE(r.cache.contains(0x11000));
  CHECK(r.cache.contains(0x14000));
  // One 4 KiB page inside the superpage drops the whole superpage entry.
  CHECK(r.cache.invalidate(Range{0x3FF000, 12}) == 1);
  CHECK_FALSE(r.cache.contains(0x200000));
  // A miss in the range: nothing.
  CHECK(r.cache.invalidate(Range{0x50000, 12}) == 0);
  CHECK(r.stat("invalidations") == 3);
  CHECK(r.stat("entries_invalidated") == 3);
  r.cache.insert(0x20000, entry(0xD000));
  r.cache.invalidate_all();
  CHECK(r.cache.size() == 0);
}

TEST_CASE("an invalidation completes only after the translated requests issued before it",
          "[ats_invalidation]") {
  pcie::AtsInvalidationTracker t;
  const uint16_t fn = 0x0100, other = 0x0101;
  pcie::InvalidateRequest req;
  req.function = fn;
  req.requester = 0x0000;
  req.itag = 3;
  // Nothing outstanding: due at once.
  auto now = t.on_invalidate_request(req);
  REQUIRE(now);
  CHECK(now->function == fn);
  CHECK(now->itag_vector == 1u << 3);

  const uint64_t a = t.on_translated_issue(fn), b = t.on_translated_issue(fn);
  const uint64_t o = t.on_translated_issue(other);
  req.itag = 5;
  CHECK_FALSE(t.on_invalidate_request(req));
  CHECK(t.deferred(fn) == 1);
  // Issued after the request: never holds it back.
  const uint64_t c = t.on_translated_issue(fn);
  req.itag = 6;
  CHECK_FALSE(t.on_invalidate_request(req));
  CHECK(t.on_translated_done(fn, b).empty());
  CHECK(t.on_translated_done(other, o).empty());  // another function's request
  auto due = t.on_translated_done(fn, a);
  REQUIRE(due.size() == 1);  // itag 5 (barrier b+1) is due; itag 6 waits for c
  CHECK(due[0].itag_vector == 1u << 5);
  CHECK(t.outstanding(fn) == 1);
  due = t.on_translated_done(fn, c);
  REQUIRE(due.size() == 1);
  CHECK(due[0].itag_vector == 1u << 6);
  CHECK(t.deferred(fn) == 0);
}

TEST_CASE("completions due together are coalesced into one ITag vector", "[ats_invalidation]") {
  pcie::AtsInvalidationTracker t;
  const uint64_t a = t.on_translated_issue(0x200);
  pcie::InvalidateRequest req;
  req.function = 0x200;
  for (uint8_t tag : {0, 1, 31}) {
    req.itag = tag;
    CHECK_FALSE(t.on_invalidate_request(req));
  }
  CHECK(t.on_translated_done(0x200, 12345).empty());  // unknown ticket
  auto due = t.on_translated_done(0x200, a);
  REQUIRE(due.size() == 1);
  CHECK(due[0].itag_vector == (1u | 2u | 1u << 31));
  CHECK(due[0].requester == 0x0000);
}

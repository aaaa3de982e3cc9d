// IOVA allocators: Linux's placement rules (natural alignment to the size rounded up to a power of
// two, top-down), exhaustion, reuse, the caching allocator's LIFO per-order reuse, no overlap over
// a long random sequence checked against a reference set, and the registry.
#include <cstdint>
#include <map>
#include <random>
#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

#include <iovsim/core/params.hpp>
#include <iovsim/cpu_stub/iova_allocator.hpp>

using namespace iovsim;
using namespace iovsim::cpu_stub;

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kBase = 0x100000, kBytes = 1 << 20;  // 256 pages at 1 MiB
constexpr uint64_t kEnd = kBase + kBytes;

std::string config_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "(no core::ConfigError)";
}

}  // namespace

TEST_CASE("first-fit: top-down, naturally aligned to the size rounded up to a power of two",
          "[iova]") {
  FirstFitIovaAllocator a(kBase, kBytes);
  CHECK(a.alloc(1) == kEnd - kPage);  // the top page
  // 3 pages align to 4: the highest 4-page boundary with 3 free pages above it.
  CHECK(a.alloc(3) == kEnd - 4 * kPage);
  CHECK(a.alloc(1) == kEnd - 5 * kPage);
  CHECK(a.alloc(2) == kEnd - 8 * kPage);  // 2-aligned: leaves a one-page hole above it
  CHECK(a.pages_in_use() == 7);
  CHECK(a.alloc(1) == kEnd - 6 * kPage);  // the hole is the highest fit
  // Alignment is absolute (page number), not relative to the range's base.
  FirstFitIovaAllocator b(0x3000, 16 * kPage);  // pages 3..18
  CHECK(b.alloc(8) == 8 * kPage);               // pages 8..15: the only 8-aligned fit
  CHECK(b.alloc(4) == 0x4000);                  // 4..7; 16..18 has only 3 pages
  CHECK(b.alloc(4) == std::nullopt);
  CHECK(b.alloc(2) == 16 * kPage);
}

TEST_CASE("first-fit: exhaustion returns nullopt, a free makes room again, coalescing", "[iova]") {
  FirstFitIovaAllocator a(kBase, 16 * kPage);
  std::vector<uint64_t> got;
  for (int i = 0; i < 16; ++i) got.push_back(*a.alloc(1));
  CHECK(a.alloc(1) == std::nullopt);
  CHECK(a.free_intervals() == 0);
  a.free(got[5], 1);
  CHECK(a.alloc(1) == got[5]);
  for (uint64_t v : got) a.free(v, 1);
  CHECK(a.pages_in_use() == 0);
  CHECK(a.free_intervals() == 1);  // all neighbours merged back into one interval
  CHECK(a.alloc(16) == kBase);
  CHECK(a.alloc(1) == std::nullopt);
}

TEST_CASE("first-fit: misuse is std::invalid_argument", "[iova]") {
  CHECK_THROWS_AS(FirstFitIovaAllocator(0x1001, kBytes), std::invalid_argument);
  CHECK_THROWS_AS(FirstFitIovaAllocator(kBase, 0), std::invalid_argument);
  CHECK_THROWS_AS(FirstFitIovaAllocator(~uint64_t{0xFFF}, 2 * kPage), std::invalid_argument);
  FirstFitIovaAllocator a(kBase, kBytes);
  CHECK_THROWS_AS(a.alloc(0), std::invalid_argument);
  const uint64_t v = *a.alloc(2);
  CHECK_THROWS_AS(a.free(v, 1), std::invalid_argument);  // another size
  CHECK_THROWS_AS(a.free(v + kPage, 1), std::invalid_argument);
  CHECK_THROWS_AS(a.free(kBase, 1), std::invalid_argument);  // never allocated
  a.free(v, 2);
  CHECK_THROWS_AS(a.free(v, 2), std::invalid_argument);  // double free
  CHECK(a.alloc(uint64_t{1} << 60) == std::nullopt);
}

TEST_CASE("caching: freed IOVAs of small orders are reused last-in first-out", "[iova]") {
  CachingIovaAllocator a(kBase, kBytes);
  const uint64_t x = *a.alloc(1), y = *a.alloc(1), z = *a.alloc(1);
  a.free(x, 1);
  a.free(z, 1);
  CHECK(a.cached(0) == 2);
  CHECK(a.alloc(1) == z);  // the last freed first
  CHECK(a.alloc(1) == x);
  CHECK(a.cached(0) == 0);
  // Cacheable sizes are rounded up to a power of two, and cached per order.
  const uint64_t t = *a.alloc(3);
  CHECK(a.pages_in_use() == 3 + 4);
  a.free(t, 3);
  CHECK(a.cached(2) == 1);
  CHECK(a.alloc(4) == t);  // any request of order 2 takes it
  CHECK_THROWS_AS(a.free(t, 2), std::invalid_argument);
  a.free(t, 4);
  // 64 pages are beyond the cache (orders 0..5): straight back to the tree.
  const uint64_t big = *a.alloc(64);
  a.free(big, 64);
  CHECK(a.pages_in_use() == 3);
  (void)y;
}

TEST_CASE("caching: an exhausted range gives the cache back to the tree and retries", "[iova]") {
  CachingIovaAllocator a(kBase, 8 * kPage);
  std::vector<uint64_t> ones;
  for (int i = 0; i < 8; ++i) ones.push_back(*a.alloc(1));
  for (uint64_t v : ones) a.free(v, 1);
  CHECK(a.cached(0) == 8);
  // No two-page gap in the tree while the pages sit in the order-0 cache.
  const auto two = a.alloc(2);
  REQUIRE(two.has_value());
  CHECK(a.cached(0) == 0);
  CHECK(a.pages_in_use() == 2);
  CHECK(a.alloc(8) == std::nullopt);
}

TEST_CASE("both allocators: no overlap, alignment and range over a random alloc/free sequence",
          "[iova]") {
  for (const std::string name : {"first-fit", "caching"}) {
    INFO(name);
    const uint64_t bytes = 8 * kBytes;  // 2048 pages, about half used at 100 live allocations
    auto a = IovaAllocatorRegistry::instance().create(name, kBase, bytes);
    std::mt19937_64 rng(42);
    std::map<uint64_t, uint64_t> live;  // reference: IOVA → pages requested
    uint64_t failures = 0;
    for (int step = 0; step < 20000; ++step) {
      if (live.empty() || (live.size() < 100 && rng() % 2 == 0)) {
        const uint64_t pages = 1 + rng() % (rng() % 8 == 0 ? 70 : 6);
        const auto v = a->alloc(pages);
        if (!v) {
          ++failures;
          continue;
        }
        uint64_t align = 1;
        while (align < pages) align <<= 1;
        REQUIRE(*v % (align * kPage) == 0);
        REQUIRE(*v >= kBase);
        REQUIRE(*v + pages * kPage <= kBase + bytes);
        auto next = live.lower_bound(*v);
        if (next != live.end()) REQUIRE(*v + pages * kPage <= next->first);
        if (next != live.begin()) {
          auto prev = std::prev(next);
          REQUIRE(prev->first + prev->second * kPage <= *v);
        }
        live[*v] = pages;
      } else {
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng() % live.size()));
        a->free(it->first, it->second);
        live.erase(it);
      }
    }
    CHECK(failures < 20000 / 10);  // mostly satisfiable at this load
    for (const auto& [v, pages] : live) a->free(v, pages);
    CHECK(a->pages_in_use() == 0);
  }
}

TEST_CASE("IOVA allocator registry: built-ins, errors naming the known ones, a study's own",
          "[iova]") {
  auto& r = IovaAllocatorRegistry::instance();
  CHECK(r.names() == std::vector<std::string>{"caching", "first-fit"});
  const std::string msg = config_error_of([&] { r.create("buddy", kBase, kBytes); });
  CHECK(msg.find("unknown IOVA allocator 'buddy'") != std::string::npos);
  CHECK(msg.find("caching, first-fit") != std::string::npos);
  CHECK_THROWS_AS(
      r.add("",
            [](uint64_t b, uint64_t n) { return std::make_unique<FirstFitIovaAllocator>(b, n); }),
      std::invalid_argument);
  CHECK_THROWS_AS(r.add("x", nullptr), std::invalid_argument);
  CHECK_THROWS_AS(r.create("first-fit", kBase + 1, kBytes), std::invalid_argument);
  r.add("bottom-heavy",
        [](uint64_t b, uint64_t n) { return std::make_unique<FirstFitIovaAllocator>(b, n / 2); });
  auto a = r.create("bottom-heavy", kBase, kBytes);
  CHECK(a->alloc(1) == kBase + kBytes / 2 - kPage);
}

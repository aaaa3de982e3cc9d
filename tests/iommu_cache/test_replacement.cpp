// Replacement policies driven directly: victims checked against hand-traced orders, the random
// policy against an mt19937_64 computed here, and the registry's errors.
#include <catch2/catch.hpp>

#include <iovsim/core/params.hpp>
#include <iovsim/iommu/replacement.hpp>

#include <algorithm>
#include <random>
#include <vector>

namespace core = iovsim::core;
using Catch::Matchers::Contains;
using iovsim::iommu::PolicyRegistry;
using iovsim::iommu::ReplacementPolicy;

namespace {
std::unique_ptr<ReplacementPolicy> make(const std::string& name, unsigned sets, unsigned ways,
                                        uint64_t seed = 1) {
  return PolicyRegistry::instance().create(name, sets, ways, seed);
}
void fill_all(ReplacementPolicy& p, unsigned set, unsigned ways) {
  for (unsigned w = 0; w < ways; ++w) p.fill(set, w);
}
}  // namespace

TEST_CASE("policy registry lists the built-ins", "[replacement]") {
  auto names = PolicyRegistry::instance().names();
  for (const char* n : {"fifo", "lru", "plru", "random"}) {
    CHECK(std::find(names.begin(), names.end(), n) != names.end());
  }
  CHECK(std::is_sorted(names.begin(), names.end()));
}

TEST_CASE("unknown policy is a ConfigError naming the known ones", "[replacement]") {
  CHECK_THROWS_MATCHES(
      make("mru", 1, 4), core::ConfigError,
      Catch::Matchers::Predicate<core::ConfigError>([](const core::ConfigError& e) {
        std::string m = e.what();
        return m.find("'mru'") != std::string::npos &&
               m.find("fifo, lru, plru, random") != std::string::npos;
      }));
}

TEST_CASE("plru needs a power-of-two number of ways", "[replacement]") {
  CHECK_THROWS_AS(make("plru", 4, 3), core::ConfigError);
  CHECK_THROWS_WITH(make("plru", 1, 6), Contains("power-of-two") && Contains("6"));
  CHECK_NOTHROW(make("plru", 4, 1));
  CHECK_NOTHROW(make("plru", 4, 8));
  CHECK_NOTHROW(make("lru", 4, 3));  // only plru cares
}

TEST_CASE("lru evicts the least recently used way", "[replacement]") {
  auto p = make("lru", 2, 4);
  fill_all(*p, 0, 4);  // age order (oldest first): 0 1 2 3
  CHECK(p->victim(0) == 0);
  p->touch(0, 0);  // 1 2 3 0
  CHECK(p->victim(0) == 1);
  p->touch(0, 1);  // 2 3 0 1
  p->touch(0, 2);  // 3 0 1 2
  CHECK(p->victim(0) == 3);
  p->remove(0, 3);
  p->fill(0, 3);  // 0 1 2 3
  CHECK(p->victim(0) == 0);
  // Sets are independent: set 1 filled in reverse.
  for (unsigned w = 4; w-- > 0;) p->fill(1, w);
  CHECK(p->victim(1) == 3);
  CHECK(p->victim(0) == 0);
  // Removing the oldest leaves the next oldest as the tail.
  p->remove(0, 0);
  CHECK(p->victim(0) == 1);
}

TEST_CASE("fifo ignores hits", "[replacement]") {
  auto p = make("fifo", 1, 4);
  fill_all(*p, 0, 4);
  p->touch(0, 0);
  p->touch(0, 1);
  CHECK(p->victim(0) == 0);
  p->remove(0, 0);
  p->fill(0, 0);  // 1 2 3 0
  CHECK(p->victim(0) == 1);
}

TEST_CASE("plru follows the tree bits (hand-traced 4-way)", "[replacement]") {
  // Node bits b1 (root), b2 (ways 0-1), b3 (ways 2-3); 0 = victim on the left. All start at 0.
  auto p = make("plru", 1, 4);
  CHECK(p->victim(0) == 0);  // b1=0 b2=0
  p->fill(0, 0);             // b1=1 b2=1
  CHECK(p->victim(0) == 2);  // right, b3=0 -> way 2
  p->fill(0, 1);             // b1=1 b2=0
  p->fill(0, 2);             // b1=0 b3=1
  p->fill(0, 3);             // b1=0 b3=0
  CHECK(p->victim(0) == 0);  // left, b2=0
  p->touch(0, 0);            // b1=1 b2=1
  // True LRU would now pick way 1; tree PLRU picks way 2.
  CHECK(p->victim(0) == 2);
  p->touch(0, 2);            // b1=0 b3=1
  CHECK(p->victim(0) == 1);  // left, b2=1 -> way 1
  p->touch(0, 1);            // b1=1 b2=0
  CHECK(p->victim(0) == 3);  // right, b3=1 -> way 3
  // One way: always way 0.
  auto one = make("plru", 3, 1);
  one->fill(2, 0);
  CHECK(one->victim(2) == 0);
}

TEST_CASE("random is rng() % ways of an mt19937_64 seeded with the seed", "[replacement]") {
  auto a = make("random", 4, 8, 42);
  auto b = make("random", 4, 8, 42);
  auto c = make("random", 4, 8, 43);
  std::mt19937_64 ref(42);
  std::vector<unsigned> va, vc;
  for (int i = 0; i < 64; ++i) {
    unsigned v = a->victim(static_cast<unsigned>(i % 4));
    CHECK(v == ref() % 8);
    CHECK(b->victim(static_cast<unsigned>(i % 4)) == v);
    va.push_back(v);
    vc.push_back(c->victim(0));
  }
  CHECK(va != vc);
}

TEST_CASE("policy registry rejects empty registrations", "[replacement]") {
  CHECK_THROWS_AS(PolicyRegistry::instance().add(
                      "", [](unsigned, unsigned, uint64_t) { return make("lru", 1, 1); }),
                  std::invalid_argument);
  CHECK_THROWS_AS(PolicyRegistry::instance().add("x", nullptr), std::invalid_argument);
}

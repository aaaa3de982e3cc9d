// IOTLB prefetchers: the built-ins' suggestions and the registry.
#include <catch2/catch.hpp>

#include <iovsim/core/params.hpp>
#include <iovsim/iommu/prefetcher.hpp>

#include <algorithm>

namespace core = iovsim::core;
using Catch::Matchers::Contains;
using iovsim::iommu::IotlbPrefetcher;
using iovsim::iommu::PrefetcherRegistry;

TEST_CASE("prefetcher registry lists the built-ins", "[prefetcher]") {
  auto names = PrefetcherRegistry::instance().names();
  CHECK(std::find(names.begin(), names.end(), "none") != names.end());
  CHECK(std::find(names.begin(), names.end(), "next-page") != names.end());
}

TEST_CASE("none is a prefetcher that suggests nothing", "[prefetcher]") {
  auto p = PrefetcherRegistry::instance().create("none");
  REQUIRE(p);
  std::vector<uint64_t> out;
  p->on_miss(1, 2, 0x1234000, out);
  CHECK(out.empty());
}

TEST_CASE("next-page suggests the following 4 KiB page", "[prefetcher]") {
  auto p = PrefetcherRegistry::instance().create("next-page");
  REQUIRE(p);
  std::vector<uint64_t> out{7};  // appends, keeps what is there
  p->on_miss(1, 2, 0x1234ABC, out);
  CHECK(out == std::vector<uint64_t>{7, 0x1235000});
  out.clear();
  p->on_miss(1, 2, 0xFFF, out);
  CHECK(out == std::vector<uint64_t>{0x1000});
  out.clear();
  p->on_miss(1, 2, ~uint64_t{0}, out);  // no wrap to 0
  CHECK(out.empty());
}

TEST_CASE("unknown prefetcher is a ConfigError naming the known ones", "[prefetcher]") {
  CHECK_THROWS_AS(PrefetcherRegistry::instance().create("stride"), core::ConfigError);
  CHECK_THROWS_WITH(PrefetcherRegistry::instance().create("stride"),
                    Contains("stride") && Contains("next-page") && Contains("none"));
}

namespace {
class StridePrefetcher : public IotlbPrefetcher {
 public:
  explicit StridePrefetcher(uint64_t seed) : seed_(seed) {}
  void on_miss(uint16_t, uint16_t, uint64_t iova, std::vector<uint64_t>& out) override {
    out.push_back(iova + 2 * 0x1000);
    out.push_back(seed_);
  }

 private:
  uint64_t seed_;
};
}  // namespace

TEST_CASE("a prefetcher registered by a study is created by name", "[prefetcher]") {
  PrefetcherRegistry::instance().add(
      "test-stride", [](uint64_t seed) { return std::make_unique<StridePrefetcher>(seed); });
  auto p = PrefetcherRegistry::instance().create("test-stride", 99);
  std::vector<uint64_t> out;
  p->on_miss(0, 0, 0x10000, out);
  CHECK(out == std::vector<uint64_t>{0x12000, 99});
  CHECK_THROWS_AS(PrefetcherRegistry::instance().add("", nullptr), std::invalid_argument);
  CHECK_THROWS_AS(PrefetcherRegistry::instance().add("x", nullptr), std::invalid_argument);
}

// DMA-mapping policies against the real remapping unit, at elaboration time: the IOVAs each policy
// hands out, the invalidations it makes the driver issue (the policy's count, the driver's and the
// unit's), what a DMA sees after an unmap (strict: a fault; deferred: the stale IOTLB entry until
// the flush), the flush queue's triggers, and the CPU-time accounting.
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dma_rig.hpp"

using namespace iovsim;
using namespace iovsim::cpu_stub;
using iovsim::test::DmaRig;

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kHost = uint64_t{8} << 30;  // the device's buffers: 8 GiB up
constexpr uint64_t kHostBytes = 16 << 20;

DmaMapConfig config(const std::string& policy) {
  DmaMapConfig c;
  c.policy = policy;
  c.map_ns = 150;
  c.unmap_ns = 100;
  c.invalidation_ns = 1000;
  return c;
}

std::unique_ptr<DmaMappingPolicy> make(DmaRig& rig, const DmaMapConfig& cfg) {
  return make_dma_mapping_policy(rig.device(kHost, kHostBytes), cfg, &rig.stats());
}

std::string config_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "(no core::ConfigError)";
}

// Reads 4 bytes at iova as the device, at_ns from now; true when the unit translated it.
bool device_reads(DmaRig& rig, uint64_t iova, uint32_t expect, double at_ns = 0) {
  uint32_t v = 0;
  const bool ok = rig.dma(false, iova, &v, DmaRig::kSid, at_ns).ok;
  if (ok) CHECK(v == expect);
  return ok;
}

}  // namespace

TEST_CASE("identity: pass-through context (ECAP.PT), map returns the host address, costs nothing",
          "[dma_map]") {
  DmaRig rig;
  auto p = make(rig, config("identity"));
  rig.store().write_u32(kHost + 0x40, 0xA5A5A5A5);
  CHECK(p->map(kHost + 0x40, 64, true, 0) == kHost + 0x40);
  CHECK(device_reads(rig, kHost + 0x40, 0xA5A5A5A5));
  CHECK(rig.counter("iommu.walk_levels.count") == 1);
  CHECK(rig.scalar("iommu.walk_levels.max") == 0);  // pass-through: no paging levels
  p->unmap(kHost + 0x40, 64, 0);
  CHECK(device_reads(rig, kHost + 0x40, 0xA5A5A5A5));  // nothing was ever unmapped
  CHECK(p->take_cpu_ns() == 0);
  CHECK(p->maps() == 1);
  CHECK(p->unmaps() == 1);
  CHECK(p->invalidations() == 0);
}

TEST_CASE("identity without ECAP.PT maps the host region 1:1 at setup", "[dma_map]") {
  auto cfg = DmaRig::default_config();
  cfg.caps.pt = false;
  DmaRig rig(cfg);
  auto p = make(rig, config("identity"));
  CHECK(rig.driver().lookup(DmaRig::kSid, kHost + 5 * kPage) == kHost + 5 * kPage);
  CHECK(rig.driver().lookup(DmaRig::kSid, kHost + kHostBytes) == std::nullopt);
  rig.store().write_u32(kHost + kHostBytes - 4, 7);
  CHECK(p->map(kHost + kHostBytes - 4, 4, false, 0) == kHost + kHostBytes - 4);
  CHECK(device_reads(rig, kHost + kHostBytes - 4, 7));
  CHECK_THROWS_AS(p->map(kHost + kHostBytes - 4, 8, false, 0), std::invalid_argument);
  CHECK_THROWS_AS(p->map(kHost - 4, 4, false, 0), std::invalid_argument);
  // Wholly past the end (where "end - address" would wrap around).
  CHECK_THROWS_AS(p->map(kHost + kHostBytes + kPage, 4, false, 0), std::invalid_argument);
  CHECK(p->take_cpu_ns() == 0);
}

TEST_CASE("static: the region is mapped once at dma_map.iova_base, map is address arithmetic",
          "[dma_map]") {
  DmaRig rig;
  auto cfg = config("static");
  cfg.iova_base = 0x40000000;
  auto p = make(rig, cfg);
  const uint64_t before = rig.driver().invalidations_issued();
  rig.store().write_u32(kHost + 3 * kPage + 8, 0x1234);
  const uint64_t iova = p->map(kHost + 3 * kPage + 8, 1500, true, 0);
  CHECK(iova == 0x40000000 + 3 * kPage + 8);
  CHECK(device_reads(rig, iova, 0x1234));
  p->unmap(iova, 1500, 10);
  CHECK(device_reads(rig, iova, 0x1234));  // still mapped: the pool stays
  CHECK(rig.driver().invalidations_issued() == before);
  CHECK(p->take_cpu_ns() == 0);
  CHECK_THROWS_AS(p->map(kHost + kHostBytes, 4, true, 0), std::invalid_argument);
  CHECK_THROWS_AS(p->unmap(0x40000000 + kHostBytes, 4, 0), std::invalid_argument);
  // Wholly past the end (where "end - address" would wrap around).
  CHECK_THROWS_AS(p->map(kHost + kHostBytes + kPage, 4, true, 0), std::invalid_argument);
  CHECK_THROWS_AS(p->unmap(0x40000000 + kHostBytes + kPage, 4, 0), std::invalid_argument);
}

TEST_CASE("strict: one invalidation per unmap, after which a DMA to the IOVA faults", "[dma_map]") {
  DmaRig rig;
  auto p = make(rig, config("strict"));
  CHECK(p->name() == "strict");
  rig.store().write_u32(kHost + 0x100, 0xCAFE);
  const uint64_t iova = p->map(kHost + 0x100, 256, true, 0);
  CHECK(iova % kPage == 0x100);  // the page offset survives
  CHECK(iova >= 0x1000);
  CHECK(iova < 0x100000000);
  CHECK(device_reads(rig, iova, 0xCAFE));         // walks and fills the IOTLB
  CHECK(device_reads(rig, iova, 0xCAFE, 10000));  // once the walk is done: a hit
  CHECK(rig.counter("iommu.iotlb.hits") == 1);

  const uint64_t drv0 = rig.driver().invalidations_issued();
  const uint64_t desc0 = rig.counter("iommu.qi.descriptors");
  p->unmap(iova, 256, 0);
  CHECK(p->invalidations() == 1);
  CHECK(rig.driver().invalidations_issued() - drv0 == 1);
  CHECK(rig.counter("iommu.qi.descriptors") - desc0 == 2);  // the invalidation and its wait
  CHECK(rig.counter("iommu.invalidations.iotlb_page") == 1);
  CHECK(rig.counter("dma_map.invalidations") == 1);

  CHECK_FALSE(device_reads(rig, iova, 0));  // the IOTLB entry is gone and the PTE is clear
  CHECK(rig.counter("iommu.fault_reasons.0x6") == 1);
  uint32_t w = 1;
  CHECK_FALSE(rig.dma(true, iova, &w).ok);
  CHECK(rig.counter("iommu.fault_reasons.0x5") == 1);

  // Many buffers, one invalidation each; a 3-page buffer is one 4-page (AM 2) invalidation.
  for (int i = 0; i < 20; ++i) p->unmap(p->map(kHost + i * kPage, 64, false, 0), 64, 0);
  const uint64_t big = p->map(kHost + 0x10, 2 * kPage, false, 0);  // spans 3 pages
  CHECK(big % (4 * kPage) == 0x10);
  p->unmap(big, 2 * kPage, 0);
  CHECK(p->invalidations() == 22);
  CHECK(p->unmaps() == 22);
  CHECK(rig.counter("iommu.invalidations.iotlb_page") == 22);
  CHECK(rig.counter("iommu.invalidations.iotlb_domain") == 0);
}

TEST_CASE("strict: domain-selective when the buffer needs a mask above CAP.MAMV", "[dma_map]") {
  auto cfg = DmaRig::default_config();
  cfg.caps.mamv = 1;
  DmaRig rig(cfg);
  auto p = make(rig, config("strict"));
  p->unmap(p->map(kHost, 2 * kPage, false, 0), 2 * kPage, 0);  // AM 1: page-selective
  p->unmap(p->map(kHost, 4 * kPage, false, 0), 4 * kPage, 0);  // AM 2 > MAMV
  CHECK(p->invalidations() == 2);
  CHECK(rig.counter("iommu.invalidations.iotlb_page") == 1);
  CHECK(rig.counter("iommu.invalidations.iotlb_domain") == 1);
}

TEST_CASE("deferred: 300 unmaps flush once at 256 and the rest after the timeout", "[dma_map]") {
  DmaRig rig;
  auto p = make(rig, config("deferred"));
  const uint64_t drv0 = rig.driver().invalidations_issued();
  std::vector<uint64_t> iovas;
  for (int i = 0; i < 300; ++i) iovas.push_back(p->map(kHost + i * kPage, 1500, true, 0));
  for (int i = 0; i < 255; ++i) p->unmap(iovas[i], 1500, 1000);
  CHECK(p->flushes() == 0);
  CHECK(p->invalidations() == 0);
  p->unmap(iovas[255], 1500, 2000);  // the 256th
  CHECK(p->flushes() == 1);
  CHECK(rig.counter("dma_map.flushes_full") == 1);
  CHECK(rig.counter("dma_map.flushed_entries") == 256);
  for (int i = 256; i < 300; ++i) p->unmap(iovas[i], 1500, 3000);
  CHECK(p->flushes() == 1);
  REQUIRE(p->next_deadline_ns() == 3000 + 10'000'000);
  p->poll(3000 + 9'999'999);
  CHECK(p->flushes() == 1);
  p->poll(3000 + 10'000'000);
  CHECK(p->flushes() == 2);
  CHECK(rig.counter("dma_map.flushes_timeout") == 1);
  CHECK(rig.counter("dma_map.flushes_full") == 1);
  CHECK(rig.counter("dma_map.flushed_entries") == 300);
  CHECK(p->next_deadline_ns() == std::nullopt);
  CHECK(p->invalidations() == 2);
  CHECK(rig.driver().invalidations_issued() - drv0 == 2);
  CHECK(rig.counter("iommu.invalidations.iotlb_domain") == 2);
  CHECK(rig.counter("iommu.invalidations.iotlb_page") == 0);
  // Exposure: 255 entries for 1000 ns, the 256th for 0, the last 44 for 10 ms.
  CHECK(rig.counter("dma_map.exposure_ns.count") == 300);
  CHECK(rig.scalar("dma_map.exposure_ns.max") == 10'000'000);
  CHECK(rig.scalar("dma_map.exposure_ns.min") == 0);
  CHECK(rig.scalar("dma_map.exposure_ns.p50") == 1000);
}

TEST_CASE(
    "deferred: an unmapped IOVA still translates through the stale IOTLB entry until the "
    "flush",
    "[dma_map]") {
  DmaRig rig;
  auto p = make(rig, config("deferred"));
  rig.store().write_u32(kHost, 0x5EC12E7);
  const uint64_t iova = p->map(kHost, 64, true, 0);
  CHECK(device_reads(rig, iova, 0x5EC12E7));  // cached in the IOTLB
  p->unmap(iova, 64, 100);
  CHECK(rig.driver().lookup(DmaRig::kSid, iova) == std::nullopt);  // the PTE is gone...
  CHECK(device_reads(rig, iova, 0x5EC12E7, 10000));                // ...the IOTLB entry is not
  CHECK(rig.counter("iommu.iotlb.hits") == 1);
  // The IOVA is not handed out again before the flush.
  const uint64_t other = p->map(kHost + kPage, 64, true, 200);
  CHECK(other != iova);
  p->flush_all(300);
  CHECK_FALSE(device_reads(rig, iova, 0));
  CHECK(rig.counter("iommu.fault_reasons.0x6") == 1);
  CHECK(rig.scalar("dma_map.exposure_ns.max") == 200);
  // After the flush the caching allocator hands the IOVA out again, last freed first.
  CHECK(p->map(kHost + 2 * kPage, 64, true, 400) == iova);
}

TEST_CASE("CPU time of strict: each call's cost is accrued until taken, the statistics add up",
          "[dma_map]") {
  DmaRig rig;
  {
    auto p = make(rig, config("strict"));
    std::vector<uint64_t> v;
    for (int i = 0; i < 3; ++i) v.push_back(p->map(kHost + i * kPage, 100, true, 0));
    CHECK(p->pending_cpu_ns() == 3 * 150);
    for (uint64_t iova : v) p->unmap(iova, 100, 0);
    CHECK(p->take_cpu_ns() == 3 * 150 + 3 * (100 + 1000));
    CHECK(p->take_cpu_ns() == 0);
    CHECK(rig.scalar("dma_map.map_cpu_ns") == 450);
    CHECK(rig.scalar("dma_map.unmap_cpu_ns") == 300);
    CHECK(rig.scalar("dma_map.invalidation_cpu_ns") == 3000);
    CHECK(rig.scalar("dma_map.cpu_ns") == 3750);
  }
}

TEST_CASE("CPU time of deferred: maps and unmaps at once, the invalidation at the flush",
          "[dma_map]") {
  DmaRig rig;
  {
    auto p = make(rig, config("deferred"));
    const uint64_t a = p->map(kHost, 100, true, 0), b = p->map(kHost + kPage, 100, true, 0);
    p->unmap(a, 100, 0);
    p->unmap(b, 100, 0);
    CHECK(p->take_cpu_ns() == 2 * 150 + 2 * 100);
    p->flush_all(5);
    CHECK(p->take_cpu_ns() == 1000);
    CHECK(rig.scalar("dma_map.cpu_ns") == 1500);
  }
}

TEST_CASE("CPU time in caching mode: the driver's invalidations after a map are charged too",
          "[dma_map]") {
  auto cfg = DmaRig::default_config();
  cfg.caps.cm = true;
  DmaRig rig(cfg);
  auto p = make(rig, config("strict"));
  p->map(kHost, 100, true, 0);
  CHECK(p->invalidations() == 1);
  CHECK(p->take_cpu_ns() == 150 + 1000);
}

TEST_CASE("IOVA exhaustion: strict throws std::runtime_error", "[dma_map]") {
  DmaRig rig;
  auto cfg = config("strict");
  cfg.iova_bytes = 4 * kPage;
  cfg.iova_allocator = "first-fit";
  auto strict = make(rig, cfg);
  for (int i = 0; i < 4; ++i) strict->map(kHost + i * kPage, 8, false, 0);
  CHECK_THROWS_AS(strict->map(kHost, 8, false, 0), std::runtime_error);
  CHECK(strict->maps() == 4);
}

TEST_CASE("deferred reuses queued IOVAs only after flushing them when the space runs out",
          "[dma_map]") {
  DmaRig rig;
  auto cfg = config("deferred");
  cfg.iova_bytes = 2 * kPage;
  auto p = make(rig, cfg);
  const uint64_t a = p->map(kHost, 8, false, 0), b = p->map(kHost + kPage, 8, false, 0);
  p->unmap(a, 8, 0);
  p->unmap(b, 8, 0);
  CHECK(p->flushes() == 0);
  const uint64_t c = p->map(kHost, 8, false, 50);
  CHECK(p->flushes() == 1);
  CHECK(rig.counter("dma_map.flushes_full") == 0);
  CHECK(rig.counter("dma_map.flushes_timeout") == 0);
  CHECK((c == a || c == b));
}

TEST_CASE("DMA-mapping misuse and configuration errors are reported clearly", "[dma_map]") {
  DmaRig rig;
  const std::string unknown = config_error_of([&] { make(rig, config("lazy")); });
  CHECK(unknown.find("unknown DMA-mapping policy 'lazy'") != std::string::npos);
  CHECK(unknown.find("deferred, identity, static, strict") != std::string::npos);
  DmaDevice no_iommu;
  CHECK(config_error_of([&] {
          make_dma_mapping_policy(no_iommu, config("strict"), &rig.stats());
        }).find("needs iommu.enabled=true") != std::string::npos);
  auto identity = make_dma_mapping_policy(no_iommu, config("identity"), &rig.stats());
  CHECK(identity->map(0x1234, 8, true, 0) == 0x1234);
  identity.reset();

  auto wide = config("strict");
  wide.iova_base = uint64_t{1} << 48;
  CHECK(config_error_of([&] { make(rig, wide); }).find("address width") != std::string::npos);

  auto no_flush = config("deferred");
  no_flush.flush_entries = 0;
  CHECK(config_error_of([&] { make(rig, no_flush); }).find("flush_entries") != std::string::npos);
  auto negative = config("strict");
  negative.map_ns = -1;
  CHECK(config_error_of([&] { make(rig, negative); }).find("map_ns") != std::string::npos);
  auto odd_pages = rig.device(kHost, kHostBytes);
  odd_pages.page_bytes = 8192;
  CHECK(config_error_of([&] {
          make_dma_mapping_policy(odd_pages, config("static"), &rig.stats());
        }).find("page size") != std::string::npos);

  auto p = make(rig, config("strict"));
  CHECK_THROWS_AS(p->map(kHost, 0, true, 0), std::invalid_argument);
  const uint64_t iova = p->map(kHost, 100, true, 0);
  CHECK_THROWS_AS(p->unmap(iova + kPage, 100, 0), std::invalid_argument);
  CHECK_THROWS_AS(p->unmap(iova, 2 * kPage, 0), std::invalid_argument);  // another size
  p->unmap(iova, 100, 0);
  CHECK_THROWS_AS(p->unmap(iova, 100, 0), std::invalid_argument);  // twice

  core::Config c;
  c.set("dma_map.iova_base", "0x1800");
  CHECK_THROWS_AS(DmaMapConfig::from(c), core::ConfigError);
  CHECK_THROWS_AS(c.set("dma_map.policy", "lazy"), core::ConfigError);
}

TEST_CASE("parameters: defaults as documented, and a study's own policy registered by name",
          "[dma_map]") {
  const auto d = DmaMapConfig::from(core::Config{});
  CHECK(d.policy == "deferred");
  CHECK(d.map_ns == 150);
  CHECK(d.unmap_ns == 100);
  CHECK(d.flush_entries == 256);
  CHECK(d.flush_timeout_us == 10000);
  CHECK(d.iova_allocator == "caching");
  CHECK(d.iova_base == 0x1000);
  CHECK(d.iova_base + d.iova_bytes == uint64_t{1} << 32);

  // A policy that maps like strict but never invalidates (unsafe, for a what-if study).
  DmaPolicyRegistry::instance().add(
      "strict-no-flush", [](const DmaDevice& dev, const DmaMapConfig& cfg, core::StatGroup* p) {
        auto c = cfg;
        c.flush_entries = 1u << 20;
        c.flush_timeout_us = 1000000000;
        return DmaPolicyRegistry::instance().create("deferred", dev, c, p);
      });
  DmaRig rig;
  auto cfg = config("strict-no-flush");
  auto p = make(rig, cfg);
  p->unmap(p->map(kHost, 8, false, 0), 8, 0);
  CHECK(p->invalidations() == 0);
}

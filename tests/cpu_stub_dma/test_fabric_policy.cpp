// The platform's way to a policy: Fabric::make_dma_policy reads dma_map.* and the driver's domain
// width, checks the host region against memory and the driver's tables, and builds the policy.
#include <cstdint>
#include <string>

#include <iovsim/pcie/link.hpp>
#include <iovsim/pcie/root_complex.hpp>
#include <iovsim/platforms/workload.hpp>

#include "dma_rig.hpp"

using namespace iovsim;
using iovsim::test::DmaRig;

TEST_CASE("Fabric::make_dma_policy builds the configured policy for a host-owned device",
          "[dma_map][platform]") {
  DmaRig rig;
  pcie::RootComplex rc("rc", pcie::RootComplexConfig{}, &rig.stats());
  pcie::Link link("link", pcie::LinkConfig{}, &rig.stats());
  core::Config config;
  config.set("dma_map.policy", "strict");
  config.set("dma_map.invalidation_ns", "700");
  platforms::Fabric f{config, &rig.stats(), 1, rig.memory(), rc, link, rig.cpu(), rig.irq()};
  f.iommu = &rig.unit();
  f.driver = &rig.driver();
  f.driver_aw = 2;
  f.tables_base = DmaRig::kTables;
  f.tables_bytes = DmaRig::kTablesBytes;

  CHECK_THROWS_AS(f.make_dma_policy(DmaRig::kSid, 1, DmaRig::kTables, 4096, &rig.stats()),
                  core::ConfigError);  // the buffers would overlap the IOMMU tables
  auto p = f.make_dma_policy(DmaRig::kSid, 1, uint64_t{8} << 30, 1 << 20, &rig.stats());
  CHECK(p->name() == "strict");
  CHECK(p->config().invalidation_ns == 700);
  CHECK(p->device().aw == 2);
  const uint64_t iova = p->map(uint64_t{8} << 30, 64, true, 0);
  p->unmap(iova, 64, 0);
  CHECK(p->invalidations() == 1);
  CHECK(p->take_cpu_ns() == 150 + 100 + 700);

  f.iommu = nullptr;  // no IOMMU: strict is impossible
  f.driver = nullptr;
  CHECK_THROWS_AS(f.make_dma_policy(0x0200, 2, uint64_t{8} << 30, 1 << 20, &rig.stats()),
                  core::ConfigError);
}

// The platform builder: reads the parameters and constructs and wires the modules.
//
//   DMA endpoint --dma--> Link --host_side--> RootComplex --dma_out--> HostMemory          (no IOMMU)
//   DMA endpoint --dma--> Link --host_side--> RootComplex --dma_out--> RemappingUnit --mem_out--> HostMemory
//   CpuPort --mem--> HostMemory.cpu,  CpuPort --mmio--> RemappingUnit.mmio,
//   RemappingUnit --msi_out--> InterruptController
//
// With the IOMMU on, the CPU stub's IOMMU driver brings the unit up at elaboration (root table,
// queued invalidation, translation enable), gives the endpoint a domain, and maps the DMA window's
// IOVAs to host memory with workload.page_size pages.
//
// Build one Platform per process (SystemC elaborates once), then sc_start().
#pragma once

#include <memory>
#include <string>

#include <systemc>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/cpu_stub/cpu_port.hpp>
#include <iovsim/cpu_stub/interrupt_controller.hpp>
#include <iovsim/cpu_stub/iommu_driver.hpp>
#include <iovsim/cpu_stub/page_allocator.hpp>
#include <iovsim/iommu/remapping_unit.hpp>
#include <iovsim/memory/host_memory.hpp>
#include <iovsim/pcie/dma_endpoint.hpp>
#include <iovsim/pcie/link.hpp>
#include <iovsim/pcie/root_complex.hpp>

namespace iovsim::platforms {

class Platform : public sc_core::sc_module {
 public:
  // Throws core::ConfigError for an impossible configuration.
  Platform(sc_core::sc_module_name name, const core::Config& config, core::StatGroup* stats_root);

  memory::HostMemory& memory() { return *memory_; }
  pcie::RootComplex& root_complex() { return *rc_; }
  pcie::Link& link() { return *link_; }
  pcie::DmaEndpoint& endpoint() { return *endpoint_; }
  // nullptr when iommu.enabled is false.
  iommu::RemappingUnit* iommu() { return iommu_.get(); }
  cpu_stub::IommuDriver* iommu_driver() { return driver_.get(); }
  cpu_stub::InterruptController& interrupts() { return *irq_; }
  bool finished() const { return endpoint_->finished(); }
  // Two lines for the summary: the platform, the workload.
  std::string describe_platform() const;
  std::string describe_workload() const;

 private:
  void bring_up_iommu(const core::Config& config, const pcie::DmaEndpointConfig& endpoint);

  const core::Config& config_;
  std::unique_ptr<memory::HostMemory> memory_;
  std::unique_ptr<pcie::RootComplex> rc_;
  std::unique_ptr<pcie::Link> link_;
  std::unique_ptr<pcie::DmaEndpoint> endpoint_;
  std::unique_ptr<cpu_stub::CpuPort> cpu_;
  std::unique_ptr<cpu_stub::InterruptController> irq_;
  std::unique_ptr<iommu::RemappingUnit> iommu_;
  std::unique_ptr<cpu_stub::PageAllocator> table_pages_;
  std::unique_ptr<cpu_stub::IommuDriver> driver_;
  uint64_t dma_hpa_base_ = 0;  // where the DMA window's data lives in host memory
};

// The `seed` parameter.
uint64_t seed_of(const core::Config& config);
// The `sim.quantum_ns` parameter as a SystemC time.
sc_core::sc_time quantum_of(const core::Config& config);

}  // namespace iovsim::platforms

// The platform builder: reads the parameters and constructs and wires the modules.
//
//   device --> Link.device_side ... Link.host_side --> RootComplex.upstream[0]
//   RootComplex.downstream[0] --> Link.host_down ... Link.device_down --> device
//   RootComplex.dma_out --> RemappingUnit.dma_in, RemappingUnit.mem_out --> HostMemory.in
//                           (or RootComplex.dma_out --> HostMemory.in without the IOMMU)
//   RootComplex.msi_out --> RemappingUnit.msi_in, RemappingUnit.irq_out -->
//   InterruptController.msi_in
//                           (or RootComplex.msi_out --> InterruptController.msi_in without the
//                           IOMMU)
//   RemappingUnit.msi_out (fault events) --> InterruptController.chipset_in
//   CpuPort.mem --> HostMemory.cpu;  CpuPort.mmio --> RootComplex.cpu (ECAM, device BARs), and
//   RootComplex.chipset_mmio --> RemappingUnit.mmio (the IOMMU's register page)
//
// The device below root port 0 belongs to the workload (`workload.kind`, see workload.hpp). At the
// start of simulation, before any device runs, the CPU stub does what an OS does at boot: PCI
// enumeration (BARs, MPS/MRRS, memory space and bus mastering), then, with the IOMMU on, the IOMMU
// driver's bring-up; then the workload's own setup (domains, mappings, interrupts). Build one
// Platform per process (SystemC elaborates once).
#pragma once

#include <memory>
#include <string>

#include <systemc>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/cpu_stub/cpu_port.hpp>
#include <iovsim/cpu_stub/interrupt_controller.hpp>
#include <iovsim/cpu_stub/iommu_driver.hpp>
#include <iovsim/cpu_stub/page_allocator.hpp>
#include <iovsim/cpu_stub/pci_enumerator.hpp>
#include <iovsim/iommu/remapping_unit.hpp>
#include <iovsim/memory/host_memory.hpp>
#include <iovsim/pcie/dma_endpoint.hpp>
#include <iovsim/pcie/link.hpp>
#include <iovsim/pcie/root_complex.hpp>

#include "workload.hpp"

namespace iovsim::platforms {

class Platform : public sc_core::sc_module {
 public:
  // Throws core::ConfigError for an impossible configuration.
  Platform(sc_core::sc_module_name name, const core::Config& config, core::StatGroup* stats_root);
  ~Platform() override;

  memory::HostMemory& memory() { return *memory_; }
  pcie::RootComplex& root_complex() { return *rc_; }
  pcie::Link& link() { return *link_; }
  // The DMA endpoint of workload.kind = dma; throws std::logic_error for another kind.
  pcie::DmaEndpoint& endpoint();
  Workload& workload() { return *workload_; }
  // nullptr when iommu.enabled is false.
  iommu::RemappingUnit* iommu() { return iommu_.get(); }
  cpu_stub::IommuDriver* iommu_driver() { return driver_.get(); }
  cpu_stub::InterruptController& interrupts() { return *irq_; }
  // The CPU stub's port: register accesses through the root complex, functional memory access.
  cpu_stub::CpuPort& cpu() { return *cpu_; }
  bool finished() const { return workload_->finished(); }
  // Two lines for the summary: the platform, the workload.
  std::string describe_platform() const;
  std::string describe_workload() const { return workload_->describe(); }
  // The devices enumeration found, as an lspci -tv-like tree ("" before enumeration or when
  // cpu.list_devices is off).
  std::string device_listing() const;
  cpu_stub::PciEnumerator* enumerator() { return enumerator_.get(); }

 private:
  void start_of_simulation() override;
  void build_iommu(const core::Config& config);

  const core::Config& config_;
  std::unique_ptr<memory::HostMemory> memory_;
  std::unique_ptr<pcie::RootComplex> rc_;
  std::unique_ptr<pcie::Link> link_;
  std::unique_ptr<cpu_stub::CpuPort> cpu_;
  std::unique_ptr<cpu_stub::InterruptController> irq_;
  std::unique_ptr<iommu::RemappingUnit> iommu_;
  std::unique_ptr<cpu_stub::PageAllocator> table_pages_;
  std::unique_ptr<cpu_stub::IommuDriver> driver_;
  std::unique_ptr<cpu_stub::PciEnumerator> enumerator_;
  std::unique_ptr<Fabric> fabric_;
  std::unique_ptr<Workload> workload_;
  core::Logger log_{"platform"};
};

// The `seed` parameter.
uint64_t seed_of(const core::Config& config);
// The `sim.quantum_ns` parameter as a SystemC time.
sc_core::sc_time quantum_of(const core::Config& config);

}  // namespace iovsim::platforms

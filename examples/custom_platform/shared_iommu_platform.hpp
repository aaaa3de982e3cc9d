// The study's own topology, wired from iovsim's models: N DMA endpoints, each on its own link and
// root port, all translated by one IOMMU in front of host memory (the shipped platform has one).
//
//   dev<i>.endpoint.dma --> dev<i>.link --> rc.upstream[i]      (i = 0 .. rc.ports-1)
//   rc.downstream[i] --> dev<i>.link (down) --> dev<i>.endpoint.pcie_in
//   rc.dma_out --> iommu.dma_in, iommu.mem_out --> memory.in
//   cpu.mem --> memory.cpu, cpu.mmio --> rc.cpu, rc.chipset_mmio --> iommu.mmio
//
// Boot, at the start of simulation: PCI enumeration, the VT-d driver's bring-up, one domain per
// device (domain i+1) with the device's DMA window mapped to its own host pages. Then the devices
// run. Statistics: dev<i>.workload.*, dev<i>.link.*, iommu.*, memory.*, rc.*.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <systemc>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/cpu_stub/cpu_port.hpp>
#include <iovsim/cpu_stub/iommu_driver.hpp>
#include <iovsim/cpu_stub/page_allocator.hpp>
#include <iovsim/cpu_stub/pci_enumerator.hpp>
#include <iovsim/iommu/remapping_unit.hpp>
#include <iovsim/memory/host_memory.hpp>
#include <iovsim/pcie/dma_endpoint.hpp>
#include <iovsim/pcie/link.hpp>
#include <iovsim/pcie/root_complex.hpp>

namespace study {

// One device and its link, as its own level of the module and statistics hierarchies.
class DeviceSlot : public sc_core::sc_module {
 public:
  DeviceSlot(sc_core::sc_module_name name, const iovsim::pcie::LinkConfig& link_cfg,
             const iovsim::pcie::DmaEndpointConfig& ep_cfg, iovsim::core::StatGroup* stats_root);

  iovsim::pcie::Link& link() { return *link_; }
  iovsim::pcie::DmaEndpoint& endpoint() { return *endpoint_; }

 private:
  iovsim::core::StatGroup stats_;
  std::unique_ptr<iovsim::pcie::Link> link_;
  std::unique_ptr<iovsim::pcie::DmaEndpoint> endpoint_;
};

class SharedIommuPlatform : public sc_core::sc_module {
 public:
  // policy: the IOTLB replacement policy's name in iommu::PolicyRegistry (built-in or the
  // study's own). Throws core::ConfigError for an impossible configuration.
  SharedIommuPlatform(sc_core::sc_module_name name, const iovsim::core::Config& config,
                      const std::string& policy, iovsim::core::StatGroup* stats_root);

  std::size_t devices() const { return slots_.size(); }
  DeviceSlot& slot(std::size_t i) { return *slots_.at(i); }
  iovsim::iommu::RemappingUnit& iommu() { return *iommu_; }
  bool finished() const;

  // Where device i's DMA window lives in host memory (each device its own pages).
  static uint64_t host_base(std::size_t i) { return (uint64_t{64} + 16 * i) << 30; }
  static constexpr uint64_t kMaxWindow = uint64_t{16} << 30;

 private:
  void start_of_simulation() override;

  std::unique_ptr<iovsim::memory::HostMemory> memory_;
  std::unique_ptr<iovsim::pcie::RootComplex> rc_;
  std::unique_ptr<iovsim::iommu::RemappingUnit> iommu_;
  std::vector<std::unique_ptr<DeviceSlot>> slots_;
  std::unique_ptr<iovsim::cpu_stub::CpuPort> cpu_;
  std::unique_ptr<iovsim::cpu_stub::PageAllocator> table_pages_;
  std::unique_ptr<iovsim::cpu_stub::IommuDriver> driver_;
  std::unique_ptr<iovsim::cpu_stub::PciEnumerator> enumerator_;
  uint64_t window_base_ = 0, window_bytes_ = 0, page_bytes_ = 4096;
};

}  // namespace study

// The platform builder: reads the parameters and constructs and wires the modules.
//
//   DMA endpoint --dma--> Link --host_side--> RootComplex --dma_out--> HostMemory
//
// Build one Platform per process (SystemC elaborates once), then sc_start().
#pragma once

#include <memory>
#include <string>

#include <systemc>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
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
  bool finished() const { return endpoint_->finished(); }
  // Two lines for the summary: the platform, the workload.
  std::string describe_platform() const;
  std::string describe_workload() const;

 private:
  const core::Config& config_;
  std::unique_ptr<memory::HostMemory> memory_;
  std::unique_ptr<pcie::RootComplex> rc_;
  std::unique_ptr<pcie::Link> link_;
  std::unique_ptr<pcie::DmaEndpoint> endpoint_;
};

// The `seed` parameter.
uint64_t seed_of(const core::Config& config);
// The `sim.quantum_ns` parameter as a SystemC time.
sc_core::sc_time quantum_of(const core::Config& config);

}  // namespace iovsim::platforms

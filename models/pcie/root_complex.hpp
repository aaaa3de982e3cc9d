// The root complex, minimal form: upstream requests from device ports go, after a processing
// latency, to the DMA target (host memory now; the IOMMU's remapping unit once it exists). A
// request the target rejects completes with Unsupported Request in the PCIe extension, as hardware
// would report it.
//
// Seams for the PCIe-fabric issue: ECAM, BAR routing and MSI steering attach here.
#pragma once

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>

namespace iovsim::pcie {

struct RootComplexConfig {
  double latency_ns = 20;  // upstream request processing (ordering, steering) before the DMA target

  static RootComplexConfig from(const core::Config& config);
};

class RootComplex : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<RootComplex> upstream{
      "upstream"};  // from the device ports' links
  tlm_utils::simple_initiator_socket<RootComplex> dma_out{
      "dma_out"};  // to the remapping unit or memory

  RootComplex(sc_core::sc_module_name name, const RootComplexConfig& config,
              core::StatGroup* parent_stats);

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  unsigned int transport_dbg(tlm::tlm_generic_payload& p) { return dma_out->transport_dbg(p); }

  RootComplexConfig config_;
  sc_core::sc_time latency_;
  core::Logger log_{"rc"};
  core::StatGroup stats_;
  core::Counter& requests_;
  core::Counter& unsupported_;
};

}  // namespace iovsim::pcie

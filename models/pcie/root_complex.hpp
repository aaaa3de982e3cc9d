// The root complex: root ports, ECAM, address routing and upstream steering (vtd-pcie.md §5, §7).
//
//   cpu          CPU accesses: the ECAM window (config requests routed by bus/device/function), the
//                chipset window (e.g. the IOMMU's registers, out on chipset_mmio), and device MMIO
//                routed to the root port whose memory window (as enumeration programmed it)
//                contains it. Unclaimed addresses complete with UR; reads return all ones.
//   upstream[i]  requests from the device below root port i (binding order = port index)
//   downstream[i] config and MMIO requests to the device below root port i
//   dma_out      upstream memory requests: to the IOMMU's remapping unit, or to memory without one
//   msi_out      upstream writes to 0xFEE0_0000..0xFEEF_FFFF: the interrupt path
//   msg_out      upstream message TLPs (PCIe extension `message`: ATS Invalidate Completions) to
//   the
//                IOMMU; unbound: dropped
//   msg_in       messages from the host side (the IOMMU's ATS Invalidate Requests), routed by ID
//                (extension `target_id`) down the root port whose bus range holds the target bus
//
// Root ports are type 1 functions on bus 0 (device i+1) whose bus numbers are preset ("firmware"):
// port i owns buses [1 + i*buses_per_port, (i+1)*buses_per_port]. Every upstream TLP's requester id
// must lie in its port's bus range; a violation is counted and, with ACS source validation, blocked
// with UR. A root port forwards upstream memory requests only with Bus Master Enable set.
#pragma once

#include <memory>
#include <vector>

#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>

#include "config_space.hpp"

namespace iovsim::pcie {

struct RootComplexConfig {
  double latency_ns = 20;  // upstream request processing (ordering, steering) before the DMA target
  double cpu_latency_ns = 10;  // processing of a CPU access before it is routed
  unsigned ports = 1;
  unsigned buses_per_port = 8;
  uint64_t ecam_base = 0xE0000000;  // 256 MiB: buses 0..255
  bool acs_source_validation = true;

  static RootComplexConfig from(const core::Config& config);
};

class RootComplex : public sc_core::sc_module {
 public:
  static constexpr uint64_t kMsiBase = 0xFEE00000, kMsiEnd = 0xFEF00000;
  static constexpr uint64_t kEcamBytes = uint64_t{256} << 20;

  // Ports without a device leave these unbound.
  tlm_utils::multi_passthrough_target_socket<RootComplex, 32, tlm::tlm_base_protocol_types, 0,
                                             sc_core::SC_ZERO_OR_MORE_BOUND>
      upstream{"upstream"};
  tlm_utils::multi_passthrough_initiator_socket<RootComplex, 32, tlm::tlm_base_protocol_types, 0,
                                                sc_core::SC_ZERO_OR_MORE_BOUND>
      downstream{"downstream"};
  tlm_utils::simple_target_socket_optional<RootComplex> cpu{"cpu"};
  tlm_utils::simple_initiator_socket<RootComplex> dma_out{"dma_out"};
  tlm_utils::simple_initiator_socket_optional<RootComplex> msi_out{"msi_out"};
  tlm_utils::simple_initiator_socket_optional<RootComplex> chipset_mmio{"chipset_mmio"};
  tlm_utils::simple_initiator_socket_optional<RootComplex> msg_out{"msg_out"};
  tlm_utils::simple_target_socket_optional<RootComplex> msg_in{"msg_in"};

  RootComplex(sc_core::sc_module_name name, const RootComplexConfig& config,
              core::StatGroup* parent_stats);

  const RootComplexConfig& config() const { return config_; }
  // CPU accesses in [base, base+size) go out on chipset_mmio (the IOMMU's register page).
  void add_chipset_window(uint64_t base, uint64_t size) { chipset_.push_back({base, base + size}); }
  ConfigSpace& root_port(unsigned i) { return *ports_.at(i); }
  uint8_t secondary_bus(unsigned port) const {
    return static_cast<uint8_t>(1 + port * config_.buses_per_port);
  }
  uint8_t subordinate_bus(unsigned port) const {
    return static_cast<uint8_t>((port + 1) * config_.buses_per_port);
  }

 private:
  void upstream_transport(int port, tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  unsigned int upstream_debug(int port, tlm::tlm_generic_payload& p);
  void cpu_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  unsigned int cpu_debug(tlm::tlm_generic_payload& p);
  void message_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  void config_access(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  // The root port whose memory windows contain [addr, addr+len), or -1.
  int port_for_address(uint64_t addr, uint64_t len) const;
  void unsupported(tlm::tlm_generic_payload& p);

  RootComplexConfig config_;
  sc_core::sc_time latency_, cpu_latency_;
  std::vector<std::unique_ptr<ConfigSpace>> ports_;
  std::vector<std::pair<uint64_t, uint64_t>> chipset_;
  core::Logger log_{"rc"};
  core::StatGroup stats_;
  core::Counter& requests_;
  core::Counter& unsupported_;
  core::Counter& msi_writes_;
  core::Counter& rid_violations_;
  core::Counter& bme_blocked_;
  core::Counter& config_accesses_;
  core::Counter& mmio_accesses_;
  core::Counter& unclaimed_;
  core::Counter& messages_up_;
  core::Counter& messages_down_;
  core::Counter& messages_unrouted_;
};

}  // namespace iovsim::pcie

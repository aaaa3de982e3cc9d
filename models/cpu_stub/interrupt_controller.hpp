// The CPU side's interrupt controller, minimal form: receives MSI writes (compatibility format:
// address 0xFEE with the destination APIC id in 19:12, vector in data 7:0), timestamps and counts
// them, and calls registered handlers. The interrupt issue adds per-CPU APICs, handler cost and the
// latency breakdown.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/stats.hpp>

namespace iovsim::cpu_stub {

struct InterruptMessage {
  uint64_t address = 0;
  uint32_t data = 0;
  unsigned apic_id = 0;
  unsigned vector = 0;
  uint64_t time_ps = 0;  // when the write reached the controller
};

class InterruptController : public sc_core::sc_module {
 public:
  // Message sources: the root complex's interrupt window, and the chipset's own (the IOMMU's fault
  // and invalidation-completion events).
  tlm_utils::simple_target_socket_optional<InterruptController> msi_in{"msi_in"};
  tlm_utils::simple_target_socket_optional<InterruptController> chipset_in{"chipset_in"};

  InterruptController(sc_core::sc_module_name name, core::StatGroup* parent_stats);

  void on_interrupt(std::function<void(const InterruptMessage&)> handler) {
    handlers_.push_back(std::move(handler));
  }
  // The most recent messages (at most 4096 kept), oldest first.
  const std::vector<InterruptMessage>& received() const { return received_; }
  uint64_t delivered() const { return delivered_.value; }

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);

  std::vector<std::function<void(const InterruptMessage&)>> handlers_;
  std::vector<InterruptMessage> received_;
  core::Logger log_{"irq"};
  core::StatGroup stats_;
  core::Counter& delivered_;
  core::Counter& malformed_;
};

}  // namespace iovsim::cpu_stub

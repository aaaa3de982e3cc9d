// The CPU side's interrupt controller: one local APIC per CPU (APIC ids 0..cpus-1). It receives MSI
// writes in compatibility format (address 0xFEE with the destination APIC id in 19:12, DM bit 2,
// RH bit 3; data: vector 7:0, delivery mode 10:8, trigger 15), timestamps them, and runs each
// interrupt's handler on its APIC: interrupt entry (`cpu.irq_dispatch_ns`) then the handler's cost
// (`cpu.irq_handler_cycles` at `cpu.clock_mhz`), during which that CPU takes no other interrupt.
// Registered handlers are called synchronously with the message, arrival and handler start. When
// the MSI carries core::IrqTiming, the latency is broken down by stage (device decision, send,
// interrupt remapping, delivery, dispatch); see docs/models/cpu_stub.md.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/histogram.hpp>
#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/core/timeline.hpp>

namespace iovsim::cpu_stub {

struct InterruptControllerConfig {
  unsigned cpus = 1;         // cpu.count: local APICs, ids 0..cpus-1
  double clock_mhz = 2200;   // cpu.clock_mhz
  double dispatch_ns = 100;  // cpu.irq_dispatch_ns: APIC accept -> handler's first instruction
  uint64_t handler_cycles = 2000;  // cpu.irq_handler_cycles: the handler's cost

  static InterruptControllerConfig from(const core::Config& config);
  // The handler's cost in picoseconds (cycles at the clock, rounded).
  uint64_t handler_ps() const;
  uint64_t dispatch_ps() const;
};

struct InterruptMessage {
  uint64_t address = 0;
  uint32_t data = 0;
  unsigned apic_id = 0;  // destination, address 19:12
  unsigned vector = 0;   // data 7:0
  unsigned delivery_mode =
      0;               // data 10:8 (0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT)
  bool level = false;  // data 15: trigger mode
  bool dest_logical = false;      // address 2: DM
  bool redirection_hint = false;  // address 3: RH
  uint64_t time_ps = 0;           // when the write reached the controller (arrival)
  uint64_t handler_start_ps = 0;  // when the handler's first instruction runs
  uint64_t handler_end_ps = 0;    // when the handler returns (the APIC is free again)
  bool has_timing = false;        // the write carried core::IrqTiming
  uint64_t send_ps = 0;           // IrqTiming::send_ps (0 without)
  bool has_rid = false;           // a requester id was known (IrqTiming or PcieExtension)
  uint16_t source_rid = 0;
  bool unexpected = false;  // the APIC has expectations and this vector is not among them
};

class InterruptController : public sc_core::sc_module {
 public:
  // Message sources: the root complex's interrupt window, and the chipset's own (the IOMMU's fault
  // and invalidation-completion events).
  tlm_utils::simple_target_socket_optional<InterruptController> msi_in{"msi_in"};
  tlm_utils::simple_target_socket_optional<InterruptController> chipset_in{"chipset_in"};

  // `cpus` local APICs with the other parameters at their defaults.
  InterruptController(sc_core::sc_module_name name, core::StatGroup* parent_stats,
                      unsigned cpus = 1);
  InterruptController(sc_core::sc_module_name name, core::StatGroup* parent_stats,
                      const InterruptControllerConfig& config);

  void on_interrupt(std::function<void(const InterruptMessage&)> handler) {
    handlers_.push_back(std::move(handler));
  }
  // Declares `vector` as one the software expects on `apic`. Once an APIC has any expectation, a
  // vector outside them is counted in irq.unexpected (and still delivered).
  void expect_vector(unsigned apic, unsigned vector);

  // The most recent delivered messages (at most 4096 kept), oldest first.
  const std::deque<InterruptMessage>& received() const { return received_; }
  uint64_t delivered() const { return delivered_.value; }
  uint64_t spurious() const { return spurious_.value; }
  uint64_t unexpected() const { return unexpected_.value; }
  uint64_t malformed() const { return malformed_.value; }

  unsigned cpus() const { return static_cast<unsigned>(apics_.size()); }
  const InterruptControllerConfig& config() const { return config_; }
  // Interrupts delivered to one APIC; when its last handler returns (0 before any).
  uint64_t delivered_to(unsigned apic) const { return apics_.at(apic)->delivered.value; }
  sc_core::sc_time busy_until(unsigned apic) const { return apics_.at(apic)->timeline.horizon(); }

 private:
  struct Apic {
    Apic(unsigned id, core::StatGroup* parent);
    core::StatGroup stats;
    core::Counter& delivered;
    core::Scalar& busy_ns;
    core::Timeline timeline{1};
    std::set<unsigned> expected;
  };
  struct VectorStats {
    core::Counter* count = nullptr;
    core::Histogram* latency = nullptr;
  };

  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  VectorStats& vector_stats(unsigned vector);
  core::Histogram& rid_latency(uint16_t rid);

  InterruptControllerConfig config_;
  std::vector<std::function<void(const InterruptMessage&)>> handlers_;
  std::deque<InterruptMessage> received_;  // a deque: the oldest leaves in O(1)
  core::Logger log_{"irq"};
  core::StatGroup stats_;
  core::Counter& delivered_;
  core::Counter& malformed_;
  core::Counter& spurious_;
  core::Counter& unexpected_;
  core::Histogram& latency_;
  core::StatGroup stage_stats_;
  core::Histogram& pending_;
  core::Histogram& fabric_;
  core::Histogram& remap_;
  core::Histogram& delivery_;
  core::Histogram& dispatch_;
  core::StatGroup apic_stats_;
  core::StatGroup vector_stats_;
  core::StatGroup rid_stats_;
  std::vector<std::unique_ptr<Apic>> apics_;
  std::map<unsigned, VectorStats> vectors_;
  std::map<uint16_t, core::Histogram*> rids_;
};

}  // namespace iovsim::cpu_stub

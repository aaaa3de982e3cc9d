// The trace player: a PCIe device that issues a trace's DMA requests at their times, from their
// requester ids (and PASIDs), in trace order.
//
// Like the synthetic DMA endpoint it is one SystemC thread running up to `outstanding` requests as
// independent streams: request i is issued at max(start + time_i, the earliest free slot, the
// previous request's issue) — reads also need a free tag (`tags`) — and sent with that time as
// annotated delay; the thread synchronises whenever it runs a quantum ahead. A request issued after
// its trace time because no slot or tag was free counts in workload.late.
//
// The player's own function (config space: vendor 0x19EE, device 0x4010, class 0xFF0000, a PCI
// Express capability) is what enumeration finds and gives bus mastering; it issues nothing while
// Bus Master Enable is clear. The requester ids it issues from are the trace's: one device standing
// in for all the functions that made the trace.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/pcie/config_space.hpp>

#include "trace_reader.hpp"

namespace iovsim::traces {

struct TracePlayerConfig {
  uint16_t requester_id = 0x0100;  // the player's own function: 01:00.0
  unsigned outstanding = 32;       // requests in flight at once
  unsigned tags = 32;              // reads (non-posted) in flight at once

  // trace.outstanding; `tags` is left for the caller (pcie.tags on a platform).
  static TracePlayerConfig from(const core::Config& config);
};

class TracePlayer : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<TracePlayer> dma{"dma"};
  // Configuration requests from the root port (its config space); it has no BAR.
  tlm_utils::simple_target_socket_optional<TracePlayer> pcie_in{"pcie_in"};

  // Throws core::ConfigError for an empty trace or zero outstanding/tags.
  TracePlayer(sc_core::sc_module_name name, const TracePlayerConfig& config,
              std::vector<TraceRecord> records, core::StatGroup* parent_stats);

  const TracePlayerConfig& config() const { return config_; }
  pcie::ConfigSpace& config_space() { return cfg_; }
  const std::vector<TraceRecord>& records() const { return records_; }
  // Trace time 0 is t (the platform starts devices once boot is done).
  void start_at(const sc_core::sc_time& t) { start_at_ = t; }
  bool finished() const { return finished_; }
  uint64_t completed() const { return completed_; }
  uint64_t late() const { return late_.value; }
  // Called every few thousand requests and at the end: (requests completed, requests total).
  void on_progress(std::function<void(uint64_t, uint64_t)> f) { progress_ = std::move(f); }
  const sc_core::sc_event& finished_event() const { return finished_event_; }

 private:
  SC_HAS_PROCESS(TracePlayer);
  void run();
  void pcie_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);

  TracePlayerConfig config_;
  std::vector<TraceRecord> records_;
  pcie::ConfigSpace cfg_;
  sc_core::sc_time start_at_ = sc_core::SC_ZERO_TIME;
  uint64_t completed_ = 0;
  bool finished_ = false;
  std::function<void(uint64_t, uint64_t)> progress_;
  sc_core::sc_event finished_event_;
  core::Logger log_{"trace_player"};

  core::StatGroup stats_;
  core::Counter& transactions_;
  core::Counter& bytes_;
  core::Counter& errors_;
  core::Counter& not_issued_;
  core::Counter& late_;
  core::Scalar& measured_ns_;
  core::Histogram& latency_;
  core::Histogram& issue_delay_;
  core::StatGroup rid_group_;
  std::map<uint16_t, core::Counter*> rid_transactions_;
};

}  // namespace iovsim::traces

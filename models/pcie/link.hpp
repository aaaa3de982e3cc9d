// A PCIe link between a device and its root-complex port. Requests are split into TLPs like
// hardware (writes into MPS-sized MWr, reads into MRRS-sized MRd answered by MPS- or RCB-sized
// CplD, configuration requests into CfgRd/CfgWr) and every TLP is charged its wire bytes
// (link_timing.hpp) on its direction's timeline, at the earliest idle interval after it is ready,
// so the TLPs of requests processed later fill the gaps left by earlier ones. Each traversal adds a
// fixed latency.
//
// Upstream (device_side -> host_side): DMA. Reads in flight at the root port are limited by its
// non-posted request credits (held from the MRd's arrival until the last completion has been
// sent), posted writes by its posted credits (held from arrival until the target accepted the
// write). Downstream (host_down -> device_down): CPU configuration and MMIO requests; their
// completions use the upstream direction.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <deque>
#include <utility>

#include <systemc>
#include <tlm>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/core/timeline.hpp>

#include "config_space.hpp"
#include "link_timing.hpp"

namespace iovsim::pcie {

struct LinkConfig {
  LinkParams params;
  double latency_ns =
      100;  // one traversal: PHY, data-link and transaction-layer processing plus flight
  unsigned np_credits = 32;      // non-posted request credits the root port advertises
  unsigned posted_credits = 64;  // posted request credits the root port advertises

  static LinkConfig from(const core::Config& config);
};

// pcie.tags: the non-posted (read) requests a device may have in flight. Declared with the link,
// which every platform and device model links in, so each device can read it.
unsigned tags(const core::Config& config);

class Link : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<Link> device_side{"device_side"};  // DMA from the device
  tlm_utils::simple_initiator_socket<Link> host_side{"host_side"};   // to the root-complex port
  tlm_utils::simple_target_socket_optional<Link> host_down{"host_down"};  // from the root port
  tlm_utils::simple_initiator_socket_optional<Link> device_down{
      "device_down"};  // to the device's PCIe target

  Link(sc_core::sc_module_name name, const LinkConfig& config, core::StatGroup* parent_stats);

  const LinkConfig& config() const { return config_; }
  double tlp_gbps() const { return tlp_gbps_; }
  sc_core::sc_time serialization(uint64_t wire_bytes) const;

  // Max payload size and max read request size as enumeration programs them into the device's
  // Device Control (powers of two, 128..4096; std::invalid_argument otherwise). The MPS also sets
  // the ACK/flow-control DLLP rate, hence the TLP rate.
  void set_payload_sizes(unsigned mps, unsigned mrrs);
  // Keeps the payload sizes those of `device`'s Device Control: set at every write to its
  // configuration space (enumeration programs MPS and MRRS there).
  void follow_payload_sizes(ConfigSpace& device);

 private:
  // One direction: busy from each booked TLP's start to its end. A TLP goes in the earliest idle
  // interval at or after it is ready that fits it (an idle gap before the last booked TLP, or the
  // end). Times in picoseconds.
  class Direction {
   public:
    Direction(core::Counter& bytes, core::Counter& tlps) : bytes_(bytes), tlps_(tlps) {}
    // Books `service` ps no earlier than `ready`; `now` (the current simulated time: nothing
    // arrives before it) lets old gaps go. Returns the start.
    uint64_t book(uint64_t ready, uint64_t service, uint64_t now);
    void count(uint64_t wire_bytes) {
      bytes_ += wire_bytes;
      ++tlps_;
    }
    uint64_t busy_ps() const { return busy_ps_; }
    void set_min_gap(uint64_t ps) { min_gap_ = ps; }

   private:
    void add_gap(uint64_t start, uint64_t end);
    core::Counter& bytes_;
    core::Counter& tlps_;
    uint64_t horizon_ = 0;  // end of the last booked TLP
    // Idle [start, end) before the horizon, sorted by start; few, mostly appended at the back and
    // dropped from the front, so a deque beats a node-allocating map here.
    std::deque<std::pair<uint64_t, uint64_t>> gaps_;
    uint64_t min_gap_ = 0;  // gaps shorter than the smallest TLP are dropped
    uint64_t busy_ps_ = 0;
  };

  // Serialization in ps, remembered for a few recent sizes (llround is a library call).
  uint64_t ser_ps(uint64_t wire_bytes);
  // Sends one TLP of `wire_bytes` ready at `ready`; returns when its last byte has left.
  uint64_t send(Direction& d, uint64_t ready, uint64_t wire_bytes, uint64_t now);
  // The completions answering one MRd of `chunk` bytes, ready at `ready` (one Cpl without data
  // when the request failed); returns when the last has left.
  uint64_t send_completions(Direction& d, uint64_t ready, uint64_t chunk, bool ok, uint64_t now);

  // A memory read or write through `target`, requests on `req`, completions on `cpl`; `credits`
  // (with its wait statistic) limits requests in flight at the receiver when given.
  void read(tlm::tlm_generic_payload& p, sc_core::sc_time& delay,
            tlm::tlm_fw_transport_if<>& target, Direction& req, Direction& cpl,
            core::Timeline* credits, core::Scalar* credit_wait);
  void write(tlm::tlm_generic_payload& p, sc_core::sc_time& delay,
             tlm::tlm_fw_transport_if<>& target, Direction& req, core::Timeline* credits,
             core::Scalar* credit_wait);
  void config_access(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);

  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  void down_b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  unsigned int transport_dbg(tlm::tlm_generic_payload& p) { return host_side->transport_dbg(p); }
  unsigned int down_transport_dbg(tlm::tlm_generic_payload& p);
  void set_rate();

  LinkConfig config_;
  double tlp_gbps_ = 0;
  double ps_per_byte_ = 0;
  uint64_t latency_ps_;
  struct SerializationMemo {
    uint64_t wire_bytes = ~uint64_t{0};
    uint64_t ps = 0;
  };
  SerializationMemo memo_[8];
  core::Timeline np_credits_, posted_credits_;

  core::StatGroup stats_;
  core::Counter& up_bytes_;
  core::Counter& down_bytes_;
  core::Counter& tlps_up_;
  core::Counter& tlps_down_;
  core::Scalar& np_wait_ns_;
  core::Scalar& posted_wait_ns_;
  Direction up_, down_;
};

}  // namespace iovsim::pcie

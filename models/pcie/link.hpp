// A PCIe link between a device and a root-complex port: each direction is a contention timeline at
// the link's TLP rate; every request is charged its wire bytes (link_timing.hpp) plus a fixed
// propagation and processing latency per traversal. Reads charge the request upstream and the
// completions downstream; writes are posted and charged upstream only.
//
// Not modelled yet (the PCIe-fabric issue adds them): tags and flow-control credits, RCB-split
// completions, and the interleaving of one request's TLPs with another's (a request's TLPs occupy
// the link back to back).
#pragma once

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/core/timeline.hpp>

#include "link_timing.hpp"

namespace iovsim::pcie {

struct LinkConfig {
  LinkParams params;
  double latency_ns =
      100;  // one traversal: PHY, data-link and transaction-layer processing plus flight

  static LinkConfig from(const core::Config& config);
};

class Link : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<Link> device_side{"device_side"};  // requests from the device
  tlm_utils::simple_initiator_socket<Link> host_side{"host_side"};   // to the root-complex port

  Link(sc_core::sc_module_name name, const LinkConfig& config, core::StatGroup* parent_stats);

  const LinkConfig& config() const { return config_; }
  double tlp_gbps() const { return tlp_gbps_; }
  sc_core::sc_time serialization(uint64_t wire_bytes) const;

 private:
  // serialization(), remembered for the last size of one direction (a workload repeats its sizes,
  // and llround is a library call).
  struct SerializationMemo {
    uint64_t wire_bytes = ~uint64_t{0};
    sc_core::sc_time time;
  };
  sc_core::sc_time serialization(uint64_t wire_bytes, SerializationMemo& memo) const;
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  unsigned int transport_dbg(tlm::tlm_generic_payload& p) { return host_side->transport_dbg(p); }

  LinkConfig config_;
  double tlp_gbps_;
  double ps_per_byte_;
  sc_core::sc_time latency_;
  core::Timeline up_, down_;
  SerializationMemo up_memo_, down_memo_;

  core::StatGroup stats_;
  core::Counter& up_bytes_;
  core::Counter& down_bytes_;
  core::Counter& tlps_up_;
  core::Counter& tlps_down_;
};

}  // namespace iovsim::pcie

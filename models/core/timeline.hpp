// A contention timeline: a shared resource with k identical servers (a link direction, a memory
// channel, a page-walker slot). A request arriving at t starts at the earliest time >= t at which a
// server is free and occupies it for its service time. This gives queueing, bandwidth limits and
// pipelining without extra SystemC processes.
//
// With temporal decoupling, requests may arrive slightly out of time order; each is served by the
// server that frees earliest, which is exact for in-order arrivals and a close approximation
// otherwise.
#pragma once

#include <cstdint>
#include <vector>

#include <systemc>

namespace iovsim::core {

class Timeline {
 public:
  explicit Timeline(unsigned servers = 1);

  // Reserves a server for `service` from the earliest moment >= arrival; returns the start time.
  sc_core::sc_time acquire(const sc_core::sc_time& arrival, const sc_core::sc_time& service);

  // When a request arriving at `arrival` would start, without reserving anything. Lets a caller
  // whose service time depends on the start (a page walk's memory reads) compute it before
  // acquire().
  sc_core::sc_time next_start(const sc_core::sc_time& arrival) const;

  unsigned servers() const { return static_cast<unsigned>(free_at_.size()); }
  uint64_t acquisitions() const { return acquisitions_; }
  // Sum of service times granted.
  sc_core::sc_time busy() const { return sc_core::sc_time::from_value(busy_ps_); }
  // Sum of (start - arrival): time requests spent waiting for a server.
  sc_core::sc_time waited() const { return sc_core::sc_time::from_value(waited_ps_); }
  // Latest time any server becomes free.
  sc_core::sc_time horizon() const { return sc_core::sc_time::from_value(horizon_ps_); }
  // Fraction of capacity used over [0, span]: busy / (servers * span).
  double occupancy(const sc_core::sc_time& span) const;

  void reset();

 private:
  std::vector<uint64_t> free_at_;  // min-heap (std::greater) of server free times, picoseconds
  uint64_t acquisitions_ = 0;
  uint64_t busy_ps_ = 0;
  uint64_t waited_ps_ = 0;
  uint64_t horizon_ps_ = 0;
};

}  // namespace iovsim::core

#include "timeline.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>

namespace iovsim::core {

using sc_core::sc_time;

Timeline::Timeline(unsigned servers) : free_at_(servers, 0) {
  if (servers == 0) throw std::invalid_argument("Timeline needs at least one server");
}

sc_time Timeline::acquire(const sc_time& arrival, const sc_time& service) {
  const uint64_t arrive = arrival.value();
  const uint64_t serve = service.value();
  uint64_t start;
  if (free_at_.size() == 1) {
    start = std::max(arrive, free_at_[0]);
    free_at_[0] = start + serve;
  } else {
    // Replace the earliest-free server's time and sift it down: one pass instead of pop + push.
    start = std::max(arrive, free_at_[0]);
    const uint64_t value = start + serve;
    const std::size_t n = free_at_.size();
    std::size_t i = 0;
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && free_at_[child + 1] < free_at_[child]) ++child;
      if (free_at_[child] >= value) break;
      free_at_[i] = free_at_[child];
      i = child;
    }
    free_at_[i] = value;
  }
  ++acquisitions_;
  busy_ps_ += serve;
  waited_ps_ += start - arrive;
  horizon_ps_ = std::max(horizon_ps_, start + serve);
  return sc_time::from_value(start);
}

sc_time Timeline::next_start(const sc_time& arrival) const {
  // free_at_ is a min-heap: its front is the earliest free server.
  return sc_time::from_value(std::max<uint64_t>(arrival.value(), free_at_.front()));
}

double Timeline::occupancy(const sc_time& span) const {
  if (span.value() == 0) return 0.0;
  return static_cast<double>(busy_ps_) / (static_cast<double>(span.value()) * servers());
}

void Timeline::reset() {
  std::fill(free_at_.begin(), free_at_.end(), 0);
  acquisitions_ = busy_ps_ = waited_ps_ = horizon_ps_ = 0;
}

}  // namespace iovsim::core

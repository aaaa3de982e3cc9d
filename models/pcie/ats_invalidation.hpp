// The device side of ATS invalidation, plain C++: a function may complete an Invalidate Request
// only once the translated requests (AT = 10) it issued before the request arrived have completed,
// since those may still use the translation being invalidated. Requests issued afterwards cannot
// (the function drops the range from its cache on arrival), so they never hold a completion back.
// Two ways to use it, per function (fn = its routing id):
//
// Loosely timed (a translated request's completion time is known once its b_transport returns):
//   on_translated(fn, done_ps)                after each translated request
//   t = completion_time(fn, arrival_ps)       on an Invalidate Request (after dropping its range
//                                             from fn's cache): send the completion at t, at once
//                                             (annotated) or later
//
// Event driven (the device learns of completions when simulated time reaches them):
//   ticket = on_translated_issue(fn)          when a translated request leaves the function
//   due = on_translated_done(fn, ticket)      when it has completed: the completions now due
//   c = on_invalidate_request(request)        at the request's arrival time (not when b_transport
//                                             delivers it annotated with a later time: use a
//                                             payload event queue): the completion to send now,
//                                             or nullopt (deferred: on_translated_done returns it)
//
// Either way send each completion upstream with ats_messages.hpp's make_invalidate_completion.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "ats_messages.hpp"

namespace iovsim::pcie {

// One Invalidate Completion to send: from `function` to `requester`, for the ITags in the vector.
struct InvalidateCompletion {
  uint16_t function = 0;
  uint16_t requester = kHostRid;
  uint32_t itag_vector = 0;
};

class AtsInvalidationTracker {
 public:
  // ---- Loosely timed.
  void on_translated(uint16_t fn, uint64_t done_ps);
  // max(arrival_ps, the latest completion of fn's translated requests so far). Requests sent
  // before in host order count even if issued later in simulated time (a thread may run ahead by
  // a quantum): they may have used the translation.
  uint64_t completion_time(uint16_t fn, uint64_t arrival_ps) const;

  // ---- Event driven.
  uint64_t on_translated_issue(uint16_t fn);
  // Completions now due, for fn only, in arrival order (ITags of one requester coalesced into one
  // vector). An unknown ticket is ignored.
  std::vector<InvalidateCompletion> on_translated_done(uint16_t fn, uint64_t ticket);
  std::optional<InvalidateCompletion> on_invalidate_request(const InvalidateRequest& request);

  // Translated requests of fn in flight; invalidations of fn waiting for them.
  unsigned outstanding(uint16_t fn) const;
  unsigned deferred(uint16_t fn) const;

 private:
  struct Deferred {
    uint64_t barrier;  // tickets below it must complete first
    uint16_t requester;
    uint8_t itag;
  };
  struct Function {
    uint64_t next_ticket = 0;
    std::set<uint64_t> outstanding;
    std::deque<Deferred> deferred;  // barriers never decrease: due ones are at the front
    uint64_t latest_done_ps = 0;    // loosely timed
  };
  bool due(const Function& f, const Deferred& d) const {
    return f.outstanding.empty() || *f.outstanding.begin() >= d.barrier;
  }

  std::map<uint16_t, Function> functions_;
};

}  // namespace iovsim::pcie

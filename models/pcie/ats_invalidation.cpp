#include "ats_invalidation.hpp"

#include <algorithm>

namespace iovsim::pcie {

void AtsInvalidationTracker::on_translated(uint16_t fn, uint64_t done_ps) {
  Function& f = functions_[fn];
  f.latest_done_ps = std::max(f.latest_done_ps, done_ps);
}

uint64_t AtsInvalidationTracker::completion_time(uint16_t fn, uint64_t arrival_ps) const {
  auto it = functions_.find(fn);
  return it == functions_.end() ? arrival_ps : std::max(arrival_ps, it->second.latest_done_ps);
}

uint64_t AtsInvalidationTracker::on_translated_issue(uint16_t fn) {
  Function& f = functions_[fn];
  const uint64_t ticket = f.next_ticket++;
  f.outstanding.insert(ticket);
  return ticket;
}

std::vector<InvalidateCompletion> AtsInvalidationTracker::on_translated_done(uint16_t fn,
                                                                             uint64_t ticket) {
  std::vector<InvalidateCompletion> out;
  auto it = functions_.find(fn);
  if (it == functions_.end()) return out;
  Function& f = it->second;
  f.outstanding.erase(ticket);
  while (!f.deferred.empty() && due(f, f.deferred.front())) {
    const Deferred d = f.deferred.front();
    f.deferred.pop_front();
    InvalidateCompletion* c = nullptr;
    for (InvalidateCompletion& o : out)
      if (o.requester == d.requester) c = &o;
    if (!c) {
      out.push_back(InvalidateCompletion{fn, d.requester, 0});
      c = &out.back();
    }
    c->itag_vector |= uint32_t{1} << (d.itag % core::ats::kItags);
  }
  return out;
}

std::optional<InvalidateCompletion> AtsInvalidationTracker::on_invalidate_request(
    const InvalidateRequest& request) {
  Function& f = functions_[request.function];
  const Deferred d{f.next_ticket, request.requester, request.itag};
  // Behind an earlier deferred one it waits too: completions go out in the order requests came.
  if (f.deferred.empty() && due(f, d))
    return InvalidateCompletion{request.function, request.requester,
                                uint32_t{1} << (request.itag % core::ats::kItags)};
  f.deferred.push_back(d);
  return std::nullopt;
}

unsigned AtsInvalidationTracker::outstanding(uint16_t fn) const {
  auto it = functions_.find(fn);
  return it == functions_.end() ? 0 : static_cast<unsigned>(it->second.outstanding.size());
}

unsigned AtsInvalidationTracker::deferred(uint16_t fn) const {
  auto it = functions_.find(fn);
  return it == functions_.end() ? 0 : static_cast<unsigned>(it->second.deferred.size());
}

}  // namespace iovsim::pcie

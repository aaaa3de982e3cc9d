#include "ats_service.hpp"

#include <utility>

namespace iovsim::iommu {

namespace ats = core::ats;

AtsService::AtsService(SendFn send, CompletedFn completed, core::StatGroup* parent)
    : send_(std::move(send)),
      completed_(std::move(completed)),
      stats_("ats", parent),
      translation_requests(stats_.add_counter(
          "translation_requests", "ATS translation requests (AT = 01) answered with a completion")),
      no_translation(stats_.add_counter(
          "no_translation",
          "Translation completion entries with R = W = 0 (not mapped for the requester)")),
      translated_requests(stats_.add_counter(
          "translated_requests",
          "Translated requests (AT = 10) passed to memory without IOTLB lookup or walk")),
      blocked(stats_.add_counter(
          "blocked",
          "Translation and translated requests blocked (UR): TT != 1 (0xD), other "
          "faults, or translation disabled")),
      translation_latency_ns(
          stats_.add_histogram("translation_latency_ns",
                               "Translation request arrival to its completion entries known (ns)")),
      sent_(stats_.add_counter("invalidations_sent",
                               "Invalidate Request messages sent (device-TLB descriptors)")),
      unclaimed_(stats_.add_counter(
          "invalidations_unclaimed",
          "Invalidate Requests no function accepted: completed at once, nothing to wait for")),
      completions_(stats_.add_counter("invalidation_completions",
                                      "Invalidations completed by the function's completions")),
      spurious_(stats_.add_counter("spurious_completions",
                                   "Invalidate Completion ITags that were not outstanding")),
      itag_stalls_(stats_.add_counter(
          "itag_stalls",
          "Device-TLB descriptors that waited for an ITag (32 outstanding to that function)")),
      completion_latency_ns_(stats_.add_histogram(
          "completion_latency_ns", "Invalidate Request sent to its completion back (ns)")),
      wait_stall_ns_(stats_.add_histogram(
          "wait_stall_ns",
          "Queued waits held back by device-TLB completions: time from reaching the wait to "
          "completing it (ns)")) {
  stats_.add_formula("invalidations_pending",
                     "Invalidations sent and not completed (at the end of the run: never)",
                     [this] { return double(pending_); });
}

DeviceTlbOutcome AtsService::invalidate(uint16_t sid, uint64_t addr, bool s, uint64_t t_ps) {
  Function& f = functions_[sid];
  if (f.busy == ~uint32_t{0}) {
    ++itag_stalls_;
    return DeviceTlbOutcome::no_itag();
  }
  unsigned tag = f.next;
  while ((f.busy >> tag) & 1) tag = (tag + 1) % ats::kItags;
  f.next = (tag + 1) % ats::kItags;
  const uint32_t m = uint32_t{1} << tag;
  f.busy |= m;
  f.in_send |= m;
  f.done_in_send &= ~m;
  f.received[tag] = 0;
  f.expected[tag] = 0;
  f.sent_ps[tag] = t_ps;

  // The descriptor's ADDR[63:12] and S go out unchanged (the same encoding, S at bit 11).
  const uint64_t body =
      (addr & core::bit_mask(63, ats::kPageShift)) | uint64_t{s} << ats::InvalidateRequestBody::kS;
  ++sent_;
  const bool accepted = send_ ? send_(sid, static_cast<uint8_t>(tag), body, t_ps) : false;
  // (f stays valid: a std::map keeps its elements in place while others are added.)
  f.in_send &= ~m;
  if (!accepted || (f.done_in_send & m)) {
    f.busy &= ~m;
    f.done_in_send &= ~m;
    if (!accepted) {
      ++unclaimed_;
      return t_ps;
    }
    return f.done_ps[tag];
  }
  ++pending_;
  return DeviceTlbOutcome::pending();
}

void AtsService::on_completion(uint16_t source, uint32_t itag_vector, unsigned cc, uint64_t t_ps) {
  auto it = functions_.find(source);
  for (unsigned tag = 0; tag < ats::kItags; ++tag) {
    const uint32_t m = uint32_t{1} << tag;
    if (!(itag_vector & m)) continue;
    if (it == functions_.end() || !(it->second.busy & m)) {
      ++spurious_;
      continue;
    }
    Function& f = it->second;
    if (f.received[tag] == 0) f.expected[tag] = static_cast<uint8_t>(ats::completions_expected(cc));
    if (++f.received[tag] < f.expected[tag]) continue;
    ++completions_;
    completion_latency_ns_.record(double(t_ps > f.sent_ps[tag] ? t_ps - f.sent_ps[tag] : 0) /
                                  1000.0);
    if (f.in_send & m) {  // the send call returns this time
      f.done_in_send |= m;
      f.done_ps[tag] = t_ps;
      continue;
    }
    f.busy &= ~m;
    --pending_;
    if (completed_) completed_(t_ps);
  }
}

}  // namespace iovsim::iommu

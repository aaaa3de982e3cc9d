// The remapping unit's ATS side (vtd-pcie.md §3, §6), plain C++: the statistics of translation
// requests (AT = 01) and translated requests (AT = 10), which the unit serves in
// remapping_unit_ats.cpp, and device-TLB invalidation — an Invalidate Request message per
// device-TLB descriptor, with an ITag per target function (32 each, as the 5-bit ITag allows), and
// the Invalidate Completions that come back, possibly much later, possibly within the request's
// own call chain.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>

#include <iovsim/core/ats_format.hpp>
#include <iovsim/core/stats.hpp>

#include "invalidation_queue.hpp"

namespace iovsim::iommu {

class AtsService {
 public:
  // Sends an Invalidate Request (target function, ITag, 8-byte body) leaving at t_ps; returns
  // whether a function accepted it (false: nothing routes to that id, or no ATS function there).
  using SendFn = std::function<bool(uint16_t sid, uint8_t itag, uint64_t body, uint64_t t_ps)>;
  // An invalidation completed outside its own send call (the queue may be waiting for it).
  using CompletedFn = std::function<void(uint64_t done_ps)>;

  // Stats in group "ats" under parent.
  AtsService(SendFn send, CompletedFn completed, core::StatGroup* parent);

  // A device-TLB descriptor (SID, ADDR[63:12], S) executed at t_ps. Completed at once (done_ps)
  // when the completion came back during the send or no function accepted the request (counted in
  // invalidations_unclaimed: there is nothing to wait for); otherwise pending until
  // on_completion(). kNoItag when all 32 ITags of that function are outstanding.
  DeviceTlbOutcome invalidate(uint16_t sid, uint64_t addr, bool s, uint64_t t_ps);
  // An Invalidate Completion from function `source` arrived at t_ps. Each ITag set in the vector
  // counts one completion; the invalidation is done after completions_expected(cc) of them. ITags
  // not outstanding for that function are counted (spurious_completions) and ignored.
  void on_completion(uint16_t source, uint32_t itag_vector, unsigned cc, uint64_t t_ps);
  // A queued wait completed stall_ps late because of device-TLB completions.
  void wait_stalled(uint64_t stall_ps) { wait_stall_ns_.record(double(stall_ps) / 1000.0); }

  unsigned pending() const { return pending_; }  // invalidations sent and not completed
  core::StatGroup& stats() { return stats_; }

 private:
  struct Function {
    uint32_t busy = 0;     // ITags outstanding
    uint32_t in_send = 0;  // ITags whose request is being sent right now
    uint32_t done_in_send = 0;
    unsigned next = 0;  // ITags are handed out round robin
    std::array<uint8_t, core::ats::kItags> received{}, expected{};
    std::array<uint64_t, core::ats::kItags> sent_ps{}, done_ps{};
  };

  SendFn send_;
  CompletedFn completed_;
  std::map<uint16_t, Function> functions_;
  unsigned pending_ = 0;
  core::StatGroup stats_;

 public:
  // Request-serving statistics, counted by the remapping unit (after stats_: they live in it).
  core::Counter& translation_requests;
  core::Counter& no_translation;
  core::Counter& translated_requests;
  core::Counter& blocked;
  core::Histogram& translation_latency_ns;

 private:
  core::Counter& sent_;
  core::Counter& unclaimed_;
  core::Counter& completions_;
  core::Counter& spurious_;
  core::Counter& itag_stalls_;
  core::Histogram& completion_latency_ns_;
  core::Histogram& wait_stall_ns_;
};

}  // namespace iovsim::iommu

// The queued-invalidation engine (vtd-pcie.md §3): fetches 128-bit descriptors from the queue in
// host memory between IQH and IQT, executes them through hooks into the caches, the device-TLB
// messaging and the interrupt entry cache, and completes invalidation-wait descriptors (status
// write, completion interrupt). Plain C++ with explicit time: the SystemC shell calls process()
// when IQT is written and advances simulated time to the returned value.
#pragma once

#include <cstdint>
#include <functional>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>

#include "register_file.hpp"
#include "vtd_format.hpp"

namespace iovsim::iommu {

// Host memory as the invalidation engine sees it (timed).
struct QiMemory {
  virtual ~QiMemory() = default;
  // Issued at *t_ps; on return *t_ps = the time the access is done. False: the access failed.
  virtual bool read(uint64_t hpa, void* dst, unsigned len, uint64_t* t_ps) = 0;
  virtual bool write(uint64_t hpa, const void* src, unsigned len, uint64_t* t_ps) = 0;
};

// What became of a device-TLB invalidation request. A time converts implicitly: the completion is
// back then.
struct DeviceTlbOutcome {
  enum class Kind : uint8_t {
    kCompleted,  // the completion is back at done_ps (it came within the call, or no device took
                 // it)
    kPending,    // sent; InvalidationQueue::device_tlb_completed() reports the completion later
    kNoItag,     // not sent: every ITag for that function is in use; retry after a completion
  };
  Kind kind = Kind::kCompleted;
  uint64_t done_ps = 0;
  DeviceTlbOutcome(uint64_t done) : done_ps(done) {}  // NOLINT(google-explicit-constructor)
  static DeviceTlbOutcome pending() { return DeviceTlbOutcome(Kind::kPending); }
  static DeviceTlbOutcome no_itag() { return DeviceTlbOutcome(Kind::kNoItag); }

 private:
  explicit DeviceTlbOutcome(Kind k) : kind(k) {}
};

struct QiHooks {
  std::function<void(vtd::Granularity, uint16_t did, uint16_t sid, unsigned fm)> invalidate_context;
  std::function<void(vtd::Granularity, uint16_t did, uint64_t addr, unsigned am, bool ih)>
      invalidate_iotlb;
  // Device-TLB invalidation: sends the invalidate request at t_ps (empty hook: completes
  // immediately).
  std::function<DeviceTlbOutcome(uint16_t sid, uint64_t addr, bool size_bit, uint64_t t_ps)>
      invalidate_device_tlb;
  std::function<void(bool global, uint16_t index, unsigned im)> invalidate_iec;
  // A wait completed stall_ps later than the engine reached it, held back by device-TLB
  // invalidation completions.
  std::function<void(uint64_t stall_ps)> wait_stalled;
};

struct QiTiming {
  uint64_t cycle_ps = 1000;
  unsigned descriptor_cycles = 10;
  // descriptor_cycles from iommu.qi.descriptor_cycles; cycle_ps is the IOMMU clock's.
  static QiTiming from(const core::Config& config, uint64_t cycle_ps);
};

class InvalidationQueue {
 public:
  InvalidationQueue(RegisterFile& regs, QiMemory& mem, QiHooks hooks, QiTiming timing,
                    core::StatGroup* parent);

  // Processes descriptors from IQH up to IQT starting at start_ps (or when the engine is free, if
  // later): fetches each (timed read), executes it (descriptor_cycles), advances IQH. A wait
  // completes only after everything before it, including device-TLB invalidation completions; then
  // SW writes the status data, IF raises the completion interrupt. A malformed descriptor, or IQT
  // beyond the queue, or a 256-bit queue, sets FSTS.IQE and stops with IQH on the culprit. Nothing
  // is fetched while FSTS.IQE is set. Returns the time processing finished.
  //
  // The engine stalls (in order: nothing after is executed) at a wait while device-TLB completions
  // are outstanding, and at a device-TLB descriptor that found no free ITag, with IQH on that
  // descriptor. process() resumes it once device_tlb_completed() has reported what it needs.
  uint64_t process(uint64_t start_ps);

  // A pending device-TLB invalidation's completion came back at done_ps. Returns true when the
  // engine is stalled and should be resumed: call process() (at done_ps, so a status write is not
  // made visible early; process() never completes the wait before done_ps anyway).
  bool device_tlb_completed(uint64_t done_ps);

  bool stalled() const { return stall_ != Stall::kNone; }
  unsigned device_tlb_pending() const { return device_tlb_pending_; }

 private:
  enum class Result : uint8_t { kDone, kError, kStalled };
  enum class Stall : uint8_t { kNone, kWait, kNoItag };
  // Executes one descriptor at *t: kError after setting IQE if it is malformed, kStalled (stall_
  // set) if it must wait for device-TLB completions.
  Result execute(const vtd::QiDescriptor& d, uint64_t* t);
  Result device_tlb(const vtd::QiDescriptor& d, uint64_t* t);
  Result wait(const vtd::QiDescriptor& d, uint64_t reached, uint64_t* t);
  void error(uint64_t iqei);

  RegisterFile& regs_;
  QiMemory& mem_;
  QiHooks hooks_;
  QiTiming timing_;
  uint64_t busy_until_ = 0;          // the engine processes one batch at a time
  uint64_t outstanding_until_ = 0;   // latest device-TLB completion not yet waited for
  unsigned device_tlb_pending_ = 0;  // sent, completion not reported yet
  Stall stall_ = Stall::kNone;
  vtd::QiDescriptor stalled_;   // the descriptor the engine stopped at
  unsigned stalled_index_ = 0;  // its queue slot (IQH)
  uint64_t stalled_since_ = 0;  // when the engine reached it
  core::StatGroup stats_;
  core::Counter& descriptors_;
  core::Counter& waits_;
  core::Counter& errors_;
};

}  // namespace iovsim::iommu

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

struct QiHooks {
  std::function<void(vtd::Granularity, uint16_t did, uint16_t sid, unsigned fm)> invalidate_context;
  std::function<void(vtd::Granularity, uint16_t did, uint64_t addr, unsigned am, bool ih)>
      invalidate_iotlb;
  // Device-TLB invalidation: sends the invalidate request at t_ps; returns the time the device's
  // completion is back (empty hook: completes immediately).
  std::function<uint64_t(uint16_t sid, uint64_t addr, bool size_bit, uint64_t t_ps)>
      invalidate_device_tlb;
  std::function<void(bool global, uint16_t index, unsigned im)> invalidate_iec;
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
  uint64_t process(uint64_t start_ps);

 private:
  // Executes one descriptor at *t; returns false (after setting IQE) if it is malformed.
  bool execute(const vtd::QiDescriptor& d, uint64_t* t);
  void error(uint64_t iqei);

  RegisterFile& regs_;
  QiMemory& mem_;
  QiHooks hooks_;
  QiTiming timing_;
  uint64_t busy_until_ = 0;         // the engine processes one batch at a time
  uint64_t outstanding_until_ = 0;  // latest device-TLB completion not yet waited for
  core::StatGroup stats_;
  core::Counter& descriptors_;
  core::Counter& waits_;
  core::Counter& errors_;
};

}  // namespace iovsim::iommu

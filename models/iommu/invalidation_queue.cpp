#include "invalidation_queue.hpp"

#include <algorithm>
#include <utility>

#include <iovsim/core/event_trace.hpp>

namespace iovsim::iommu {

namespace {
// For the timeline: the descriptor's type and granularity.
const char* descriptor_name(const vtd::QiDescriptor& d) {
  static const char* const kContext[] = {"context reserved", "context global", "context domain",
                                         "context device"};
  static const char* const kIotlb[] = {"iotlb reserved", "iotlb global", "iotlb domain",
                                       "iotlb page"};
  const unsigned g = static_cast<unsigned>(d.granularity()) & 3;
  switch (static_cast<vtd::QiType>(d.type())) {
    case vtd::QiType::kContextCache:
      return kContext[g];
    case vtd::QiType::kIotlb:
      return kIotlb[g];
    case vtd::QiType::kDeviceTlb:
      return "device-tlb";
    case vtd::QiType::kInterruptEntryCache:
      return d.iec_index_selective() ? "iec index" : "iec global";
    case vtd::QiType::kWait:
      return "wait";
    default:
      return "invalid";
  }
}

const core::IntParam kDescriptorCycles{"iommu.qi.descriptor_cycles", 10,
                                       "IOMMU cycles to process one invalidation descriptor",
                                       core::Range{0, 1000000}};
}  // namespace

QiTiming QiTiming::from(const core::Config& config, uint64_t cycle_ps) {
  QiTiming t;
  t.cycle_ps = cycle_ps;
  t.descriptor_cycles = static_cast<unsigned>(kDescriptorCycles.get(config));
  return t;
}

InvalidationQueue::InvalidationQueue(RegisterFile& regs, QiMemory& mem, QiHooks hooks,
                                     QiTiming timing, core::StatGroup* parent)
    : regs_(regs),
      mem_(mem),
      hooks_(std::move(hooks)),
      timing_(timing),
      stats_("qi", parent),
      descriptors_(stats_.add_counter("descriptors", "Invalidation descriptors executed")),
      waits_(stats_.add_counter("waits", "Invalidation wait descriptors completed")),
      errors_(stats_.add_counter("errors", "Invalidation queue errors (FSTS.IQE)")) {}

void InvalidationQueue::error(uint64_t iqei) {
  ++errors_;
  regs_.set_iqe(iqei);
}

uint64_t InvalidationQueue::process(uint64_t start_ps) {
  uint64_t t = std::max(start_ps, busy_until_);
  if (!regs_.qi_enabled() || regs_.iqe()) return t;
  // Software disabled and re-enabled the queue (IQH back to 0) since the engine stalled: the
  // stalled descriptor is gone with the old queue.
  if (stall_ != Stall::kNone && regs_.iq_head() != stalled_index_) stall_ = Stall::kNone;
  if (regs_.iq_head() == regs_.iq_tail()) return t;
  // Queue-level checks before any fetch: the engine only handles 128-bit descriptors, and a tail
  // outside the queue means software and hardware disagree on its size.
  if (!regs_.iq_128bit()) {
    error(iqei::kInvalidWidth);
    return t;
  }
  const unsigned entries = regs_.iq_entries();
  if (regs_.iq_tail() >= entries) {
    error(iqei::kInvalidTail);
    return t;
  }
  unsigned head = regs_.iq_head() % entries;
  while (head != regs_.iq_tail()) {
    Result r;
    const uint64_t fetch = t;
    vtd::QiDescriptor d;
    if (stall_ != Stall::kNone) {
      // Resume at the descriptor already fetched and executed once: no second fetch.
      const Stall was = stall_;
      stall_ = Stall::kNone;
      d = stalled_;
      r = was == Stall::kWait ? wait(stalled_, stalled_since_, &t) : device_tlb(stalled_, &t);
    } else {
      uint64_t raw[2] = {0, 0};
      if (!mem_.read(regs_.iq_base() + 16ull * head, raw, sizeof raw, &t)) {
        error(iqei::kFetchError);
        break;
      }
      d.lo = raw[0];
      d.hi = raw[1];
      t += timing_.descriptor_cycles * timing_.cycle_ps;
      r = execute(d, &t);
      if (r == Result::kStalled) {
        stalled_ = d;
        stalled_index_ = head;
      }
    }
    if (r == Result::kDone)
      if (auto* tl = core::EventTrace::active())
        tl->slice("iommu", "invalidation", descriptor_name(d), "invalidation", fetch, t,
                  core::EventArgs().num("index", head));
    if (r != Result::kDone) break;
    ++descriptors_;
    head = (head + 1) % entries;
    regs_.set_iq_head(head);
  }
  busy_until_ = t;
  return t;
}

bool InvalidationQueue::device_tlb_completed(uint64_t done_ps) {
  if (device_tlb_pending_ > 0) --device_tlb_pending_;
  outstanding_until_ = std::max(outstanding_until_, done_ps);
  return stall_ != Stall::kNone;
}

InvalidationQueue::Result InvalidationQueue::device_tlb(const vtd::QiDescriptor& d, uint64_t* t) {
  // The request goes out now; only a later wait has to see its completion.
  if (!hooks_.invalidate_device_tlb) {
    outstanding_until_ = std::max(outstanding_until_, *t);
    return Result::kDone;
  }
  const DeviceTlbOutcome o = hooks_.invalidate_device_tlb(d.sid(), d.addr(), d.size_bit(), *t);
  switch (o.kind) {
    case DeviceTlbOutcome::Kind::kCompleted:
      outstanding_until_ = std::max(outstanding_until_, o.done_ps);
      return Result::kDone;
    case DeviceTlbOutcome::Kind::kPending:
      ++device_tlb_pending_;
      return Result::kDone;
    case DeviceTlbOutcome::Kind::kNoItag:
      stall_ = Stall::kNoItag;
      stalled_since_ = *t;
      return Result::kStalled;
  }
  return Result::kDone;
}

InvalidationQueue::Result InvalidationQueue::wait(const vtd::QiDescriptor& d, uint64_t reached,
                                                  uint64_t* t) {
  // Everything before the wait is done, device-TLB completions included (the engine executes in
  // order, so FN needs nothing more).
  if (device_tlb_pending_ > 0) {
    stall_ = Stall::kWait;
    stalled_since_ = reached;
    return Result::kStalled;
  }
  *t = std::max(*t, outstanding_until_);
  if (*t > reached && outstanding_until_ > reached && hooks_.wait_stalled)
    hooks_.wait_stalled(*t - reached);
  if (d.wait_sw()) {
    const uint32_t data = d.wait_status_data();
    if (!mem_.write(d.wait_status_addr(), &data, sizeof data, t)) {
      error(iqei::kFetchError);
      return Result::kError;
    }
  }
  if (d.wait_if()) regs_.invalidation_wait_interrupt();
  ++waits_;
  return Result::kDone;
}

InvalidationQueue::Result InvalidationQueue::execute(const vtd::QiDescriptor& d, uint64_t* t) {
  InvalidationStats& inv = regs_.invalidation_stats();
  const IommuCaps& caps = regs_.caps();
  const vtd::Granularity g = d.granularity();
  switch (static_cast<vtd::QiType>(d.type())) {
    case vtd::QiType::kContextCache:
      switch (g) {
        case vtd::Granularity::kGlobal:
          ++inv.context_global;
          break;
        case vtd::Granularity::kDomain:
          ++inv.context_domain;
          break;
        case vtd::Granularity::kDeviceOrPage:
          ++inv.context_device;
          break;
        default:
          error(iqei::kReservedField);
          return Result::kError;
      }
      if (hooks_.invalidate_context) hooks_.invalidate_context(g, d.did(), d.sid(), d.fm());
      return Result::kDone;
    case vtd::QiType::kIotlb:
      switch (g) {
        case vtd::Granularity::kGlobal:
          ++inv.iotlb_global;
          break;
        case vtd::Granularity::kDomain:
          ++inv.iotlb_domain;
          break;
        case vtd::Granularity::kDeviceOrPage:
          if (!caps.psi || d.am() > caps.mamv) {
            error(iqei::kReservedField);
            return Result::kError;
          }
          ++inv.iotlb_page;
          break;
        default:
          error(iqei::kReservedField);
          return Result::kError;
      }
      if (hooks_.invalidate_iotlb) hooks_.invalidate_iotlb(g, d.did(), d.addr(), d.am(), d.ih());
      return Result::kDone;
    case vtd::QiType::kDeviceTlb:
      if (!caps.dt) {  // not advertised: the type is invalid
        error(iqei::kInvalidType);
        return Result::kError;
      }
      ++inv.device_tlb;
      return device_tlb(d, t);
    case vtd::QiType::kInterruptEntryCache: {
      if (!caps.ir) {
        error(iqei::kInvalidType);
        return Result::kError;
      }
      const bool global = !d.iec_index_selective();
      if (!global && d.iec_im() > caps.mhmv) {
        error(iqei::kReservedField);
        return Result::kError;
      }
      ++inv.iec;
      if (hooks_.invalidate_iec) hooks_.invalidate_iec(global, d.iec_iidx(), d.iec_im());
      return Result::kDone;
    }
    case vtd::QiType::kWait:
      return wait(d, *t, t);
    default:
      error(iqei::kInvalidType);
      return Result::kError;
  }
}

}  // namespace iovsim::iommu

#include "register_file.hpp"

#include <utility>

#include <iovsim/core/event_trace.hpp>

namespace iovsim::iommu {

using core::bit;
using core::bit_mask;
using core::bits;

namespace {
constexpr uint32_t kVersion = 0x10;  // 1.0
// Writable bits of the RW registers (the rest are reserved and read 0).
constexpr uint64_t kRtaddrMask = bit_mask(63, 10);  // RTA 63:12, TTM 11:10
constexpr uint64_t kIrtaMask = bit_mask(63, 11) | bit_mask(3, 0);
constexpr uint64_t kIqaMask = bit_mask(63, 11) | bit_mask(2, 0);
constexpr uint64_t kIqtMask = bit_mask(18, 4);
constexpr uint64_t kIvaMask = bit_mask(63, 12) | bit_mask(6, 0);
constexpr uint32_t kMsiAddrMask = 0xFFFFFFFCu;  // FEADDR/IEADDR 1:0 reserved
constexpr uint64_t kCaigMask = bit_mask(vtd::kCcmdCaigHi, vtd::kCcmdCaigLo);
constexpr uint64_t kIaigMask = bit_mask(vtd::kIotlbIaigHi, vtd::kIotlbIaigLo);
}  // namespace

InvalidationStats::InvalidationStats(core::StatGroup* parent)
    : group("invalidations", parent),
      context_global(group.add_counter("context_global", "Global context-cache invalidations")),
      context_domain(
          group.add_counter("context_domain", "Domain-selective context-cache invalidations")),
      context_device(
          group.add_counter("context_device", "Device-selective context-cache invalidations")),
      iotlb_global(group.add_counter("iotlb_global", "Global IOTLB invalidations")),
      iotlb_domain(group.add_counter("iotlb_domain", "Domain-selective IOTLB invalidations")),
      iotlb_page(group.add_counter("iotlb_page", "Page-selective IOTLB invalidations")),
      device_tlb(group.add_counter("device_tlb", "Device-TLB (ATS) invalidations")),
      iec(group.add_counter("iec", "Interrupt entry cache invalidations")) {}

RegisterFile::RegisterFile(const IommuCaps& caps, RegisterHooks hooks, core::StatGroup* parent)
    : caps_(caps),
      cap_(caps.cap()),
      ecap_(caps.ecap()),
      hooks_(std::move(hooks)),
      inv_stats_(parent),
      frcd_(caps.nfr) {}

// ---- Reads
// ---------------------------------------------------------------------------------------

uint64_t RegisterFile::read(uint32_t offset, unsigned size) {
  if (size == 8) {
    if (offset % 8 != 0) return 0;
    return read_qword(offset);
  }
  if (size == 4 && offset % 4 == 0) {
    const uint64_t q = read_qword(offset & ~7u);
    return (offset & 4) ? q >> 32 : q & 0xFFFFFFFFu;
  }
  return 0;
}

uint64_t RegisterFile::read_qword(uint32_t q) const {
  switch (q) {
    case vtd::kCap:
      return cap_;
    case vtd::kEcap:
      return ecap_;
    case vtd::kRtaddr:
      return rtaddr_;
    case vtd::kCcmd:
      return ccmd_;
    case vtd::kIqh:
      return iqh_;
    case vtd::kIqt:
      return iqt_;
    case vtd::kIqa:
      return iqa_;
    case vtd::kIqer:
      return iqer_;
    case vtd::kIrta:
      return irta_;
    default:
      break;
  }
  if (q == caps_.iva_offset()) return iva_;
  if (q == caps_.iotlb_offset()) return iotlb_;
  const uint32_t fr0 = caps_.frcd_offset(0);
  if (q >= fr0 && q < caps_.frcd_offset(caps_.nfr)) {
    const vtd::FaultRecord& r = frcd_[(q - fr0) / 16];
    return (q - fr0) % 16 ? r.hi : r.lo;
  }
  // Pairs of 32-bit registers (or a 32-bit register and a reserved half).
  return read32(q) | uint64_t{read32(q + 4)} << 32;
}

uint32_t RegisterFile::read32(uint32_t off) const {
  switch (off) {
    case vtd::kVer:
      return kVersion;
    case vtd::kGcmd:
      return 0;  // write-only
    case vtd::kGsts:
      return uint32_t{tes_} << vtd::kGcmdTe | uint32_t{rtps_} << vtd::kGcmdSrtp |
             uint32_t{qies_} << vtd::kGcmdQie | uint32_t{ires_} << vtd::kGcmdIre |
             uint32_t{irtps_} << vtd::kGcmdSirtp | uint32_t{cfis_} << vtd::kGcmdCfi;
    case vtd::kFsts:
      return fsts();
    case vtd::kFectl:
      return uint32_t{fe_im_} << vtd::kCtlIm | uint32_t{fe_ip_} << vtd::kCtlIp;
    case vtd::kFedata:
      return fedata_;
    case vtd::kFeaddr:
      return feaddr_;
    case vtd::kFeuaddr:
      return feuaddr_;
    case vtd::kIcs:
      return iwc_ ? 1u : 0u;
    case vtd::kIectl:
      return uint32_t{ie_im_} << vtd::kCtlIm | uint32_t{ie_ip_} << vtd::kCtlIp;
    case vtd::kIedata:
      return iedata_;
    case vtd::kIeaddr:
      return ieaddr_;
    case vtd::kIeuaddr:
      return ieuaddr_;
    default:
      return 0;
  }
}

// ---- Writes
// --------------------------------------------------------------------------------------

void RegisterFile::write(uint32_t offset, unsigned size, uint64_t value) {
  uint64_t v, mask;
  uint32_t q;
  if (size == 8 && offset % 8 == 0) {
    q = offset;
    v = value;
    mask = ~0ull;
  } else if (size == 4 && offset % 4 == 0) {
    q = offset & ~7u;
    const unsigned shift = (offset & 4) ? 32 : 0;
    v = (value & 0xFFFFFFFFu) << shift;
    mask = 0xFFFFFFFFull << shift;
  } else {
    return;
  }
  const bool is64 = q == vtd::kRtaddr || q == vtd::kCcmd || q == vtd::kIqh || q == vtd::kIqt ||
                    q == vtd::kIqa || q == vtd::kIqer || q == vtd::kIrta ||
                    q == caps_.iva_offset() || q == caps_.iotlb_offset() ||
                    (q >= caps_.frcd_offset(0) && q < caps_.frcd_offset(caps_.nfr));
  if (is64) {
    write64(q, v, mask);
    return;
  }
  if (mask & 0xFFFFFFFFu) write32(q, static_cast<uint32_t>(v));
  if (mask >> 32) write32(q + 4, static_cast<uint32_t>(v >> 32));
}

void RegisterFile::write32(uint32_t off, uint32_t v) {
  switch (off) {
    case vtd::kGcmd:
      write_gcmd(v);
      break;
    case vtd::kFsts:
      // PFO, IQE, ICE, ITE are RW1C; PPF and FRI are read-only.
      if (bit(v, vtd::kFstsPfo)) pfo_ = false;
      if (bit(v, vtd::kFstsIqe)) {
        iqe_ = false;
        iqer_ = 0;  // IQER is only meaningful while IQE is set
      }
      if (bit(v, vtd::kFstsIce)) ice_ = false;
      if (bit(v, vtd::kFstsIte)) ite_ = false;
      maybe_clear_fault_ip();
      break;
    case vtd::kFectl:
      fe_im_ = bit(v, vtd::kCtlIm);
      // Unmasking delivers the event that was held back while masked.
      if (!fe_im_ && fe_ip_) {
        fe_ip_ = false;
        send(feaddr_, feuaddr_, fedata_);
      }
      break;
    case vtd::kFedata:
      fedata_ = v;
      break;
    case vtd::kFeaddr:
      feaddr_ = v & kMsiAddrMask;
      break;
    case vtd::kFeuaddr:
      feuaddr_ = v;
      break;
    case vtd::kIcs:
      if (bit(v, 0)) {
        iwc_ = false;
        ie_ip_ = false;  // servicing IWC retires the pending completion event
      }
      break;
    case vtd::kIectl:
      ie_im_ = bit(v, vtd::kCtlIm);
      if (!ie_im_ && ie_ip_) {
        ie_ip_ = false;
        send(ieaddr_, ieuaddr_, iedata_);
      }
      break;
    case vtd::kIedata:
      iedata_ = v;
      break;
    case vtd::kIeaddr:
      ieaddr_ = v & kMsiAddrMask;
      break;
    case vtd::kIeuaddr:
      ieuaddr_ = v;
      break;
    default:
      break;  // VER, GSTS and unknown offsets are read-only / ignored
  }
}

void RegisterFile::write64(uint32_t q, uint64_t v, uint64_t mask) {
  auto merge = [&](uint64_t old, uint64_t writable) {
    return (old & ~(mask & writable)) | (v & mask & writable);
  };
  switch (q) {
    case vtd::kRtaddr:
      rtaddr_ = merge(rtaddr_, kRtaddrMask);
      return;
    case vtd::kIrta:
      irta_ = merge(irta_, kIrtaMask);
      return;
    case vtd::kIqa:
      iqa_ = merge(iqa_, kIqaMask);
      return;
    case vtd::kIqt:
      iqt_ = merge(iqt_, kIqtMask);
      if (qies_ && hooks_.queue_tail_written) hooks_.queue_tail_written();
      return;
    case vtd::kCcmd:
      // CAIG is hardware-written; the command fires on the write that carries ICC.
      ccmd_ = merge(ccmd_, ~kCaigMask);
      if (bit(v & mask, vtd::kCcmdIcc)) do_ccmd();
      return;
    case vtd::kIqh:
    case vtd::kIqer:
      return;  // read-only
    default:
      break;
  }
  if (q == caps_.iva_offset()) {
    iva_ = merge(iva_, kIvaMask);
    return;
  }
  if (q == caps_.iotlb_offset()) {
    iotlb_ = merge(iotlb_, ~kIaigMask);
    if (bit(v & mask, vtd::kIotlbIvt)) do_iotlb();
    return;
  }
  const uint32_t fr0 = caps_.frcd_offset(0);
  if (q >= fr0 && q < caps_.frcd_offset(caps_.nfr) && (q - fr0) % 16 == 8) {
    // Only F (bit 127) is writable, RW1C; the rest of the record is read-only.
    if (bit(v & mask, 63)) {
      frcd_[(q - fr0) / 16].hi &= ~(uint64_t{1} << 63);
      maybe_clear_fault_ip();
    }
  }
}

void RegisterFile::write_gcmd(uint32_t v) {
  // One-shot commands act every time the written value carries them (drivers re-write them with
  // every later GCMD write: they OR one bit into GSTS).
  if (bit(v, vtd::kGcmdSrtp)) {
    rtaddr_latched_ = rtaddr_ & bit_mask(63, 12);
    rtps_ = true;
    if (hooks_.set_root_table) hooks_.set_root_table(rtaddr_latched_);
  }
  if (bit(v, vtd::kGcmdSirtp) && caps_.ir) {
    irta_latched_ = irta_;
    irtps_ = true;
    if (hooks_.set_irt) hooks_.set_irt(irta_latched_);
  }
  // SFL/EAFL: advanced fault logging is not advertised (CAP.AFL = 0), so they are ignored. WBF:
  // writes are never buffered, so the flush completes at once and WBFS reads 0.

  // Enables act on a change only.
  const bool qie = bit(v, vtd::kGcmdQie);
  if (qie != qies_ && caps_.qi) {
    qies_ = qie;
    if (qie) {
      iqh_ = 0;  // hardware fetches from the start of the queue
      if (iq_tail() != 0 && hooks_.queue_tail_written) hooks_.queue_tail_written();
    }
  }
  const bool ire = bit(v, vtd::kGcmdIre);
  if (ire != ires_ && caps_.ir) {
    ires_ = ire;
    if (hooks_.ir_enable) hooks_.ir_enable(ire);
  }
  if (caps_.ir) cfis_ = bit(v, vtd::kGcmdCfi);
  const bool te = bit(v, vtd::kGcmdTe);
  if (te != tes_) {
    tes_ = te;
    if (hooks_.translation_enable) hooks_.translation_enable(te);
  }
}

void RegisterFile::do_ccmd() {
  const auto g = static_cast<vtd::Granularity>(bits(ccmd_, vtd::kCcmdCirgHi, vtd::kCcmdCirgLo));
  const auto did = static_cast<uint16_t>(bits(ccmd_, 15, 0));
  const auto sid = static_cast<uint16_t>(bits(ccmd_, 31, 16));
  const auto fm = static_cast<unsigned>(bits(ccmd_, 33, 32));
  // Invalidation completes at once: ICC clears and CAIG reports the granularity performed (0 for a
  // reserved request, which is not performed).
  ccmd_ &= ~(uint64_t{1} << vtd::kCcmdIcc);
  ccmd_ = core::set_bits(ccmd_, vtd::kCcmdCaigHi, vtd::kCcmdCaigLo, static_cast<uint64_t>(g));
  switch (g) {
    case vtd::Granularity::kGlobal:
      ++inv_stats_.context_global;
      break;
    case vtd::Granularity::kDomain:
      ++inv_stats_.context_domain;
      break;
    case vtd::Granularity::kDeviceOrPage:
      ++inv_stats_.context_device;
      break;
    default:
      return;
  }
  if (auto* tl = core::EventTrace::active())  // untimed: a zero-length slice at the write
    tl->slice_now("iommu", "invalidation", "context (register)", "invalidation");
  if (hooks_.invalidate_context) hooks_.invalidate_context(g, did, sid, fm);
}

void RegisterFile::do_iotlb() {
  auto g = static_cast<vtd::Granularity>(bits(iotlb_, vtd::kIotlbIirgHi, vtd::kIotlbIirgLo));
  const auto did = static_cast<uint16_t>(bits(iotlb_, 47, 32));
  const uint64_t addr = iva_ & bit_mask(63, 12);
  const auto am = static_cast<unsigned>(bits(iva_, 5, 0));
  const bool ih = bit(iva_, 6);
  bool ok = g != vtd::Granularity::kReserved;
  if (g == vtd::Granularity::kDeviceOrPage && (!caps_.psi || am > caps_.mamv)) ok = false;
  iotlb_ &= ~(uint64_t{1} << vtd::kIotlbIvt);
  iotlb_ = core::set_bits(iotlb_, vtd::kIotlbIaigHi, vtd::kIotlbIaigLo,
                          ok ? static_cast<uint64_t>(g) : 0);
  if (!ok) return;
  switch (g) {
    case vtd::Granularity::kGlobal:
      ++inv_stats_.iotlb_global;
      break;
    case vtd::Granularity::kDomain:
      ++inv_stats_.iotlb_domain;
      break;
    default:
      ++inv_stats_.iotlb_page;
      break;
  }
  if (auto* tl = core::EventTrace::active())
    tl->slice_now("iommu", "invalidation", "iotlb (register)", "invalidation");
  if (hooks_.invalidate_iotlb) hooks_.invalidate_iotlb(g, did, addr, am, ih);
}

// ---- Fault recording
// -----------------------------------------------------------------------------

bool RegisterFile::ppf() const {
  for (const vtd::FaultRecord& r : frcd_)
    if (r.f()) return true;
  return false;
}

uint32_t RegisterFile::fsts() const {
  return uint32_t{pfo_} << vtd::kFstsPfo | uint32_t{ppf()} << vtd::kFstsPpf |
         uint32_t{iqe_} << vtd::kFstsIqe | uint32_t{ice_} << vtd::kFstsIce |
         uint32_t{ite_} << vtd::kFstsIte | (fri_ & 0xFFu) << vtd::kFstsFriLo;
}

bool RegisterFile::any_fault_status() const {
  return pfo_ || ppf() || iqe_ || ice_ || ite_;
}

// A new interrupt condition: IP is set, and the MSI goes out at once unless masked. The caller
// checks that no FSTS condition was already pending (such a condition is not a new event).
void RegisterFile::raise_fault_event() {
  fe_ip_ = true;
  if (!fe_im_) {
    fe_ip_ = false;
    send(feaddr_, feuaddr_, fedata_);
  }
}

// IP also clears once software has serviced every status condition.
void RegisterFile::maybe_clear_fault_ip() {
  if (!any_fault_status()) fe_ip_ = false;
}

bool RegisterFile::record_fault(uint16_t sid, uint64_t fault_info, vtd::FaultReason reason,
                                bool is_read) {
  if (pfo_) return false;
  for (const vtd::FaultRecord& r : frcd_)
    if (r.f() && r.sid() == sid) return false;  // collapse onto the pending record
  if (frcd_[next_frcd_].f()) {
    // Overflow; PPF is already set, so this is not a new interrupt condition.
    pfo_ = true;
    return false;
  }
  const bool was_pending = any_fault_status();
  const bool ppf_was_set = ppf();
  frcd_[next_frcd_] = vtd::FaultRecord::make(fault_info, sid, reason, is_read);
  if (!ppf_was_set) fri_ = next_frcd_;  // FRI points at the oldest pending record
  next_frcd_ = (next_frcd_ + 1) % caps_.nfr;
  if (!was_pending) raise_fault_event();
  return true;
}

// ---- Invalidation queue support
// ------------------------------------------------------------------

void RegisterFile::set_iq_head(unsigned index) {
  iqh_ = core::set_bits(0, 18, 4, index);
}

void RegisterFile::set_iqe(uint64_t iqer) {
  const bool was_pending = any_fault_status();
  iqe_ = true;
  iqer_ = iqer;
  if (!was_pending) raise_fault_event();
}

void RegisterFile::invalidation_wait_interrupt() {
  // An IWC still set from an earlier wait is an unserviced condition: no new event.
  if (iwc_) return;
  iwc_ = true;
  ie_ip_ = true;
  if (!ie_im_) {
    ie_ip_ = false;
    send(ieaddr_, ieuaddr_, iedata_);
  }
}

void RegisterFile::send(uint32_t addr_lo, uint32_t addr_hi, uint32_t data) {
  if (hooks_.send_msi) hooks_.send_msi(uint64_t{addr_hi} << 32 | addr_lo, data);
}

}  // namespace iovsim::iommu

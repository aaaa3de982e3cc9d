// The remapping unit's ATS half (vtd-pcie.md §3, §6): translation requests, translated requests,
// and the device-TLB invalidation messages. The bookkeeping is AtsService's; this file adapts it
// to sockets and simulated time.
#include <algorithm>

#include <iovsim/core/ats_format.hpp>
#include <iovsim/core/bitfield.hpp>
#include <iovsim/core/pcie_ext.hpp>

#include "remapping_unit.hpp"

namespace iovsim::iommu {

using sc_core::sc_time;
namespace ats = core::ats;

namespace {
uint64_t now_ps() {
  return sc_core::sc_time_stamp().value();
}
sc_time after(uint64_t t_ps, uint64_t now) {
  return sc_time::from_value(t_ps > now ? t_ps - now : 0);
}
// The host's requester id on messages it sends: the root complex, 00:00.0.
constexpr uint16_t kHostRid = 0x0000;
}  // namespace

// A translation request (AT = 01): a read of 8 bytes per translation asked for, the first for the
// page holding the address, each next one for the range after the previous one's. Each is
// translated like an untranslated read (context cache, IOTLB, walk, with their timing) and answered
// with a completion entry: the translated range, its size (S), R and W; R = W = 0 where there is no
// translation — as VT-d specifies, a missing mapping or permission is not a fault for a translation
// request. Other faults (TT != 1: 0xD, address beyond the AGAW, reserved bits, read errors) are
// recorded as for any request and complete the request with UR.
void RemappingUnit::translation_request(tlm::tlm_generic_payload& p, sc_time& delay) {
  const uint64_t now = now_ps();
  const uint64_t arrival = now + delay.value();
  auto* ext = p.get_extension<core::PcieExtension>();
  const uint16_t sid = ext ? ext->requester_id : 0;
  const unsigned len = p.get_data_length();
  unsigned char* data = p.get_data_ptr();
  auto refuse = [&](uint64_t done) {
    ++ats_->blocked;
    if (ext) ext->status = core::CompletionStatus::kUR;
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    delay = after(done, now);
  };
  // With translation off there is nothing to translate with; a read whose length is not a whole
  // number of entries is malformed.
  if (!regs_->translation_enabled() || !p.is_read() || len == 0 || len % 8 != 0 || !data) {
    log_.debug("translation request from ", core::format_rid(sid), " refused");
    return refuse(arrival);
  }

  uint64_t addr = core::align_down(p.get_address(), uint64_t{1} << ats::kPageShift);
  uint64_t done = arrival;
  for (unsigned off = 0; off < len; off += 8) {
    const Translation t =
        translate(sid, addr, false, core::AddressType::kTranslationRequest, arrival);
    done = std::max(done, t.done_ps);
    if (!t.ok) {
      ats_->translation_latency_ns.record(double(done - arrival) / 1000.0);
      return refuse(done);
    }
    ats::TranslationEntry e;
    e.r = t.read;
    e.w = t.write;
    e.shift = t.page_shift;
    if (e.no_translation()) {
      ++ats_->no_translation;
    } else {
      e.translated_base = core::align_down(t.hpa, uint64_t{1} << t.page_shift);
    }
    core::store_le(data + off, e.encode());
    // The next entry covers the range after this one.
    const uint64_t next =
        core::align_down(addr, uint64_t{1} << t.page_shift) + (uint64_t{1} << t.page_shift);
    if (next < addr) {  // wrapped past the top of the address space: the rest have none
      std::fill(data + off + 8, data + len, 0);
      break;
    }
    addr = next;
  }
  ++ats_->translation_requests;
  ats_->translation_latency_ns.record(double(done - arrival) / 1000.0);
  if (ext) ext->status = core::CompletionStatus::kSC;
  p.set_response_status(tlm::TLM_OK_RESPONSE);
  delay = after(done, now);
}

// A translated request (AT = 10): the address is a host physical address the device obtained
// through ATS. Allowed only when the requester's context entry has TT = 1: the context (from the
// context cache, or read from memory) is checked, but there is no IOTLB lookup and no walk.
void RemappingUnit::translated_request(tlm::tlm_generic_payload& p, sc_time& delay) {
  const uint64_t now = now_ps();
  const uint64_t arrival = now + delay.value();
  auto* ext = p.get_extension<core::PcieExtension>();
  const uint16_t sid = ext ? ext->requester_id : 0;
  const uint64_t addr = p.get_address();
  const bool write = p.is_write();

  uint64_t done;
  vtd::FaultReason reason = vtd::FaultReason::kNone;
  bool record = true;
  if (const auto ctx = walker_->cached_context(sid)) {
    done = arrival + uint64_t{config_.walker.context_cache_hit_cycles} * cycle_ps_;
    if (ctx->tt != vtd::kTtDeviceTlb) {
      reason = vtd::FaultReason::kBlockedByTt;
      record = !(ctx->fpd && vtd::fpd_suppresses(reason));
    }
  } else {
    // Reads the root and context entries (and caches the context); no paging level is read.
    TranslationRequest req;
    req.sid = sid;
    req.iova = addr;
    req.write = write;
    req.at = core::AddressType::kTranslated;
    const WalkResult w = walker_->translate(req, arrival);
    done = w.done_ps;
    reason = w.fault;
    record = w.record_fault;
  }
  if (capture_.enabled())
    capture_.row(arrival, done, sid, addr, p.get_data_length(), write, addr, "bypass",
                 static_cast<unsigned>(reason));
  if (reason != vtd::FaultReason::kNone) {
    fault(sid, addr, write, reason, record);
    ++ats_->blocked;
    if (ext) ext->status = core::CompletionStatus::kUR;
    // Blocked like any faulting request: a read completes with UR, a write is dropped.
    p.set_response_status(write ? tlm::TLM_OK_RESPONSE : tlm::TLM_ADDRESS_ERROR_RESPONSE);
    delay = after(done, now);
    return;
  }
  ++ats_->translated_requests;
  delay = after(done, now);
  mem_out->b_transport(p, delay);
}

// ---- Device-TLB invalidation messages -----------------------------------------------------------

bool RemappingUnit::send_invalidate_request(uint16_t sid, uint8_t itag, uint64_t body,
                                            uint64_t t_ps) {
  if (ats_out.size() == 0) {
    log_.warn("device-TLB invalidation for ", core::format_rid(sid),
              " not sent: ats_out is not bound");
    return false;
  }
  uint8_t buf[8];
  core::store_le(buf, body);
  core::PcieExtension ext;
  ext.requester_id = kHostRid;
  ext.posted = true;
  ext.message = core::MessageCode::kAtsInvalidateRequest;
  ext.target_id = sid;
  ext.itag = itag;
  tlm::tlm_generic_payload p;
  p.set_extension(&ext);
  p.set_command(tlm::TLM_WRITE_COMMAND);
  p.set_address(0);
  p.set_data_ptr(buf);
  p.set_data_length(8);
  p.set_streaming_width(8);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_time delay = after(t_ps, now_ps());
  // The device may answer within this call (its completion reaches ats_in before it returns).
  ats_out->b_transport(p, delay);
  p.clear_extension(&ext);
  if (!p.is_response_ok())
    log_.warn("device-TLB invalidation for ", core::format_rid(sid),
              ": no function accepted the Invalidate Request");
  return p.is_response_ok();
}

void RemappingUnit::ats_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  const auto* ext = p.get_extension<core::PcieExtension>();
  if (!ext || ext->message != core::MessageCode::kAtsInvalidateCompletion) {
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  ats_->on_completion(ext->requester_id, ext->itag_vector, ext->completion_count,
                      now_ps() + delay.value());
  p.set_response_status(tlm::TLM_OK_RESPONSE);
}

void RemappingUnit::device_tlb_completed(uint64_t done_ps) {
  if (!qi_->device_tlb_completed(done_ps)) return;
  // The queue is stalled on this completion: its thread resumes it when the completion is back,
  // so the wait's status write becomes visible then.
  if (!sc_core::sc_is_running()) {
    qi_->process(now_ps());
    return;
  }
  qi_pending_ = true;
  qi_event_.notify(after(done_ps, now_ps()));
}

}  // namespace iovsim::iommu

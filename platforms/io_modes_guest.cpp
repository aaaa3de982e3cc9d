// The guests' drivers of the I/O-virtualization modes: an RX and a TX thread per guest.
#include <algorithm>
#include <cstring>

#include <iovsim/core/bitfield.hpp>

#include "io_modes_state.hpp"

namespace iovsim::platforms {

namespace nic = sriov_nic;
using sc_core::sc_time;

// A trapped access: the vCPU stops while the hypervisor handles it (its CPU time).
void IoModesWorkload::guest_exit(Guest& guest) {
  ++*guest.exits;
  ++*guest_totals_.exits;
  ++hv_->exits;
  hv_charge(hv_->exit_ns, costs_.exit_ns);  // the vCPU waits while the hypervisor handles it
}

void IoModesWorkload::guest_charge(Guest& guest, double ns) {
  guest.cpu_ns->value += ns;
  guest_totals_.cpu_ns->value += ns;
  if (ns > 0) sc_core::wait(sc_time(ns, sc_core::SC_NS));
}

// ---- RX ----------------------------------------------------------------------------------------

void IoModesWorkload::guest_thread(Guest& guest) {
  if (start_ > sc_core::sc_time_stamp()) sc_core::wait(start_ - sc_core::sc_time_stamp());
  for (;;) {
    // Check the ring again after any work: the backend does not interrupt a busy guest.
    if (!guest_reap(guest)) guest_wait_irq(guest, guest.rx_irq);
  }
}

bool IoModesWorkload::guest_reap(Guest& guest) {
  bool any = false;
  uint8_t b[nic::kDescriptorBytes];
  while (guest.reaped < guest.posted) {
    const uint64_t pos = guest.reaped;
    cpu_->mem_read(guest.base + guest.slot_gpa(pos), b, sizeof b);
    nic::Descriptor d = nic::Descriptor::decode(b);
    if (!(d.status & nic::kStatusDd)) break;
    any = true;
    ++guest.reaped;
    if (!(d.status & nic::kStatusErr)) check_packet(guest, d, d.addr);
    // Repost the same buffer in the same slot.
    d.addr = guest.bufs + (pos % guest.entries) * nic_cfg_.buffer_bytes;
    d.length = static_cast<uint16_t>(nic_cfg_.buffer_bytes);
    d.status = 0;
    d.checksum = 0;
    d.encode(b);
    cpu_->mem_write(guest.base + guest.slot_gpa(pos), b, sizeof b);
    ++guest.posted;
    guest_charge(guest, costs_.guest_packet_ns);
    progress_event_.notify(sc_core::SC_ZERO_TIME);
  }
  if (any) {
    // The doorbell: an emulated register write always traps; a paravirtual (or mq) kick only
    // when the backend asked for one.
    if (mode_ == IoMode::kEmulated || guest.wants_kick) {
      guest.wants_kick = false;
      guest_exit(guest);
      guest.kick.notify(sc_core::SC_ZERO_TIME);
      kick_backend();
    }
  }
  return any;
}

void IoModesWorkload::check_packet(Guest& guest, const nic::Descriptor& d, uint64_t gpa) {
  const uint32_t len = std::min<uint32_t>(d.length, nic_cfg_.buffer_bytes);
  cpu_->mem_read(guest.base + gpa, scratch_.data(), len);
  const auto header = d.status & nic::kStatusTooLong
                          ? std::nullopt
                          : nic::check_payload(scratch_.data(), len, expect_);
  // Its own stream and, on the shared PF queue, one of every `step` packets.
  const bool ok = header && header->stream == guest.stream &&
                  header->seq % guest.step == guest.index % guest.step &&
                  nic::ones_complement_sum(scratch_.data(), len) == d.checksum;
  const uint64_t seq = ok ? header->seq : 0;
  const uint64_t sent_ps = ok ? header->time_ps : 0;
  if (!ok) {
    ++*guest.corrupt;
    log_.warn("guest ", guest.index, ": a corrupt packet");
    return;
  }
  const auto skipped = nic::advance_sequence(guest.next_seq, seq, guest.step);
  if (!skipped) {
    ++*guest.duplicates;
    return;
  }
  *guest.missing += *skipped;
  ++*guest.rx_packets;
  *guest.rx_bytes += len;
  const uint64_t now = sc_core::sc_time_stamp().value();
  const double latency = double(now > sent_ps ? now - sent_ps : 0) / 1000.0;
  guest.latency->record(latency);
  latency_->record(latency);
}

// ---- TX ----------------------------------------------------------------------------------------

// The guest's sender: packets of nic.packet_bytes at nic.tx_gbps, each built in the slot's buffer
// with the payload header (its stream, sequence, time) and its checksum in the descriptor. The
// doorbell traps in the emulated mode (every packet, as e1000's TDT write); a paravirtual or mq
// guest kicks only when the backend asked.
void IoModesWorkload::guest_tx_thread(Guest& guest) {
  if (start_ > sc_core::sc_time_stamp()) sc_core::wait(start_ - sc_core::sc_time_stamp());
  const unsigned n = guest.entries;
  // Packets leave on a schedule at the rate, whatever each one cost the guest (while it keeps up).
  const sc_time gap(tx_bytes_ * 8.0 / tx_gbps_, sc_core::SC_NS);
  sc_time next = sc_core::sc_time_stamp();
  while (guest.tx_seq < per_guest_packets_) {
    guest_reap_tx(guest);
    if (guest.tx_posted - guest.tx_reaped >= n) {
      guest_wait_irq(guest, guest.tx_irq);  // the ring is full
      continue;
    }
    const unsigned slot = static_cast<unsigned>(guest.tx_posted % n);
    const uint64_t addr = guest.tx_bufs + uint64_t{slot} * guest.tx_stride;
    nic::fill_payload(tx_scratch_.data(), tx_bytes_, guest.tx_stream, guest.tx_seq++,
                      sc_core::sc_time_stamp().value());
    cpu_->mem_write(guest.base + addr, tx_scratch_.data(), tx_bytes_);
    nic::Descriptor d;
    auto wrong = guest.misdirect.find(guest.tx_seq - 1);
    d.addr = wrong == guest.misdirect.end() ? addr : wrong->second;
    d.length = static_cast<uint16_t>(tx_bytes_);
    d.flags = nic::kFlagEop | nic::kFlagRs;
    d.checksum = nic::ones_complement_sum(tx_scratch_.data(), tx_bytes_);
    uint8_t b[nic::kDescriptorBytes];
    d.encode(b);
    cpu_->mem_write(guest.base + guest.tx_slot_gpa(guest.tx_posted), b, sizeof b);
    guest.tx_posted_ps[slot] = sc_core::sc_time_stamp().value();
    ++guest.tx_posted;
    guest_charge(guest, costs_.guest_tx_packet_ns);
    if (mode_ == IoMode::kEmulated || guest.tx_wants_kick) {
      guest.tx_wants_kick = false;
      guest_exit(guest);
      kick_backend();
    }
    next += gap;
    if (next > sc_core::sc_time_stamp()) sc_core::wait(next - sc_core::sc_time_stamp());
  }
  // What is still in flight.
  while (guest.tx_reaped < guest.tx_posted)
    if (!guest_reap_tx(guest)) guest_wait_irq(guest, guest.tx_irq);
}

// Completions in order: each frees its slot (and counts the packet as sent).
bool IoModesWorkload::guest_reap_tx(Guest& guest) {
  bool any = false;
  while (guest.tx_reaped < guest.tx_posted) {
    uint8_t b[nic::kDescriptorBytes];
    cpu_->mem_read(guest.base + guest.tx_slot_gpa(guest.tx_reaped), b, sizeof b);
    const nic::Descriptor d = nic::Descriptor::decode(b);
    if (!(d.status & nic::kStatusDd)) break;
    any = true;
    const unsigned slot = static_cast<unsigned>(guest.tx_reaped % guest.entries);
    ++guest.tx_reaped;
    if (d.status & nic::kStatusErr) {
      ++*guest.tx_errors;
      continue;
    }
    ++*guest.tx_packets;
    *guest.tx_bytes += d.length;
    const uint64_t now = sc_core::sc_time_stamp().value();
    const double latency = double(now - guest.tx_posted_ps[slot]) / 1000.0;
    guest.tx_latency->record(latency);
    latency_->record(latency);
    progress_event_.notify(sc_core::SC_ZERO_TIME);
  }
  return any;
}

// Sleep until the backend injects the interrupt (it does so only for a waiting guest), then handle
// it: in the emulated mode, reading the cause register and unmasking trap.
void IoModesWorkload::guest_wait_irq(Guest& guest, VirtualIrq& irq) {
  if (!irq.pending) {
    irq.waiting = true;
    sc_core::wait(irq.event);
    irq.waiting = false;
  }
  irq.pending = false;
  ++*guest.interrupts;
  if (mode_ == IoMode::kEmulated)
    for (unsigned i = 0; i < costs_.emulated_irq_exits; ++i) guest_exit(guest);
}

}  // namespace iovsim::platforms

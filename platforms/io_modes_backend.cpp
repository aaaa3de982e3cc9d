// The hypervisor's backend of the I/O-virtualization modes: one thread on one host core that reaps
// the NIC functions the hypervisor owns, moves packets between them and the guests, and interrupts
// guests. Its CPU time is charged part by part (HvStats) and taken on its own thread.
#include <algorithm>
#include <cstring>

#include <iovsim/core/bitfield.hpp>

#include "io_modes_state.hpp"

namespace iovsim::platforms {

namespace nic = sriov_nic;
using sc_core::sc_time;

void IoModesWorkload::hv_charge(core::Scalar& part, double ns) {
  if (ns <= 0) return;
  part.value += ns;
  hv_->cpu_ns.value += ns;
  sc_core::wait(sc_time(ns, sc_core::SC_NS));
}

// A device address for a host buffer: through the queue's DMA-mapping policy with the IOMMU, the
// host address itself without. Boot-time mapping is not charged (charge = false).
uint64_t IoModesWorkload::map(DeviceQueue& q, uint64_t hpa, uint32_t bytes, bool charge,
                              bool device_writes) {
  if (!q.policy) return hpa;
  const uint64_t iova = q.policy->map(hpa, bytes, device_writes, now_ns());
  const double ns = q.policy->take_cpu_ns();
  if (charge) hv_charge(hv_->map_ns, ns);
  return iova;
}

void IoModesWorkload::unmap(DeviceQueue& q, uint64_t device_addr, uint32_t bytes) {
  if (!q.policy) return;
  q.policy->unmap(device_addr, bytes, now_ns());
  hv_charge(hv_->map_ns, q.policy->take_cpu_ns());
}

unsigned IoModesWorkload::post(DeviceQueue& q, bool tx, uint64_t dev, uint32_t bytes,
                               uint16_t checksum) {
  HostRing& r = tx ? q.tx : q.rx;
  const unsigned slot = static_cast<unsigned>(r.posted % q.entries);
  r.dev[slot] = dev;
  r.dev_len[slot] = bytes;
  nic::Descriptor d;
  d.addr = dev;
  d.length = static_cast<uint16_t>(bytes);
  d.flags = nic::kFlagEop | nic::kFlagRs;
  d.checksum = checksum;
  uint8_t b[nic::kDescriptorBytes];
  d.encode(b);
  cpu_->mem_write(r.ring + uint64_t{slot} * nic::kDescriptorBytes, b, sizeof b);
  ++r.posted;
  return slot;
}

void IoModesWorkload::backend() {
  if (start_ > sc_core::sc_time_stamp()) sc_core::wait(start_ - sc_core::sc_time_stamp());
  charging_ = true;
  for (;;) {
    // Work is found in memory (completed descriptors, posted guest buffers and packets), so an
    // event that came while the backend was busy is never lost: it only waits when a pass found
    // nothing.
    work_pending_ = false;
    bool any = false;
    for (auto& q : queues_) {
      if (nic_cfg_.rx()) any |= reap_device(*q);
      if (nic_cfg_.tx()) any |= reap_device_tx(*q);
    }
    if (mode_ == IoMode::kMq && nic_cfg_.rx())
      for (auto& q : queues_) any |= refill_device(*q);
    if (nic_cfg_.tx()) any |= transmit_all();
    notify_guests();
    // An interrupt or kick during the pass (the backend was busy) means another pass.
    if (!any && !work_pending_) sc_core::wait(work_event_);
  }
}

void IoModesWorkload::kick_backend() {
  work_event_.notify(sc_core::SC_ZERO_TIME);
}

// ---- RX ----------------------------------------------------------------------------------------

bool IoModesWorkload::reap_device(DeviceQueue& q) {
  const unsigned n = q.entries;
  HostRing& r = q.rx;
  bool any = false;
  for (;;) {
    const unsigned slot = static_cast<unsigned>(r.reaped % n);
    uint8_t b[nic::kDescriptorBytes];
    cpu_->mem_read(r.ring + uint64_t{slot} * nic::kDescriptorBytes, b, sizeof b);
    const nic::Descriptor d = nic::Descriptor::decode(b);
    if (r.reaped == r.posted || !(d.status & nic::kStatusDd)) break;
    any = true;
    ++r.reaped;
    hv_charge(hv_->backend_ns, costs_.backend_packet_ns);
    unmap(q, r.dev[slot], r.dev_len[slot]);
    if (d.status & (nic::kStatusErr | nic::kStatusTooLong)) ++hv_->device_errors;
    if (mode_ == IoMode::kMq) {
      // The device wrote into the guest's buffer: complete the guest's descriptor, no copy.
      Guest& guest = *guests_[static_cast<unsigned>(q.guest)];
      const uint64_t pos = r.owner_slot[slot];
      nic::Descriptor u;
      u.addr = guest.bufs + (pos % guest.entries) * nic_cfg_.buffer_bytes;
      u.length = d.length;
      u.flags = nic::kFlagEop;
      u.status = static_cast<uint16_t>(d.status | nic::kStatusDd);
      u.checksum = d.checksum;
      u.encode(b);
      cpu_->mem_write(guest.base + guest.slot_gpa(pos), b, sizeof b);
      ++guest.filled;
      ++hv_->packets;
    } else {
      if (!(d.status & nic::kStatusErr)) deliver_copy(q, slot, d);
      // Repost the host buffer in the slot kept free, which moves along.
      const unsigned free_slot = static_cast<unsigned>(r.posted % n);
      std::swap(r.buf[free_slot], r.buf[slot]);
      post(q, false, map(q, r.buf[free_slot], nic_cfg_.buffer_bytes, true, true),
           nic_cfg_.buffer_bytes, 0);
    }
  }
  if (any) {
    if (mode_ != IoMode::kMq)
      cpu_->mmio_write(q.bar + nic::kRxQueue + nic::kQTail, 4, r.posted % n);
    if (q.policy) {
      q.policy->poll(now_ns());
      hv_charge(hv_->map_ns, q.policy->take_cpu_ns());
    }
  }
  return any;
}

// emulated, paravirtual: the packet in host buffer `slot` goes to the guest its sequence number
// names, copied into that guest's next posted buffer.
void IoModesWorkload::deliver_copy(DeviceQueue& q, unsigned slot, const nic::Descriptor& d) {
  const uint32_t len = std::min<uint32_t>(d.length, nic_cfg_.buffer_bytes);
  // The backend's own buffer: guests' threads run while it charges its time.
  cpu_->mem_read(q.rx.buf[slot], copy_.data(), len);
  const uint64_t seq =
      len >= nic::kPayloadHeaderBytes ? core::load_le<uint64_t>(copy_.data() + 4) : 0;
  Guest& guest = *guests_[seq % guests_.size()];
  wait_for_guest_buffer(guest);
  if (mode_ == IoMode::kEmulated) hv_charge(hv_->emulation_ns, costs_.emulation_packet_ns);
  const uint64_t pos = guest.taken++;
  uint8_t b[nic::kDescriptorBytes];
  cpu_->mem_read(guest.base + guest.slot_gpa(pos), b, sizeof b);
  nic::Descriptor u = nic::Descriptor::decode(b);
  hv_charge(hv_->copy_ns, costs_.copy_ns(len));
  const uint32_t fits = std::min<uint32_t>(len, u.length);
  if (u.addr >= guest.bufs && u.addr + fits <= guest.end) {
    cpu_->mem_write(guest.base + u.addr, copy_.data(), fits);
    hv_->copy_bytes += fits;
    u.status = nic::kStatusDd | (fits < len ? nic::kStatusTooLong : 0);
  } else {
    ++hv_->rejected;  // a guest pointing outside its memory gets nothing copied
    u.status = nic::kStatusDd | nic::kStatusErr;
  }
  u.length = static_cast<uint16_t>(fits);
  u.checksum = d.checksum;
  u.encode(b);
  cpu_->mem_write(guest.base + guest.slot_gpa(pos), b, sizeof b);
  ++guest.filled;
  ++hv_->packets;
}

// The backend holds the packet until the guest posts a buffer; meanwhile its own ring fills and
// the NIC drops arrivals (head-of-line blocking, as with a real shared queue). Guests with
// packets waiting are interrupted first, or nobody would free a buffer.
void IoModesWorkload::wait_for_guest_buffer(Guest& guest) {
  while (guest.taken == guest.posted) {
    notify_guests();  // takes time: the guest may have reposted meanwhile, without a kick
    if (guest.taken != guest.posted) break;
    guest.wants_kick = true;
    sc_core::wait(guest.kick);
  }
}

// mq: the guest's posted buffers, checked and translated, into its VF's ring.
bool IoModesWorkload::refill_device(DeviceQueue& q) {
  Guest& guest = *guests_[static_cast<unsigned>(q.guest)];
  const unsigned n = q.entries;
  HostRing& r = q.rx;
  const bool boot = !charging_;  // boot-time posting is setup, not per-packet work
  bool any = false;
  uint8_t b[nic::kDescriptorBytes];
  while (guest.taken < guest.posted && !r.full(n)) {
    const uint64_t pos = guest.taken++;
    cpu_->mem_read(guest.base + guest.slot_gpa(pos), b, sizeof b);
    nic::Descriptor u = nic::Descriptor::decode(b);
    if (!boot) {
      ++hv_->validated;
      hv_charge(hv_->validate_ns, costs_.validate_ns);
    }
    any = true;
    if (u.addr < guest.bufs || u.addr + u.length > guest.end || u.length == 0) {
      // Outside the guest's buffers (its rings, another VM, the host): refused, completed with
      // an error so the guest gets its slot back.
      ++hv_->rejected;
      u.status = nic::kStatusDd | nic::kStatusErr;
      u.length = 0;
      u.encode(b);
      cpu_->mem_write(guest.base + guest.slot_gpa(pos), b, sizeof b);
      ++guest.filled;
      continue;
    }
    const unsigned slot =
        post(q, false, map(q, guest.base + u.addr, u.length, !boot, true), u.length, 0);
    r.owner_slot[slot] = pos;
  }
  if (any) cpu_->mmio_write(q.bar + nic::kRxQueue + nic::kQTail, 4, r.posted % n);
  // Event-index style: ask for a kick only when the device ring runs low.
  guest.wants_kick = r.posted - r.reaped < n / 2;
  return any;
}

// ---- TX ----------------------------------------------------------------------------------------

IoModesWorkload::DeviceQueue& IoModesWorkload::tx_queue_of(const Guest& guest) {
  return mode_ == IoMode::kMq ? *queues_[guest.index] : *queues_[0];
}

// Guests' TX rings in round-robin, one packet per guest per turn (the shared PF queue's fairness;
// in mq each guest has its own queue), until none has a packet or room.
bool IoModesWorkload::transmit_all() {
  bool any = false;
  std::vector<DeviceQueue*> rung;
  for (bool progress = true; progress;) {
    progress = false;
    for (unsigned k = 0; k < guests_.size(); ++k) {
      Guest& guest = *guests_[(tx_next_guest_ + k) % guests_.size()];
      DeviceQueue& q = tx_queue_of(guest);
      if (!transmit(q, guest)) continue;
      progress = any = true;
      if (std::find(rung.begin(), rung.end(), &q) == rung.end()) rung.push_back(&q);
    }
    tx_next_guest_ = (tx_next_guest_ + 1) % static_cast<unsigned>(guests_.size());
  }
  // One doorbell per queue for the pass.
  for (DeviceQueue* q : rung)
    cpu_->mmio_write(q->bar + nic::kTxQueue + nic::kQTail, 4, q->tx.posted % q->entries);
  // Event-index style: a guest whose ring the backend emptied is asked to kick on its next packet.
  for (auto& g : guests_)
    if (g->tx_taken == g->tx_posted) g->tx_wants_kick = true;
  return any;
}

// One packet from the guest's TX ring to the device's, per mode: copied into the hypervisor's
// buffer (emulated, paravirtual copy; the guest's buffer is free at once), or the guest's buffer
// itself grant-mapped (paravirtual grant) or validated (mq), completed when the device is done.
bool IoModesWorkload::transmit(DeviceQueue& q, Guest& guest) {
  if (guest.tx_taken == guest.tx_posted || q.tx.full(q.entries)) return false;
  const uint64_t pos = guest.tx_taken++;
  uint8_t b[nic::kDescriptorBytes];
  cpu_->mem_read(guest.base + guest.tx_slot_gpa(pos), b, sizeof b);
  const nic::Descriptor u = nic::Descriptor::decode(b);
  hv_charge(hv_->backend_ns, costs_.backend_packet_ns);
  if (mode_ == IoMode::kEmulated) hv_charge(hv_->emulation_ns, costs_.emulation_packet_ns);
  if (mode_ == IoMode::kMq) {
    ++hv_->validated;
    hv_charge(hv_->validate_ns, costs_.validate_ns);
  }
  // The packet must lie in the guest's buffer area (not its rings, not beyond its memory) and,
  // to be copied, fit the hypervisor's buffer.
  const bool copies = mode_ != IoMode::kMq && !costs_.grant;
  if (u.length == 0 || u.addr < guest.bufs || u.addr + u.length > guest.end ||
      (copies && u.length > tx_bytes_)) {
    ++hv_->rejected;
    complete_guest_tx(guest, pos, nic::kStatusDd | nic::kStatusErr);
    return true;
  }
  ++hv_->tx_packets;
  HostRing& r = q.tx;
  const unsigned slot = static_cast<unsigned>(r.posted % q.entries);
  if (!copies) {
    if (costs_.grant) {
      ++hv_->grant_maps;
      hv_charge(hv_->grant_ns, costs_.grant_map_ns);
    }
    r.owner[slot] = static_cast<int>(guest.index);
    r.owner_slot[slot] = pos;
    post(q, true, map(q, guest.base + u.addr, u.length, true, false), u.length, u.checksum);
    return true;
  }
  // A copy into the hypervisor's buffer of the slot; the guest's descriptor completes now. The
  // guest's checksum goes along: the NIC checks the packet end to end.
  cpu_->mem_read(guest.base + u.addr, copy_.data(), u.length);
  hv_charge(hv_->copy_ns, costs_.copy_ns(u.length));
  cpu_->mem_write(r.buf[slot], copy_.data(), u.length);
  hv_->copy_bytes += u.length;
  r.owner[slot] = -1;
  complete_guest_tx(guest, pos, nic::kStatusDd);
  post(q, true, map(q, r.buf[slot], u.length, true, false), u.length, u.checksum);
  return true;
}

void IoModesWorkload::complete_guest_tx(Guest& guest, uint64_t pos, uint16_t status) {
  uint8_t b[nic::kDescriptorBytes];
  const uint64_t at = guest.base + guest.tx_slot_gpa(pos);
  cpu_->mem_read(at, b, sizeof b);
  nic::Descriptor u = nic::Descriptor::decode(b);
  u.status = status;
  u.encode(b);
  cpu_->mem_write(at, b, sizeof b);
  ++guest.tx_done;
}

// The device's TX completions: the buffer is unmapped (and, grant-mapped, its grant released);
// a guest's own buffer completes the guest's descriptor now.
bool IoModesWorkload::reap_device_tx(DeviceQueue& q) {
  HostRing& r = q.tx;
  bool any = false;
  while (r.reaped < r.posted) {
    const unsigned slot = static_cast<unsigned>(r.reaped % q.entries);
    uint8_t b[nic::kDescriptorBytes];
    cpu_->mem_read(r.ring + uint64_t{slot} * nic::kDescriptorBytes, b, sizeof b);
    const nic::Descriptor d = nic::Descriptor::decode(b);
    if (!(d.status & nic::kStatusDd)) break;
    any = true;
    ++r.reaped;
    if (d.status & nic::kStatusErr) ++hv_->device_errors;
    unmap(q, r.dev[slot], r.dev_len[slot]);
    if (r.owner[slot] < 0) continue;
    if (costs_.grant) hv_charge(hv_->grant_ns, costs_.grant_unmap_ns);
    complete_guest_tx(*guests_[static_cast<unsigned>(r.owner[slot])], r.owner_slot[slot],
                      static_cast<uint16_t>(nic::kStatusDd | (d.status & nic::kStatusErr)));
  }
  if (any && q.policy) {
    q.policy->poll(now_ns());
    hv_charge(hv_->map_ns, q.policy->take_cpu_ns());
  }
  return any;
}

// ---- Guest notifications -----------------------------------------------------------------------

void IoModesWorkload::inject(VirtualIrq& irq) {
  if (!irq.waiting || irq.pending) return;
  hv_charge(hv_->inject_ns, costs_.inject_ns);
  ++hv_->injected;
  irq.pending = true;
  irq.event.notify(sc_core::SC_ZERO_TIME);
}

// An interrupt for every guest that has unseen completions and sleeps on them; a busy guest finds
// them itself (interrupt suppression).
void IoModesWorkload::notify_guests() {
  for (auto& g : guests_) {
    Guest& guest = *g;
    // Only for completions the guest has not reaped: it may have found them while busy.
    if (guest.filled != guest.reaped) inject(guest.rx_irq);
    if (guest.tx_done != guest.tx_reaped) inject(guest.tx_irq);
  }
}

}  // namespace iovsim::platforms

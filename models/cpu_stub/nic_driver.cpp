#include "nic_driver.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/sriov_nic/descriptor.hpp>
#include <iovsim/sriov_nic/nic_registers.hpp>
#include <iovsim/sriov_nic/packet_generator.hpp>

namespace iovsim::cpu_stub {

namespace nic = sriov_nic;
using sc_core::sc_time;

namespace {
const core::RealParam kRxCost{"nic_driver.rx_packet_ns", 100,
                              "NIC driver CPU time per received packet: reap, check, repost (ns)",
                              core::Range{0, 1e9}};
const core::RealParam kTxCost{"nic_driver.tx_packet_ns", 100,
                              "NIC driver CPU time per sent packet: build, post (ns)",
                              core::Range{0, 1e9}};
const core::BoolParam kPoll{"nic_driver.poll", false,
                            "NIC drivers reap completions by polling instead of on interrupts"};
const core::RealParam kPollNs{"nic_driver.poll_interval_ns", 2000,
                              "Polling interval when nic_driver.poll is set (ns)",
                              core::Range{10, 1e9}};
}  // namespace

NicDriverConfig NicDriverConfig::from(const core::Config& c) {
  NicDriverConfig d;
  d.rx_packet_ns = kRxCost.get(c);
  d.tx_packet_ns = kTxCost.get(c);
  d.poll = kPoll.get(c);
  d.poll_interval_ns = kPollNs.get(c);
  return d;
}

NicDriver::NicDriver(sc_core::sc_module_name name, const NicDriverConfig& config, HostAccess& cpu,
                     BufferMapper& mapper, core::StatGroup* parent_stats)
    : sc_module(name),
      config_(config),
      cpu_(cpu),
      mapper_(&mapper),
      stats_(basename(), parent_stats),
      rx_packets_(stats_.add_counter("rx_packets", "Packets received, checked and reposted")),
      rx_bytes_(stats_.add_counter("rx_bytes", "Bytes received")),
      rx_missing_(stats_.add_counter("rx_missing",
                                     "Sequence numbers skipped (packets the device dropped)")),
      rx_duplicates_(stats_.add_counter("rx_duplicates", "Packets received more than once")),
      rx_corrupt_(stats_.add_counter(
          "rx_corrupt", "Packets whose payload or checksum did not match what was sent")),
      tx_sent_(stats_.add_counter("tx_posted", "TX packets posted")),
      tx_done_(stats_.add_counter("tx_packets", "TX packets completed by the device")),
      tx_errors_(stats_.add_counter("tx_errors", "TX descriptors written back with ERR")),
      interrupts_(stats_.add_counter("interrupts", "Interrupts handled")),
      cpu_ns_(stats_.add_scalar("cpu_ns", "CPU time the driver spent (packets, mapping)")),
      rx_latency_(stats_.add_histogram("rx_latency_ns",
                                       "Packet arrival at the NIC -> the driver reaps it (ns)")),
      tx_latency_(stats_.add_histogram("tx_latency_ns",
                                       "TX packet posted -> the driver sees it completed (ns)")),
      latency_(stats_.add_histogram("latency_ns", "RX and TX packet latency together (ns)")) {
  if (config_.rx) SC_THREAD(rx_thread);
  if (config_.tx) SC_THREAD(tx_thread);
}

uint64_t NicDriver::alloc(uint64_t bytes, uint64_t align) {
  const uint64_t at = core::align_up(config_.mem_base + next_free_, align);
  if (at + bytes > config_.mem_base + config_.mem_bytes)
    throw std::invalid_argument(std::string(name()) +
                                ": rings and buffers do not fit the driver's memory");
  next_free_ = at + bytes - config_.mem_base;
  return at;
}

void NicDriver::write_descriptor(uint64_t ring, unsigned index, uint64_t addr, uint16_t len,
                                 uint16_t checksum) {
  nic::Descriptor d;
  d.addr = addr;
  d.length = len;
  d.flags = nic::kFlagEop | nic::kFlagRs;
  d.checksum = checksum;
  uint8_t b[nic::kDescriptorBytes];
  d.encode(b);
  cpu_.mem_write(cpu_address(ring + uint64_t{index} * nic::kDescriptorBytes), b, sizeof b);
}

void NicDriver::setup() {
  const unsigned n = config_.ring_entries;
  const uint64_t ring_bytes = core::align_up(uint64_t{n} * nic::kDescriptorBytes, 4096);
  std::vector<uint8_t> zero(ring_bytes, 0);
  double cpu_ns = 0;
  auto reg = [&](uint32_t offset, uint64_t v) { cpu_.mmio_write(config_.bar + offset, 4, v); };
  if (config_.rx) {
    rx_ring_ = alloc(ring_bytes, 4096);
    cpu_.mem_write(cpu_address(rx_ring_), zero.data(), zero.size());
    for (unsigned i = 0; i < n; ++i) rx_buf_.push_back(alloc(config_.buffer_bytes, 64));
    rx_dev_.assign(n, 0);
    const uint64_t ring_dev =
        mapper_->map(rx_ring_, static_cast<uint32_t>(ring_bytes), true, 0, cpu_ns);
    reg(nic::kRxQueue + nic::kQBaseLo, ring_dev & 0xFFFFFFFF);
    reg(nic::kRxQueue + nic::kQBaseHi, ring_dev >> 32);
    reg(nic::kRxQueue + nic::kQEntries, n);
    // Every buffer but one is posted: a full ring has head == tail + 1.
    for (unsigned i = 0; i + 1 < n; ++i) {
      rx_dev_[i] = mapper_->map(rx_buf_[i], config_.buffer_bytes, true, 0, cpu_ns);
      write_descriptor(rx_ring_, i, rx_dev_[i], static_cast<uint16_t>(config_.buffer_bytes), 0);
    }
    reg(nic::kRxQueue + nic::kQTail, n - 1);
  }
  if (config_.tx) {
    tx_ring_ = alloc(ring_bytes, 4096);
    cpu_.mem_write(cpu_address(tx_ring_), zero.data(), zero.size());
    for (unsigned i = 0; i < n; ++i) tx_buf_.push_back(alloc(config_.tx_bytes, 64));
    tx_dev_.assign(n, 0);
    tx_posted_ns_.assign(n, 0);
    const uint64_t ring_dev =
        mapper_->map(tx_ring_, static_cast<uint32_t>(ring_bytes), true, 0, cpu_ns);
    reg(nic::kTxQueue + nic::kQBaseLo, ring_dev & 0xFFFFFFFF);
    reg(nic::kTxQueue + nic::kQBaseHi, ring_dev >> 32);
    reg(nic::kTxQueue + nic::kQEntries, n);
  }
  reg(nic::kRegItrNs, static_cast<uint64_t>(config_.irq_interval_ns));
  reg(nic::kRegItrPackets, config_.irq_packets);
  reg(nic::kRegCtrl, (config_.rx ? nic::kCtrlRxEnable : 0) | (config_.tx ? nic::kCtrlTxEnable : 0));
  cpu_ns_.value += cpu_ns;  // boot-time mapping is not charged to a thread
  scratch_.resize(std::max(config_.buffer_bytes, config_.tx_bytes));
  expect_.resize(scratch_.size());
}

uint64_t NicDriver::now_ns() const {
  return static_cast<uint64_t>(sc_core::sc_time_stamp().to_seconds() * 1e9);
}

void NicDriver::charge(double ns) {
  if (ns <= 0) return;
  cpu_ns_.value += ns;
  wait(sc_time(ns, sc_core::SC_NS));
}

void NicDriver::interrupt(bool tx, uint64_t handler_start_ps) {
  ++interrupts_;
  const uint64_t now = sc_core::sc_time_stamp().value();
  Irq& irq = tx ? tx_irq_ : rx_irq_;
  ++irq.raised;
  irq.last_start_ps = std::max(irq.last_start_ps, handler_start_ps);
  irq.event.notify(sc_time::from_value(handler_start_ps > now ? handler_start_ps - now : 0));
}

void NicDriver::wait_interrupt(Irq& irq) {
  if (irq.taken == irq.raised) wait(irq.event);
  // Taken: every interrupt raised so far, once its handler has started.
  const uint64_t now = sc_core::sc_time_stamp().value();
  if (irq.last_start_ps > now) wait(sc_time::from_value(irq.last_start_ps - now));
  irq.taken = irq.raised;
}

// ---- RX ------------------------------------------------------------------------------------

void NicDriver::rx_thread() {
  if (start_at_ > sc_core::sc_time_stamp()) wait(start_at_ - sc_core::sc_time_stamp());
  const sc_time poll(config_.poll_interval_ns, sc_core::SC_NS);
  for (;;) {
    if (config_.poll)
      wait(poll);
    else
      wait_interrupt(rx_irq_);
    reap_rx();
  }
}

void NicDriver::reap_rx() {
  const unsigned n = config_.ring_entries;
  bool reposted = false;
  for (;;) {
    uint8_t b[nic::kDescriptorBytes];
    const uint64_t slot = rx_ring_ + uint64_t{rx_next_} * nic::kDescriptorBytes;
    cpu_.mem_read(cpu_address(slot), b, sizeof b);
    nic::Descriptor d = nic::Descriptor::decode(b);
    if (!(d.status & nic::kStatusDd)) break;
    double cpu_ns = config_.rx_packet_ns;
    // Check the packet: the generator's header, its regenerated payload, the device's checksum.
    const uint32_t len = std::min<uint32_t>(d.length, config_.buffer_bytes);
    cpu_.mem_read(cpu_address(rx_buf_[rx_next_]), scratch_.data(), len);
    const auto header = nic::check_payload(scratch_.data(), len, expect_);
    const bool ok = header && header->stream == config_.stream &&
                    nic::ones_complement_sum(scratch_.data(), len) == d.checksum;
    const uint64_t seq = ok ? header->seq : 0;
    const uint64_t sent_ps = ok ? header->time_ps : 0;
    if (!ok) {
      ++rx_corrupt_;
      log_.warn("packet in RX slot ", rx_next_, " is corrupt");
    } else if (const auto skipped = nic::advance_sequence(next_seq_, seq); !skipped) {
      ++rx_duplicates_;
    } else {
      rx_missing_ += *skipped;
      ++rx_packets_;
      rx_bytes_ += len;
      const uint64_t now = sc_core::sc_time_stamp().value();
      const double latency = double(now > sent_ps ? now - sent_ps : 0) / 1000.0;
      rx_latency_.record(latency);
      latency_.record(latency);
      if (aggregate_) aggregate_->record(latency);
    }
    // Repost: unmap the old buffer, map it afresh (a policy may give a new address).
    mapper_->unmap(rx_dev_[rx_next_], config_.buffer_bytes, now_ns(), cpu_ns);
    rx_dev_[rx_next_] =
        mapper_->map(rx_buf_[rx_next_], config_.buffer_bytes, true, now_ns(), cpu_ns);
    const unsigned post = (rx_next_ + n - 1) % n;  // the slot kept free moves along
    rx_dev_[post] = rx_dev_[rx_next_];
    write_descriptor(rx_ring_, post, rx_dev_[post], static_cast<uint16_t>(config_.buffer_bytes), 0);
    std::swap(rx_buf_[post], rx_buf_[rx_next_]);
    rx_next_ = (rx_next_ + 1) % n;
    reposted = true;
    charge(cpu_ns);
    if (progress_) progress_();
  }
  if (reposted) {
    cpu_.mmio_write(config_.bar + nic::kRxQueue + nic::kQTail, 4, (rx_next_ + n - 1) % n);
    double cpu_ns = 0;
    mapper_->poll(now_ns(), cpu_ns);
    charge(cpu_ns);
  }
}

// ---- TX ------------------------------------------------------------------------------------

bool NicDriver::reap_tx() {
  bool any = false;
  while (tx_clean_ != tx_tail_) {
    uint8_t b[nic::kDescriptorBytes];
    cpu_.mem_read(cpu_address(tx_ring_ + uint64_t{tx_clean_} * nic::kDescriptorBytes), b, sizeof b);
    const nic::Descriptor d = nic::Descriptor::decode(b);
    if (!(d.status & nic::kStatusDd)) break;
    double cpu_ns = 0;
    mapper_->unmap(tx_dev_[tx_clean_], config_.tx_bytes, now_ns(), cpu_ns);
    if (d.status & nic::kStatusErr) ++tx_errors_;
    ++tx_done_;
    const double latency = double(now_ns() - tx_posted_ns_[tx_clean_]);
    tx_latency_.record(latency);
    latency_.record(latency);
    if (aggregate_) aggregate_->record(latency);
    tx_clean_ = (tx_clean_ + 1) % config_.ring_entries;
    any = true;
    charge(cpu_ns);
    if (progress_) progress_();
  }
  return any;
}

void NicDriver::tx_thread() {
  if (start_at_ > sc_core::sc_time_stamp()) wait(start_at_ - sc_core::sc_time_stamp());
  const unsigned n = config_.ring_entries;
  // Packets leave on a schedule at the rate, whatever each one cost (while the driver keeps up).
  const sc_time gap(config_.tx_bytes * 8.0 / config_.tx_gbps, sc_core::SC_NS);
  sc_time next = sc_core::sc_time_stamp();
  const sc_time poll(config_.poll_interval_ns, sc_core::SC_NS);
  while (tx_seq_ < config_.tx_packets) {
    reap_tx();
    if ((tx_tail_ + 1) % n == tx_clean_) {
      // The ring is full: wait for completions.
      if (config_.poll)
        wait(poll);
      else
        wait_interrupt(tx_irq_);
      continue;
    }
    double cpu_ns = config_.tx_packet_ns;
    const uint32_t len = config_.tx_bytes;
    nic::fill_payload(scratch_.data(), len, config_.stream, tx_seq_++,
                      sc_core::sc_time_stamp().value());
    cpu_.mem_write(cpu_address(tx_buf_[tx_tail_]), scratch_.data(), len);
    tx_dev_[tx_tail_] = mapper_->map(tx_buf_[tx_tail_], len, false, now_ns(), cpu_ns);
    write_descriptor(tx_ring_, tx_tail_, tx_dev_[tx_tail_], static_cast<uint16_t>(len),
                     nic::ones_complement_sum(scratch_.data(), len));
    tx_posted_ns_[tx_tail_] = now_ns();
    tx_tail_ = (tx_tail_ + 1) % n;
    ++tx_sent_;
    charge(cpu_ns);
    cpu_.mmio_write(config_.bar + nic::kTxQueue + nic::kQTail, 4, tx_tail_);
    next += gap;
    if (next > sc_core::sc_time_stamp()) wait(next - sc_core::sc_time_stamp());
  }
  // Reap what is still in flight.
  while (tx_clean_ != tx_tail_) {
    if (config_.poll)
      wait(poll);
    else
      wait_interrupt(tx_irq_);
    reap_tx();
  }
}

}  // namespace iovsim::cpu_stub

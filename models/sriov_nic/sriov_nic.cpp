#include "sriov_nic.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include <iovsim/core/event_trace.hpp>
#include <iovsim/pcie/ats_messages.hpp>

namespace iovsim::sriov_nic {

using sc_core::sc_time;

namespace {
constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
uint64_t ps(double ns) {
  return static_cast<uint64_t>(std::llround(ns * 1000));
}
}  // namespace

// ---- Per-function state ----------------------------------------------------------------------

struct SriovNic::Function {
  struct Queue {
    uint64_t base = 0;
    uint32_t entries = 0;
    // head: next descriptor the device completes; tail: software's doorbell; claim (RX): next
    // descriptor an arriving packet takes; fetch: next descriptor to read from the ring.
    uint32_t head = 0, tail = 0, claim = 0, fetch = 0;
    struct Fetched {
      uint32_t index;
      Descriptor d;
      uint64_t ready_ps;  // when its fetch completes
    };
    std::deque<Fetched> cache;  // fetched, not yet used
    std::deque<Work> work;
    bool stopped = false;
    unsigned irq_pending = 0;
    uint64_t last_irq_ps = 0;
    bool timer_armed = false;

    void reset() {
      head = tail = claim = fetch = 0;
      cache.clear();
      work.clear();
      stopped = false;
      irq_pending = 0;
      timer_armed = false;
    }
  };

  Function(unsigned index, const std::string& name, core::StatGroup* parent)
      : index(index),
        stats(name, parent),
        rid(stats.add_scalar("rid", "The function's routing id (requester id)")),
        rx_packets(stats.add_counter("rx_packets", "Packets received and written back")),
        rx_bytes(stats.add_counter("rx_bytes", "Bytes received")),
        rx_drops(stats.add_counter("rx_drops", "Packets dropped: no RX descriptor available")),
        rx_error_drops(stats.add_counter(
            "rx_error_drops", "Packets dropped: the RX queue was disabled or stopped by an error")),
        tx_packets(stats.add_counter("tx_packets", "Packets transmitted")),
        tx_bytes(stats.add_counter("tx_bytes", "Bytes transmitted")),
        tx_bad_checksum(stats.add_counter(
            "tx_bad_checksum", "TX packets whose payload did not match the descriptor's checksum")),
        dma_errors(stats.add_counter("dma_errors",
                                     "DMA requests completed with an error (the queue stopped)")),
        interrupts(stats.add_counter("interrupts", "MSI-X messages sent")),
        rx_latency(stats.add_histogram("rx_latency_ns",
                                       "Packet arrival from the wire -> descriptor written back")),
        tx_latency(stats.add_histogram(
            "tx_latency_ns", "TX doorbell -> descriptor written back after transmission")) {
    stats.add_formula("throughput_gbps", "RX + TX payload Gb/s between first and last packet",
                      [this] {
                        const double span = double(last_ps - first_ps) / 1000.0;
                        return span > 0 ? double(rx_bytes.value + tx_bytes.value) * 8 / span : 0;
                      });
  }

  unsigned index;
  pcie::ConfigSpace* cfg = nullptr;  // the PF's, or the VF's while enabled
  std::unique_ptr<pcie::MsixTable> msix;
  Queue rx, tx;
  uint32_t ctrl = 0, status = 0;
  uint64_t err_addr = 0;
  double itr_ns = 0;
  uint32_t itr_packets = 1;
  bool traffic = false;
  std::unique_ptr<PacketGenerator> gen;
  PacketGenerator::Packet next{};
  uint64_t generated = 0;
  uint64_t first_ps = kNever, last_ps = 0;
  std::vector<uint64_t> pending_since{0, 0};  // per vector: when a masked interrupt was decided
  std::unique_ptr<core::StatGroup> atc_stats;
  std::unique_ptr<pcie::AtsCache> atc;  // with nic.ats

  core::StatGroup stats;
  core::Scalar& rid;
  core::Counter& rx_packets;
  core::Counter& rx_bytes;
  core::Counter& rx_drops;
  core::Counter& rx_error_drops;
  core::Counter& tx_packets;
  core::Counter& tx_bytes;
  core::Counter& tx_bad_checksum;
  core::Counter& dma_errors;
  core::Counter& interrupts;
  core::Histogram& rx_latency;
  core::Histogram& tx_latency;

  void touch(uint64_t t) {
    first_ps = std::min(first_ps, t);
    last_ps = std::max(last_ps, t);
  }
};

// ---- Slots ---------------------------------------------------------------------------------

void SriovNic::SlotPool::reset(unsigned n, uint64_t t) {
  free_ = {};
  for (unsigned i = 0; i < n; ++i) free_.push(t);
}

uint64_t SriovNic::SlotPool::take(uint64_t ready) {
  const uint64_t f = free_.top();
  free_.pop();
  return std::max(f, ready);
}

// ---- Construction ----------------------------------------------------------------------------

SriovNic::SriovNic(sc_core::sc_module_name name, const NicConfig& config,
                   core::StatGroup* parent_stats)
    : sc_module(name),
      config_(config),
      pf_cfg_(kVendor, kPfDevice, 0x020000),
      stats_("nic", parent_stats),
      requests_(stats_.add_counter("dma_requests", "DMA requests the engine issued")),
      reads_(stats_.add_counter("dma_reads", "Of which reads")),
      writes_(stats_.add_counter("dma_writes", "Of which writes")),
      dma_latency_(stats_.add_histogram("dma_latency_ns", "DMA request issued -> completed")) {
  pcie_in.register_b_transport(this, &SriovNic::pcie_transport);
  pf_cfg_.define_bar(0, kBarBytes, true);
  pf_cfg_.add_pcie(2);  // 512 B max payload supported
  pf_cfg_.add_msix(kMsixVectors, 0, kMsixTable, 0, kMsixPba);
  pf_cfg_.add_ari(0);
  if (config_.ats) pf_cfg_.add_ats(0);
  pcie::SriovConfig sc;
  sc.total_vfs = static_cast<uint16_t>(config_.total_vfs);
  sc.first_vf_offset = config_.first_vf_offset;
  sc.vf_stride = config_.vf_stride;
  sc.vf_device_id = kVfDevice;
  sc.vf_bars[0] = pcie::BarInfo{kBarBytes, true, false};
  sriov_ = std::make_unique<pcie::SriovFunctions>(
      pf_cfg_, config_.pf_rid, sc, [this](unsigned vf) { return make_vf_config(vf); });
  sriov_->on_change([this](unsigned before, unsigned now) { vfs_changed(before, now); });

  // Function state (and statistics) exists for the PF and for every VF ever enabled.
  functions_.resize(1 + config_.total_vfs);
  Function& pf = ensure_function(0);
  pf.cfg = &pf_cfg_;
  pf.msix = std::make_unique<pcie::MsixTable>(pf_cfg_, pf_cfg_.find_capability(pcie::kCapMsix),
                                              kMsixVectors);
  SC_THREAD(engine);
}

SriovNic::~SriovNic() = default;

std::unique_ptr<pcie::ConfigSpace> SriovNic::make_vf_config(unsigned) {
  // A VF's own header reads vendor/device 0xFFFF; its BAR lives in the PF's SR-IOV capability.
  auto cs = std::make_unique<pcie::ConfigSpace>(0xFFFF, 0xFFFF, 0x020000);
  cs->add_pcie(2);
  cs->add_msix(kMsixVectors, 0, kMsixTable, 0, kMsixPba);
  cs->add_ari(0);
  if (config_.ats) cs->add_ats(0);
  return cs;
}

SriovNic::Function& SriovNic::ensure_function(unsigned index) {
  auto& slot = functions_.at(index);
  if (!slot) {
    slot = std::make_unique<Function>(
        index, index == 0 ? std::string("pf") : "vf" + std::to_string(index - 1), &stats_);
    slot->itr_ns = config_.irq_interval_ns;
    slot->rid.value = rid(index);
    if (config_.ats) {
      slot->atc_stats = std::make_unique<core::StatGroup>("atc", &slot->stats);
      pcie::AtsCacheConfig ac;
      ac.entries = config_.atc_entries;
      ac.policy = config_.atc_policy;
      ac.seed = config_.seed + index;
      slot->atc = std::make_unique<pcie::AtsCache>(ac, slot->atc_stats.get());
    }
    slot->itr_packets = config_.irq_packets;
  }
  return *slot;
}

void SriovNic::vfs_changed(unsigned before, unsigned now) {
  for (unsigned i = 0; i < config_.total_vfs; ++i) {
    if (i >= now && !functions_[1 + i]) continue;
    Function& f = ensure_function(1 + i);
    pcie::ConfigSpace* cs = i < now ? &sriov_->vf(i) : nullptr;
    if (f.cfg == cs) continue;
    f.msix.reset();
    f.cfg = cs;
    f.rx.reset();
    f.tx.reset();
    f.ctrl = f.status = 0;
    if (cs)
      f.msix =
          std::make_unique<pcie::MsixTable>(*cs, cs->find_capability(pcie::kCapMsix), kMsixVectors);
  }
  log_.info("VFs ", before, " -> ", now);
}

uint16_t SriovNic::rid(unsigned function) const {
  return function == 0 ? config_.pf_rid : sriov_->vf_rid(function - 1);
}

void SriovNic::set_rx_traffic(unsigned function, bool on) {
  Function& f = ensure_function(function);
  f.traffic = on;
  if (on && !f.gen) f.gen = std::make_unique<PacketGenerator>(config_, function);
}

SriovNic::Counters SriovNic::counters(unsigned function) const {
  Counters c;
  if (!functions_.at(function)) return c;
  const Function& f = *functions_[function];
  c.rx_generated = f.generated;
  c.rx_packets = f.rx_packets.value;
  c.rx_bytes = f.rx_bytes.value;
  c.rx_drops = f.rx_drops.value;
  c.rx_error_drops = f.rx_error_drops.value;
  c.tx_packets = f.tx_packets.value;
  c.tx_bytes = f.tx_bytes.value;
  c.tx_bad_checksum = f.tx_bad_checksum.value;
  c.dma_errors = f.dma_errors.value;
  c.interrupts = f.interrupts.value;
  return c;
}

bool SriovNic::rx_settled() const {
  for (const auto& f : functions_)
    if (f && f->traffic && (f->generated < config_.packets || !f->rx.work.empty())) return false;
  return steps_.empty();
}

// ---- The engine ------------------------------------------------------------------------------

uint64_t SriovNic::next_ready() const {
  uint64_t t = kNever;
  for (const auto& f : functions_) {
    if (!f) continue;
    if (!f->rx.work.empty()) t = std::min(t, f->rx.work.front().ready_ps);
    if (!f->tx.work.empty()) t = std::min(t, f->tx.work.front().ready_ps);
  }
  return t;
}

std::optional<unsigned> SriovNic::pick(uint64_t t) {
  const unsigned n = static_cast<unsigned>(functions_.size());
  auto ready = [&](unsigned i) {
    if (!functions_[i]) return false;
    const Function& f = *functions_[i];
    return (!f.rx.work.empty() && f.rx.work.front().ready_ps <= t) ||
           (!f.tx.work.empty() && f.tx.work.front().ready_ps <= t);
  };
  // Weighted round-robin: the current function keeps the engine for `weight` packets in a row.
  if (rr_credit_ > 0 && ready(rr_)) {
    --rr_credit_;
    return rr_;
  }
  for (unsigned k = 1; k <= n; ++k) {
    const unsigned i = (rr_ + k) % n;
    if (ready(i)) {
      rr_ = i;
      rr_credit_ = config_.weight(i) - 1;
      return i;
    }
  }
  return std::nullopt;
}

void SriovNic::engine() {
  if (start_at_ > sc_core::sc_time_stamp()) wait(start_at_ - sc_core::sc_time_stamp());
  start_ps_ = sc_core::sc_time_stamp().value();
  started_ = true;
  slots_.reset(config_.dma_outstanding, start_ps_);
  tags_.reset(std::min(config_.tags, config_.dma_outstanding), start_ps_);
  for (auto& f : functions_) {
    if (!f || !f->traffic || !f->gen) continue;
    f->next = f->gen->next();
    events_.push({start_ps_ + f->next.time_ps, f->index, Event::kArrival});
  }
  const uint64_t quantum = std::max<uint64_t>(tlm::tlm_global_quantum::instance().get().value(), 1);
  for (;;) {
    const uint64_t ready = next_ready();
    const uint64_t work_at = ready == kNever ? kNever : std::max(ready, engine_free_ps_);
    const uint64_t event_at = events_.empty() ? kNever : events_.top().time_ps;
    const uint64_t step_at = steps_.empty() ? kNever : steps_.top().ready_ps;
    const uint64_t at = std::min({work_at, event_at, step_at});
    if (at == kNever) {
      wait(wake_);  // nothing to do until software rings a doorbell
      continue;
    }
    const uint64_t now = sc_core::sc_time_stamp().value();
    if (at > now + quantum) {
      // Never more than a quantum ahead: software's doorbells and refills must be seen in time.
      wait(sc_time::from_value(at - now), wake_);
      continue;
    }
    if (step_at <= event_at && step_at <= work_at) {
      Step st = steps_.top();
      steps_.pop();
      advance(st);
      continue;
    }
    if (event_at <= work_at) {
      const Event e = events_.top();
      events_.pop();
      if (e.kind == Event::kArrival)
        on_arrival(e.function, e.time_ps);
      else
        irq_timer(fn(e.function), e.kind == Event::kIrqTimerTx, e.time_ps);
      continue;
    }
    const auto chosen = pick(work_at);
    if (!chosen) continue;
    Function& f = fn(*chosen);
    // Within a function, the older of its RX and TX work goes first.
    const bool tx = f.rx.work.empty() ||
                    (!f.tx.work.empty() && f.tx.work.front().ready_ps < f.rx.work.front().ready_ps);
    Function::Queue& q = tx ? f.tx : f.rx;
    const Work w = q.work.front();
    q.work.pop_front();
    begin(*chosen, w, std::max(work_at, now));
  }
}

void SriovNic::on_arrival(unsigned function, uint64_t t) {
  Function& f = fn(function);
  const PacketGenerator::Packet p = f.next;
  ++f.generated;
  if (f.generated < config_.packets) {
    f.next = f.gen->next();
    events_.push({start_ps_ + f.next.time_ps, function, Event::kArrival});
  }
  Function::Queue& q = f.rx;
  if (!f.cfg || !(f.ctrl & kCtrlRxEnable) || q.stopped || q.entries == 0) {
    ++f.rx_error_drops;
    return;
  }
  if (q.claim == q.tail) {  // every posted descriptor is taken: the ring is empty
    ++f.rx_drops;
    return;
  }
  q.claim = (q.claim + 1) % q.entries;
  Work w;
  w.ready_ps = t;
  w.arrival_ps = t;
  w.seq = p.seq;
  w.bytes = p.bytes;
  q.work.push_back(w);
}

void SriovNic::schedule(Step st, uint64_t ready_ps) {
  st.ready_ps = ready_ps;
  st.order = step_order_++;
  steps_.push(std::move(st));
}

// A packet enters service: its descriptor is fetched when none is cached.
void SriovNic::begin(unsigned function, const Work& w, uint64_t t) {
  Function& f = fn(function);
  Function::Queue& q = w.tx ? f.tx : f.rx;
  Step st;
  st.function = function;
  st.w = w;
  if (q.stopped || !f.cfg || (q.cache.empty() && !fetch_descriptors(f, w.tx, t))) {
    if (!w.tx) ++f.rx_error_drops;  // lost with its queue
    return;
  }
  st.index = q.cache.front().index;
  st.d = q.cache.front().d;
  // The engine is busy with this descriptor for processing_ns (while its fetch, if any, runs).
  engine_free_ps_ = std::max(engine_free_ps_, t) + ps(config_.processing_ns);
  const uint64_t ready = std::max(engine_free_ps_, q.cache.front().ready_ps);
  q.cache.pop_front();
  schedule(std::move(st), ready);
}

// The next step of a packet in service: payload, write-back, completion.
void SriovNic::advance(Step& st) {
  Function& f = fn(st.function);
  const bool tx = st.w.tx;
  Function::Queue& q = tx ? f.tx : f.rx;
  uint64_t t = std::max<uint64_t>(st.ready_ps, sc_core::sc_time_stamp().value());
  if (q.stopped || !f.cfg) {  // stopped while this packet was in service
    if (!tx) ++f.rx_error_drops;
    return;
  }
  Descriptor& d = st.d;
  switch (st.stage) {
    case Step::kDescriptor:
      if (!tx) {
        st.buf.resize(st.w.bytes);
        fill_payload(st.buf.data(), st.w.bytes, st.function, st.w.seq, st.w.arrival_ps);
        const uint32_t len = std::min<uint32_t>(st.w.bytes, d.length);
        if (!dma_op(f, false, true, d.addr, st.buf.data(), len, t, &st.landed_ps)) {
          ++f.rx_error_drops;
          return;
        }
        d.status = kStatusDd | (len < st.w.bytes ? kStatusTooLong : 0);
        d.length = static_cast<uint16_t>(len);
        d.checksum = ones_complement_sum(st.buf.data(), len);
        st.stage = Step::kWriteBack;
      } else if (d.length == 0) {
        d.status = kStatusDd | kStatusErr;  // a malformed descriptor: reported, nothing sent
        st.stage = Step::kWriteBack;
      } else {
        st.buf.resize(d.length);
        if (!dma_op(f, true, false, d.addr, st.buf.data(), d.length, t)) return;
        st.stage = Step::kPayload;
      }
      return schedule(std::move(st), t);
    case Step::kPayload: {  // TX: the payload is here; onto the wire
      const sc_time wire = sc_time(d.length * 8.0 / config_.line_gbps, sc_core::SC_NS);
      t = (line_.acquire(sc_time::from_value(t), wire) + wire).value();
      if (ones_complement_sum(st.buf.data(), d.length) != d.checksum) ++f.tx_bad_checksum;
      wire_.transmit(st.buf.data(), d.length, t);
      d.status = kStatusDd;
      st.stage = Step::kWriteBack;
      return schedule(std::move(st), t);
    }
    case Step::kWriteBack: {
      uint8_t wb[kDescriptorBytes];
      d.encode(wb);
      if (!dma_op(f, tx, true, q.base + uint64_t{st.index} * kDescriptorBytes, wb, kDescriptorBytes,
                  t, &st.landed_ps)) {
        if (!tx) ++f.rx_error_drops;
        return;
      }
      st.stage = Step::kDone;  // done once the write-back is in memory
      return schedule(std::move(st), std::max(t, st.landed_ps));
    }
    case Step::kDone:
      break;
  }
  q.head = (st.index + 1) % q.entries;
  const uint64_t begun = tx ? st.w.ready_ps : st.w.arrival_ps;
  f.touch(begun);
  f.touch(t);
  if (tx) {
    ++f.tx_packets;
    f.tx_bytes += d.length;
    f.tx_latency.record(double(t - begun) / 1000.0);
  } else {
    ++f.rx_packets;
    f.rx_bytes += d.length;
    f.rx_latency.record(double(t - begun) / 1000.0);
  }
  completed(f, tx, t);
}

bool SriovNic::fetch_descriptors(Function& f, bool tx, uint64_t& t) {
  Function::Queue& q = tx ? f.tx : f.rx;
  const uint32_t n = q.entries;
  const uint32_t available = (q.tail + n - q.fetch) % n;
  const uint32_t count = std::min({config_.desc_batch, available, n - q.fetch});
  if (count == 0) return false;  // cannot happen: work exists only for posted descriptors
  std::vector<uint8_t> buf(count * kDescriptorBytes);
  if (!dma_op(f, tx, false, q.base + uint64_t{q.fetch} * kDescriptorBytes, buf.data(),
              static_cast<unsigned>(buf.size()), t))
    return false;
  for (uint32_t i = 0; i < count; ++i)
    q.cache.push_back({q.fetch + i, Descriptor::decode(buf.data() + i * kDescriptorBytes), t});
  q.fetch = (q.fetch + count) % n;
  return true;
}

// With ATS, each piece of the access within one cached translation goes out translated (AT = 10);
// a miss first asks the IOMMU (a translation request). A translation that does not allow the access
// (R = W = 0: unmapped, or no permission) or says U sends the rest untranslated: the IOMMU then
// decides, and faults, as for any untranslated request.
bool SriovNic::dma_op(Function& f, bool tx, bool write, uint64_t addr, uint8_t* data, unsigned len,
                      uint64_t& t, uint64_t* landed) {
  if (!ats_enabled(f))
    return transfer(f, tx, write, addr, data, len, core::AddressType::kUntranslated, t, landed);
  unsigned done = 0;
  while (done < len) {
    const uint64_t a = addr + done;
    auto tr = f.atc->lookup(a, write);
    if (!tr) {
      if (!translate(f, tx, a, t)) return false;
      tr = f.atc->lookup(a, write);
    }
    if (!tr || tr->untranslated_only)
      return transfer(f, tx, write, a, data + done, len - done, core::AddressType::kUntranslated, t,
                      landed);
    const uint64_t piece = std::min<uint64_t>(len - done, tr->untranslated.last() - a + 1);
    if (!transfer(f, tx, write, tr->translate(a), data + done, static_cast<unsigned>(piece),
                  core::AddressType::kTranslated, t, landed))
      return false;
    done += static_cast<unsigned>(piece);
  }
  return true;
}

bool SriovNic::ats_enabled(const Function& f) const {
  if (!f.atc || !f.cfg) return false;
  const uint16_t cap = f.cfg->find_ext_capability(pcie::kExtCapAts);
  return cap && (f.cfg->raw(cap + pcie::kAtsCtrl, 2) & pcie::kAtsCtrlEnable);
}

bool SriovNic::translate(Function& f, bool tx, uint64_t addr, uint64_t& t) {
  uint8_t data[8] = {};
  tlm::tlm_generic_payload p;
  core::PcieExtension ext;
  pcie::make_translation_request(p, ext, requester(f.index), addr, data, 1);
  const uint64_t now = sc_core::sc_time_stamp().value();
  const uint64_t start = tags_.take(slots_.take(std::max(t, now)));
  sc_time delay = sc_time::from_value(start - now);
  bool ok = f.cfg->bus_master();
  uint64_t done = start;
  if (ok) {
    dma->b_transport(p, delay);
    done = now + delay.value();
    ++requests_;
    ++reads_;
    const auto entries = pcie::parse_translation_completion(p);
    ok = !entries.empty();
    if (ok) f.atc->insert(addr, entries.front());
  }
  p.clear_extension(&ext);
  slots_.put(done);
  tags_.put(done);
  t = done;
  if (!ok) {
    ++f.dma_errors;
    stop_queue(f, tx, addr);
  }
  return ok;
}

// An Invalidate Request from the IOMMU: the function drops the range at once and completes the
// request when the translated requests it issued before have completed.
void SriovNic::invalidate_request(const pcie::InvalidateRequest& r, uint64_t now_ps) {
  Function* f = nullptr;
  if (r.function == config_.pf_rid) {
    f = &fn(0);
  } else if (auto vf = sriov_->vf_index(r.function)) {
    f = &fn(1 + *vf);
  }
  if (f && f->atc) {
    if (r.global)
      f->atc->invalidate_all();
    else
      f->atc->invalidate(r.range);
  }
  const uint64_t at = ats_tracker_.completion_time(r.function, now_ps);
  tlm::tlm_generic_payload p;
  core::PcieExtension ext;
  pcie::make_invalidate_completion(p, ext, r.function, r.requester, uint32_t{1} << r.itag);
  const uint64_t now = sc_core::sc_time_stamp().value();
  sc_time delay = sc_time::from_value(at > now ? at - now : 0);
  dma->b_transport(p, delay);
  p.clear_extension(&ext);
}

bool SriovNic::transfer(Function& f, bool tx, bool write, uint64_t addr, uint8_t* data,
                        unsigned len, core::AddressType at, uint64_t& t, uint64_t* landed) {
  const uint64_t now = sc_core::sc_time_stamp().value();
  // Non-posted requests hold a slot (and a tag) until their completion; posted writes leave at
  // once, paced by the link and its posted credits.
  uint64_t start = std::max(t, now);
  if (!write) start = tags_.take(slots_.take(start));
  tlm::tlm_generic_payload p;
  core::PcieExtension ext;
  ext.requester_id = requester(f.index);
  ext.posted = write;
  ext.at = at;
  p.set_extension(&ext);
  p.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  p.set_address(addr);
  p.set_data_ptr(data);
  p.set_data_length(len);
  p.set_streaming_width(len);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  bool ok = f.cfg && f.cfg->bus_master();
  uint64_t done = start;
  if (ok) {
    sc_time delay = sc_time::from_value(start - now);
    dma->b_transport(p, delay);
    done = now + delay.value();
    ok = p.is_response_ok() && ext.status == core::CompletionStatus::kSC;
    ++requests_;
    ++(write ? writes_ : reads_);
    dma_latency_.record(double(done - start) / 1000.0);
    if (auto* tl = core::EventTrace::active())
      tl->slice("nic", f.index == 0 ? "pf" : "vf", write ? "write" : "read", "dma", start, done,
                core::EventArgs().rid(ext.requester_id).hex("addr", addr).num("bytes", len));
  }
  p.clear_extension(&ext);
  if (!write) {
    slots_.put(done);
    tags_.put(done);
  }
  t = write ? start : done;
  if (landed) *landed = std::max(*landed, done);
  if (ok && at == core::AddressType::kTranslated)
    ats_tracker_.on_translated(ext.requester_id, done);
  if (!ok) {
    ++f.dma_errors;
    stop_queue(f, tx, addr);
  }
  return ok;
}

bool SriovNic::probe_dma(unsigned function, uint64_t addr) {
  uint32_t data = 0;
  tlm::tlm_generic_payload p;
  core::PcieExtension ext;
  ext.requester_id = requester(function);
  p.set_extension(&ext);
  p.set_command(tlm::TLM_READ_COMMAND);
  p.set_address(addr);
  p.set_data_ptr(reinterpret_cast<unsigned char*>(&data));
  p.set_data_length(4);
  p.set_streaming_width(4);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_time delay = sc_core::SC_ZERO_TIME;
  dma->b_transport(p, delay);
  p.clear_extension(&ext);
  return p.is_response_ok() && ext.status == core::CompletionStatus::kSC;
}

void SriovNic::stop_queue(Function& f, bool tx, uint64_t addr) {
  Function::Queue& q = tx ? f.tx : f.rx;
  if (!q.stopped)
    log_.warn("function ", f.index, (tx ? " TX" : " RX"), " queue stopped: DMA to 0x", std::hex,
              addr, " failed");
  if (!(f.status & (kStatusRxError | kStatusTxError))) f.err_addr = addr;
  q.stopped = true;
  f.status |= tx ? kStatusTxError : kStatusRxError;
  // Packets that had claimed descriptors are lost with the queue.
  if (!tx) f.rx_error_drops += q.work.size();
  q.work.clear();
  q.cache.clear();
}

// ---- Interrupts ----------------------------------------------------------------------------

void SriovNic::completed(Function& f, bool tx, uint64_t t) {
  Function::Queue& q = tx ? f.tx : f.rx;
  ++q.irq_pending;
  const uint64_t interval = ps(f.itr_ns);
  if (q.irq_pending >= f.itr_packets || t >= q.last_irq_ps + interval) {
    interrupt(f, tx, t);
  } else if (!q.timer_armed) {
    q.timer_armed = true;
    events_.push({q.last_irq_ps + interval, f.index, tx ? Event::kIrqTimerTx : Event::kIrqTimerRx});
  }
}

void SriovNic::irq_timer(Function& f, bool tx, uint64_t t) {
  Function::Queue& q = tx ? f.tx : f.rx;
  q.timer_armed = false;
  if (q.irq_pending) interrupt(f, tx, t);
}

void SriovNic::interrupt(Function& f, bool tx, uint64_t t) {
  Function::Queue& q = tx ? f.tx : f.rx;
  q.irq_pending = 0;
  q.last_irq_ps = t;
  if (!f.msix) return;
  const unsigned vector = tx ? kVectorTx : kVectorRx;
  if (auto m = f.msix->signal(vector))
    send_msi(f, *m, t, t);
  else if (f.msix->enabled() && !f.pending_since[vector])
    f.pending_since[vector] = t;  // masked: it leaves when software unmasks it
}

void SriovNic::send_msi(Function& f, const pcie::MsiMessage& m, uint64_t decide_ps,
                        uint64_t send_ps) {
  pcie::send_msi_write(*dma.operator->(), m, requester(f.index), decide_ps, send_ps);
  ++f.interrupts;
  if (auto* tl = core::EventTrace::active())
    tl->slice("nic", "msi", "msi", "interrupt", decide_ps, send_ps,
              core::EventArgs().rid(requester(f.index)).num("vector", m.vector));
}

// ---- Requests from the root port -------------------------------------------------------------

uint32_t SriovNic::register_value(unsigned function, uint32_t offset) const {
  if (!functions_.at(function)) return 0;
  const Function& f = *functions_[function];
  const bool txq = offset >= kTxQueue && offset < kTxQueue + 0x20;
  const Function::Queue& q = txq ? f.tx : f.rx;
  if (offset < kTxQueue + 0x20) {
    switch (offset & 0x1f) {
      case kQBaseLo:
        return static_cast<uint32_t>(q.base);
      case kQBaseHi:
        return static_cast<uint32_t>(q.base >> 32);
      case kQEntries:
        return q.entries;
      case kQHead:
        return q.head;
      case kQTail:
        return q.tail;
      default:
        return 0;
    }
  }
  switch (offset) {
    case kRegCtrl:
      return f.ctrl;
    case kRegStatus:
      return f.status;
    case kRegErrAddrLo:
      return static_cast<uint32_t>(f.err_addr);
    case kRegErrAddrHi:
      return static_cast<uint32_t>(f.err_addr >> 32);
    case kRegItrNs:
      return static_cast<uint32_t>(f.itr_ns);
    case kRegItrPackets:
      return f.itr_packets;
    case kRegRxPackets:
      return static_cast<uint32_t>(f.rx_packets.value);
    case kRegRxDrops:
      return static_cast<uint32_t>(f.rx_drops.value);
    case kRegTxPackets:
      return static_cast<uint32_t>(f.tx_packets.value);
    default:
      return 0;
  }
}

void SriovNic::mmio(Function& f, uint32_t offset, bool read, unsigned len, uint64_t& value,
                    uint64_t now_ps) {
  const bool aligned = (len == 4 || len == 8) && (offset & (len - 1)) == 0;
  if (offset >= kMsixTable && offset < kMsixTable + f.msix->table_bytes()) {
    if (!aligned) return;
    if (read)
      value = f.msix->table_read(offset - kMsixTable, len);
    else
      f.msix->table_write(offset - kMsixTable, len, value);
    return;
  }
  if (offset >= kMsixPba && offset < kMsixPba + f.msix->pba_bytes()) {
    if (aligned && read) value = f.msix->pba_read(offset - kMsixPba, len);
    return;
  }
  if (len != 4 || (offset & 3)) return;  // registers are 32-bit
  if (read) {
    value = register_value(f.index, offset);
    return;
  }
  const uint32_t v = static_cast<uint32_t>(value);
  if (offset < kTxQueue + 0x20) {
    const bool txq = offset >= kTxQueue;
    Function::Queue& q = txq ? f.tx : f.rx;
    switch (offset & 0x1f) {
      case kQBaseLo:
        q.base = (q.base & ~uint64_t{0xFFFFFFFF}) | (v & ~uint32_t{0xF});
        q.reset();
        break;
      case kQBaseHi:
        q.base = (q.base & 0xFFFFFFFF) | (uint64_t{v} << 32);
        q.reset();
        break;
      case kQEntries:
        q.entries = std::clamp<uint32_t>(v, 2, 65536);
        q.reset();
        break;
      case kQTail: {
        if (q.entries == 0) break;
        const uint32_t tail = v % q.entries;
        if (txq) {
          // Each newly posted TX descriptor is work from now on.
          for (uint32_t i = q.tail; i != tail; i = (i + 1) % q.entries) {
            Work w;
            w.tx = true;
            w.ready_ps = now_ps;
            q.work.push_back(w);
          }
        }
        q.tail = tail;
        wake_.notify(sc_core::SC_ZERO_TIME);
        break;
      }
      default:
        break;
    }
    return;
  }
  switch (offset) {
    case kRegCtrl:
      f.ctrl = v & (kCtrlRxEnable | kCtrlTxEnable);
      break;
    case kRegItrNs:
      f.itr_ns = v;
      break;
    case kRegItrPackets:
      f.itr_packets = std::max<uint32_t>(v, 1);
      break;
    default:
      break;
  }
}

void SriovNic::pcie_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  const auto* ext = p.get_extension<core::PcieExtension>();
  const uint64_t addr = p.get_address();
  const unsigned len = p.get_data_length();
  const uint64_t now_ps = sc_core::sc_time_stamp().value() + delay.value();
  p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  if (auto inv = pcie::parse_invalidate_request(p)) {
    const bool ours = inv->function == config_.pf_rid || sriov_->vf_index(inv->function);
    if (!ours) return;  // not a function of this device: unclaimed
    p.set_response_status(tlm::TLM_OK_RESPONSE);
    invalidate_request(*inv, now_ps);
    return;
  }
  Function* f = nullptr;  // the function addressed: only its vectors can have been released
  if (ext && ext->config) {
    uint32_t v = 0;
    if (!p.is_read()) std::memcpy(&v, p.get_data_ptr(), std::min(len, 4u));
    if (!sriov_->config_access(addr, p.is_read(), len, v)) return;
    if (p.is_read()) std::memcpy(p.get_data_ptr(), &v, len);
    p.set_response_status(tlm::TLM_OK_RESPONSE);
    const uint16_t target = static_cast<uint16_t>(addr >> 12);
    if (target == config_.pf_rid)
      f = &fn(0);
    else if (auto vf = sriov_->vf_index(target))
      f = &fn(1 + *vf);
  } else {
    uint64_t offset = 0;
    if (auto bar = pf_cfg_.bar_hit(addr, len); bar && *bar == 0) {
      f = &fn(0);
      offset = addr - *pf_cfg_.bar_address(0);
    } else if (auto hit = sriov_->vf_bar_hit(addr, len); hit && hit->bar == 0) {
      f = &fn(1 + hit->vf);
      offset = hit->offset;
    }
    if (!f || !f->msix || len > 8) return;
    uint64_t v = 0;
    if (!p.is_read()) std::memcpy(&v, p.get_data_ptr(), len);
    mmio(*f, static_cast<uint32_t>(offset), p.is_read(), len, v, now_ps);
    if (p.is_read()) std::memcpy(p.get_data_ptr(), &v, len);
    p.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  // An unmask (in the table or through the capability) may have released pending messages.
  if (!f || !f->msix) return;
  for (const pcie::MsiMessage& m : f->msix->take_released()) {
    const uint64_t decided = f->pending_since[m.vector] ? f->pending_since[m.vector] : now_ps;
    f->pending_since[m.vector] = 0;
    send_msi(*f, m, decided, now_ps);
  }
}

}  // namespace iovsim::sriov_nic

#include "dma_endpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <queue>

#include <iovsim/core/event_trace.hpp>
#include <iovsim/core/pcie_ext.hpp>

#include "config_request.hpp"
#include "link.hpp"

namespace iovsim::pcie {

using sc_core::sc_time;

namespace {
const core::EnumParam kDirection{"workload.direction",
                                 "read",
                                 "DMA direction (dma workload); write_read: a write, then a read "
                                 "of the same bytes (pcie-bench's WRRD), timed together",
                                 {"read", "write", "write_read"}};
const core::IntParam kTransfer{"workload.transfer_bytes", 64, "Bytes per DMA request",
                               core::Range{1, double(1 << 20)}};
const core::IntParam kWindow{"workload.window_bytes", 1 << 20,
                             "Address window the DMAs fall in (bytes)",
                             core::Range{1, double(int64_t{1} << 40)}};
const core::IntParam kBase{
    "workload.window_base", int64_t{1} << 32,
    "Host physical address where the DMA window starts (above 4 GiB: 64-bit TLPs)",
    core::Range{0, double(int64_t{1} << 52)}};
const core::EnumParam kPattern{
    "workload.pattern",
    "random",
    "Address order in the window: random (uniform, transfer-aligned), sequential "
    "(back to back, wrapping), cyclic (one transfer per 4 KiB page, page after page)",
    {"random", "sequential", "cyclic"}};
const core::IntParam kOutstanding{"workload.outstanding", 32, "DMA requests in flight",
                                  core::Range{1, 65536}};
const core::IntParam kRequests{"workload.requests", 100000,
                               "DMA requests to issue (warm-up included)", core::Range{1, 1e12}};
const core::IntParam kWarmup{"workload.warmup_requests", 0,
                             "Requests issued first and left out of the workload statistics",
                             core::Range{0, 1e12}};
const core::IntParam kMsiEvery{
    "workload.msi_every", 0,
    "The endpoint raises an MSI-X interrupt after every N completed requests; 0 = never",
    core::Range{0, 1e12}};
const core::RealParam kMsiInterval{
    "workload.msi_interval_ns", 0,
    "The endpoint raises an MSI-X interrupt at the first completion after each "
    "interval (ns) of device time; 0 = never",
    core::Range{0, 1e12}};
const core::BoolParam kIdeal{
    "endpoint.ideal", false,
    "The synthetic DMA endpoint has no engine limit of its own: only tags, credits "
    "and the link limit it"};
const core::RealParam kInterval{
    "endpoint.issue_interval_ns", 2,
    "Minimum time between two request issues by the DMA engine (ns; not ideal)",
    core::Range{0, 1e6}};
const core::RealParam kReadData{
    "endpoint.read_data_gbps", 0,
    "Rate at which the DMA engine moves a read's data into device memory once it has arrived "
    "(Gb/s, per request: reads in flight overlap); 0 = no cost",
    core::Range{0, 1e6}};
}  // namespace

DmaEndpointConfig DmaEndpointConfig::from(const core::Config& c) {
  DmaEndpointConfig d;
  d.write = kDirection.get(c) != "read";
  d.read_back = kDirection.get(c) == "write_read";
  d.transfer_bytes = static_cast<uint64_t>(kTransfer.get(c));
  d.window_bytes = static_cast<uint64_t>(kWindow.get(c));
  d.window_base = static_cast<uint64_t>(kBase.get(c));
  d.pattern = static_cast<DmaPattern>(kPattern.index(c));
  d.outstanding = static_cast<unsigned>(kOutstanding.get(c));
  d.tags = pcie::tags(c);
  d.requests = static_cast<uint64_t>(kRequests.get(c));
  d.warmup_requests = static_cast<uint64_t>(kWarmup.get(c));
  d.ideal = kIdeal.get(c);
  d.msi_every = static_cast<uint64_t>(kMsiEvery.get(c));
  d.msi_interval_ns = kMsiInterval.get(c);
  d.issue_interval_ns = kInterval.get(c);
  d.read_data_gbps = kReadData.get(c);
  if (d.transfer_bytes > d.window_bytes)
    throw core::ConfigError("workload.transfer_bytes (" + std::to_string(d.transfer_bytes) +
                            ") is larger than workload.window_bytes (" +
                            std::to_string(d.window_bytes) + ")");
  if (d.warmup_requests >= d.requests)
    throw core::ConfigError("workload.warmup_requests (" + std::to_string(d.warmup_requests) +
                            ") leaves no measured request out of workload.requests (" +
                            std::to_string(d.requests) + ")");
  return d;
}

DmaEndpoint::DmaEndpoint(sc_core::sc_module_name name, const DmaEndpointConfig& config,
                         core::StatGroup* parent_stats)
    : sc_module(name),
      config_(config),
      cfg_(0x19EE, 0x4000, 0x020000),
      // Mix the module name into the seed so two endpoints with one seed draw different streams.
      rng_(config.seed ^
           (std::hash<std::string>{}(std::string(this->name())) * 0x9e3779b97f4a7c15ull)),
      // Guarded: a zero transfer size must reach the ConfigError below, not divide by zero.
      slots_(config.transfer_bytes ? config.window_bytes / config.transfer_bytes : 0),
      stats_("workload", parent_stats),
      transactions_(stats_.add_counter("transactions", "DMA requests completed (measured phase)")),
      bytes_(stats_.add_counter("bytes",
                                "Payload bytes of the completed DMA requests (measured phase)")),
      errors_(stats_.add_counter("errors", "DMA requests completed with an error status (UR, CA)")),
      not_issued_(stats_.add_counter(
          "bme_blocked", "Requests the endpoint did not issue: Bus Master Enable was clear")),
      interrupts_(stats_.add_counter("interrupts", "MSI-X messages the endpoint sent")),
      interrupts_lost_(stats_.add_counter(
          "interrupts_lost", "Interrupts decided while MSI-X was disabled: never signalled")),
      interrupts_pending_(stats_.add_counter(
          "interrupts_pending", "Interrupts decided while the vector was masked (left pending)")),
      measured_ns_(stats_.add_scalar(
          "measured_ns",
          "Length of the measured phase: first measured issue to last completion (ns)")),
      latency_(stats_.add_histogram(
          "latency_ns",
          "DMA request issued by the device to its completion back at the device "
          "(writes: to the write reaching memory) (ns)")) {
  if (config.transfer_bytes == 0 || slots_ == 0)
    throw core::ConfigError("DMA endpoint: transfer size must be between 1 and the window size");
  stats_.add_formula(
      "throughput_gbps", "Payload bits per simulated nanosecond over the measured phase (Gb/s)",
      [this] { return core::ratio(8.0 * double(bytes_.value), measured_ns_.value); });
  cfg_.define_bar(0, kBar0Bytes, /*is64=*/true, /*prefetchable=*/true);
  cfg_.add_pcie(
      /*max_payload_supported=*/5);  // 4096 B: the link's MPS is what enumeration programs
  const uint16_t msix_cap = cfg_.add_msix(/*table_size=*/8, 0, kMsixTable, 0, kMsixPba);
  msix_ = std::make_unique<MsixTable>(cfg_, msix_cap, 8);
  pending_since_.assign(8, 0);
  pcie_in.register_b_transport(this, &DmaEndpoint::pcie_transport);
  SC_THREAD(run);
}

uint64_t DmaEndpoint::next_offset(uint64_t i) {
  const uint64_t t = config_.transfer_bytes;
  switch (config_.pattern) {
    case DmaPattern::kRandom:
      // The same draw either way; a mask spares the division when the slot count allows it.
      return ((slots_ & (slots_ - 1)) == 0 ? rng_() & (slots_ - 1) : rng_() % slots_) * t;
    case DmaPattern::kSequential:
      return (i % slots_) * t;
    case DmaPattern::kCyclic: {
      const uint64_t pages = config_.window_bytes / 4096;
      const uint64_t per_page = t <= 4096 ? 4096 / t : 0;
      if (pages == 0 || per_page == 0) return (i % slots_) * t;
      const uint64_t k = i % (pages * per_page);
      return (k % pages) * 4096 + (k / pages) * t;
    }
  }
  return 0;
}

namespace {
bool ok(const tlm::tlm_generic_payload& p, const core::PcieExtension& ext) {
  return p.is_response_ok() && ext.status == core::CompletionStatus::kSC;
}
}  // namespace

void DmaEndpoint::run() {
  const DmaEndpointConfig& c = config_;
  std::vector<uint8_t> buffer(c.transfer_bytes);
  for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(i * 7 + 1);

  tlm::tlm_generic_payload p;
  auto* ext = new core::PcieExtension;  // owned by the payload
  ext->requester_id = c.requester_id;
  ext->posted = c.write;
  p.set_extension(ext);
  p.set_command(c.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  p.set_data_ptr(buffer.data());
  p.set_data_length(static_cast<unsigned>(c.transfer_bytes));
  p.set_streaming_width(static_cast<unsigned>(c.transfer_bytes));

  // Times in picoseconds (the SystemC time resolution): free time of each in-flight slot.
  std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<uint64_t>> slots;
  if (start_at_ > sc_core::sc_time_stamp()) wait(start_at_ - sc_core::sc_time_stamp());
  const uint64_t start = sc_core::sc_time_stamp().value();
  for (unsigned s = 0; s < c.in_flight(); ++s) slots.push(start);
  const uint64_t interval =
      c.ideal ? 0 : static_cast<uint64_t>(std::llround(c.issue_interval_ns * 1000));
  // The engine's time to store a read's data, in ps (0: none).
  const uint64_t read_data_ps =
      c.read_data_gbps > 0 ? static_cast<uint64_t>(
                                 std::llround(8000.0 * double(c.transfer_bytes) / c.read_data_gbps))
                           : 0;
  const uint64_t quantum = std::max<uint64_t>(tlm::tlm_global_quantum::instance().get().value(), 1);
  uint64_t next_issue = start, first_measured = 0, last_done = start;
  const uint64_t msi_interval_ps = static_cast<uint64_t>(std::llround(c.msi_interval_ns * 1000));
  uint64_t next_msi_ps = start + msi_interval_ps;

  for (uint64_t i = 0; i < c.requests; ++i) {
    if (!cfg_.bus_master()) {
      // A function may not master the bus until software sets Bus Master Enable: report, don't
      // issue.
      status_ |= kStatusBmeBlocked;
      not_issued_ += c.requests - i;
      log_.error("Bus Master Enable is clear: ", c.requests - i, " DMA requests not issued");
      break;
    }
    const uint64_t issue = std::max(slots.top(), next_issue);
    slots.pop();
    next_issue = issue + interval;
    uint64_t now = sc_core::sc_time_stamp().value();
    if (issue >= now + quantum) {
      wait(sc_time::from_value(issue - now));  // synchronise: the thread ran a quantum ahead
      now = issue;
    }
    p.set_address(c.window_base + next_offset(i));
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    ext->status = core::CompletionStatus::kSC;
    sc_time delay = sc_time::from_value(issue - now);
    dma->b_transport(p, delay);
    if (c.read_back && ok(p, *ext)) {
      // The read leaves right behind the posted write, without waiting for it: the host orders it.
      p.set_command(tlm::TLM_READ_COMMAND);
      p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
      ext->posted = false;
      delay = sc_time::from_value(issue - now);
      dma->b_transport(p, delay);
      p.set_command(tlm::TLM_WRITE_COMMAND);
      ext->posted = true;
    }
    uint64_t done = now + delay.value();
    if (read_data_ps && (!c.write || c.read_back) && ok(p, *ext)) done += read_data_ps;
    slots.push(done);
    last_done = std::max(last_done, done);

    if (i == c.warmup_requests) first_measured = issue;
    if (auto* tl = core::EventTrace::active())
      tl->slice("endpoint", "dma", c.write ? "write" : "read", "dma", issue, done,
                core::EventArgs().hex("iova", p.get_address()).num("size", c.transfer_bytes));
    if (!ok(p, *ext)) {
      ++errors_;
      log_.debug("request ", i, " to 0x", std::hex, p.get_address(), std::dec, " completed with ",
                 core::to_string(ext->status));
    } else if (i >= c.warmup_requests) {
      ++transactions_;
      bytes_ += c.transfer_bytes;
      latency_.record(double(done - issue) / 1000.0);
    }
    ++completed_;
    // The device decides to interrupt when this request completes: every msi_every requests, or at
    // the first completion once msi_interval_ns has passed since the last interrupt.
    const bool by_count = c.msi_every && completed_ % c.msi_every == 0;
    const bool by_time = msi_interval_ps && done >= next_msi_ps;
    if (by_count || by_time) {
      next_msi_ps = done + msi_interval_ps;
      raise_interrupt(0, done);
    }
    if (progress_ && (completed_ & 0x3fff) == 0) progress_(completed_, c.requests);
  }
  const uint64_t now = sc_core::sc_time_stamp().value();
  if (last_done > now) wait(sc_time::from_value(last_done - now));
  measured_ns_.value = double(last_done - first_measured) / 1000.0;
  finished_ = true;
  if (progress_) progress_(completed_, c.requests);
  finished_event_.notify(sc_core::SC_ZERO_TIME);
}

// ---- Interrupts ----------------------------------------------------------------------------

void DmaEndpoint::send_msi(const MsiMessage& m, uint64_t decide_ps, uint64_t send_ps) {
  send_msi_write(*dma.operator->(), m, config_.requester_id, decide_ps, send_ps);
  ++interrupts_;
}

void DmaEndpoint::raise_interrupt(unsigned vector, uint64_t at_ps) {
  if (auto m = msix_->signal(vector)) {
    send_msi(*m, at_ps, at_ps);
  } else if (msix_->enabled()) {
    // Masked: pending; it leaves when software unmasks it.
    ++interrupts_pending_;
    if (!pending_since_[vector]) pending_since_[vector] = at_ps;
  } else {
    ++interrupts_lost_;  // MSI-X disabled: the function may not signal at all
  }
}

void DmaEndpoint::send_released(uint64_t at_ps) {
  for (const MsiMessage& m : msix_->take_released()) {
    const uint64_t decided = m.vector < pending_since_.size() && pending_since_[m.vector]
                                 ? pending_since_[m.vector]
                                 : at_ps;
    if (m.vector < pending_since_.size()) pending_since_[m.vector] = 0;
    send_msi(m, decided, at_ps);
  }
}

// ---- Requests from the root port ------------------------------------------------------------

uint64_t DmaEndpoint::bar0_read(uint32_t offset) const {
  switch (offset) {
    case kRegId:
      return (uint64_t{0x4000} << 16) | 0x19EE;
    case kRegStatus:
      return status_;
    case kRegCompleted:
      return completed_;
    case kRegErrors:
      return errors_.value;
    default:
      break;
  }
  return 0;
}

void DmaEndpoint::pcie_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  const auto* ext = p.get_extension<core::PcieExtension>();
  const uint64_t addr = p.get_address();
  const unsigned len = p.get_data_length();
  p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  if (ext && ext->config) {
    // Type 0 configuration request: this is function 0 of device 0 on its link.
    if (serve_type0_config(cfg_, p))
      send_released(sc_core::sc_time_stamp().value() + delay.value());
    return;
  }
  // Memory request: only BAR0, only with memory space enabled.
  const auto bar = cfg_.bar_hit(addr, len);
  if (!bar || *bar != 0 || len > 8) return;
  const uint32_t offset = static_cast<uint32_t>(addr - *cfg_.bar_address(0));
  const bool aligned = (len == 4 || len == 8) && (offset & (len - 1)) == 0;
  const bool in_table = offset >= kMsixTable && offset < kMsixTable + msix_->table_bytes();
  const bool in_pba = offset >= kMsixPba && offset < kMsixPba + msix_->pba_bytes();
  uint64_t v = 0;
  if (p.is_read()) {
    if ((in_table || in_pba) && aligned)
      v = in_table ? msix_->table_read(offset - kMsixTable, len)
                   : msix_->pba_read(offset - kMsixPba, len);
    else if (!in_table && !in_pba)
      v = bar0_read(offset & ~7u) >> (8 * (offset & 7));
    std::memcpy(p.get_data_ptr(), &v, len);
  } else if (in_table && aligned) {
    std::memcpy(&v, p.get_data_ptr(), len);
    msix_->table_write(offset - kMsixTable, len, v);
  } else if (offset == kRegIrqRequest && aligned) {
    std::memcpy(&v, p.get_data_ptr(), len);
    if (v < pending_since_.size())
      raise_interrupt(static_cast<unsigned>(v), sc_core::sc_time_stamp().value() + delay.value());
  }
  p.set_response_status(tlm::TLM_OK_RESPONSE);
  // An unmask may have released a pending message: it leaves now.
  send_released(sc_core::sc_time_stamp().value() + delay.value());
}

}  // namespace iovsim::pcie

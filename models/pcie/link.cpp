#include "link.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>
#include <string>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/core/pcie_ext.hpp>

namespace iovsim::pcie {

using sc_core::sc_time;

namespace {
const core::IntParam kTags{"pcie.tags", 32,
                           "Non-posted (read) requests a device may have in flight",
                           core::Range{1, 1024}};
const core::IntParam kGen{"pcie.gen", 3, "PCIe link generation",
                          std::vector<int64_t>{1, 2, 3, 4, 5}};
const core::IntParam kLanes{"pcie.lanes", 8, "PCIe link width (lanes)",
                            std::vector<int64_t>{1, 2, 4, 8, 16}};
const core::IntParam kMps{"pcie.mps", 256,
                          "Max payload size (bytes): write and completion TLPs split at it",
                          std::vector<int64_t>{128, 256, 512, 1024, 2048, 4096}};
const core::IntParam kMrrs{"pcie.mrrs", 512,
                           "Max read request size (bytes): reads split into MRd TLPs at it",
                           std::vector<int64_t>{128, 256, 512, 1024, 2048, 4096}};
const core::IntParam kRcb{
    "pcie.rcb", 0,
    "Read completion boundary (bytes) the root complex splits completions at; 0: at MPS",
    std::vector<int64_t>{0, 64, 128}};
const core::BoolParam kEcrc{"pcie.ecrc", false, "TLPs carry an end-to-end CRC (4 B each)"};
const core::RealParam kLatency{
    "pcie.latency_ns", 100,
    "One traversal of the link: PHY, data-link and transaction-layer latency (ns)",
    core::Range{0, 1e6}};
const core::IntParam kNpCredits{
    "rc.np_credits", 32,
    "Non-posted request credits the root port advertises: DMA reads in flight at the root port "
    "(each held from its MRd's arrival until its last completion is sent)",
    core::Range{1, 4096}};
const core::IntParam kPostedCredits{
    "rc.posted_credits", 64,
    "Posted request credits the root port advertises: DMA writes in flight at the root port "
    "(each held from its arrival until the target accepted it)",
    core::Range{1, 4096}};

constexpr std::size_t kMaxGaps = 64;  // idle gaps remembered per direction

bool valid_payload_size(unsigned size) {
  return size >= 128 && size <= 4096 && core::is_pow2(size);
}
}  // namespace

unsigned tags(const core::Config& config) {
  return static_cast<unsigned>(kTags.get(config));
}

LinkConfig LinkConfig::from(const core::Config& c) {
  LinkConfig l;
  l.params.gen = static_cast<unsigned>(kGen.get(c));
  l.params.lanes = static_cast<unsigned>(kLanes.get(c));
  l.params.mps = static_cast<unsigned>(kMps.get(c));
  l.params.mrrs = static_cast<unsigned>(kMrrs.get(c));
  l.params.rcb = static_cast<unsigned>(kRcb.get(c));
  l.params.ecrc = kEcrc.get(c);
  l.latency_ns = kLatency.get(c);
  l.np_credits = static_cast<unsigned>(kNpCredits.get(c));
  l.posted_credits = static_cast<unsigned>(kPostedCredits.get(c));
  return l;
}

// ---------------------------------------------------------------------------------------------
// Direction

void Link::Direction::add_gap(uint64_t start, uint64_t end) {
  if (end <= start || end - start < min_gap_) return;
  if (gaps_.empty() || gaps_.back().first < start) {
    gaps_.emplace_back(start, end);  // the usual case: a gap just before the new horizon
  } else {
    const auto by_start = [](const std::pair<uint64_t, uint64_t>& g, uint64_t v) {
      return g.first < v;
    };
    gaps_.insert(std::lower_bound(gaps_.begin(), gaps_.end(), start, by_start), {start, end});
  }
  if (gaps_.size() > kMaxGaps) gaps_.pop_front();
}

uint64_t Link::Direction::book(uint64_t ready, uint64_t service, uint64_t now) {
  while (!gaps_.empty() && gaps_.front().second <= now) gaps_.pop_front();
  busy_ps_ += service;
  if (ready < horizon_ && !gaps_.empty()) {
    // The gap holding `ready`, else the first one after it.
    auto it = std::upper_bound(
        gaps_.begin(), gaps_.end(), ready,
        [](uint64_t v, const std::pair<uint64_t, uint64_t>& g) { return v < g.first; });
    if (it != gaps_.begin() && std::prev(it)->second > ready) --it;
    for (; it != gaps_.end(); ++it) {
      const uint64_t start = std::max(it->first, ready);
      if (it->second - start >= service) {
        const uint64_t gap_start = it->first, gap_end = it->second;
        gaps_.erase(it);
        add_gap(gap_start, start);
        add_gap(start + service, gap_end);
        return start;
      }
    }
  }
  const uint64_t start = std::max(ready, horizon_);
  add_gap(horizon_, start);
  horizon_ = start + service;
  return start;
}

// ---------------------------------------------------------------------------------------------
// Link

Link::Link(sc_core::sc_module_name name, const LinkConfig& config, core::StatGroup* parent_stats)
    : sc_module(name),
      config_(config),
      latency_ps_(static_cast<uint64_t>(std::llround(config.latency_ns * 1000.0))),
      np_credits_(config.np_credits),
      posted_credits_(config.posted_credits),
      stats_(basename(), parent_stats),
      up_bytes_(stats_.add_counter("up_bytes",
                                   "Bytes sent upstream (device to host), TLP overheads included")),
      down_bytes_(
          stats_.add_counter("down_bytes", "Bytes sent downstream, TLP overheads included")),
      tlps_up_(stats_.add_counter("up_tlps", "TLPs sent upstream")),
      tlps_down_(stats_.add_counter("down_tlps", "TLPs sent downstream")),
      np_wait_ns_(stats_.add_scalar(
          "np_credit_wait_ns",
          "Total time DMA reads waited at the root port for a non-posted request credit (ns)")),
      posted_wait_ns_(stats_.add_scalar(
          "posted_credit_wait_ns",
          "Total time DMA writes waited at the root port for a posted request credit (ns)")),
      up_(up_bytes_, tlps_up_),
      down_(down_bytes_, tlps_down_) {
  for (unsigned size : {config.params.mps, config.params.mrrs})
    if (!valid_payload_size(size))
      throw core::ConfigError(std::string(this->name()) +
                              ": MPS and MRRS must be powers of two in 128..4096");
  if (config.params.rcb != 0 && config.params.rcb != 64 && config.params.rcb != 128)
    throw core::ConfigError(std::string(this->name()) + ": RCB must be 0, 64 or 128");
  set_rate();
  stats_.add_formula("tlp_gbps", "Link rate available to TLPs (Gb/s)",
                     [this] { return tlp_gbps_; });
  stats_.add_formula(
      "up_utilization", "Fraction of the upstream direction busy over the simulated time", [this] {
        return core::ratio(double(up_.busy_ps()), double(sc_core::sc_time_stamp().value()));
      });
  stats_.add_formula("down_utilization",
                     "Fraction of the downstream direction busy over the simulated time", [this] {
                       return core::ratio(double(down_.busy_ps()),
                                          double(sc_core::sc_time_stamp().value()));
                     });
  device_side.register_b_transport(this, &Link::b_transport);
  device_side.register_transport_dbg(this, &Link::transport_dbg);
  host_down.register_b_transport(this, &Link::down_b_transport);
  host_down.register_transport_dbg(this, &Link::down_transport_dbg);
}

void Link::set_rate() {
  tlp_gbps_ = pcie::tlp_gbps(config_.params);
  ps_per_byte_ = 8.0 * 1000.0 / tlp_gbps_;
  for (SerializationMemo& m : memo_) m = SerializationMemo{};
  // No TLP is shorter than 20 B: idle gaps below that can never be used.
  up_.set_min_gap(ser_ps(20));
  down_.set_min_gap(ser_ps(20));
}

void Link::follow_payload_sizes(ConfigSpace& device) {
  device.on_write(
      [this, &device](uint16_t, unsigned) { set_payload_sizes(device.mps(), device.mrrs()); });
}

void Link::set_payload_sizes(unsigned mps, unsigned mrrs) {
  if (!valid_payload_size(mps) || !valid_payload_size(mrrs))
    throw std::invalid_argument(std::string(name()) + ": MPS (" + std::to_string(mps) +
                                ") and MRRS (" + std::to_string(mrrs) +
                                ") must be powers of two in 128..4096");
  config_.params.mps = mps;
  config_.params.mrrs = mrrs;
  set_rate();  // the ACK/FC limits, hence the TLP rate, depend on the MPS
}

sc_time Link::serialization(uint64_t wire_bytes) const {
  return sc_time::from_value(static_cast<uint64_t>(std::llround(wire_bytes * ps_per_byte_)));
}

uint64_t Link::ser_ps(uint64_t wire_bytes) {
  SerializationMemo& m = memo_[wire_bytes & 7];
  if (m.wire_bytes != wire_bytes) {
    m.wire_bytes = wire_bytes;
    m.ps = static_cast<uint64_t>(std::llround(wire_bytes * ps_per_byte_));
  }
  return m.ps;
}

uint64_t Link::send(Direction& d, uint64_t ready, uint64_t wire_bytes, uint64_t now) {
  const uint64_t service = ser_ps(wire_bytes);
  d.count(wire_bytes);
  return d.book(ready, service, now) + service;
}

uint64_t Link::send_completions(Direction& d, uint64_t ready, uint64_t chunk, bool ok,
                                uint64_t now) {
  const LinkParams& lp = config_.params;
  const unsigned overhead = completion_overhead(lp);
  if (!ok) return send(d, ready, overhead, now);  // one completion without data (UR, CA)
  const uint64_t unit = completion_unit(lp);
  const uint64_t n = std::max<uint64_t>(1, core::div_ceil(chunk, unit));
  for (uint64_t i = 0; i < n; ++i)  // in order: each after the previous one has left
    ready = send(d, ready, overhead + chunk_bytes(chunk, unit, i), now);
  return ready;
}

void Link::read(tlm::tlm_generic_payload& p, sc_time& delay, tlm::tlm_fw_transport_if<>& target,
                Direction& req, Direction& cpl, core::Timeline* credits,
                core::Scalar* credit_wait) {
  const LinkParams& lp = config_.params;
  const uint64_t now = sc_core::sc_time_stamp().value();
  const uint64_t size = p.get_data_length();
  const unsigned overhead = request_overhead(lp, p.get_address(), size);
  const uint64_t n = std::max<uint64_t>(1, read_request_tlps(lp, size));

  // The MRd TLPs, in order; arrival[j]: MRd j at the far end.
  uint64_t small[8];
  std::vector<uint64_t> large;
  uint64_t* arrival = small;
  if (n > 8) {
    large.resize(n);
    arrival = large.data();
  }
  uint64_t ready = now + delay.value();
  for (uint64_t j = 0; j < n; ++j) {
    ready = send(req, ready, overhead, now);
    arrival[j] = ready + latency_ps_;
  }

  uint64_t grant = arrival[0];
  if (credits) {
    grant = credits->next_start(sc_time::from_value(arrival[0])).value();
    credit_wait->value += double(grant - arrival[0]) / 1000.0;
  }
  delay = sc_time::from_value(grant - now);
  target.b_transport(p, delay);

  // Every MRd meets the target's response time for the request.
  const uint64_t now2 = sc_core::sc_time_stamp().value();
  const uint64_t done = std::max<uint64_t>(now2 + delay.value(), grant);
  const uint64_t response = done - grant;
  const bool ok = p.is_response_ok();
  uint64_t last = 0;
  for (uint64_t j = 0; j < n; ++j)
    last = std::max(last, send_completions(cpl, std::max(arrival[j], grant) + response,
                                           chunk_bytes(size, lp.mrrs, j), ok, now2));
  if (credits) credits->acquire(sc_time::from_value(arrival[0]), sc_time::from_value(last - grant));
  delay = sc_time::from_value(last + latency_ps_ - now2);
}

void Link::write(tlm::tlm_generic_payload& p, sc_time& delay, tlm::tlm_fw_transport_if<>& target,
                 Direction& req, core::Timeline* credits, core::Scalar* credit_wait) {
  const LinkParams& lp = config_.params;
  const uint64_t now = sc_core::sc_time_stamp().value();
  const uint64_t size = p.get_data_length();
  // A message (Msg/MsgD) always has a 4 DW header; it is routed by ID, its address field unused.
  const auto* ext = p.get_extension<core::PcieExtension>();
  const unsigned overhead = ext && ext->message != core::MessageCode::kNone
                                ? message_overhead(lp)
                                : request_overhead(lp, p.get_address(), size);
  const uint64_t n = std::max<uint64_t>(1, write_tlps(lp, size));

  uint64_t ready = now + delay.value(), first = 0;
  for (uint64_t j = 0; j < n; ++j) {
    ready = send(req, ready, overhead + chunk_bytes(size, lp.mps, j), now);
    if (j == 0) first = ready + latency_ps_;
  }
  const uint64_t last = ready + latency_ps_;

  uint64_t grant = first;
  if (credits) {
    grant = credits->next_start(sc_time::from_value(first)).value();
    credit_wait->value += double(grant - first) / 1000.0;
  }
  // The target takes the write once all of it has arrived.
  delay = sc_time::from_value(std::max(grant, last) - now);
  target.b_transport(p, delay);
  if (credits) {
    const uint64_t done =
        std::max<uint64_t>(sc_core::sc_time_stamp().value() + delay.value(), grant);
    credits->acquire(sc_time::from_value(first), sc_time::from_value(done - grant));
  }
}

void Link::config_access(tlm::tlm_generic_payload& p, sc_time& delay) {
  // CfgRd/CfgWr: 3 DW header; the data (one DW for the usual access) rides on the CfgWr or on the
  // read's CplD. A config write is non-posted: its completion carries no data.
  const LinkParams& lp = config_.params;
  const uint64_t now = sc_core::sc_time_stamp().value();
  const uint64_t data = 4 * std::max<uint64_t>(1, core::div_ceil(p.get_data_length(), 4));
  const bool write = p.is_write();
  const uint64_t arrival =
      send(down_, now + delay.value(), config_overhead(lp) + (write ? data : 0), now) + latency_ps_;
  delay = sc_time::from_value(arrival - now);
  device_down->b_transport(p, delay);
  const uint64_t now2 = sc_core::sc_time_stamp().value();
  const uint64_t done = std::max<uint64_t>(now2 + delay.value(), arrival);
  const uint64_t end =
      send(up_, done, completion_overhead(lp) + (!write && p.is_response_ok() ? data : 0), now2);
  delay = sc_time::from_value(end + latency_ps_ - now2);
}

void Link::b_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  if (p.is_read())
    read(p, delay, *host_side.operator->(), up_, down_, &np_credits_, &np_wait_ns_);
  else
    write(p, delay, *host_side.operator->(), up_, &posted_credits_, &posted_wait_ns_);
}

void Link::down_b_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  if (device_down.size() == 0) {
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  const auto* ext = p.get_extension<core::PcieExtension>();
  if (ext && ext->config)
    config_access(p, delay);
  else if (p.is_read())
    read(p, delay, *device_down.operator->(), down_, up_, nullptr, nullptr);
  else
    write(p, delay, *device_down.operator->(), down_, nullptr, nullptr);
}

unsigned int Link::down_transport_dbg(tlm::tlm_generic_payload& p) {
  if (device_down.size() == 0) return 0;
  return device_down->transport_dbg(p);
}

}  // namespace iovsim::pcie

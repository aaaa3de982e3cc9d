#include "link.hpp"

#include <cmath>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::pcie {

using sc_core::sc_time;

namespace {
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
const core::BoolParam kEcrc{"pcie.ecrc", false, "TLPs carry an end-to-end CRC (4 B each)"};
const core::RealParam kLatency{
    "pcie.latency_ns", 100,
    "One traversal of the link: PHY, data-link and transaction-layer latency (ns)",
    core::Range{0, 1e6}};
}  // namespace

LinkConfig LinkConfig::from(const core::Config& c) {
  LinkConfig l;
  l.params.gen = static_cast<unsigned>(kGen.get(c));
  l.params.lanes = static_cast<unsigned>(kLanes.get(c));
  l.params.mps = static_cast<unsigned>(kMps.get(c));
  l.params.mrrs = static_cast<unsigned>(kMrrs.get(c));
  l.params.ecrc = kEcrc.get(c);
  l.latency_ns = kLatency.get(c);
  return l;
}

Link::Link(sc_core::sc_module_name name, const LinkConfig& config, core::StatGroup* parent_stats)
    : sc_module(name),
      config_(config),
      tlp_gbps_(pcie::tlp_gbps(config.params)),
      ps_per_byte_(8.0 * 1000.0 / tlp_gbps_),
      latency_(config.latency_ns, sc_core::SC_NS),
      stats_(basename(), parent_stats),
      up_bytes_(stats_.add_counter("up_bytes",
                                   "Bytes sent upstream (device to host), TLP overheads included")),
      down_bytes_(
          stats_.add_counter("down_bytes", "Bytes sent downstream, TLP overheads included")),
      tlps_up_(stats_.add_counter("up_tlps", "TLPs sent upstream")),
      tlps_down_(stats_.add_counter("down_tlps", "TLPs sent downstream")) {
  stats_.add_formula("tlp_gbps", "Link rate available to TLPs (Gb/s)",
                     [this] { return tlp_gbps_; });
  stats_.add_formula("up_utilization",
                     "Fraction of the upstream direction busy over the simulated time",
                     [this] { return up_.occupancy(sc_core::sc_time_stamp()); });
  stats_.add_formula("down_utilization",
                     "Fraction of the downstream direction busy over the simulated time",
                     [this] { return down_.occupancy(sc_core::sc_time_stamp()); });
  for (unsigned size : {config.params.mps, config.params.mrrs})
    if (size < 128 || size > 4096 || !core::is_pow2(size))
      throw core::ConfigError(std::string(this->name()) +
                              ": MPS and MRRS must be powers of two in 128..4096");
  device_side.register_b_transport(this, &Link::b_transport);
  device_side.register_transport_dbg(this, &Link::transport_dbg);
}

sc_time Link::serialization(uint64_t wire_bytes) const {
  return sc_time::from_value(static_cast<uint64_t>(std::llround(wire_bytes * ps_per_byte_)));
}

sc_time Link::serialization(uint64_t wire_bytes, SerializationMemo& memo) const {
  if (memo.wire_bytes != wire_bytes) {
    memo.wire_bytes = wire_bytes;
    memo.time = serialization(wire_bytes);
  }
  return memo.time;
}

void Link::b_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  const sc_time now = sc_core::sc_time_stamp();
  const uint64_t addr = p.get_address();
  const uint64_t size = p.get_data_length();
  const LinkParams& lp = config_.params;
  const bool read = p.is_read();

  const uint64_t up_wire =
      read ? read_request_wire_bytes(lp, addr, size) : write_wire_bytes(lp, addr, size);
  const sc_time up_service = serialization(up_wire, up_memo_);
  const sc_time up_start = up_.acquire(now + delay, up_service);
  up_bytes_ += up_wire;
  tlps_up_ += core::div_ceil(size, read ? lp.mrrs : lp.mps);
  delay = up_start + up_service + latency_ - now;

  host_side->b_transport(p, delay);

  if (read) {
    // A failed read comes back as one completion without data.
    const uint64_t down_wire =
        p.is_response_ok() ? read_completion_wire_bytes(lp, size) : completion_overhead(lp);
    const sc_time down_service = serialization(down_wire, down_memo_);
    const sc_time down_start = down_.acquire(now + delay, down_service);
    down_bytes_ += down_wire;
    tlps_down_ += p.is_response_ok() ? core::div_ceil(size, lp.mps) : 1;
    delay = down_start + down_service + latency_ - now;
  }
}

}  // namespace iovsim::pcie

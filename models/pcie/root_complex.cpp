#include "root_complex.hpp"

#include <iovsim/core/pcie_ext.hpp>

namespace iovsim::pcie {

namespace {
const core::RealParam kLatency{
    "rc.latency_ns", 20,
    "Root-complex processing of an upstream request before it reaches memory (ns)",
    core::Range{0, 1e6}};
}

RootComplexConfig RootComplexConfig::from(const core::Config& c) {
  RootComplexConfig r;
  r.latency_ns = kLatency.get(c);
  return r;
}

RootComplex::RootComplex(sc_core::sc_module_name name, const RootComplexConfig& config,
                         core::StatGroup* parent_stats)
    : sc_module(name),
      config_(config),
      latency_(config.latency_ns, sc_core::SC_NS),
      stats_("rc", parent_stats),
      requests_(stats_.add_counter("requests", "Upstream memory requests received")),
      unsupported_(stats_.add_counter("unsupported_requests", "Requests completed with UR")) {
  upstream.register_b_transport(this, &RootComplex::b_transport);
  upstream.register_transport_dbg(this, &RootComplex::transport_dbg);
}

void RootComplex::b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay) {
  ++requests_;
  delay += latency_;
  dma_out->b_transport(p, delay);
  if (!p.is_response_ok()) {
    ++unsupported_;
    if (auto* ext = p.get_extension<core::PcieExtension>())
      ext->status = core::CompletionStatus::kUR;
    log_.debug("UR for ", p.is_read() ? "read" : "write", " at 0x", std::hex, p.get_address(),
               std::dec, ": ", p.get_response_string());
  }
}

}  // namespace iovsim::pcie

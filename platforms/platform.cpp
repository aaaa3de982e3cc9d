#include "platform.hpp"

#include <sstream>

namespace iovsim::platforms {

namespace {
const core::IntParam kSeed{"seed", 1,
                           "All randomness derives from it: same seed and config, same statistics",
                           core::Range{0, 9.2e18}};
const core::IntParam kQuantum{
    "sim.quantum_ns", 1000,
    "Temporal-decoupling quantum: how far a model may run ahead of SystemC time (ns)",
    core::Range{1, 1e9}};
const core::EnumParam kKind{
    "workload.kind", "dma", "What drives traffic: dma (a pcie-bench-style DMA endpoint)", {"dma"}};
const core::EnumParam kHostCache{
    "workload.host_cache",
    "warm",
    "Whether the DMA window's lines sit in the host's last-level cache",
    {"warm", "cold"}};
}  // namespace

uint64_t seed_of(const core::Config& c) {
  return static_cast<uint64_t>(kSeed.get(c));
}
sc_core::sc_time quantum_of(const core::Config& c) {
  return sc_core::sc_time(static_cast<double>(kQuantum.get(c)), sc_core::SC_NS);
}

Platform::Platform(sc_core::sc_module_name name, const core::Config& config,
                   core::StatGroup* stats_root)
    : sc_module(name), config_(config) {
  tlm::tlm_global_quantum::instance().set(quantum_of(config));

  auto mem_cfg = memory::HostMemoryConfig::from(config);
  auto link_cfg = pcie::LinkConfig::from(config);
  auto rc_cfg = pcie::RootComplexConfig::from(config);
  auto ep_cfg = pcie::DmaEndpointConfig::from(config);
  ep_cfg.seed = seed_of(config);
  if (ep_cfg.window_base + ep_cfg.window_bytes > mem_cfg.size_bytes)
    throw core::ConfigError(
        "the DMA window [workload.window_base, +workload.window_bytes) lies beyond "
        "memory.size_bytes");

  memory_ = std::make_unique<memory::HostMemory>("memory", mem_cfg, stats_root);
  rc_ = std::make_unique<pcie::RootComplex>("rc", rc_cfg, stats_root);
  link_ = std::make_unique<pcie::Link>("link", link_cfg, stats_root);
  endpoint_ = std::make_unique<pcie::DmaEndpoint>("endpoint", ep_cfg, stats_root);

  endpoint_->dma.bind(link_->device_side);
  link_->host_side.bind(rc_->upstream);
  rc_->dma_out.bind(memory_->in);

  if (kHostCache.get(config) == "warm")
    memory_->add_warm_range(ep_cfg.window_base, ep_cfg.window_bytes);
}

std::string Platform::describe_platform() const {
  const auto& l = link_->config().params;
  const auto& m = memory_->config();
  std::ostringstream os;
  os << "PCIe Gen" << l.gen << " x" << l.lanes << " (MPS " << l.mps << ", MRRS " << l.mrrs << ", "
     << link_->tlp_gbps() << " Gb/s TLP rate), memory " << m.latency_ns << " ns";
  if (m.bandwidth_gbps > 0) os << " / " << m.bandwidth_gbps << " Gb/s";
  os << ", no IOMMU";
  return os.str();
}

std::string Platform::describe_workload() const {
  const auto& e = endpoint_->config();
  static const char* patterns[] = {"random", "sequential", "cyclic"};
  std::ostringstream os;
  os << "dma " << (e.write ? "write " : "read ") << e.transfer_bytes << " B, "
     << patterns[static_cast<int>(e.pattern)] << " in " << e.window_bytes << " B, " << e.in_flight()
     << " in flight, " << e.requests << " requests, host cache " << kHostCache.get(config_);
  return os.str();
}

}  // namespace iovsim::platforms

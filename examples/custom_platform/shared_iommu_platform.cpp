#include "shared_iommu_platform.hpp"

#include <algorithm>

#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/iommu/vtd_format.hpp>
#include <iovsim/platforms/platform.hpp>

namespace study {

namespace io = iovsim;

namespace {
// Where the driver keeps its tables, and the window BARs are assigned from (as the shipped
// platform's defaults).
constexpr uint64_t kTablesBase = uint64_t{1} << 30, kTablesBytes = uint64_t{256} << 20;
constexpr uint64_t kMmioBase = 0xC0000000, kMmioBytes = 0x10000000;
}  // namespace

DeviceSlot::DeviceSlot(sc_core::sc_module_name name, const io::pcie::LinkConfig& link_cfg,
                       const io::pcie::DmaEndpointConfig& ep_cfg, io::core::StatGroup* stats_root)
    : sc_module(name),
      stats_(basename(), stats_root),
      link_(std::make_unique<io::pcie::Link>("link", link_cfg, &stats_)),
      endpoint_(std::make_unique<io::pcie::DmaEndpoint>("endpoint", ep_cfg, &stats_)) {
  endpoint_->dma.bind(link_->device_side);
  link_->device_down.bind(endpoint_->pcie_in);
  // Enumeration programs the endpoint's Device Control; the link then splits TLPs at those sizes.
  link_->follow_payload_sizes(endpoint_->config_space());
}

SharedIommuPlatform::SharedIommuPlatform(sc_core::sc_module_name name,
                                         const io::core::Config& config, const std::string& policy,
                                         io::core::StatGroup* stats_root)
    : sc_module(name) {
  tlm::tlm_global_quantum::instance().set(io::platforms::quantum_of(config));
  const uint64_t seed = io::platforms::seed_of(config);
  page_bytes_ = static_cast<uint64_t>(config.get_int("workload.page_size"));

  const auto mem_cfg = io::memory::HostMemoryConfig::from(config);
  const auto rc_cfg = io::pcie::RootComplexConfig::from(config);
  const auto link_cfg = io::pcie::LinkConfig::from(config);
  auto iommu_cfg = io::iommu::RemappingUnitConfig::from(config);
  iommu_cfg.iotlb.policy = policy;  // any name in the PolicyRegistry, the study's own included
  iommu_cfg.iotlb.seed = seed;

  memory_ = std::make_unique<io::memory::HostMemory>("memory", mem_cfg, stats_root);
  rc_ = std::make_unique<io::pcie::RootComplex>("rc", rc_cfg, stats_root);
  iommu_ = std::make_unique<io::iommu::RemappingUnit>("iommu", iommu_cfg, stats_root);
  cpu_ = std::make_unique<io::cpu_stub::CpuPort>("cpu");

  for (unsigned i = 0; i < rc_cfg.ports; ++i) {
    auto ep_cfg = io::pcie::DmaEndpointConfig::from(config);
    ep_cfg.requester_id = io::core::make_rid(rc_->secondary_bus(i), 0, 0);
    ep_cfg.seed = seed + i;  // the same workload, its own address stream
    window_base_ = ep_cfg.window_base;
    window_bytes_ = ep_cfg.window_bytes;
    if (window_bytes_ > kMaxWindow || window_base_ % page_bytes_ != 0)
      throw io::core::ConfigError(
          "workload.window_bytes must be at most 16 GiB and workload.window_base page aligned");
    auto slot = std::make_unique<DeviceSlot>(("dev" + std::to_string(i)).c_str(), link_cfg, ep_cfg,
                                             stats_root);
    slot->link().host_side.bind(rc_->upstream);  // binding order = root port index
    rc_->downstream.bind(slot->link().host_down);
    memory_->add_warm_range(host_base(i), window_bytes_);
    slots_.push_back(std::move(slot));
  }

  rc_->dma_out.bind(iommu_->dma_in);
  iommu_->mem_out.bind(memory_->in);
  rc_->chipset_mmio.bind(iommu_->mmio);
  rc_->add_chipset_window(iommu_cfg.mmio_base, io::iommu::vtd::kMmioSize);
  cpu_->mem.bind(memory_->cpu);
  cpu_->mmio.bind(rc_->cpu);

  table_pages_ = std::make_unique<io::cpu_stub::PageAllocator>(*cpu_, kTablesBase, kTablesBytes);
  driver_ = std::make_unique<io::cpu_stub::IommuDriver>(*cpu_, iommu_cfg.mmio_base, *table_pages_);
  io::cpu_stub::EnumeratorOptions opts;
  opts.ecam_base = rc_cfg.ecam_base;
  opts.mmio_base = kMmioBase;
  opts.mmio_size = kMmioBytes;
  opts.mps = link_cfg.params.mps;
  opts.mrrs = link_cfg.params.mrrs;
  enumerator_ = std::make_unique<io::cpu_stub::PciEnumerator>(*cpu_, opts);
}

void SharedIommuPlatform::start_of_simulation() {
  // What an OS does at boot, before any device runs: bindings are complete now, so the CPU's
  // accesses travel through the root complex like any other.
  enumerator_->enumerate();
  driver_->bring_up();
  const uint64_t map_bytes =
      (window_bytes_ + page_bytes_ - 1) / page_bytes_ * page_bytes_;  // whole pages
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const uint16_t rid = slots_[i]->endpoint().config().requester_id;
    const uint16_t domain = static_cast<uint16_t>(i + 1);
    driver_->attach_device(rid, domain);
    driver_->map(domain, window_base_, host_base(i), map_bytes, page_bytes_);
  }
  // The devices start once boot's own traffic has drained.
  const sc_core::sc_time start = std::max(cpu_->boot_horizon(), memory_->busy_until());
  for (auto& slot : slots_) slot->endpoint().start_at(start);
}

bool SharedIommuPlatform::finished() const {
  return std::all_of(slots_.begin(), slots_.end(),
                     [](const auto& s) { return s->endpoint().finished(); });
}

}  // namespace study

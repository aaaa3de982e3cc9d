// workload.kind = dma: one pcie-bench-style DMA endpoint below root port 0. With the IOMMU on, the
// driver gives it domain 1 and maps its DMA window with workload.page_size pages to host memory at
// IOVA + driver.hpa_offset; its MSI-X vector 0 is programmed when it raises interrupts.
#include <sstream>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/pcie/dma_endpoint.hpp>

#include "workload.hpp"

namespace iovsim::platforms {

namespace {
const core::IntParam kPageSize{"workload.page_size", 4096,
                               "Page size the driver maps the DMA window with",
                               std::vector<int64_t>{4096, 2097152, 1073741824}};
const core::IntParam kHpaOffset{
    "driver.hpa_offset", int64_t{64} << 30,
    "With the IOMMU on, the DMA window's IOVA + this = where its data lives in host memory",
    core::Range{0, double(int64_t{1} << 52)}};
const core::IntParam kMsiVector{"workload.msi_vector", 0x41,
                                "Vector the endpoint's MSI-X interrupt is programmed with",
                                core::Range{32, 255}};
const core::IntParam kMsiApic{"workload.msi_apic", 0,
                              "APIC id (CPU) the endpoint's interrupt is sent to",
                              core::Range{0, 255}};
const core::EnumParam kHostCache{
    "workload.host_cache",
    "warm",
    "Whether the DMA window's lines sit in the host's last-level cache",
    {"warm", "cold"}};

class DmaWorkload : public Workload {
 public:
  explicit DmaWorkload(Fabric& f) : config_(f.config) {
    cfg_ = pcie::DmaEndpointConfig::from(f.config);
    cfg_.seed = f.seed;
    // The endpoint sits below root port 0: device 0, function 0 of its secondary bus.
    cfg_.requester_id = core::make_rid(f.rc.secondary_bus(0), 0, 0);
    if (cfg_.window_base + cfg_.window_bytes > f.memory.config().size_bytes)
      throw core::ConfigError(
          "the DMA window [workload.window_base, +workload.window_bytes) lies beyond "
          "memory.size_bytes");
    endpoint_ = std::make_unique<pcie::DmaEndpoint>("endpoint", cfg_, f.stats);
    endpoint_->dma.bind(f.link.device_side);
    f.link.device_down.bind(endpoint_->pcie_in);
    // Enumeration programs the endpoint's Device Control: the link then splits at those sizes.
    f.link.follow_payload_sizes(endpoint_->config_space());

    if (static_cast<unsigned>(kMsiApic.get(f.config)) >= f.irq.config().cpus)
      throw core::ConfigError("workload.msi_apic = " + std::to_string(kMsiApic.get(f.config)) +
                              " names no CPU (cpu.count = " + std::to_string(f.irq.config().cpus) +
                              ")");
    hpa_base_ = cfg_.window_base;
    // The window is mapped (at driver.hpa_offset) only when the driver brings the IOMMU up; left
    // at reset, the IOMMU passes DMA untranslated to the window itself.
    if (f.iommu && f.iommu_up) {
      page_bytes_ = static_cast<uint64_t>(kPageSize.get(f.config));
      f.check_page_size(page_bytes_, "workload.page_size");
      const uint64_t offset = static_cast<uint64_t>(kHpaOffset.get(f.config));
      if (offset % page_bytes_ != 0)
        throw core::ConfigError("driver.hpa_offset must be a multiple of workload.page_size");
      hpa_base_ = cfg_.window_base + offset;
      map_base_ = core::align_down(cfg_.window_base, page_bytes_);
      map_bytes_ = core::align_up(cfg_.window_base + cfg_.window_bytes, page_bytes_) - map_base_;
      f.check_host_region(map_base_ + offset, map_bytes_,
                          "the DMA window's host pages (workload.window_base + driver.hpa_offset)");
    }
    if (kHostCache.get(f.config) == "warm") f.memory.add_warm_range(hpa_base_, cfg_.window_bytes);
  }

  pcie::DmaEndpoint& endpoint() { return *endpoint_; }

  void boot(Fabric& f) override {
    if (map_bytes_ != 0) {
      const uint16_t domain = 1;
      f.driver->attach_device(cfg_.requester_id, domain, f.driver_aw);
      f.driver->map(domain, map_base_, map_base_ + (hpa_base_ - cfg_.window_base), map_bytes_,
                    page_bytes_);
    }
    if (cfg_.raises_interrupts()) program_interrupts(f);
  }
  void start_at(const sc_core::sc_time& t) override { endpoint_->start_at(t); }
  bool finished() const override { return endpoint_->finished(); }
  uint64_t completed() const override { return endpoint_->completed(); }
  void on_progress(std::function<void(uint64_t, uint64_t)> f) override {
    endpoint_->on_progress(std::move(f));
  }

  std::string describe() const override {
    const auto& e = endpoint_->config();
    static const char* patterns[] = {"random", "sequential", "cyclic"};
    std::ostringstream os;
    os << "dma "
       << (e.read_back ? "write+read "
           : e.write   ? "write "
                       : "read ")
       << e.transfer_bytes << " B, " << patterns[static_cast<int>(e.pattern)] << " in "
       << e.window_bytes << " B, " << e.in_flight() << " in flight, " << e.requests
       << " requests, host cache " << kHostCache.get(config_);
    if (map_bytes_) os << ", " << page_bytes_ / 1024 << " KiB pages";
    return os.str();
  }

 private:
  // The endpoint's MSI-X vector 0, as a driver programs it, then unmasked and MSI-X enabled.
  void program_interrupts(Fabric& f) {
    const uint16_t sid = cfg_.requester_id;
    const cpu_stub::PciFunctionInfo* fn = f.enumerator ? f.enumerator->find(sid) : nullptr;
    if (!fn || fn->bars.empty()) {
      log_.warn(
          "workload.msi_every/msi_interval_ns: the endpoint was not enumerated, its interrupt is "
          "not programmed");
      return;
    }
    const auto msg = f.program_msi(sid, static_cast<unsigned>(kMsiApic.get(config_)),
                                   static_cast<unsigned>(kMsiVector.get(config_)));
    f.write_msix_entry(fn->bars[0].base + pcie::DmaEndpoint::kMsixTable, 0, msg);
    f.enable_msix(*fn);
  }

  const core::Config& config_;
  pcie::DmaEndpointConfig cfg_;
  std::unique_ptr<pcie::DmaEndpoint> endpoint_;
  uint64_t hpa_base_ = 0;  // where the DMA window's data lives in host memory
  uint64_t map_base_ = 0, map_bytes_ = 0, page_bytes_ = 4096;
  core::Logger log_{"platform"};
};
}  // namespace

std::unique_ptr<Workload> make_dma_workload(Fabric& fabric) {
  return std::make_unique<DmaWorkload>(fabric);
}

pcie::DmaEndpoint* dma_endpoint_of(Workload& w) {
  auto* d = dynamic_cast<DmaWorkload*>(&w);
  return d ? &d->endpoint() : nullptr;
}

}  // namespace iovsim::platforms

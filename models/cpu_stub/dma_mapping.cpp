#include <iovsim/cpu_stub/dma_mapping.hpp>

#include <algorithm>
#include <deque>
#include <stdexcept>
#include <utility>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/iommu/vtd_format.hpp>

namespace iovsim::cpu_stub {

namespace {

// Every dma_map.* parameter concerns devices the host itself drives, not those assigned to VMs.
std::string host_owned(const char* what) {
  return std::string("Host-owned devices (the nic workload's PF and host queues): ") + what;
}
const core::EnumParam kPolicy{
    "dma_map.policy",
    "deferred",
    host_owned("DMA-mapping policy: identity, static, strict or deferred (a flush queue: "
               "Linux's default on x86, iommu.strict=1 gives strict)"),
    {"identity", "static", "strict", "deferred"}};
const core::RealParam kMapNs{
    "dma_map.map_ns", 150,
    host_owned("CPU time of one map: IOVA allocation, page-table writes (ns)"),
    core::Range{0, 1e9}};
const core::RealParam kUnmapNs{
    "dma_map.unmap_ns", 100,
    host_owned("CPU time of one unmap: IOVA lookup, clearing the PTEs (ns)"), core::Range{0, 1e9}};
const core::RealParam kInvalidationNs{
    "dma_map.invalidation_ns", 500,
    host_owned("CPU time per IOTLB invalidation the policy issues, on top of the modelled "
               "register and queue round trip: locking, descriptor set-up, barriers (ns)"),
    core::Range{0, 1e9}};
const core::IntParam kFlushEntries{
    "dma_map.flush_entries", 256,
    host_owned("deferred: queued unmaps that trigger a flush (Linux: 256)"),
    core::Range{1, 1 << 20}};
const core::IntParam kFlushTimeoutUs{
    "dma_map.flush_timeout_us", 10000,
    host_owned("deferred: age of the oldest queued unmap that triggers a flush (us; "
               "Linux: 10 ms)"),
    core::Range{1, 1e9}};
const core::EnumParam kIovaAllocator{
    "dma_map.iova_allocator",
    "caching",
    host_owned("IOVA allocator of strict and deferred: caching (Linux's per-size cache in "
               "front of the tree) or first-fit"),
    {"caching", "first-fit"}};
const core::IntParam kIovaBase{
    "dma_map.iova_base", 0x1000,
    host_owned("start of the IOVA range (strict, deferred) or of the static mapping"),
    core::Range{0, double(int64_t{1} << 57)}};
const core::IntParam kIovaBytes{"dma_map.iova_bytes", 0xFFFFF000,
                                host_owned("size of the IOVA range (bytes)"),
                                core::Range{4096, double(int64_t{1} << 57)}};

constexpr uint64_t kPage = 4096;

// Pages spanned by [addr, addr + bytes).
uint64_t span_pages(uint64_t addr, uint64_t bytes) {
  return core::div_ceil(addr % kPage + bytes, kPage);
}

}  // namespace

DmaMapConfig DmaMapConfig::from(const core::Config& c) {
  DmaMapConfig cfg;
  cfg.policy = kPolicy.get(c);
  cfg.map_ns = kMapNs.get(c);
  cfg.unmap_ns = kUnmapNs.get(c);
  cfg.invalidation_ns = kInvalidationNs.get(c);
  cfg.flush_entries = static_cast<unsigned>(kFlushEntries.get(c));
  cfg.flush_timeout_us = static_cast<uint64_t>(kFlushTimeoutUs.get(c));
  cfg.iova_allocator = kIovaAllocator.get(c);
  cfg.iova_base = static_cast<uint64_t>(kIovaBase.get(c));
  cfg.iova_bytes = static_cast<uint64_t>(kIovaBytes.get(c));
  if (cfg.iova_base % kPage != 0 || cfg.iova_bytes % kPage != 0)
    throw core::ConfigError("dma_map.iova_base and dma_map.iova_bytes must be multiples of 4096");
  return cfg;
}

// ---- the base: costs and statistics ----------------------------------------------------------

DmaMappingPolicy::DmaMappingPolicy(std::string name, const DmaDevice& dev, const DmaMapConfig& cfg,
                                   core::StatGroup* parent)
    : name_(std::move(name)),
      dev_(dev),
      cfg_(cfg),
      stats_("dma_map", parent),
      maps_(stats_.add_counter("maps", "buffers mapped")),
      unmaps_(stats_.add_counter("unmaps", "buffers unmapped")),
      invalidations_(stats_.add_counter("invalidations", "IOTLB invalidations the policy issued")),
      flushes_(stats_.add_counter("flushes", "deferred: flush-queue flushes")),
      flushes_full_(stats_.add_counter("flushes_full", "deferred: flushes of a full queue")),
      flushes_timeout_(
          stats_.add_counter("flushes_timeout", "deferred: flushes of a timed-out queue")),
      flushed_entries_(stats_.add_counter("flushed_entries", "deferred: unmaps flushed")),
      map_cpu_ns_(stats_.add_scalar("map_cpu_ns", "CPU time charged for maps (ns)")),
      unmap_cpu_ns_(stats_.add_scalar("unmap_cpu_ns", "CPU time charged for unmaps (ns)")),
      invalidation_cpu_ns_(
          stats_.add_scalar("invalidation_cpu_ns", "CPU time charged for invalidations (ns)")),
      exposure_(stats_.add_histogram("exposure_ns", "deferred: unmap to its flush, per entry")) {
  // The plain C++ configuration bypasses the parameters' ranges: the same limits here.
  if (!(cfg.map_ns >= 0 && cfg.unmap_ns >= 0 && cfg.invalidation_ns >= 0))
    throw core::ConfigError("dma_map: CPU costs (map_ns, unmap_ns, invalidation_ns) must be >= 0");
  if (cfg.flush_entries == 0 || cfg.flush_timeout_us == 0 || cfg.flush_timeout_us > 1000000000)
    throw core::ConfigError(
        "dma_map: flush_entries must be at least 1 and flush_timeout_us within 1..1e9");
  if (dev.page_bytes != kPage && dev.page_bytes != (kPage << 9) && dev.page_bytes != (kPage << 18))
    throw core::ConfigError("dma_map: the setup page size must be 4 KiB, 2 MiB or 1 GiB");
  stats_.add_formula("cpu_ns", "CPU time charged: maps, unmaps and invalidations (ns)", [this] {
    return map_cpu_ns_.value + unmap_cpu_ns_.value + invalidation_cpu_ns_.value;
  });
}

double DmaMappingPolicy::take_cpu_ns() {
  const double ns = pending_ns_;
  pending_ns_ = 0;
  return ns;
}

IommuDriver& DmaMappingPolicy::driver() const {
  if (!dev_.driver) throw std::logic_error("dma_map: policy '" + name_ + "' has no IOMMU driver");
  return *dev_.driver;
}

void DmaMappingPolicy::charge_map(bool cost) {
  ++maps_;
  if (!cost) return;
  pending_ns_ += cfg_.map_ns;
  map_cpu_ns_.value += cfg_.map_ns;
}

void DmaMappingPolicy::charge_unmap(bool cost) {
  ++unmaps_;
  if (!cost) return;
  pending_ns_ += cfg_.unmap_ns;
  unmap_cpu_ns_.value += cfg_.unmap_ns;
}

unsigned DmaMappingPolicy::charge_invalidations(const std::function<void()>& driver_calls) {
  const uint64_t before = driver().invalidations_issued();
  driver_calls();
  const auto n = static_cast<unsigned>(driver().invalidations_issued() - before);
  invalidations_ += n;
  pending_ns_ += n * cfg_.invalidation_ns;
  invalidation_cpu_ns_.value += n * cfg_.invalidation_ns;
  return n;
}

void DmaMappingPolicy::map_region(uint64_t iova, uint64_t hpa, uint64_t bytes,
                                  uint64_t page_bytes) {
  if (bytes == 0)
    throw core::ConfigError("dma_map: policy '" + name_ + "' needs the device's host region");
  if (iova % page_bytes != 0 || hpa % page_bytes != 0 || bytes % page_bytes != 0)
    throw core::ConfigError("dma_map: policy '" + name_ +
                            "': host region and IOVA must be aligned to the page size " +
                            std::to_string(page_bytes));
  try {
    driver().map(dev_.did, iova, hpa, bytes, page_bytes);
  } catch (const std::invalid_argument& e) {
    throw core::ConfigError("dma_map: policy '" + name_ + "': " + e.what());
  }
}

void DmaMappingPolicy::record_flush(FlushCause cause, uint64_t entries) {
  ++flushes_;
  if (cause == FlushCause::kFull) ++flushes_full_;
  if (cause == FlushCause::kTimeout) ++flushes_timeout_;
  flushed_entries_ += entries;
}

namespace {

// Attaches the device: TT 2 for pass-through, else TT 0 with its own second-level table.
void attach(const DmaDevice& dev, unsigned tt, const std::string& policy) {
  try {
    dev.driver->attach_device(dev.sid, dev.did, dev.aw, tt);
  } catch (const std::invalid_argument& e) {
    throw core::ConfigError("dma_map: policy '" + policy + "': " + e.what());
  }
}

// The domain's input address width, as the driver computes it (min of AGAW and MGAW).
unsigned domain_bits(const DmaDevice& dev) {
  const auto mgaw =
      static_cast<unsigned>(core::bits(dev.driver->cap(), iommu::vtd::CapFields::kMgawHi,
                                       iommu::vtd::CapFields::kMgawLo) +
                            1);
  return std::min(30 + 9 * dev.aw, mgaw);
}

void check_iova_range(const DmaDevice& dev, const DmaMapConfig& cfg, const std::string& policy) {
  const unsigned width = domain_bits(dev);
  if (cfg.iova_bytes == 0 || cfg.iova_base + cfg.iova_bytes < cfg.iova_base ||
      (width < 64 && cfg.iova_base + cfg.iova_bytes > (uint64_t{1} << width)))
    throw core::ConfigError("dma_map: policy '" + policy +
                            "': the IOVA range (dma_map.iova_base, dma_map.iova_bytes) exceeds the "
                            "domain's " +
                            std::to_string(width) + "-bit address width (driver.aw)");
}

// ---- identity and static ---------------------------------------------------------------------

// [addr, addr + bytes) lies in [base, base + size), without wrapping past the end.
bool inside(uint64_t addr, uint64_t bytes, uint64_t base, uint64_t size) {
  return addr >= base && addr - base <= size && bytes <= size - (addr - base);
}

class IdentityPolicy : public DmaMappingPolicy {
 public:
  IdentityPolicy(const DmaDevice& dev, const DmaMapConfig& cfg, core::StatGroup* parent)
      : DmaMappingPolicy("identity", dev, cfg, parent) {
    if (!dev.driver) return;  // no IOMMU: addresses are host addresses anyway
    if (core::bit(dev.driver->ecap(), iommu::vtd::EcapFields::kPt)) {
      attach(dev, iommu::vtd::kTtPassThrough, name());
      return;
    }
    attach(dev, 0, name());
    map_region(dev.host_base, dev.host_base, dev.host_bytes, dev.page_bytes);
    checked_ = true;
  }
  uint64_t map(uint64_t hpa, uint64_t bytes, bool, uint64_t) override {
    if (bytes == 0) throw std::invalid_argument("dma_map: map of 0 bytes");
    const DmaDevice& d = device();
    if (checked_ && !inside(hpa, bytes, d.host_base, d.host_bytes))
      throw std::invalid_argument("dma_map: identity: buffer outside the mapped host region");
    charge_map(false);
    return hpa;
  }
  void unmap(uint64_t, uint64_t bytes, uint64_t) override {
    if (bytes == 0) throw std::invalid_argument("dma_map: unmap of 0 bytes");
    charge_unmap(false);
  }

 private:
  bool checked_ = false;  // 1:1 tables (no pass-through): only the region is reachable
};

class StaticPolicy : public DmaMappingPolicy {
 public:
  StaticPolicy(const DmaDevice& dev, const DmaMapConfig& cfg, core::StatGroup* parent)
      : DmaMappingPolicy("static", dev, cfg, parent) {
    if (!dev.driver) throw core::ConfigError("dma_map.policy = static needs iommu.enabled=true");
    if (dev.host_bytes > cfg.iova_bytes)
      throw core::ConfigError("dma_map: static: the host region is larger than dma_map.iova_bytes");
    check_iova_range(dev, cfg, name());
    attach(dev, 0, name());
    map_region(cfg.iova_base, dev.host_base, dev.host_bytes, dev.page_bytes);
  }
  uint64_t map(uint64_t hpa, uint64_t bytes, bool, uint64_t) override {
    if (bytes == 0) throw std::invalid_argument("dma_map: map of 0 bytes");
    const DmaDevice& d = device();
    if (!inside(hpa, bytes, d.host_base, d.host_bytes))
      throw std::invalid_argument("dma_map: static: buffer outside the mapped host region");
    charge_map(false);
    return config().iova_base + (hpa - d.host_base);
  }
  void unmap(uint64_t iova, uint64_t bytes, uint64_t) override {
    const uint64_t base = config().iova_base;
    if (bytes == 0 || !inside(iova, bytes, base, device().host_bytes))
      throw std::invalid_argument("dma_map: static: unmap outside the mapped region");
    charge_unmap(false);
  }
};

// ---- strict and deferred ---------------------------------------------------------------------

// Per-buffer mappings from an IOVA allocator; what differs is when the IOTLB is flushed.
class PagedPolicy : public DmaMappingPolicy {
 public:
  PagedPolicy(std::string name, const DmaDevice& dev, const DmaMapConfig& cfg,
              core::StatGroup* parent)
      : DmaMappingPolicy(name, dev, cfg, parent) {
    if (!dev.driver)
      throw core::ConfigError("dma_map.policy = " + name + " needs iommu.enabled=true");
    check_iova_range(dev, cfg, name);
    iova_ =
        IovaAllocatorRegistry::instance().create(cfg.iova_allocator, cfg.iova_base, cfg.iova_bytes);
    attach(dev, 0, name);
  }

  uint64_t map(uint64_t hpa, uint64_t bytes, bool device_writes, uint64_t now_ns) override {
    if (bytes == 0) throw std::invalid_argument("dma_map: map of 0 bytes");
    const uint64_t pages = span_pages(hpa, bytes);
    std::optional<uint64_t> iova = iova_->alloc(pages);
    if (!iova) {
      release(now_ns);  // deferred: queued IOVAs become free by a flush
      iova = iova_->alloc(pages);
    }
    if (!iova)
      throw std::runtime_error("dma_map: IOVA space exhausted (" + std::to_string(live_.size()) +
                               " buffers mapped; dma_map.iova_bytes)");
    const uint64_t page_hpa = core::align_down(hpa, kPage);
    try {
      // With CAP.CM the driver invalidates after mapping: those invalidations are charged too.
      charge_invalidations([&] {
        driver().map(device().did, *iova, page_hpa, pages * kPage, kPage, true, device_writes);
      });
    } catch (...) {
      iova_->free(*iova, pages);
      throw;
    }
    live_[*iova] = pages;
    charge_map();
    return *iova + hpa % kPage;
  }

  void unmap(uint64_t iova, uint64_t bytes, uint64_t now_ns) override {
    const uint64_t page = core::align_down(iova, kPage);
    auto it = live_.find(page);
    if (bytes == 0 || it == live_.end() || it->second != span_pages(iova, bytes))
      throw std::invalid_argument("dma_map: " + name() + ": unmap of " + std::to_string(bytes) +
                                  " bytes at an IOVA that was not mapped as such");
    const uint64_t pages = it->second;
    driver().unmap(device().did, page, pages * kPage, /*invalidate=*/false);
    live_.erase(it);
    charge_unmap();
    retire(page, pages, now_ns);
  }

  std::size_t live() const { return live_.size(); }

 protected:
  // After the PTEs are cleared: flush and free now, or later.
  virtual void retire(uint64_t iova, uint64_t pages, uint64_t now_ns) = 0;
  // Frees what can be freed to satisfy an allocation.
  virtual void release(uint64_t /*now_ns*/) {}
  IovaAllocator& iova() { return *iova_; }

 private:
  std::unique_ptr<IovaAllocator> iova_;
  std::map<uint64_t, uint64_t> live_;  // IOVA → pages
};

class StrictPolicy : public PagedPolicy {
 public:
  StrictPolicy(const DmaDevice& dev, const DmaMapConfig& cfg, core::StatGroup* parent)
      : PagedPolicy("strict", dev, cfg, parent) {}

 protected:
  // One invalidation covering the buffer, as Linux's flush_iotlb_psi: the page count rounded up
  // to a power of two (IOVAs are naturally aligned to it); domain-selective without PSI, beyond
  // MAMV or for an allocator that does not align.
  void retire(uint64_t iova, uint64_t pages, uint64_t) override {
    IommuDriver& drv = driver();
    const unsigned am = core::log2_floor(pages) + (core::is_pow2(pages) ? 0 : 1);
    const uint64_t mamv =
        core::bits(drv.cap(), iommu::vtd::CapFields::kMamvHi, iommu::vtd::CapFields::kMamvLo);
    const bool psi = core::bit(drv.cap(), iommu::vtd::CapFields::kPsi) && am <= mamv && am < 52 &&
                     iova % (kPage << am) == 0;
    charge_invalidations([&] {
      if (psi)
        drv.invalidate_iotlb_pages(device().did, iova, am);
      else
        drv.invalidate_iotlb_domain(device().did);
      // A device with ATS may cache the translation too (Linux's iommu_flush_dev_iotlb).
      drv.invalidate_device_tlbs(device().did, iova, pages * kPage);
    });
    this->iova().free(iova, pages);
  }
};

class DeferredPolicy : public PagedPolicy {
 public:
  DeferredPolicy(const DmaDevice& dev, const DmaMapConfig& cfg, core::StatGroup* parent)
      : PagedPolicy("deferred", dev, cfg, parent), timeout_ns_(cfg.flush_timeout_us * 1000) {}

  void poll(uint64_t now_ns) override {
    if (!queue_.empty() && now_ns >= queue_.front().unmap_ns + timeout_ns_)
      flush(now_ns, FlushCause::kTimeout);
  }
  std::optional<uint64_t> next_deadline_ns() const override {
    if (queue_.empty()) return std::nullopt;
    return queue_.front().unmap_ns + timeout_ns_;
  }
  void flush_all(uint64_t now_ns) override {
    if (!queue_.empty()) flush(now_ns, FlushCause::kExplicit);
  }

 protected:
  void retire(uint64_t iova, uint64_t pages, uint64_t now_ns) override {
    queue_.push_back({iova, pages, now_ns});
    if (queue_.size() >= config().flush_entries)
      flush(now_ns, FlushCause::kFull);
    else
      poll(now_ns);
  }
  void release(uint64_t now_ns) override { flush_all(now_ns); }

 private:
  struct Queued {
    uint64_t iova, pages, unmap_ns;
  };

  // Linux's flush: one domain-selective IOTLB invalidation, then the queued IOVAs are freed.
  void flush(uint64_t now_ns, FlushCause cause) {
    charge_invalidations([&] {
      driver().invalidate_iotlb_domain(device().did);
      driver().invalidate_device_tlbs(device().did, 0, uint64_t{1} << 48);
    });
    for (const Queued& q : queue_) {
      exposure().record(static_cast<double>(now_ns >= q.unmap_ns ? now_ns - q.unmap_ns : 0));
      iova().free(q.iova, q.pages);
    }
    record_flush(cause, queue_.size());
    queue_.clear();
  }

  uint64_t timeout_ns_;
  std::deque<Queued> queue_;
};

}  // namespace

// ---- registry --------------------------------------------------------------------------------

DmaPolicyRegistry::DmaPolicyRegistry() {
  factories_["identity"] = [](const DmaDevice& d, const DmaMapConfig& c, core::StatGroup* p) {
    return std::make_unique<IdentityPolicy>(d, c, p);
  };
  factories_["static"] = [](const DmaDevice& d, const DmaMapConfig& c, core::StatGroup* p) {
    return std::make_unique<StaticPolicy>(d, c, p);
  };
  factories_["strict"] = [](const DmaDevice& d, const DmaMapConfig& c, core::StatGroup* p) {
    return std::make_unique<StrictPolicy>(d, c, p);
  };
  factories_["deferred"] = [](const DmaDevice& d, const DmaMapConfig& c, core::StatGroup* p) {
    return std::make_unique<DeferredPolicy>(d, c, p);
  };
}

DmaPolicyRegistry& DmaPolicyRegistry::instance() {
  static DmaPolicyRegistry registry;
  return registry;
}

void DmaPolicyRegistry::add(const std::string& name, DmaPolicyFactory f) {
  if (name.empty()) throw std::invalid_argument("DmaPolicyRegistry::add: empty policy name");
  if (!f) throw std::invalid_argument("DmaPolicyRegistry::add: empty factory for '" + name + "'");
  factories_[name] = std::move(f);
}

std::unique_ptr<DmaMappingPolicy> DmaPolicyRegistry::create(const std::string& name,
                                                            const DmaDevice& dev,
                                                            const DmaMapConfig& cfg,
                                                            core::StatGroup* parent) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [n, f] : factories_) known += (known.empty() ? "" : ", ") + n;
    throw core::ConfigError("unknown DMA-mapping policy '" + name + "' (known: " + known + ")");
  }
  auto policy = it->second(dev, cfg, parent);
  if (!policy) throw std::logic_error("DMA-mapping policy factory '" + name + "' returned null");
  return policy;
}

std::vector<std::string> DmaPolicyRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, f] : factories_) out.push_back(n);
  return out;
}

std::unique_ptr<DmaMappingPolicy> make_dma_mapping_policy(const DmaDevice& dev,
                                                          const DmaMapConfig& cfg,
                                                          core::StatGroup* parent) {
  return DmaPolicyRegistry::instance().create(cfg.policy, dev, cfg, parent);
}

}  // namespace iovsim::cpu_stub

// DMA-mapping policies: how a host driver makes its buffers reachable by a device it owns (not one
// assigned to a VM) behind the IOMMU, as Linux's DMA API does with an IOMMU domain per device.
// Chosen by name from a registry (architecture.md §4); the built-ins:
//
//   identity  the device sees host addresses: context TT = 2 (pass-through) when ECAP.PT, else the
//             host region mapped 1:1 at setup (Linux's iommu=pt). map returns the HPA, costs 0.
//   static    the host region mapped once at setup at IOVA dma_map.iova_base (a pre-mapped pool,
//             as DPDK over VFIO has); map is an address computation, unmap nothing, both free.
//   strict    map = IOVA allocation + page-table writes; unmap = clear the PTEs, one synchronous
//             IOTLB invalidation, free the IOVA (Linux's iommu.strict=1).
//   deferred  unmap clears the PTEs and queues the IOVA in a flush queue; when the queue holds
//             flush_entries entries or its oldest is flush_timeout_us old, one domain-selective
//             invalidation, then the queued IOVAs are freed (Linux's lazy mode, its default on x86
//             since 5.15). Until then the IOTLB may still translate them: the exposure window.
//
// Policies are plain C++ over IommuDriver. CPU time is not spent by the policy but accrued: after a
// call the caller takes it with take_cpu_ns() and waits it out on its own thread (so costs land on
// the driver thread that incurred them, and elaboration-time setup costs nothing). The accrued
// costs are dma_map.map_ns per map, dma_map.unmap_ns per unmap and dma_map.invalidation_ns per
// invalidation the policy has the driver issue; these come on top of the register accesses and
// polling of the modelled invalidation, which take simulated time by themselves when the driver
// runs in a SystemC thread (cpu_port.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/cpu_stub/iommu_driver.hpp>
#include <iovsim/cpu_stub/iova_allocator.hpp>

namespace iovsim::cpu_stub {

struct DmaMapConfig {
  std::string policy = "deferred";
  double map_ns = 150;
  double unmap_ns = 100;
  double invalidation_ns = 500;
  unsigned flush_entries = 256;
  uint64_t flush_timeout_us = 10000;
  std::string iova_allocator = "caching";
  uint64_t iova_base = 0x1000;       // Linux never hands out IOVA page 0
  uint64_t iova_bytes = 0xFFFFF000;  // up to 4 GiB: Linux tries the 32-bit space first

  // Reads dma_map.*; core::ConfigError for an IOVA range that is not 4 KiB aligned.
  static DmaMapConfig from(const core::Config& config);
};

// The device a policy maps for.
struct DmaDevice {
  IommuDriver* driver = nullptr;  // brought up; null without an IOMMU (identity only)
  uint16_t sid = 0;               // requester id; the policy attaches it to domain `did`
  uint16_t did = 1;
  unsigned aw = 2;  // the domain's address width (driver.aw)
  // identity without ECAP.PT, static: the host memory the device's buffers live in, mapped at
  // setup with leaves of page_bytes (4 KiB, 2 MiB, 1 GiB).
  uint64_t host_base = 0, host_bytes = 0;
  uint64_t page_bytes = 4096;
};

class DmaMappingPolicy {
 public:
  virtual ~DmaMappingPolicy() = default;

  // Makes [hpa, hpa + bytes) reachable for the device and returns the address it must use (the
  // page offset of hpa preserved). device_writes: the device may write (W); reads are always
  // allowed, as Linux does without CAP.ZLR. std::invalid_argument for bytes = 0 or a buffer the
  // policy cannot map; std::runtime_error when the IOVA space is exhausted.
  virtual uint64_t map(uint64_t hpa, uint64_t bytes, bool device_writes, uint64_t now_ns) = 0;
  // Ends a mapping: the address map returned and the same byte count (std::invalid_argument
  // otherwise).
  virtual void unmap(uint64_t iova, uint64_t bytes, uint64_t now_ns) = 0;
  // Timer work (the deferred flush); call it at next_deadline_ns() or later.
  virtual void poll(uint64_t /*now_ns*/) {}
  // When poll next has work; nullopt: none pending.
  virtual std::optional<uint64_t> next_deadline_ns() const { return std::nullopt; }
  // End of run: flush whatever is pending.
  virtual void flush_all(uint64_t /*now_ns*/) {}

  // CPU time accrued by the calls since the last take (ns); zeroes it. The caller waits it out.
  double take_cpu_ns();
  double pending_cpu_ns() const { return pending_ns_; }

  const std::string& name() const { return name_; }
  const DmaMapConfig& config() const { return cfg_; }
  const DmaDevice& device() const { return dev_; }
  core::StatGroup& stats() { return stats_; }
  uint64_t maps() const { return maps_.value; }
  uint64_t unmaps() const { return unmaps_.value; }
  uint64_t invalidations() const { return invalidations_.value; }
  uint64_t flushes() const { return flushes_.value; }

 protected:
  // Statistics go to a "dma_map" group below parent.
  DmaMappingPolicy(std::string name, const DmaDevice& dev, const DmaMapConfig& cfg,
                   core::StatGroup* parent);

  IommuDriver& driver() const;  // std::logic_error without one
  // Accrue and count one map / unmap with its configured cost (cost false: counted, free).
  void charge_map(bool cost = true);
  void charge_unmap(bool cost = true);
  // Runs driver calls and charges invalidation_ns for each invalidation the driver issued
  // meanwhile; returns their number.
  unsigned charge_invalidations(const std::function<void()>& driver_calls);
  // Maps [iova, +bytes) → [hpa, +bytes) with page_bytes leaves at setup (not charged).
  void map_region(uint64_t iova, uint64_t hpa, uint64_t bytes, uint64_t page_bytes);
  // A flush of `entries` queued unmaps: the queue was full, its oldest entry timed out, or the
  // caller (flush_all, an exhausted IOVA space) asked for it.
  enum class FlushCause { kFull, kTimeout, kExplicit };
  void record_flush(FlushCause cause, uint64_t entries);
  core::Histogram& exposure() { return exposure_; }

 private:
  std::string name_;
  DmaDevice dev_;
  DmaMapConfig cfg_;
  double pending_ns_ = 0;
  core::StatGroup stats_;
  core::Counter& maps_;
  core::Counter& unmaps_;
  core::Counter& invalidations_;
  core::Counter& flushes_;
  core::Counter& flushes_full_;
  core::Counter& flushes_timeout_;
  core::Counter& flushed_entries_;
  core::Scalar& map_cpu_ns_;
  core::Scalar& unmap_cpu_ns_;
  core::Scalar& invalidation_cpu_ns_;
  core::Histogram& exposure_;
};

using DmaPolicyFactory = std::function<std::unique_ptr<DmaMappingPolicy>(
    const DmaDevice& dev, const DmaMapConfig& cfg, core::StatGroup* parent)>;

class DmaPolicyRegistry {
 public:
  // The process-wide registry, built-ins registered on first use.
  static DmaPolicyRegistry& instance();

  // Registers (or replaces) a policy; an empty name or factory is std::invalid_argument.
  void add(const std::string& name, DmaPolicyFactory f);
  // Builds the policy (which attaches the device and does its setup mappings). core::ConfigError
  // naming the known policies for an unknown name, and for a setup the configuration makes
  // impossible (no IOMMU, an IOVA range beyond the domain's width, a region that does not fit).
  std::unique_ptr<DmaMappingPolicy> create(const std::string& name, const DmaDevice& dev,
                                           const DmaMapConfig& cfg, core::StatGroup* parent) const;
  std::vector<std::string> names() const;  // sorted

 private:
  DmaPolicyRegistry();
  std::map<std::string, DmaPolicyFactory> factories_;
};

// DmaPolicyRegistry::instance().create(cfg.policy, dev, cfg, parent).
std::unique_ptr<DmaMappingPolicy> make_dma_mapping_policy(const DmaDevice& dev,
                                                          const DmaMapConfig& cfg,
                                                          core::StatGroup* parent);

}  // namespace iovsim::cpu_stub

// IOTLB prefetchers: after a miss that starts a page walk, which other IOVAs' translations to fetch
// too. Chosen by name from a registry (iommu.iotlb.prefetcher), so a study can add its own without
// touching the IOMMU. Built-ins: "none" (suggests nothing) and "next-page" (the following 4 KiB
// page).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace iovsim::iommu {

class IotlbPrefetcher {
 public:
  virtual ~IotlbPrefetcher() = default;
  // After a miss of (did, iova) from requester sid that started a walk: appends to out the IOVAs
  // whose translation should also be fetched.
  virtual void on_miss(uint16_t sid, uint16_t did, uint64_t iova, std::vector<uint64_t>& out) = 0;
};

// The seed lets a prefetcher that makes random choices stay reproducible.
using PrefetcherFactory = std::function<std::unique_ptr<IotlbPrefetcher>(uint64_t seed)>;

class PrefetcherRegistry {
 public:
  // The process-wide registry, with the built-ins registered on first use.
  static PrefetcherRegistry& instance();

  // Registers (or replaces) a prefetcher. An empty name or factory is std::invalid_argument.
  void add(const std::string& name, PrefetcherFactory f);
  // Never null ("none" is a prefetcher that adds nothing). Throws core::ConfigError naming the
  // known prefetchers for an unknown name.
  std::unique_ptr<IotlbPrefetcher> create(const std::string& name, uint64_t seed = 1) const;
  std::vector<std::string> names() const;  // sorted

 private:
  PrefetcherRegistry();
  std::map<std::string, PrefetcherFactory> factories_;
};

}  // namespace iovsim::iommu

#include "prefetcher.hpp"

#include <stdexcept>

#include <iovsim/core/params.hpp>

namespace iovsim::iommu {

namespace {

class NoPrefetcher : public IotlbPrefetcher {
 public:
  void on_miss(uint16_t, uint16_t, uint64_t, std::vector<uint64_t>&) override {}
};

class NextPagePrefetcher : public IotlbPrefetcher {
 public:
  void on_miss(uint16_t, uint16_t, uint64_t iova, std::vector<uint64_t>& out) override {
    uint64_t next = (iova & ~uint64_t{0xFFF}) + 0x1000;
    if (next != 0) out.push_back(next);  // no wrap past the top of the address space
  }
};

}  // namespace

PrefetcherRegistry::PrefetcherRegistry() {
  factories_["none"] = [](uint64_t) { return std::make_unique<NoPrefetcher>(); };
  factories_["next-page"] = [](uint64_t) { return std::make_unique<NextPagePrefetcher>(); };
}

PrefetcherRegistry& PrefetcherRegistry::instance() {
  static PrefetcherRegistry registry;
  return registry;
}

void PrefetcherRegistry::add(const std::string& name, PrefetcherFactory f) {
  if (name.empty()) throw std::invalid_argument("PrefetcherRegistry::add: empty prefetcher name");
  if (!f) throw std::invalid_argument("PrefetcherRegistry::add: empty factory for '" + name + "'");
  factories_[name] = std::move(f);
}

std::unique_ptr<IotlbPrefetcher> PrefetcherRegistry::create(const std::string& name,
                                                            uint64_t seed) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [n, f] : factories_) known += (known.empty() ? "" : ", ") + n;
    throw core::ConfigError("unknown IOTLB prefetcher '" + name + "' (known: " + known + ")");
  }
  auto p = it->second(seed);
  if (!p) throw std::logic_error("IOTLB prefetcher factory '" + name + "' returned null");
  return p;
}

std::vector<std::string> PrefetcherRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, f] : factories_) out.push_back(n);
  return out;
}

}  // namespace iovsim::iommu

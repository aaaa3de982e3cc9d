// Replacement policies for the IOMMU's set-associative caches, chosen by name from a registry so a
// study can add its own without touching the IOMMU (architecture.md §4, "swappable policies").
//
// A policy tracks, per set, the order information it needs over way indices 0..ways-1; the cache
// tells it about hits (touch), insertions into a free way (fill) and invalidations (remove), and
// asks for a victim only when every way of the set is valid.
//
// Built-ins: "lru" (true LRU), "plru" (tree pseudo-LRU, power-of-two ways), "fifo" (insertion
// order), "random" (std::mt19937_64 seeded with the seed; rng() % ways, identical across standard
// libraries).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace iovsim::iommu {

class ReplacementPolicy {
 public:
  virtual ~ReplacementPolicy() = default;
  virtual void touch(unsigned set, unsigned way) = 0;   // a hit
  virtual void fill(unsigned set, unsigned way) = 0;    // an insertion into the way
  virtual void remove(unsigned set, unsigned way) = 0;  // the way was invalidated
  // The way to evict. Called only when every way of the set is valid.
  virtual unsigned victim(unsigned set) = 0;
};

using PolicyFactory =
    std::function<std::unique_ptr<ReplacementPolicy>(unsigned sets, unsigned ways, uint64_t seed)>;

class PolicyRegistry {
 public:
  // The process-wide registry, with the built-ins already registered (on first use, so there is no
  // static-initialisation-order dependency).
  static PolicyRegistry& instance();

  // Registers (or replaces) a policy. An empty name or an empty factory is std::invalid_argument.
  void add(const std::string& name, PolicyFactory f);
  // Throws core::ConfigError naming the known policies for an unknown name; factories throw
  // core::ConfigError for a geometry they cannot handle (plru with a non-power-of-two way count).
  std::unique_ptr<ReplacementPolicy> create(const std::string& name, unsigned sets, unsigned ways,
                                            uint64_t seed) const;
  std::vector<std::string> names() const;  // sorted

 private:
  PolicyRegistry();
  std::map<std::string, PolicyFactory> factories_;
};

}  // namespace iovsim::iommu

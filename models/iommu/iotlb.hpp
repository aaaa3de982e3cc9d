// The IOTLB: second-level translations cached per domain, as a bounded set-associative cache
// (set_assoc_cache.hpp) with a replacement policy by name. Plain C++; the remapping unit owns the
// timing (hit_cycles, coalescing on ready_ps) and counts hits and misses by requester in stats().
//
// A superpage (2 MiB or 1 GiB) translation occupies ONE entry, like a 4 KiB one, and hits for every
// 4 KiB page inside it. Set index (contract.md §2): a 4 KiB entry goes to set (iova >> 12) % sets;
// a superpage entry to its own frame number (iova >> page_shift) % sets. Entries are tagged with
// the domain id.
#pragma once

#include <cstdint>
#include <string>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/iommu/set_assoc_cache.hpp>

namespace iovsim::iommu {

struct IotlbEntry {
  uint16_t did = 0;
  uint64_t iova_base = 0;  // aligned to the page size
  uint64_t hpa_base = 0;
  unsigned page_shift = 12;  // 12, 21 or 30
  bool read = false, write = false;
  uint16_t sid = 0;
  // Simulated time the translation becomes usable: a walk in flight fills the entry early with its
  // completion time; the remapping unit treats a hit before ready_ps as a coalesced miss.
  uint64_t ready_ps = 0;

  uint64_t translate(uint64_t iova) const {
    return hpa_base | (iova & ((uint64_t{1} << page_shift) - 1));
  }
};

struct IotlbConfig {
  unsigned entries = 64;
  unsigned ways = 0;  // 0 = fully associative
  std::string policy = "lru";
  unsigned hit_cycles = 2;
  std::string prefetcher = "none";
  uint64_t seed = 1;

  // Reads iommu.iotlb.*; the seed is left for the caller to set (from the `seed` parameter).
  static IotlbConfig from(const core::Config& c);
};

class Iotlb {
 public:
  // Creates the stats group "iotlb" under parent (a root group if parent is null). Throws
  // core::ConfigError for an impossible geometry or an unknown policy.
  Iotlb(const IotlbConfig& cfg, core::StatGroup* parent);

  // The domain's translation of iova: tries a 4 KiB, then a 2 MiB, then a 1 GiB entry (three hash
  // lookups at most). A hit updates the replacement policy. nullptr on a miss.
  const IotlbEntry* lookup(uint16_t did, uint64_t iova);
  // Inserts or overwrites (same domain, size and frame). iova_base and hpa_base are aligned down to
  // the page size. std::invalid_argument for a page_shift other than 12, 21, 30 or an iova at or
  // above 2^58 (beyond any VT-d address width).
  void insert(const IotlbEntry& e);

  void invalidate_all();
  void invalidate_domain(uint16_t did);
  // Page-selective: removes every entry of did overlapping [addr aligned down to 2^(am+12),
  // + 2^(am+12)), including a superpage entry that contains the range.
  void invalidate_pages(uint16_t did, uint64_t addr, unsigned am);

  std::size_t size() const { return cache_.size(); }
  unsigned sets() const { return cache_.sets(); }
  unsigned capacity() const { return cache_.capacity(); }
  const IotlbConfig& config() const { return cfg_; }
  // The "iotlb" group, so the remapping unit can add its hits/misses counters to it.
  core::StatGroup& stats() { return stats_; }

  static constexpr unsigned kMaxIovaBits = 58;

 private:
  // Key: did (16 bits) | size class (2 bits) | frame number (46 bits).
  static uint64_t key(uint16_t did, unsigned size_class, uint64_t frame) {
    return (uint64_t{did} << 48) | (uint64_t{size_class} << 46) | frame;
  }
  // Removes one exact entry if cached; returns whether it was.
  bool erase_entry(uint16_t did, unsigned size_class, uint64_t frame);

  IotlbConfig cfg_;
  SetAssocCache<IotlbEntry> cache_;
  core::StatGroup stats_;
  core::Counter& fills_;
  core::Counter& evictions_;
  core::Counter& invalidations_global_;
  core::Counter& invalidations_domain_;
  core::Counter& invalidations_page_;
  core::Counter& entries_invalidated_;
};

}  // namespace iovsim::iommu

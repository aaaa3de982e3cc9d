// A function's ATS translation cache (the device TLB, "ATC"): plain C++, one per function (PF or
// VF) of an ATS-capable device. It holds translation completions the IOMMU returned (ranges of
// 4 KiB and larger: 2 MiB, 1 GiB, any S-encoded size) and answers the device's lookups before it
// issues a translated request (AT = 10); an Invalidate Request removes every entry overlapping its
// range. Fully associative, `entries` entries, replacement by name (lru, fifo, random).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <iovsim/core/ats_format.hpp>
#include <iovsim/core/stats.hpp>

namespace iovsim::pcie {

struct AtsCacheConfig {
  unsigned entries = 64;  // 0: nothing is cached (every lookup misses)
  std::string policy = "lru";
  uint64_t seed = 1;  // random policy
};

// What a hit yields: enough to issue the translated request.
struct AtsTranslation {
  core::ats::Range untranslated;  // the cached range, 2^shift aligned
  uint64_t translated_base = 0;
  bool read = false, write = false;
  bool no_snoop = false;           // N
  bool untranslated_only = false;  // U: the range must be accessed with AT = 00
  uint64_t translate(uint64_t iova) const { return translated_base + (iova - untranslated.base); }
};

class AtsCache {
 public:
  // The replacement policies `policy` accepts.
  static const std::vector<std::string>& policies();

  // Stats go in `stats` (the owner's group, e.g. "nic.vf3.atc"; null: kept private): hits,
  // misses, permission_misses, fills, evictions, invalidations, entries_invalidated.
  // std::invalid_argument for an unknown policy.
  AtsCache(const AtsCacheConfig& config, core::StatGroup* stats);

  // The entry covering iova that allows the access (a write needs W, a read R); the hit refreshes
  // it for LRU. An entry lacking the permission is a miss (permission_misses): the function must
  // ask again (the IOMMU may grant more now, or answer the same).
  std::optional<AtsTranslation> lookup(uint64_t iova, bool write);
  // Whether an entry covers iova, without counting or refreshing.
  bool contains(uint64_t iova) const;

  // Caches the completion entry that answered a translation request for `iova`: the untranslated
  // range is the entry's size aligned around iova. Entries with R = W = 0 are not cached (the
  // function asks again next time) and nor is anything when the cache has no entries; returns
  // whether it was cached. Cached entries overlapping the new range are replaced by it.
  bool insert(uint64_t iova, const core::ats::TranslationEntry& entry);

  // An Invalidate Request: drops every entry overlapping the range; returns how many.
  unsigned invalidate(const core::ats::Range& range);
  void invalidate_all();

  unsigned size() const { return static_cast<unsigned>(map_.size()); }
  unsigned capacity() const { return config_.entries; }

 private:
  enum class Policy : uint8_t { kLru, kFifo, kRandom };
  struct Entry {
    AtsTranslation t;
    std::list<uint64_t>::iterator order;  // position in order_
  };
  // Key: range base | shift (the base is 4 KiB aligned, shift < 128 fits below bit 12).
  static uint64_t key(uint64_t base, unsigned shift) { return base | shift; }
  Entry* find(uint64_t iova);
  const Entry* find(uint64_t iova) const;
  void erase(uint64_t k);
  void evict();

  AtsCacheConfig config_;
  Policy policy_;
  std::unique_ptr<core::StatGroup> own_stats_;  // when the owner gave none
  std::mt19937_64 rng_;
  std::unordered_map<uint64_t, Entry> map_;
  std::list<uint64_t> order_;  // LRU: most recent first; FIFO: newest first
  unsigned shift_count_[core::ats::kMaxRangeShift + 1] = {};  // entries per range size

  core::Counter& hits_;
  core::Counter& misses_;
  core::Counter& permission_misses_;
  core::Counter& fills_;
  core::Counter& evictions_;
  core::Counter& invalidations_;
  core::Counter& entries_invalidated_;
};

}  // namespace iovsim::pcie

// A bounded set-associative cache of V keyed by a 64-bit key, with a replacement policy chosen by
// name (replacement.hpp). The building block of the IOTLB and the other IOMMU caches.
//
// Keys are unique across the whole cache: the caller packs everything that identifies an entry
// into the key, and supplies a set hint (set = hint % sets()) that is a function of the key.
// Lookup, insert and erase are O(1) expected in the number of entries: one hash index from key to
// slot (KeyIndex below: sized up front, so it never grows) plus a free-way stack per set. Only
// erase_if and clear scan. V must be default-constructible and copy-assignable.
//
// Geometry: `entries` slots in entries/ways sets; ways 0 = fully associative (one set). A cache of
// 0 entries never holds anything (lookups miss, inserts are dropped): the way to disable a cache.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <iovsim/core/params.hpp>
#include <iovsim/iommu/replacement.hpp>

namespace iovsim::iommu {

// Key -> slot index of a SetAssocCache: open addressing with linear probing over a power-of-two
// table at most half full, Fibonacci hashing, and backward-shift deletion (no tombstones, so probe
// sequences stay short however many inserts and erases a run makes). It is on the DMA hot path (one
// find per IOTLB lookup): unlike std::unordered_map it needs no division and no heap allocation per
// insert. Only its speed differs from a std::unordered_map: nothing iterates over it.
class KeyIndex {
 public:
  static constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

  KeyIndex() = default;
  // Room for `capacity` keys at once.
  explicit KeyIndex(std::size_t capacity) {
    unsigned bits = 1;
    while ((std::size_t{1} << bits) < 2 * capacity) ++bits;
    table_.assign(std::size_t{1} << bits, Cell{0, kNone});
    mask_ = table_.size() - 1;
    shift_ = 64 - bits;
  }

  // The key's slot, or kNone.
  uint32_t find(uint64_t key) const {
    if (table_.empty()) return kNone;
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      const Cell& c = table_[i];
      if (c.slot == kNone) return kNone;
      if (c.key == key) return c.slot;
    }
  }

  // Adds a key that is not in the index.
  void insert(uint64_t key, uint32_t slot) {
    std::size_t i = home(key);
    while (table_[i].slot != kNone) i = (i + 1) & mask_;
    table_[i] = Cell{key, slot};
    ++size_;
  }

  // Removes the key if present.
  void erase(uint64_t key) {
    if (table_.empty()) return;
    std::size_t i = home(key);
    for (;; i = (i + 1) & mask_) {
      if (table_[i].slot == kNone) return;
      if (table_[i].key == key) break;
    }
    // Backward shift: pull later cells of the probe run into the hole when the hole lies between
    // their home and their position (cyclically), so every key stays reachable from its home.
    for (std::size_t j = i;;) {
      j = (j + 1) & mask_;
      if (table_[j].slot == kNone) break;
      const std::size_t h = home(table_[j].key);
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      table_[i] = table_[j];
      i = j;
    }
    table_[i].slot = kNone;
    --size_;
  }

  void clear() {
    for (Cell& c : table_) c.slot = kNone;
    size_ = 0;
  }

  std::size_t size() const { return size_; }

 private:
  struct Cell {
    uint64_t key;
    uint32_t slot;  // kNone: empty
  };
  std::size_t home(uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  std::vector<Cell> table_;
  std::size_t mask_ = 0;
  unsigned shift_ = 63;
  std::size_t size_ = 0;
};

template <typename V>
class SetAssocCache {
 public:
  SetAssocCache(unsigned entries, unsigned ways, const std::string& policy, uint64_t seed) {
    if (ways == 0) ways = entries;  // fully associative
    if (entries != 0 && entries % ways != 0) {
      throw core::ConfigError("cache of " + std::to_string(entries) +
                              " entries: not a multiple of its " + std::to_string(ways) + " ways");
    }
    if (entries == 0) {
      // Still check the policy name, so a misspelt policy is reported even on a disabled cache.
      PolicyRegistry::instance().create(policy, 1, 1, seed);
      sets_ = 1;  // keeps hint % sets() well defined for callers
      ways_ = 0;
      return;
    }
    ways_ = ways;
    sets_ = entries / ways;
    policy_ = PolicyRegistry::instance().create(policy, sets_, ways_, seed);
    keys_.assign(entries, 0);
    values_.assign(entries, V{});
    valid_.assign(entries, 0);
    free_.resize(entries);
    free_count_.assign(sets_, ways_);
    reset_free_lists();
    index_ = KeyIndex(entries);
  }

  // nullptr on a miss. A hit tells the policy.
  V* lookup(uint64_t key, uint64_t set_hint) {
    if (capacity() == 0) return nullptr;
    const unsigned set = set_of(set_hint);
    const uint32_t slot = index_.find(key);
    if (!in_set(slot, set)) return nullptr;
    policy_->touch(set, slot - set * ways_);
    return &values_[slot];
  }

  // Like lookup, without updating the policy (for inspection and tests).
  const V* peek(uint64_t key, uint64_t set_hint) const {
    uint32_t slot = find(key, set_hint);
    return slot == kNone ? nullptr : &values_[slot];
  }

  // Overwrites the value if the key is present (counting as a use); otherwise fills a free way of
  // the set or evicts the policy's victim. Returns true if an entry was evicted.
  bool insert(uint64_t key, uint64_t set_hint, const V& value) {
    if (capacity() == 0) return false;
    const unsigned set = set_of(set_hint);
    const uint32_t found = index_.find(key);
    if (found != kNone) {
      if (in_set(found, set)) {
        values_[found] = value;
        policy_->touch(set, found - set * ways_);
        return false;
      }
      erase_slot(found);  // the caller moved the key to another set: treat as a new entry
    }
    bool evicted = false;
    unsigned way;
    if (free_count_[set] > 0) {
      way = free_[std::size_t{set} * ways_ + --free_count_[set]];
    } else {
      way = policy_->victim(set);
      uint32_t victim = set * ways_ + way;
      index_.erase(keys_[victim]);
      ++evictions_;
      evicted = true;
    }
    uint32_t slot = set * ways_ + way;
    keys_[slot] = key;
    values_[slot] = value;
    valid_[slot] = 1;
    index_.insert(key, slot);
    policy_->fill(set, way);
    return evicted;
  }

  // Removes the key if present (in the hinted set). Returns whether it was present.
  bool erase(uint64_t key, uint64_t set_hint) {
    uint32_t slot = find(key, set_hint);
    if (slot == kNone) return false;
    erase_slot(slot);
    return true;
  }

  // Removes every entry for which pred(key, value) is true; returns how many. Scans all slots.
  template <typename Pred>
  std::size_t erase_if(Pred pred) {
    std::size_t n = 0;
    for (uint32_t slot = 0; slot < keys_.size(); ++slot) {
      if (valid_[slot] && pred(keys_[slot], static_cast<const V&>(values_[slot]))) {
        erase_slot(slot);
        ++n;
      }
    }
    return n;
  }

  void clear() {
    for (uint32_t slot = 0; slot < keys_.size(); ++slot) {
      if (valid_[slot]) {
        policy_->remove(slot / ways_, slot % ways_);
        valid_[slot] = 0;
      }
    }
    index_.clear();
    reset_free_lists();
  }

  std::size_t size() const { return index_.size(); }
  unsigned sets() const { return sets_; }
  unsigned ways() const { return ways_; }  // 0 for a 0-entry cache
  unsigned capacity() const { return sets_ * ways_; }
  uint64_t evictions() const { return evictions_; }  // replacements, not invalidations

 private:
  static constexpr uint32_t kNone = KeyIndex::kNone;

  // hint % sets, without a division in the common fully-associative case.
  unsigned set_of(uint64_t set_hint) const {
    return sets_ == 1 ? 0u : static_cast<unsigned>(set_hint % sets_);
  }
  // Whether slot (kNone allowed) belongs to the set: slot / ways == set, by multiplication.
  bool in_set(uint32_t slot, unsigned set) const {
    const uint64_t first = uint64_t{set} * ways_;
    return slot != kNone && slot >= first && slot < first + ways_;
  }

  // The key's slot, if it is cached in the hinted set.
  uint32_t find(uint64_t key, uint64_t set_hint) const {
    if (capacity() == 0) return kNone;
    const uint32_t slot = index_.find(key);
    return in_set(slot, set_of(set_hint)) ? slot : kNone;
  }

  void erase_slot(uint32_t slot) {
    unsigned set = slot / ways_, way = slot % ways_;
    index_.erase(keys_[slot]);
    valid_[slot] = 0;
    policy_->remove(set, way);
    free_[std::size_t{set} * ways_ + free_count_[set]++] = way;
  }

  void reset_free_lists() {
    // Ways are handed out lowest first: way ways-1 at the bottom of each set's stack.
    for (unsigned s = 0; s < sets_ && ways_ != 0; ++s) {
      free_count_[s] = ways_;
      for (unsigned w = 0; w < ways_; ++w) free_[std::size_t{s} * ways_ + w] = ways_ - 1 - w;
    }
  }

  unsigned sets_ = 1;
  unsigned ways_ = 0;
  std::unique_ptr<ReplacementPolicy> policy_;
  std::vector<uint64_t> keys_;  // by slot = set * ways + way
  std::vector<V> values_;
  std::vector<uint8_t> valid_;
  std::vector<uint32_t> free_;        // per set, a stack of free ways (ways entries per set)
  std::vector<uint32_t> free_count_;  // per set, the depth of that stack
  KeyIndex index_;
  uint64_t evictions_ = 0;
};

}  // namespace iovsim::iommu

#include "replacement.hpp"

#include <limits>
#include <random>
#include <stdexcept>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/core/params.hpp>

namespace iovsim::iommu {

namespace {

// An intrusive doubly linked list per set over way indices: O(1) move-to-front, unlink and tail.
// LRU moves a way to the front on every use; FIFO only on insertion.
class ListPolicy : public ReplacementPolicy {
 public:
  ListPolicy(unsigned sets, unsigned ways, bool move_on_touch)
      : ways_(ways),
        move_on_touch_(move_on_touch),
        prev_(std::size_t{sets} * ways, kNil),
        next_(std::size_t{sets} * ways, kNil),
        linked_(std::size_t{sets} * ways, 0),
        head_(sets, kNil),
        tail_(sets, kNil) {}

  void touch(unsigned set, unsigned way) override {
    // Moving the front way to the front changes nothing.
    if (!move_on_touch_ || head_[set] == way) return;
    unlink(set, way);
    push_front(set, way);
  }
  void fill(unsigned set, unsigned way) override {
    unlink(set, way);  // a refill of a valid way restarts its age
    push_front(set, way);
  }
  void remove(unsigned set, unsigned way) override { unlink(set, way); }
  unsigned victim(unsigned set) override { return tail_[set] == kNil ? 0 : tail_[set]; }

 private:
  static constexpr uint32_t kNil = std::numeric_limits<uint32_t>::max();

  std::size_t at(unsigned set, unsigned way) const { return std::size_t{set} * ways_ + way; }

  void push_front(unsigned set, unsigned way) {
    std::size_t i = at(set, way);
    prev_[i] = kNil;
    next_[i] = head_[set];
    if (head_[set] != kNil) prev_[at(set, head_[set])] = way;
    head_[set] = way;
    if (tail_[set] == kNil) tail_[set] = way;
    linked_[i] = 1;
  }

  void unlink(unsigned set, unsigned way) {
    std::size_t i = at(set, way);
    if (!linked_[i]) return;
    if (prev_[i] != kNil) {
      next_[at(set, prev_[i])] = next_[i];
    } else {
      head_[set] = next_[i];
    }
    if (next_[i] != kNil) {
      prev_[at(set, next_[i])] = prev_[i];
    } else {
      tail_[set] = prev_[i];
    }
    prev_[i] = next_[i] = kNil;
    linked_[i] = 0;
  }

  unsigned ways_;
  bool move_on_touch_;
  std::vector<uint32_t> prev_, next_;  // toward the most / least recently placed way
  std::vector<uint8_t> linked_;
  std::vector<uint32_t> head_, tail_;  // most / least recently placed way of each set
};

// Tree pseudo-LRU: ways-1 node bits per set in heap order (node 1 is the root, node n's children
// are 2n and 2n+1, the leaves are the ways). A node bit says which half holds the victim: 0 = left,
// 1 = right. A use points every node on the way's path away from it.
class TreePlruPolicy : public ReplacementPolicy {
 public:
  TreePlruPolicy(unsigned sets, unsigned ways)
      : ways_(ways), levels_(core::log2_floor(ways)), bits_(std::size_t{sets} * ways, 0) {}

  void touch(unsigned set, unsigned way) override { point_away(set, way); }
  void fill(unsigned set, unsigned way) override { point_away(set, way); }
  // Nothing to do: the cache fills a free way before it asks for a victim, and that fill rewrites
  // the removed way's path.
  void remove(unsigned, unsigned) override {}
  unsigned victim(unsigned set) override {
    const uint8_t* b = &bits_[std::size_t{set} * ways_];
    unsigned node = 1, way = 0;
    for (unsigned l = 0; l < levels_; ++l) {
      unsigned right = b[node];
      way = (way << 1) | right;
      node = 2 * node + right;
    }
    return way;
  }

 private:
  void point_away(unsigned set, unsigned way) {
    uint8_t* b = &bits_[std::size_t{set} * ways_];
    unsigned node = 1;
    for (unsigned l = 0; l < levels_; ++l) {
      unsigned right = (way >> (levels_ - 1 - l)) & 1u;
      b[node] = static_cast<uint8_t>(right ^ 1u);
      node = 2 * node + right;
    }
  }

  unsigned ways_;
  unsigned levels_;
  std::vector<uint8_t> bits_;  // index 0 of each set's block is unused
};

class RandomPolicy : public ReplacementPolicy {
 public:
  RandomPolicy(unsigned ways, uint64_t seed) : ways_(ways), rng_(seed) {}
  void touch(unsigned, unsigned) override {}
  void fill(unsigned, unsigned) override {}
  void remove(unsigned, unsigned) override {}
  // rng() % ways rather than a distribution: distributions differ between standard libraries, and
  // the same seed must give the same statistics everywhere.
  unsigned victim(unsigned) override { return static_cast<unsigned>(rng_() % ways_); }

 private:
  unsigned ways_;
  std::mt19937_64 rng_;
};

}  // namespace

PolicyRegistry::PolicyRegistry() {
  factories_["lru"] = [](unsigned sets, unsigned ways, uint64_t) {
    return std::make_unique<ListPolicy>(sets, ways, true);
  };
  factories_["fifo"] = [](unsigned sets, unsigned ways, uint64_t) {
    return std::make_unique<ListPolicy>(sets, ways, false);
  };
  factories_["plru"] = [](unsigned sets, unsigned ways,
                          uint64_t) -> std::unique_ptr<ReplacementPolicy> {
    if (!core::is_pow2(ways)) {
      throw core::ConfigError(
          "replacement policy 'plru' needs a power-of-two number of ways, got " +
          std::to_string(ways) + " (choose other ways/entries, or lru)");
    }
    return std::make_unique<TreePlruPolicy>(sets, ways);
  };
  factories_["random"] = [](unsigned, unsigned ways, uint64_t seed) {
    return std::make_unique<RandomPolicy>(ways, seed);
  };
}

PolicyRegistry& PolicyRegistry::instance() {
  static PolicyRegistry registry;
  return registry;
}

void PolicyRegistry::add(const std::string& name, PolicyFactory f) {
  if (name.empty()) throw std::invalid_argument("PolicyRegistry::add: empty policy name");
  if (!f) throw std::invalid_argument("PolicyRegistry::add: empty factory for '" + name + "'");
  factories_[name] = std::move(f);
}

std::unique_ptr<ReplacementPolicy> PolicyRegistry::create(const std::string& name, unsigned sets,
                                                          unsigned ways, uint64_t seed) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    std::string known;
    for (const auto& [n, f] : factories_) known += (known.empty() ? "" : ", ") + n;
    throw core::ConfigError("unknown replacement policy '" + name + "' (known: " + known + ")");
  }
  if (sets == 0 || ways == 0) {
    throw std::invalid_argument("PolicyRegistry::create: a policy needs at least one set and way");
  }
  auto policy = it->second(sets, ways, seed);
  if (!policy) throw std::logic_error("replacement policy factory '" + name + "' returned null");
  return policy;
}

std::vector<std::string> PolicyRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, f] : factories_) out.push_back(n);
  return out;
}

}  // namespace iovsim::iommu

#include "ats_cache.hpp"

#include <iterator>
#include <stdexcept>

namespace iovsim::pcie {

namespace ats = core::ats;

namespace {
core::StatGroup* group_or_own(core::StatGroup* given, std::unique_ptr<core::StatGroup>& own) {
  if (given) return given;
  own = std::make_unique<core::StatGroup>("atc");
  return own.get();
}
uint64_t range_base(uint64_t addr, unsigned shift) {
  return shift >= 64 ? 0 : core::align_down(addr, uint64_t{1} << shift);
}
}  // namespace

const std::vector<std::string>& AtsCache::policies() {
  static const std::vector<std::string> names = {"lru", "fifo", "random"};
  return names;
}

AtsCache::AtsCache(const AtsCacheConfig& config, core::StatGroup* stats)
    : config_(config),
      rng_(config.seed),
      hits_(group_or_own(stats, own_stats_)->add_counter("hits", "Lookups that hit")),
      misses_(group_or_own(stats, own_stats_)
                  ->add_counter("misses", "Lookups that missed (permission misses included)")),
      permission_misses_(group_or_own(stats, own_stats_)
                             ->add_counter("permission_misses",
                                           "Lookups that found the range cached without the "
                                           "permission the access needs")),
      fills_(
          group_or_own(stats, own_stats_)->add_counter("fills", "Translation completions cached")),
      evictions_(group_or_own(stats, own_stats_)
                     ->add_counter("evictions", "Entries replaced to make room")),
      invalidations_(group_or_own(stats, own_stats_)
                         ->add_counter("invalidations", "Invalidate requests applied")),
      entries_invalidated_(
          group_or_own(stats, own_stats_)
              ->add_counter("entries_invalidated", "Entries removed by invalidate requests")) {
  if (config.policy == "lru")
    policy_ = Policy::kLru;
  else if (config.policy == "fifo")
    policy_ = Policy::kFifo;
  else if (config.policy == "random")
    policy_ = Policy::kRandom;
  else
    throw std::invalid_argument("ATS cache: unknown replacement policy '" + config.policy +
                                "' (lru, fifo, random)");
}

const AtsCache::Entry* AtsCache::find(uint64_t iova) const {
  // One hash probe per range size present: usually one or two sizes.
  for (unsigned shift = ats::kPageShift; shift <= ats::kMaxRangeShift; ++shift) {
    if (shift_count_[shift] == 0) continue;
    auto it = map_.find(key(range_base(iova, shift), shift));
    if (it != map_.end()) return &it->second;
  }
  return nullptr;
}

AtsCache::Entry* AtsCache::find(uint64_t iova) {
  return const_cast<Entry*>(static_cast<const AtsCache*>(this)->find(iova));
}

bool AtsCache::contains(uint64_t iova) const {
  return find(iova) != nullptr;
}

std::optional<AtsTranslation> AtsCache::lookup(uint64_t iova, bool write) {
  Entry* e = find(iova);
  if (!e) {
    ++misses_;
    return std::nullopt;
  }
  if (write ? !e->t.write : !e->t.read) {
    ++misses_;
    ++permission_misses_;
    return std::nullopt;
  }
  ++hits_;
  if (policy_ == Policy::kLru) order_.splice(order_.begin(), order_, e->order);
  return e->t;
}

void AtsCache::erase(uint64_t k) {
  auto it = map_.find(k);
  if (it == map_.end()) return;
  --shift_count_[it->second.t.untranslated.shift];
  order_.erase(it->second.order);
  map_.erase(it);
}

void AtsCache::evict() {
  uint64_t victim;
  if (policy_ == Policy::kRandom)
    victim = *std::next(order_.begin(), static_cast<long>(rng_() % order_.size()));
  else
    victim = order_.back();  // LRU: least recently used; FIFO: oldest
  erase(victim);
  ++evictions_;
}

bool AtsCache::insert(uint64_t iova, const ats::TranslationEntry& entry) {
  if (config_.entries == 0 || entry.no_translation()) return false;
  const ats::Range range{range_base(iova, entry.shift), entry.shift};
  // A range overlapping cached ones replaces them: a lookup must never find two answers.
  std::vector<uint64_t> overlapping;
  for (unsigned shift = ats::kPageShift; shift <= ats::kMaxRangeShift; ++shift) {
    if (shift_count_[shift] == 0) continue;
    if (shift >= range.shift) {  // at most one larger (or equal) range holds this one
      const uint64_t k = key(range_base(iova, shift), shift);
      if (map_.count(k)) overlapping.push_back(k);
    } else {
      for (const auto& [k, e] : map_)
        if (e.t.untranslated.shift == shift && range.overlaps(e.t.untranslated))
          overlapping.push_back(k);
    }
  }
  for (uint64_t k : overlapping) erase(k);
  if (map_.size() >= config_.entries) evict();

  AtsTranslation t;
  t.untranslated = range;
  t.translated_base = entry.translated_base;
  t.read = entry.r;
  t.write = entry.w;
  t.no_snoop = entry.n;
  t.untranslated_only = entry.u;
  const uint64_t k = key(range.base, range.shift);
  order_.push_front(k);
  map_.emplace(k, Entry{t, order_.begin()});
  ++shift_count_[range.shift];
  ++fills_;
  return true;
}

unsigned AtsCache::invalidate(const ats::Range& range) {
  ++invalidations_;
  std::vector<uint64_t> victims;
  for (const auto& [k, e] : map_)
    if (range.overlaps(e.t.untranslated)) victims.push_back(k);
  for (uint64_t k : victims) erase(k);
  entries_invalidated_ += victims.size();
  return static_cast<unsigned>(victims.size());
}

void AtsCache::invalidate_all() {
  invalidate(ats::Range{0, ats::kMaxRangeShift});
}

}  // namespace iovsim::pcie

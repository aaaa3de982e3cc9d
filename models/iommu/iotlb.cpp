#include "iotlb.hpp"

#include <stdexcept>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::iommu {

namespace {
const core::IntParam kEntries{"iommu.iotlb.entries", 64, "IOTLB capacity (4 KiB-page entries)",
                              core::Range{0, 1048576}};
const core::IntParam kWays{"iommu.iotlb.ways", 0, "associativity; 0 = fully associative",
                           core::Range{0, 1048576}};
// The choices are fixed words: a policy added to the registry at run time is selected through the
// plain C++ IotlbConfig.
const core::EnumParam kPolicy{
    "iommu.iotlb.policy", "lru", "IOTLB replacement policy", {"lru", "plru", "fifo", "random"}};
const core::IntParam kHitCycles{"iommu.iotlb.hit_cycles", 2, "IOMMU cycles for an IOTLB lookup",
                                core::Range{0, 1000000}};
const core::EnumParam kPrefetcher{"iommu.iotlb.prefetcher",
                                  "none",
                                  "IOTLB prefetcher run after a miss that starts a walk",
                                  {"none", "next-page"}};

constexpr unsigned kShifts[3] = {12, 21, 30};  // size classes: 4 KiB, 2 MiB, 1 GiB

int size_class(unsigned page_shift) {
  for (int i = 0; i < 3; ++i)
    if (kShifts[i] == page_shift) return i;
  return -1;
}

SetAssocCache<IotlbEntry> make_cache(const IotlbConfig& cfg) {
  if (cfg.ways != 0 && cfg.entries % cfg.ways != 0) {
    throw core::ConfigError("iommu.iotlb.entries (" + std::to_string(cfg.entries) +
                            ") must be a multiple of iommu.iotlb.ways (" +
                            std::to_string(cfg.ways) + ")");
  }
  try {
    return SetAssocCache<IotlbEntry>(cfg.entries, cfg.ways, cfg.policy, cfg.seed);
  } catch (const core::ConfigError& e) {
    throw core::ConfigError(std::string("iommu.iotlb: ") + e.what());
  }
}
}  // namespace

IotlbConfig IotlbConfig::from(const core::Config& c) {
  IotlbConfig cfg;
  cfg.entries = static_cast<unsigned>(kEntries.get(c));
  cfg.ways = static_cast<unsigned>(kWays.get(c));
  cfg.policy = kPolicy.get(c);
  cfg.hit_cycles = static_cast<unsigned>(kHitCycles.get(c));
  cfg.prefetcher = kPrefetcher.get(c);
  return cfg;
}

Iotlb::Iotlb(const IotlbConfig& cfg, core::StatGroup* parent)
    : cfg_(cfg),
      cache_(make_cache(cfg)),
      stats_("iotlb", parent),
      fills_(stats_.add_counter("fills", "translations inserted into the IOTLB")),
      evictions_(stats_.add_counter("evictions", "entries replaced to make room")),
      invalidations_global_(
          stats_.add_counter("invalidations_global", "global IOTLB invalidations")),
      invalidations_domain_(
          stats_.add_counter("invalidations_domain", "domain-selective IOTLB invalidations")),
      invalidations_page_(
          stats_.add_counter("invalidations_page", "page-selective IOTLB invalidations")),
      entries_invalidated_(
          stats_.add_counter("entries_invalidated", "entries removed by invalidations")) {
  stats_.add_formula("occupancy", "valid entries / capacity at the end of the run", [this] {
    return core::ratio(static_cast<double>(cache_.size()), cache_.capacity());
  });
}

const IotlbEntry* Iotlb::lookup(uint16_t did, uint64_t iova) {
  if (iova >> kMaxIovaBits) return nullptr;  // never cached
  for (unsigned c = 0; c < 3; ++c) {
    uint64_t frame = iova >> kShifts[c];
    if (const IotlbEntry* e = cache_.lookup(key(did, c, frame), frame)) return e;
  }
  return nullptr;
}

void Iotlb::insert(const IotlbEntry& e) {
  int c = size_class(e.page_shift);
  if (c < 0) {
    throw std::invalid_argument("Iotlb::insert: page_shift " + std::to_string(e.page_shift) +
                                " is not 12, 21 or 30");
  }
  if (e.iova_base >> kMaxIovaBits) {
    throw std::invalid_argument("Iotlb::insert: iova beyond 2^58");
  }
  IotlbEntry stored = e;
  uint64_t page = uint64_t{1} << e.page_shift;
  stored.iova_base = core::align_down(e.iova_base, page);
  stored.hpa_base = core::align_down(e.hpa_base, page);
  uint64_t frame = stored.iova_base >> e.page_shift;
  ++fills_;
  if (cache_.insert(key(e.did, static_cast<unsigned>(c), frame), frame, stored)) ++evictions_;
}

void Iotlb::invalidate_all() {
  ++invalidations_global_;
  entries_invalidated_ += cache_.size();
  cache_.clear();
}

void Iotlb::invalidate_domain(uint16_t did) {
  ++invalidations_domain_;
  entries_invalidated_ +=
      cache_.erase_if([did](uint64_t, const IotlbEntry& e) { return e.did == did; });
}

bool Iotlb::erase_entry(uint16_t did, unsigned size_class, uint64_t frame) {
  return cache_.erase(key(did, size_class, frame), frame);
}

void Iotlb::invalidate_pages(uint16_t did, uint64_t addr, unsigned am) {
  ++invalidations_page_;
  if (am + 12 >= kMaxIovaBits) {  // covers every address an entry can have
    entries_invalidated_ +=
        cache_.erase_if([did](uint64_t, const IotlbEntry& e) { return e.did == did; });
    return;
  }
  const uint64_t span = uint64_t{1} << (am + 12);
  const uint64_t base = core::align_down(addr, span);
  if (base >> kMaxIovaBits) return;  // nothing is cached up there
  const uint64_t last = base + span - 1;

  // Erasing exact keys costs one hash lookup per frame of each size in the range; when that is
  // more than a scan of the cache would cost, scan instead.
  uint64_t probes = 0;
  for (unsigned s : kShifts) probes += (last >> s) - (base >> s) + 1;
  std::size_t n = 0;
  if (probes <= cache_.size()) {
    for (unsigned c = 0; c < 3; ++c) {
      for (uint64_t f = base >> kShifts[c]; f <= last >> kShifts[c]; ++f) {
        n += erase_entry(did, c, f) ? 1 : 0;
      }
    }
  } else {
    n = cache_.erase_if([did, base, last](uint64_t, const IotlbEntry& e) {
      uint64_t end = e.iova_base + ((uint64_t{1} << e.page_shift) - 1);
      return e.did == did && e.iova_base <= last && end >= base;
    });
  }
  entries_invalidated_ += n;
}

}  // namespace iovsim::iommu

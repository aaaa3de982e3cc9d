// The VT-d DMA-remapping page walker (legacy mode), with its context cache and paging-structure
// caches (PSCs). Plain C++: it reads real-format root, context and second-level entries through a
// timed WalkMemory and returns the translation (or the fault reason) and when it is known. The
// IOTLB lookup before it and fault recording after it belong to the caller (the remapping unit).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <iovsim/core/params.hpp>
#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/stats.hpp>

#include "caps.hpp"
#include "vtd_format.hpp"
#include "walk_memory.hpp"

namespace iovsim::iommu {

struct WalkerConfig {
  IommuCaps caps;            // SAGAW, MGAW, SLLPS, CM, PT, DT, HAW
  uint64_t cycle_ps = 1000;  // IOMMU clock period
  unsigned context_cache_entries = 16, context_cache_hit_cycles = 2;
  // Index = level L (2..5) of the cached entry; 0 disables that level.
  unsigned psc_entries[6] = {0, 0, 16, 16, 16, 16};
  unsigned psc_hit_cycles = 2;
  unsigned level_cycles = 4;  // processing per table read (root, context, each paging level)
  // caps via IommuCaps::from(c); cycle_ps from iommu.clock_mhz.
  static WalkerConfig from(const core::Config& c);
};

struct TranslationRequest {
  uint16_t sid = 0;
  uint64_t iova = 0;
  bool write = false;
  core::AddressType at = core::AddressType::kUntranslated;
  // The context was just fetched (fetch_context): its cache lookup is not counted again.
  bool context_fetched = false;
};

struct WalkResult {
  vtd::FaultReason fault = vtd::FaultReason::kNone;
  bool record_fault = true;  // false when FPD suppresses recording of this reason
  uint16_t did = 0;
  bool pass_through = false;
  // The leaf (or the pass-through page).
  uint64_t iova_base = 0, hpa_base = 0;
  unsigned page_shift = 12;
  bool read = false, write = false;  // effective permissions ANDed down the walk
  uint64_t hpa = 0;                  // translated address of the request (valid when no fault)
  unsigned mem_reads = 0;            // table reads issued by this walk (root, context, paging)
  unsigned levels = 0;               // paging levels read (excludes root/context)
  bool context_cache_hit = false;
  unsigned psc_hit_level = 0;  // level whose cached entry the walk started below; 0 = none
  uint64_t done_ps = 0;        // when the translation is known
};

class PageWalker {
 public:
  // Makes stat groups "context_cache" and "psc" under parent.
  PageWalker(const WalkerConfig& cfg, WalkMemory& mem, core::StatGroup* parent);
  ~PageWalker();
  PageWalker(const PageWalker&) = delete;
  PageWalker& operator=(const PageWalker&) = delete;

  // The context cache's usable (non-faulting) entry for sid, looked up as the hardware does on
  // every translation, an IOTLB hit included: marks it most recently used and counts a hit. nullopt
  // when the cache does not hold one (the caller must walk, which reads the context entry).
  struct CachedDomain {
    uint16_t did = 0;
    bool fpd = false;
    unsigned tt = 0;
  };
  std::optional<CachedDomain> cached_context(uint16_t sid);
  // On a context-cache miss the hardware reads the root and context entries first, then looks up
  // the IOTLB with the domain they give: only an IOTLB miss walks the paging structures. This is
  // that first step: counts a context-cache miss, reads both entries (timed, from start_ps) and
  // caches a usable context. nullopt `domain` when the entries fault (the caller's walk reports
  // it).
  struct ContextFetch {
    std::optional<CachedDomain> domain;
    uint64_t done_ps = 0;
    unsigned mem_reads = 0;
  };
  ContextFetch fetch_context(uint16_t sid, uint64_t start_ps);

  // SRTP: latch RTADDR. Invalidates nothing: software must invalidate the caches itself.
  void set_root_table(uint64_t rtaddr);
  WalkResult translate(const TranslationRequest& req, uint64_t start_ps);

  void invalidate_context_all();
  void invalidate_context_domain(uint16_t did);
  // fm masks low SID bits as CCMD.FM / descriptor FM (0 none, 1 bit 2, 2 bits 2:1, 3 bits 2:0).
  void invalidate_context_device(uint16_t sid, unsigned fm);
  void invalidate_psc_all();
  void invalidate_psc_domain(uint16_t did);
  // Entries covering any of [addr, addr + 2^(am+12)).
  void invalidate_psc_pages(uint16_t did, uint64_t addr, unsigned am);

 private:
  struct Caches;  // private LRU caches and their stats, defined in page_walker.cpp

  WalkerConfig cfg_;
  WalkMemory& mem_;
  uint64_t rtaddr_ = 0;
  std::unique_ptr<Caches> caches_;
};

}  // namespace iovsim::iommu

#include "page_walker.hpp"

#include <algorithm>
#include <cmath>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace iovsim::iommu {

namespace {

const core::RealParam kClockMhz{"iommu.clock_mhz", 1000.0,
                                "IOMMU clock (MHz): its latencies are in cycles of it",
                                core::Range{1.0, 1000000.0}};
const core::IntParam kContextEntries{
    "iommu.context_cache.entries", 16,
    "Context-cache entries (decoded context entries by SID); 0 disables", core::Range{0, 65536}};
const core::IntParam kContextHitCycles{"iommu.context_cache.hit_cycles", 2,
                                       "IOMMU cycles of a context-cache hit",
                                       core::Range{0, 1000000}};
const core::IntParam kPscL2Entries{
    "iommu.psc.l2.entries", 16,
    "Paging-structure cache entries for level-2 entries (PDEs); 0 disables", core::Range{0, 65536}};
const core::IntParam kPscL3Entries{
    "iommu.psc.l3.entries", 16,
    "Paging-structure cache entries for level-3 entries (PDPEs); 0 disables",
    core::Range{0, 65536}};
const core::IntParam kPscL4Entries{
    "iommu.psc.l4.entries", 16,
    "Paging-structure cache entries for level-4 entries (PML4Es); 0 disables",
    core::Range{0, 65536}};
const core::IntParam kPscL5Entries{
    "iommu.psc.l5.entries", 16,
    "Paging-structure cache entries for level-5 entries (PML5Es); 0 disables",
    core::Range{0, 65536}};
const core::IntParam kPscHitCycles{
    "iommu.psc.hit_cycles", 2, "IOMMU cycles of a paging-structure cache lookup (once per walk)",
    core::Range{0, 1000000}};
const core::IntParam kLevelCycles{"iommu.walk.level_cycles", 4,
                                  "IOMMU cycles to process each table entry read by a walk",
                                  core::Range{0, 1000000}};

// Bounded LRU map, O(1) per operation: the list holds recency order, the map points into it.
template <typename V>
class LruCache {
 public:
  explicit LruCache(std::size_t capacity = 0) : capacity_(capacity) {}

  bool enabled() const { return capacity_ > 0; }
  std::size_t size() const { return map_.size(); }

  // Marks the entry most recently used.
  V* find(uint64_t key) {
    // One requester or domain dominates most workloads: the most recent entry needs no lookup.
    if (!order_.empty() && order_.front().first == key) return &order_.front().second;
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  void insert(uint64_t key, const V& value) {
    if (capacity_ == 0) return;
    auto it = map_.find(key);
    if (it != map_.end()) {
      it->second->second = value;
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    if (map_.size() >= capacity_) {
      map_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(key, value);
    map_.emplace(key, order_.begin());
  }

  template <typename Pred>
  void erase_if(Pred pred) {
    for (auto it = order_.begin(); it != order_.end();) {
      if (pred(it->first, it->second)) {
        map_.erase(it->first);
        it = order_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void clear() {
    map_.clear();
    order_.clear();
  }

 private:
  using Node = std::pair<uint64_t, V>;
  std::size_t capacity_;
  std::list<Node> order_;
  std::unordered_map<uint64_t, typename std::list<Node>::iterator> map_;
};

// A context entry as the context cache holds it: decoded, with the fault it yields (cached only
// under CAP.CM when not kNone).
struct CachedContext {
  vtd::FaultReason fault = vtd::FaultReason::kNone;
  bool fpd = false;
  unsigned tt = 0, aw = 0;
  uint16_t did = 0;
  uint64_t slptptr = 0;
};

// A non-leaf paging entry at level L: the level L-1 table and the permissions ANDed from the top
// level down to and including this entry (R = W = 0: a not-present entry, cached only under CM).
struct CachedPsc {
  uint64_t next_table = 0;
  bool r = false, w = false;
};

// PSC key: the DID above the iova bits that select the entry at level L and above. The tag is
// below 2^48 because an iova that passed the AGAW check (AGAW <= 57) is shifted by at least 21
// bits.
constexpr unsigned kPscDidShift = 48;
unsigned psc_shift(unsigned level) {
  return 12 + 9 * (level - 1);
}
uint64_t psc_key(uint16_t did, uint64_t iova, unsigned level) {
  return (uint64_t{did} << kPscDidShift) | (iova >> psc_shift(level));
}
uint16_t psc_key_did(uint64_t key) {
  return static_cast<uint16_t>(key >> kPscDidShift);
}
uint64_t psc_key_tag(uint64_t key) {
  return key & core::bit_mask(kPscDidShift - 1, 0);
}

constexpr unsigned kMinPscLevel = 2, kMaxPscLevel = 5;

}  // namespace

struct PageWalker::Caches {
  Caches(const WalkerConfig& cfg, core::StatGroup* parent)
      : context(cfg.context_cache_entries),
        context_stats("context_cache", parent),
        psc_stats("psc", parent),
        context_hits(context_stats.add_counter("hits", "Context-cache lookups that hit")),
        context_misses(
            context_stats.add_counter("misses", "Context-cache lookups that missed (entry read)")),
        psc_hits(psc_stats.add_counter("hits", "Walks that started below a cached paging entry")),
        psc_misses(psc_stats.add_counter("misses", "Walks that consulted the PSCs and missed")) {
    for (unsigned l = kMinPscLevel; l <= kMaxPscLevel; ++l) {
      psc[l] = LruCache<CachedPsc>(cfg.psc_entries[l]);
      const std::string n = "l" + std::to_string(l) + ".hits";
      psc_level_hits[l] = &psc_stats.add_counter(
          n, "Walks that started below a cached level-" + std::to_string(l) + " entry");
    }
  }

  LruCache<CachedContext> context;
  LruCache<CachedPsc> psc[kMaxPscLevel + 1];  // index = level; 0 and 1 unused
  core::StatGroup context_stats, psc_stats;
  core::Counter& context_hits;
  core::Counter& context_misses;
  core::Counter& psc_hits;
  core::Counter& psc_misses;
  core::Counter* psc_level_hits[kMaxPscLevel + 1] = {};
};

WalkerConfig WalkerConfig::from(const core::Config& c) {
  WalkerConfig w;
  w.caps = IommuCaps::from(c);
  w.cycle_ps = static_cast<uint64_t>(std::llround(1e6 / kClockMhz.get(c)));
  w.context_cache_entries = static_cast<unsigned>(kContextEntries.get(c));
  w.context_cache_hit_cycles = static_cast<unsigned>(kContextHitCycles.get(c));
  w.psc_entries[2] = static_cast<unsigned>(kPscL2Entries.get(c));
  w.psc_entries[3] = static_cast<unsigned>(kPscL3Entries.get(c));
  w.psc_entries[4] = static_cast<unsigned>(kPscL4Entries.get(c));
  w.psc_entries[5] = static_cast<unsigned>(kPscL5Entries.get(c));
  w.psc_hit_cycles = static_cast<unsigned>(kPscHitCycles.get(c));
  w.level_cycles = static_cast<unsigned>(kLevelCycles.get(c));
  return w;
}

PageWalker::PageWalker(const WalkerConfig& cfg, WalkMemory& mem, core::StatGroup* parent)
    : cfg_(cfg), mem_(mem), caches_(std::make_unique<Caches>(cfg, parent)) {}

PageWalker::~PageWalker() = default;

void PageWalker::set_root_table(uint64_t rtaddr) {
  rtaddr_ = rtaddr & core::bit_mask(63, 12);
}

std::optional<PageWalker::CachedDomain> PageWalker::cached_context(uint16_t sid) {
  Caches& c = *caches_;
  if (!c.context.enabled()) return std::nullopt;
  const CachedContext* e = c.context.find(sid);
  if (!e || e->fault != vtd::FaultReason::kNone) return std::nullopt;
  ++c.context_hits;
  return CachedDomain{e->did, e->fpd, e->tt};
}

PageWalker::ContextFetch PageWalker::fetch_context(uint16_t sid, uint64_t start_ps) {
  Caches& c = *caches_;
  ContextFetch f;
  f.done_ps = start_ps;
  if (!c.context.enabled()) return f;
  ++c.context_misses;
  uint8_t buf[16];
  auto read_table = [&](uint64_t addr) {
    ++f.mem_reads;
    const bool ok = mem_.read(addr, buf, 16, &f.done_ps);
    f.done_ps += uint64_t{cfg_.level_cycles} * cfg_.cycle_ps;
    return ok;
  };
  if (!read_table(rtaddr_ + 16 * (uint64_t{sid} >> 8))) return f;
  const vtd::RootEntry re{core::load_le<uint64_t>(buf), core::load_le<uint64_t>(buf + 8)};
  if (!re.present() || re.reserved_set() || !read_table(re.ctp() + 16 * (uint64_t{sid} & 0xff)))
    return f;
  const vtd::ContextEntry ce{core::load_le<uint64_t>(buf), core::load_le<uint64_t>(buf + 8)};
  const IommuCaps& caps = cfg_.caps;
  if (!ce.present() || ce.reserved_set() || ce.aw() > 3 || !caps.supports_aw(ce.aw()) ||
      ce.tt() == 3 || (ce.tt() == vtd::kTtPassThrough && !caps.pt) ||
      (ce.tt() == vtd::kTtDeviceTlb && !caps.dt))
    return f;  // the walk will read it again and fault
  CachedContext ctx;
  ctx.fpd = ce.fpd();
  ctx.tt = ce.tt();
  ctx.aw = ce.aw();
  ctx.did = ce.did();
  ctx.slptptr = ce.slptptr();
  c.context.insert(sid, ctx);
  f.domain = CachedDomain{ctx.did, ctx.fpd, ctx.tt};
  return f;
}

WalkResult PageWalker::translate(const TranslationRequest& req, uint64_t start_ps) {
  using vtd::FaultReason;
  Caches& c = *caches_;
  const IommuCaps& caps = cfg_.caps;
  WalkResult r;
  uint64_t t = start_ps;

  // Every table read: the memory's latency, then the IOMMU's processing of the entry.
  auto read_table = [&](uint64_t addr, uint8_t* dst, unsigned len) {
    ++r.mem_reads;
    const bool ok = mem_.read(addr, dst, len, &t);
    t += uint64_t{cfg_.level_cycles} * cfg_.cycle_ps;
    return ok;
  };
  // FPD is known only once the context entry is read; before that every fault is recorded.
  auto fail = [&](FaultReason f, bool fpd) {
    r.fault = f;
    r.record_fault = !(fpd && vtd::fpd_suppresses(f));
    r.done_ps = t;
    return r;
  };

  // ---- Context: from the context cache, or root entry then context entry from memory.
  CachedContext ctx;
  bool have_ctx = false;
  if (c.context.enabled()) {
    if (const CachedContext* e = c.context.find(req.sid)) {
      if (!req.context_fetched) ++c.context_hits;
      t += uint64_t{cfg_.context_cache_hit_cycles} * cfg_.cycle_ps;
      ctx = *e;
      have_ctx = true;
      r.context_cache_hit = true;
    } else {
      ++c.context_misses;
    }
  }
  if (!have_ctx) {
    uint8_t buf[16];
    const unsigned bus = req.sid >> 8, devfn = req.sid & 0xff;
    if (!read_table(rtaddr_ + 16 * uint64_t{bus}, buf, 16))
      return fail(FaultReason::kRootTableReadError, false);
    const vtd::RootEntry re{core::load_le<uint64_t>(buf), core::load_le<uint64_t>(buf + 8)};
    // A not-present entry's other fields are ignored, so presence is checked before reserved bits.
    if (!re.present()) return fail(FaultReason::kRootNotPresent, false);
    if (re.reserved_set()) return fail(FaultReason::kRootReserved, false);
    if (!read_table(re.ctp() + 16 * uint64_t{devfn}, buf, 16))
      return fail(FaultReason::kContextTableReadError, false);
    const vtd::ContextEntry ce{core::load_le<uint64_t>(buf), core::load_le<uint64_t>(buf + 8)};
    ctx.fpd = ce.fpd();  // FPD is honoured even in a not-present entry
    if (!ce.present()) {
      ctx.fault = FaultReason::kContextNotPresent;
    } else if (ce.reserved_set()) {
      ctx.fault = FaultReason::kContextReserved;
    } else if (ce.aw() > 3 || !caps.supports_aw(ce.aw()) || ce.tt() == 3 ||
               (ce.tt() == vtd::kTtPassThrough && !caps.pt) ||
               (ce.tt() == vtd::kTtDeviceTlb && !caps.dt)) {
      ctx.fault = FaultReason::kContextInvalid;
    } else {
      ctx.tt = ce.tt();
      ctx.aw = ce.aw();
      ctx.did = ce.did();
      ctx.slptptr = ce.slptptr();
    }
    // Under CM, not-present and erroneous entries are cached too, tagged with the reserved DID 0.
    if (ctx.fault == FaultReason::kNone || caps.cm) c.context.insert(req.sid, ctx);
  }
  if (ctx.fault != FaultReason::kNone) return fail(ctx.fault, ctx.fpd);
  r.did = ctx.did;

  // ---- Request type against TT.
  const bool ats_request = req.at != core::AddressType::kUntranslated;
  if (ats_request && ctx.tt != vtd::kTtDeviceTlb) return fail(FaultReason::kBlockedByTt, ctx.fpd);
  if (ctx.tt == vtd::kTtPassThrough || req.at == core::AddressType::kTranslated) {
    // Pass-through, or an address the device already translated: HPA = IOVA, nothing to walk.
    r.pass_through = true;
    r.iova_base = r.hpa_base = req.iova & ~uint64_t{0xfff};
    r.page_shift = 12;
    r.read = r.write = true;
    r.hpa = req.iova;
    r.done_ps = t;
    return r;
  }

  // ---- Address width.
  const vtd::ContextEntry decoded{0, uint64_t{ctx.aw}};
  const unsigned width = std::min(decoded.agaw(), caps.mgaw);
  if (width < 64 && (req.iova >> width) != 0) return fail(FaultReason::kAddressBeyondAgaw, ctx.fpd);

  // A translation request (ATS) is answered with the permissions, R = W = 0 meaning no
  // translation; only untranslated requests fault on a missing permission.
  const bool translation_request = req.at == core::AddressType::kTranslationRequest;
  auto denied = [&](bool rd, bool wr) {
    if (translation_request) return !rd && !wr;
    return req.write ? !wr : !rd;
  };
  auto permission_result = [&](bool rd, bool wr) {
    r.read = rd;
    r.write = wr;
    if (translation_request) {  // no translation: not a fault
      r.done_ps = t;
      return r;
    }
    return fail(req.write ? FaultReason::kWriteDenied : FaultReason::kReadDenied, ctx.fpd);
  };

  // ---- Paging-structure caches: start below the deepest cached entry.
  const unsigned top = decoded.levels();
  unsigned level = top;
  uint64_t table = ctx.slptptr;
  bool rd = true, wr = true;
  bool consult = false;
  for (unsigned l = kMinPscLevel; l <= std::min(top, kMaxPscLevel); ++l)
    consult = consult || c.psc[l].enabled();
  if (consult) {
    t += uint64_t{cfg_.psc_hit_cycles} * cfg_.cycle_ps;
    for (unsigned l = kMinPscLevel; l <= std::min(top, kMaxPscLevel); ++l) {
      if (!c.psc[l].enabled()) continue;
      if (const CachedPsc* e = c.psc[l].find(psc_key(ctx.did, req.iova, l))) {
        table = e->next_table;
        rd = e->r;
        wr = e->w;
        level = l - 1;
        r.psc_hit_level = l;
        ++*c.psc_level_hits[l];
        break;
      }
    }
    if (r.psc_hit_level != 0) {
      ++c.psc_hits;
      if (denied(rd, wr)) return permission_result(rd, wr);
    } else {
      ++c.psc_misses;
    }
  }

  // ---- The remaining levels, read from memory.
  for (; level >= 1; --level) {
    uint8_t buf[8];
    const uint64_t addr = table + 8 * uint64_t{vtd::sl_index(req.iova, level)};
    ++r.levels;
    if (!read_table(addr, buf, 8)) {
      r.read = rd;
      r.write = wr;
      return fail(FaultReason::kPagingEntryReadError, ctx.fpd);
    }
    const vtd::SlEntry e{core::load_le<uint64_t>(buf)};
    const bool cacheable = level >= kMinPscLevel && level <= kMaxPscLevel;
    if (!e.r() && !e.w()) {
      if (caps.cm && cacheable) c.psc[level].insert(psc_key(ctx.did, req.iova, level), {});
      return permission_result(false, false);
    }
    const bool leaf = level == 1 || ((level == 2 || level == 3) && e.ps());
    const uint64_t page_bytes = vtd::level_page_bytes(level);
    const bool reserved =
        e.high_reserved_set(caps.haw) || (level >= 4 && e.ps()) ||
        (leaf && level > 1 &&
         (!caps.supports_superpage(level) || (e.address(caps.haw) & (page_bytes - 1)) != 0));
    if (reserved) {
      r.read = rd;
      r.write = wr;
      return fail(FaultReason::kPagingEntryReserved, ctx.fpd);
    }
    rd = rd && e.r();
    wr = wr && e.w();
    if (!leaf && cacheable)
      c.psc[level].insert(psc_key(ctx.did, req.iova, level), {e.address(caps.haw), rd, wr});
    if (denied(rd, wr)) return permission_result(rd, wr);
    if (leaf) {
      r.read = rd;
      r.write = wr;
      r.page_shift = psc_shift(level);
      r.iova_base = req.iova & ~(page_bytes - 1);
      r.hpa_base = e.address(caps.haw);
      r.hpa = r.hpa_base | (req.iova & (page_bytes - 1));
      r.done_ps = t;
      return r;
    }
    table = e.address(caps.haw);
  }
  // Not reached: level 1 is always a leaf. Keep the compiler's flow analysis happy.
  r.done_ps = t;
  return r;
}

void PageWalker::invalidate_context_all() {
  caches_->context.clear();
}

void PageWalker::invalidate_context_domain(uint16_t did) {
  caches_->context.erase_if([did](uint64_t, const CachedContext& e) { return e.did == did; });
}

void PageWalker::invalidate_context_device(uint16_t sid, unsigned fm) {
  static constexpr uint16_t kFmMask[4] = {0x0, 0x4, 0x6, 0x7};
  const uint16_t keep = static_cast<uint16_t>(~kFmMask[fm & 3]);
  caches_->context.erase_if([sid, keep](uint64_t key, const CachedContext&) {
    return (static_cast<uint16_t>(key) & keep) == (sid & keep);
  });
}

void PageWalker::invalidate_psc_all() {
  for (auto& cache : caches_->psc) cache.clear();
}

void PageWalker::invalidate_psc_domain(uint16_t did) {
  for (auto& cache : caches_->psc)
    cache.erase_if([did](uint64_t key, const CachedPsc&) { return psc_key_did(key) == did; });
}

void PageWalker::invalidate_psc_pages(uint16_t did, uint64_t addr, unsigned am) {
  // The range is naturally aligned to its size (software must align addr; the low bits are
  // ignored).
  const unsigned shift = am + 12;
  const uint64_t lo = shift >= 64 ? 0 : addr & ~core::bit_mask(shift - 1, 0);
  const uint64_t hi = shift >= 64 ? ~uint64_t{0} : lo | core::bit_mask(shift - 1, 0);
  for (unsigned l = kMinPscLevel; l <= kMaxPscLevel; ++l) {
    const unsigned s = psc_shift(l);
    // A level-l entry with tag k covers [k << s, ((k + 1) << s) - 1]; drop it if that overlaps.
    caches_->psc[l].erase_if([=](uint64_t key, const CachedPsc&) {
      if (psc_key_did(key) != did) return false;
      const uint64_t tag = psc_key_tag(key);
      return tag >= (lo >> s) && tag <= (hi >> s);
    });
  }
}

}  // namespace iovsim::iommu

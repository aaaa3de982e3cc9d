#include "interrupt_remapping.hpp"

#include <string>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/iommu/set_assoc_cache.hpp>

namespace iovsim::iommu {

namespace {

const core::BoolParam kEnabled{"iommu.ir.enabled", false,
                               "interrupt remapping on (MSIs programmed in remappable format)"};
const core::IntParam kIecEntries{
    "iommu.ir.iec.entries", 64,
    "Interrupt entry cache entries (decoded IRTEs by index); 0 disables", core::Range{0, 65536}};
const core::IntParam kIecWays{"iommu.ir.iec.ways", 0,
                              "Interrupt entry cache associativity; 0 = fully associative",
                              core::Range{0, 65536}};
const core::EnumParam kIecPolicy{"iommu.ir.iec.policy",
                                 "lru",
                                 "Interrupt entry cache replacement policy",
                                 {"lru", "plru", "fifo", "random"}};
const core::IntParam kIecHitCycles{"iommu.ir.iec.hit_cycles", 2,
                                   "IOMMU cycles of an interrupt entry cache hit",
                                   core::Range{0, 1000000}};
const core::IntParam kDecodeCycles{"iommu.ir.decode_cycles", 2,
                                   "IOMMU cycles to decode and check each interrupt message",
                                   core::Range{0, 1000000}};

// An IRTE as the IEC holds it: the entry and the fault it yields by itself (kNone, 0x22 or 0x24;
// cached only under CAP.CM when not kNone). Source-id verification depends on the request and is
// done on every use.
struct CachedIrte {
  vtd::Irte irte;
  vtd::FaultReason fault = vtd::FaultReason::kNone;
};

SetAssocCache<CachedIrte> make_iec(const IrConfig& cfg) {
  if (cfg.iec_ways != 0 && cfg.iec_entries % cfg.iec_ways != 0) {
    throw core::ConfigError("iommu.ir.iec.entries (" + std::to_string(cfg.iec_entries) +
                            ") must be a multiple of iommu.ir.iec.ways (" +
                            std::to_string(cfg.iec_ways) + ")");
  }
  try {
    return SetAssocCache<CachedIrte>(cfg.iec_entries, cfg.iec_ways, cfg.iec_policy, cfg.seed);
  } catch (const core::ConfigError& e) {
    throw core::ConfigError(std::string("iommu.ir.iec: ") + e.what());
  }
}

// Source-id verification (SVT/SQ/SID of the IRTE against the requester id).
bool sid_verified(const vtd::Irte& e, uint16_t sid) {
  switch (e.svt()) {
    case vtd::kSvtNone:
      return true;
    case vtd::kSvtSidSq: {
      // SQ 0 compares all 16 bits; 1 ignores bit 2; 2 ignores bits 2:1; 3 ignores bits 2:0.
      static constexpr uint16_t kIgnore[4] = {0x0, 0x4, 0x6, 0x7};
      const uint16_t mask = static_cast<uint16_t>(~kIgnore[e.sq()]);
      return (sid & mask) == (e.sid() & mask);
    }
    case vtd::kSvtBusRange: {
      // Bus range as Linux writes it (set_irte_verify_bus): START bus in SID[15:8], END bus in
      // SID[7:0]. (QEMU reads the two the other way round; we follow Linux.) The requester's bus
      // must lie in [start, end].
      const unsigned start = e.sid() >> 8, end = e.sid() & 0xff, bus = sid >> 8u;
      return start <= bus && bus <= end;
    }
    default:
      return false;  // SVT 3 is reserved: reported as 0x24 before verification
  }
}

// The FPD-qualified interrupt faults (VT-d: recording suppressible by the IRTE's FPD).
bool ir_fpd_qualified(vtd::FaultReason r) {
  return r == vtd::FaultReason::kIrteNotPresent || r == vtd::FaultReason::kIrteReserved ||
         r == vtd::FaultReason::kIrSidVerifyFailed;
}

}  // namespace

struct InterruptRemapper::State {
  State(const IrConfig& cfg, core::StatGroup* parent)
      : iec(make_iec(cfg)),
        stats("ir", parent),
        iec_stats("iec", &stats),
        remapped(stats.add_counter("remapped", "interrupts remapped and delivered")),
        compatibility_passed(stats.add_counter(
            "compatibility_passed", "compatibility-format interrupts passed through (CFIS)")),
        blocked(stats.add_counter("blocked", "interrupts blocked by an interrupt-remapping fault")),
        posted_dropped(stats.add_counter(
            "posted_dropped",
            "interrupts to posted-format IRTEs (IM = 1), recognised and dropped")),
        irte_reads(stats.add_counter("irte_reads", "IRTEs read from memory")),
        iec_hits(iec_stats.add_counter("hits", "interrupt entry cache lookups that hit")),
        iec_misses(iec_stats.add_counter("misses", "interrupt entry cache lookups that missed")) {}

  SetAssocCache<CachedIrte> iec;
  core::StatGroup stats, iec_stats;
  core::Counter& remapped;
  core::Counter& compatibility_passed;
  core::Counter& blocked;
  core::Counter& posted_dropped;
  core::Counter& irte_reads;
  core::Counter& iec_hits;
  core::Counter& iec_misses;
};

IrConfig IrConfig::from(const core::Config& c) {
  IrConfig cfg;
  cfg.iec_entries = static_cast<unsigned>(kIecEntries.get(c));
  cfg.iec_ways = static_cast<unsigned>(kIecWays.get(c));
  cfg.iec_policy = kIecPolicy.get(c);
  cfg.iec_hit_cycles = static_cast<unsigned>(kIecHitCycles.get(c));
  cfg.decode_cycles = static_cast<unsigned>(kDecodeCycles.get(c));
  return cfg;
}

bool ir_enabled_param(const core::Config& c) {
  return kEnabled.get(c);
}

InterruptRemapper::InterruptRemapper(const IrConfig& cfg, const IommuCaps& caps, WalkMemory& mem,
                                     core::StatGroup* parent)
    : cfg_(cfg), caps_(caps), mem_(mem), state_(std::make_unique<State>(cfg, parent)) {}

InterruptRemapper::~InterruptRemapper() = default;

void InterruptRemapper::set_irt(uint64_t irta) {
  irta_ = irta;
}
void InterruptRemapper::set_enabled(bool on) {
  enabled_ = on;
}
void InterruptRemapper::set_cfi(bool compat_allowed) {
  cfi_ = compat_allowed;
}

RemappedInterrupt InterruptRemapper::remap(const InterruptRequest& req, uint64_t start_ps) {
  using vtd::FaultReason;
  State& s = *state_;
  RemappedInterrupt r;
  const vtd::MsiAddress addr{req.address};
  const vtd::MsiData data{req.data};

  // Compatibility format: the message's own fields.
  auto compatibility = [&]() {
    r.compatibility = true;
    r.vector = data.vector();
    r.delivery_mode = data.delivery_mode();
    r.level = data.trigger_level();
    r.destination = addr.compat_destination();
    r.dest_logical = addr.compat_dm();
    r.redirection_hint = addr.compat_rh();
  };

  if (!enabled_) {  // not the remapping unit's business: the caller decides
    compatibility();
    r.done_ps = start_ps;
    return r;
  }

  uint64_t t = start_ps + uint64_t{cfg_.decode_cycles} * cfg_.cycle_ps;
  auto fail = [&](FaultReason f, bool fpd) {
    r.fault = f;
    r.record_fault = !(fpd && ir_fpd_qualified(f));
    r.done_ps = t;
    ++s.blocked;
    return r;
  };

  if (!addr.remappable()) {
    if (!cfi_) return fail(FaultReason::kIrCompatBlocked, false);
    compatibility();
    ++s.compatibility_passed;
    r.done_ps = t;
    return r;
  }

  // Remappable format. The index may exceed 16 bits (handle + subhandle); it is checked whole
  // against the table size and reported truncated to FI[63:48]'s 16 bits.
  uint32_t index = addr.handle();
  if (addr.shv()) index += data.subhandle();
  r.index = static_cast<uint16_t>(index);
  if (!addr.in_interrupt_range() || (addr.shv() && data.subhandle_reserved_set()))
    return fail(FaultReason::kIrReservedRequest, false);
  const vtd::Irta irta{irta_};
  if (index >= irta.entries()) return fail(FaultReason::kIrIndexBeyondTable, false);
  const bool x2apic = irta.eime() && caps_.eim;

  // The IRTE: from the IEC, or read from memory (and cached when usable, or under CM).
  CachedIrte entry;
  bool have = false;
  if (s.iec.capacity() != 0) {
    if (const CachedIrte* e = s.iec.lookup(index, index)) {
      ++s.iec_hits;
      t += uint64_t{cfg_.iec_hit_cycles} * cfg_.cycle_ps;
      entry = *e;
      have = true;
      r.iec_hit = true;
    } else {
      ++s.iec_misses;
    }
  }
  if (!have) {
    uint8_t buf[16];
    ++r.mem_reads;
    ++s.irte_reads;
    if (!mem_.read(irta.base() + 16 * uint64_t{index}, buf, 16, &t))
      return fail(FaultReason::kIrtReadError, false);
    entry.irte = vtd::Irte{core::load_le<uint64_t>(buf), core::load_le<uint64_t>(buf + 8)};
    // A not-present entry's other fields are ignored, so presence is checked before reserved bits.
    if (!entry.irte.present()) {
      entry.fault = FaultReason::kIrteNotPresent;
    } else if (entry.irte.reserved_set(x2apic)) {
      entry.fault = FaultReason::kIrteReserved;
    }
    if (entry.fault == FaultReason::kNone || caps_.cm) s.iec.insert(index, index, entry);
  }
  const vtd::Irte& e = entry.irte;
  // FPD is honoured from the entry as read, present or not (see the header).
  if (entry.fault != FaultReason::kNone) return fail(entry.fault, e.fpd());
  if (!sid_verified(e, req.sid)) return fail(FaultReason::kIrSidVerifyFailed, e.fpd());

  r.done_ps = t;
  r.vector = e.vector();
  if (e.im()) {  // posted: recognised, not delivered
    r.posted = true;
    ++s.posted_dropped;
    return r;
  }
  r.destination = x2apic ? e.dst() : e.xapic_id();
  r.dest_logical = e.dm();
  r.redirection_hint = e.rh();
  r.level = e.tm();
  r.delivery_mode = e.dlm();
  ++s.remapped;
  return r;
}

void InterruptRemapper::invalidate_all() {
  state_->iec.clear();
}

void InterruptRemapper::invalidate_index(uint16_t index, unsigned im) {
  auto& iec = state_->iec;
  if (iec.capacity() == 0) return;
  if (im >= 16) {
    iec.clear();
    return;
  }
  const uint32_t count = uint32_t{1} << im;
  const uint32_t first = index & ~(count - 1);
  if (count <= iec.capacity()) {
    for (uint32_t i = first; i < first + count; ++i) iec.erase(i, i);
  } else {
    iec.erase_if(
        [&](uint64_t key, const CachedIrte&) { return key >= first && key < first + count; });
  }
}

}  // namespace iovsim::iommu

// The VT-d interrupt-remapping unit's core (../shared/reference/vtd-pcie.md §4): decodes an MSI,
// reads the interrupt-remapping table entry (IRTE) through a timed WalkMemory or takes it from the
// interrupt entry cache (IEC), checks it, verifies the source id and returns the remapped interrupt
// (or the fault reason) and when it is known. Plain C++, no SystemC processes: fault recording and
// delivery belong to the caller (the remapping unit / platform).
//
// Order of checks (first failure wins):
//   IR disabled            -> the message unchanged, as compatibility format (no stats, no time)
//   IF = 0                 -> passed through if CFIS (compatibility_passed), else 0x25
//   address/data reserved  -> 0x20 (high 32 address bits, address 31:20 != 0xFEE, SHV with data
//                             31:16 != 0)
//   index >= 2^(S+1)       -> 0x21
//   IRTE (IEC or memory)   -> 0x23 on a read error, 0x22 not present, 0x24 reserved bits
//   source-id verification -> 0x26
//   IM = 1 (posted)        -> dropped (posted_dropped), no fault
//   otherwise              -> delivered (remapped)
//
// FPD: the VT-d "qualified" interrupt faults 0x22, 0x24 and 0x26 are the ones whose recording an
// IRTE's FPD suppresses; 0x20, 0x21, 0x23 and 0x25 come before (or without) an IRTE and are always
// recorded. Like the context entry's FPD in the page walker, the bit is honoured as soon as the
// entry has been read, so FPD in a NOT-present IRTE suppresses recording of its 0x22.
//
// Timing: start_ps + decode_cycles; then iec_hit_cycles on an IEC hit, or the 16-byte memory read
// of the IRTE on a miss (or with the IEC disabled). Faults found before the IRTE is needed are
// known at start_ps + decode_cycles.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>

#include "caps.hpp"
#include "vtd_format.hpp"
#include "walk_memory.hpp"

namespace iovsim::iommu {

struct IrConfig {
  unsigned iec_entries = 64, iec_ways = 0;  // 0 entries disables the IEC; 0 ways = fully assoc.
  std::string iec_policy = "lru";
  unsigned iec_hit_cycles = 2;
  unsigned decode_cycles = 2;  // MSI decode and checks, per interrupt
  uint64_t cycle_ps = 1000;
  uint64_t seed = 1;
  // Reads iommu.ir.iec.* and iommu.ir.decode_cycles; cycle_ps and seed are set by the caller.
  static IrConfig from(const core::Config& c);
};

// The platform's iommu.ir.enabled parameter (declared in interrupt_remapping.cpp): whether MSIs are
// programmed in remappable format.
bool ir_enabled_param(const core::Config& c);

// A 4-byte memory write to 0xFEEx_xxxx.
struct InterruptRequest {
  uint16_t sid = 0;
  uint64_t address = 0;
  uint32_t data = 0;
};

struct RemappedInterrupt {
  vtd::FaultReason fault = vtd::FaultReason::kNone;  // kNone: deliver (unless posted)
  bool record_fault = true;  // false when the IRTE's FPD suppresses recording
  // Interrupt index (for FRCD FI[63:48]): handle (+ subhandle with SHV), truncated to 16 bits;
  // valid when the message was remappable (set for 0x20 too, as far as it was decoded).
  uint16_t index = 0;
  bool posted = false;         // IRTE IM = 1: recognised and dropped (counted), not delivered
  bool compatibility = false;  // passed through in compatibility format (CFIS set, or IR disabled)
  unsigned vector = 0;
  // xAPIC: the APIC id (IRTE DST[15:8], or address 19:12 in compatibility format); x2APIC
  // (IRTA.EIME with ECAP.EIM): all 32 bits of DST.
  uint32_t destination = 0;
  bool dest_logical = false, redirection_hint = false;
  bool level = false;  // level-triggered (IRTE TM; data bit 15 in compatibility format)
  unsigned delivery_mode = 0;
  bool iec_hit = false;
  unsigned mem_reads = 0;
  uint64_t done_ps = 0;
};

class InterruptRemapper {
 public:
  // Creates the stat group "ir" under parent (and "iec" under it). Throws core::ConfigError for an
  // impossible IEC geometry or an unknown policy.
  InterruptRemapper(const IrConfig& cfg, const IommuCaps& caps, WalkMemory& mem,
                    core::StatGroup* parent);
  ~InterruptRemapper();
  InterruptRemapper(const InterruptRemapper&) = delete;
  InterruptRemapper& operator=(const InterruptRemapper&) = delete;

  // SIRTP: latch IRTA (base 63:12, EIME 11, S 3:0 -> 2^(S+1) entries). Invalidates nothing:
  // software follows it with a global IEC invalidation.
  void set_irt(uint64_t irta);
  void set_enabled(bool on);          // IRE
  void set_cfi(bool compat_allowed);  // GSTS.CFIS
  RemappedInterrupt remap(const InterruptRequest& req, uint64_t start_ps);
  void invalidate_all();  // IEC global
  // Index-selective: the 2^im entries of the aligned block holding index (im >= 16: all).
  void invalidate_index(uint16_t index, unsigned im);
  bool enabled() const { return enabled_; }
  bool cfi() const { return cfi_; }
  uint64_t irta() const { return irta_; }

 private:
  struct State;  // the IEC and the stats, defined in interrupt_remapping.cpp

  IrConfig cfg_;
  IommuCaps caps_;
  WalkMemory& mem_;
  uint64_t irta_ = 0;
  bool enabled_ = false, cfi_ = false;
  std::unique_ptr<State> state_;
};

}  // namespace iovsim::iommu

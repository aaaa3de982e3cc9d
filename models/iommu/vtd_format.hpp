// VT-d formats, bit for bit as ../shared/reference/vtd-pcie.md §1–3 gives them (legacy mode):
// register offsets and fields, root/context/second-level entries, fault records,
// queued-invalidation descriptors. Field names follow the VT-d specification. Plain data; no
// behaviour beyond decoding.
#pragma once

#include <cstdint>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::iommu::vtd {

using core::bit;
using core::bits;

// ---- Registers (offsets in the remapping unit's MMIO page) ------------------------------------
constexpr uint32_t kVer = 0x00;      // 32
constexpr uint32_t kCap = 0x08;      // 64
constexpr uint32_t kEcap = 0x10;     // 64
constexpr uint32_t kGcmd = 0x18;     // 32, write
constexpr uint32_t kGsts = 0x1C;     // 32, read
constexpr uint32_t kRtaddr = 0x20;   // 64
constexpr uint32_t kCcmd = 0x28;     // 64
constexpr uint32_t kFsts = 0x34;     // 32
constexpr uint32_t kFectl = 0x38;    // 32
constexpr uint32_t kFedata = 0x3C;   // 32
constexpr uint32_t kFeaddr = 0x40;   // 32
constexpr uint32_t kFeuaddr = 0x44;  // 32
constexpr uint32_t kIqh = 0x80;      // 64
constexpr uint32_t kIqt = 0x88;      // 64
constexpr uint32_t kIqa = 0x90;      // 64
constexpr uint32_t kIcs = 0x9C;      // 32
constexpr uint32_t kIectl = 0xA0;    // 32
constexpr uint32_t kIedata = 0xA4;   // 32
constexpr uint32_t kIeaddr = 0xA8;   // 32
constexpr uint32_t kIeuaddr = 0xAC;  // 32
constexpr uint32_t kIqer = 0xB0;     // 64
constexpr uint32_t kIrta = 0xB8;     // 64
constexpr uint32_t kMmioSize = 0x1000;

// GCMD (write) and GSTS (read): the same bit positions.
constexpr unsigned kGcmdTe = 31, kGcmdSrtp = 30, kGcmdSfl = 29, kGcmdEafl = 28, kGcmdWbf = 27,
                   kGcmdQie = 26, kGcmdIre = 25, kGcmdSirtp = 24, kGcmdCfi = 23;

// CAP fields.
struct CapFields {
  static constexpr unsigned kNdHi = 2, kNdLo = 0, kRwbf = 4, kCm = 7, kSagawHi = 12, kSagawLo = 8,
                            kMgawHi = 21, kMgawLo = 16, kFroHi = 33, kFroLo = 24, kSllpsHi = 37,
                            kSllpsLo = 34, kPsi = 39, kNfrHi = 47, kNfrLo = 40, kMamvHi = 53,
                            kMamvLo = 48, kPi = 59;
};
// ECAP fields.
struct EcapFields {
  static constexpr unsigned kC = 0, kQi = 1, kDt = 2, kIr = 3, kEim = 4, kPt = 6, kSc = 7,
                            kIroHi = 17, kIroLo = 8, kMhmvHi = 23, kMhmvLo = 20, kSmts = 43;
};
// FSTS bits.
constexpr unsigned kFstsPfo = 0, kFstsPpf = 1, kFstsIqe = 4, kFstsIce = 5, kFstsIte = 6,
                   kFstsFriHi = 15, kFstsFriLo = 8;
// FECTL / IECTL bits.
constexpr unsigned kCtlIm = 31, kCtlIp = 30;
// CCMD fields.
constexpr unsigned kCcmdIcc = 63, kCcmdCirgHi = 62, kCcmdCirgLo = 61, kCcmdCaigHi = 60,
                   kCcmdCaigLo = 59;
// IOTLB register (at IRO*16 + 8) fields; IVA at IRO*16.
constexpr unsigned kIotlbIvt = 63, kIotlbIirgHi = 61, kIotlbIirgLo = 60, kIotlbIaigHi = 58,
                   kIotlbIaigLo = 57;

// Invalidation granularity (CCMD.CIRG, IOTLB.IIRG, descriptor G): 1 global, 2 domain, 3
// device/page.
enum class Granularity : uint8_t { kReserved = 0, kGlobal = 1, kDomain = 2, kDeviceOrPage = 3 };

// ---- Fault reasons (FRCD.FR) -------------------------------------------------------------------
enum class FaultReason : uint8_t {
  kNone = 0x0,
  kRootNotPresent = 0x1,
  kContextNotPresent = 0x2,
  kContextInvalid = 0x3,  // AW not in SAGAW, TT reserved
  kAddressBeyondAgaw = 0x4,
  kWriteDenied = 0x5,
  kReadDenied = 0x6,
  kPagingEntryReadError = 0x7,
  kRootTableReadError = 0x8,
  kContextTableReadError = 0x9,
  kRootReserved = 0xA,
  kContextReserved = 0xB,
  kPagingEntryReserved = 0xC,
  kBlockedByTt = 0xD,
  kIrReservedRequest = 0x20,
  kIrIndexBeyondTable = 0x21,
  kIrteNotPresent = 0x22,
  kIrtReadError = 0x23,
  kIrteReserved = 0x24,
  kIrCompatBlocked = 0x25,
  kIrSidVerifyFailed = 0x26,
};
// FPD suppresses recording (not blocking) of these; 0x1, 0x8, 0x9, 0xA are always recorded.
constexpr bool fpd_suppresses(FaultReason r) {
  switch (r) {
    case FaultReason::kContextNotPresent:
    case FaultReason::kContextInvalid:
    case FaultReason::kAddressBeyondAgaw:
    case FaultReason::kWriteDenied:
    case FaultReason::kReadDenied:
    case FaultReason::kPagingEntryReadError:
    case FaultReason::kPagingEntryReserved:
    case FaultReason::kBlockedByTt:
      return true;
    default:
      return false;
  }
}

// ---- Root entry (16 B, indexed by bus)
// -----------------------------------------------------------
struct RootEntry {
  uint64_t lo = 0, hi = 0;
  bool present() const { return bit(lo, 0); }
  uint64_t ctp() const { return lo & core::bit_mask(63, 12); }
  bool reserved_set() const { return bits(lo, 11, 1) != 0 || hi != 0; }
};

// ---- Context entry (16 B, indexed by devfn)
// -------------------------------------------------------
struct ContextEntry {
  uint64_t lo = 0, hi = 0;
  bool present() const { return bit(lo, 0); }
  bool fpd() const { return bit(lo, 1); }
  unsigned tt() const { return static_cast<unsigned>(bits(lo, 3, 2)); }
  uint64_t slptptr() const { return lo & core::bit_mask(63, 12); }
  unsigned aw() const { return static_cast<unsigned>(bits(hi, 2, 0)); }
  uint16_t did() const { return static_cast<uint16_t>(bits(hi, 23, 8)); }
  bool reserved_set() const { return bits(lo, 11, 4) != 0 || bit(hi, 7) || bits(hi, 63, 24) != 0; }
  unsigned levels() const { return aw() + 2; }  // AW 1 -> 3 levels
  unsigned agaw() const { return 30 + 9 * aw(); }
};
constexpr unsigned kTtUntranslated = 0, kTtDeviceTlb = 1, kTtPassThrough = 2;

// ---- Second-level paging entry (8 B, 512 per table)
// ------------------------------------------------
struct SlEntry {
  uint64_t v = 0;
  bool r() const { return bit(v, 0); }
  bool w() const { return bit(v, 1); }
  bool ps() const { return bit(v, 7); }
  bool snp() const { return bit(v, 11); }
  bool tm() const { return bit(v, 62); }
  // Address of the next table or page frame, HAW-1:12.
  uint64_t address(unsigned haw) const { return v & core::bit_mask(haw - 1, 12); }
  // Bits HAW..51 must be zero.
  bool high_reserved_set(unsigned haw) const { return haw < 52 && bits(v, 51, haw) != 0; }
};
// Index of iova in the table at level L (1 = PTE level).
constexpr unsigned sl_index(uint64_t iova, unsigned level) {
  return static_cast<unsigned>((iova >> (12 + 9 * (level - 1))) & 0x1ff);
}
// Bytes mapped by a leaf at level L: 4 KiB, 2 MiB, 1 GiB, ...
constexpr uint64_t level_page_bytes(unsigned level) {
  return uint64_t{1} << (12 + 9 * (level - 1));
}

// ---- Fault record (FRCD, 128 bit) ---------------------------------------------------------------
struct FaultRecord {
  uint64_t lo = 0, hi = 0;
  uint64_t fi() const { return lo & core::bit_mask(63, 12); }
  uint16_t sid() const { return static_cast<uint16_t>(bits(hi, 15, 0)); }
  bool pp() const { return bit(hi, 31); }
  FaultReason fr() const { return static_cast<FaultReason>(bits(hi, 39, 32)); }
  uint32_t pv() const { return static_cast<uint32_t>(bits(hi, 59, 40)); }
  bool t_read() const { return bit(hi, 62); }  // T: 0 write, 1 read
  bool f() const { return bit(hi, 63); }
  static FaultRecord make(uint64_t fault_info, uint16_t sid, FaultReason fr, bool is_read) {
    FaultRecord r;
    r.lo = fault_info & core::bit_mask(63, 12);
    r.hi = uint64_t{sid} | (uint64_t{static_cast<uint8_t>(fr)} << 32) | (uint64_t{is_read} << 62) |
           (uint64_t{1} << 63);
    return r;
  }
};

// ---- Queued-invalidation descriptors (128 bit; type = lo 3:0) ---------------------------------
enum class QiType : uint8_t {
  kContextCache = 1,
  kIotlb = 2,
  kDeviceTlb = 3,
  kInterruptEntryCache = 4,
  kWait = 5,
};
struct QiDescriptor {
  uint64_t lo = 0, hi = 0;
  unsigned type() const { return static_cast<unsigned>(bits(lo, 3, 0)); }
  // context-cache (1) and IOTLB (2)
  Granularity granularity() const { return static_cast<Granularity>(bits(lo, 5, 4)); }
  uint16_t did() const { return static_cast<uint16_t>(bits(lo, 31, 16)); }
  uint16_t sid() const {
    return static_cast<uint16_t>(bits(lo, 47, 32));
  }  // context-cache, device-TLB
  unsigned fm() const { return static_cast<unsigned>(bits(lo, 49, 48)); }
  bool dw() const { return bit(lo, 6); }
  bool dr() const { return bit(lo, 7); }
  unsigned am() const { return static_cast<unsigned>(bits(hi, 5, 0)); }
  bool ih() const { return bit(hi, 6); }
  uint64_t addr() const { return hi & core::bit_mask(63, 12); }
  // device-TLB (3)
  unsigned mip() const { return static_cast<unsigned>(bits(lo, 20, 16)); }
  uint16_t pfsid() const {
    return static_cast<uint16_t>(bits(lo, 15, 12) | (bits(lo, 63, 52) << 4));
  }
  bool size_bit() const { return bit(hi, 0); }
  // interrupt entry cache (4)
  bool iec_index_selective() const { return bit(lo, 4); }
  unsigned iec_im() const { return static_cast<unsigned>(bits(lo, 31, 27)); }
  uint16_t iec_iidx() const { return static_cast<uint16_t>(bits(lo, 47, 32)); }
  // wait (5)
  bool wait_if() const { return bit(lo, 4); }
  bool wait_sw() const { return bit(lo, 5); }
  bool wait_fn() const { return bit(lo, 6); }
  uint32_t wait_status_data() const { return static_cast<uint32_t>(bits(lo, 63, 32)); }
  uint64_t wait_status_addr() const { return hi & core::bit_mask(63, 2); }
};

// ---- Interrupt remapping (§4) -------------------------------------------------------------------
// IRTA register: table base 63:12, EIME 11 (x2APIC destinations), S 3:0 (2^(S+1) entries).
struct Irta {
  uint64_t v = 0;
  uint64_t base() const { return v & core::bit_mask(63, 12); }
  bool eime() const { return bit(v, 11); }
  unsigned s() const { return static_cast<unsigned>(bits(v, 3, 0)); }
  uint32_t entries() const { return uint32_t{1} << (s() + 1); }
};

// The address of an MSI (a 4-byte memory write to 0xFEEx_xxxx).
struct MsiAddress {
  uint64_t v = 0;
  bool in_interrupt_range() const { return bits(v, 63, 32) == 0 && bits(v, 31, 20) == 0xFEE; }
  bool remappable() const { return bit(v, 4); }  // IF
  // Remappable format: handle[14:0] at 19:5, SHV at 3, handle[15] at 2.
  bool shv() const { return bit(v, 3); }
  uint16_t handle() const {
    return static_cast<uint16_t>(bits(v, 19, 5) | (uint64_t{bit(v, 2)} << 15));
  }
  // Compatibility format: destination APIC id 19:12, RH 3, DM 2.
  unsigned compat_destination() const { return static_cast<unsigned>(bits(v, 19, 12)); }
  bool compat_rh() const { return bit(v, 3); }
  bool compat_dm() const { return bit(v, 2); }
};

// The data of an MSI.
struct MsiData {
  uint32_t v = 0;
  uint16_t subhandle() const { return static_cast<uint16_t>(bits(v, 15, 0)); }  // remappable, SHV
  bool subhandle_reserved_set() const { return bits(v, 31, 16) != 0; }          // remappable, SHV
  // Compatibility format: vector 7:0, delivery mode 10:8, level (assert) 14, trigger 15 (1 level).
  unsigned vector() const { return static_cast<unsigned>(bits(v, 7, 0)); }
  unsigned delivery_mode() const { return static_cast<unsigned>(bits(v, 10, 8)); }
  bool level_assert() const { return bit(v, 14); }
  bool trigger_level() const { return bit(v, 15); }
};

// Interrupt-remapping table entry (16 B at IRTA + 16 * index).
struct Irte {
  uint64_t lo = 0, hi = 0;
  bool present() const { return bit(lo, 0); }
  bool fpd() const { return bit(lo, 1); }
  bool dm() const { return bit(lo, 2); }  // 0 physical, 1 logical
  bool rh() const { return bit(lo, 3); }
  bool tm() const { return bit(lo, 4); }  // 0 edge, 1 level
  unsigned dlm() const { return static_cast<unsigned>(bits(lo, 7, 5)); }
  unsigned avail() const { return static_cast<unsigned>(bits(lo, 11, 8)); }
  bool im() const { return bit(lo, 15); }  // 0 remapped, 1 posted
  unsigned vector() const { return static_cast<unsigned>(bits(lo, 23, 16)); }
  uint32_t dst() const { return static_cast<uint32_t>(bits(lo, 63, 32)); }
  unsigned xapic_id() const { return static_cast<unsigned>(bits(lo, 47, 40)); }  // DST[15:8]
  uint16_t sid() const { return static_cast<uint16_t>(bits(hi, 15, 0)); }
  unsigned sq() const { return static_cast<unsigned>(bits(hi, 17, 16)); }
  unsigned svt() const { return static_cast<unsigned>(bits(hi, 19, 18)); }
  // Reserved bits of a present entry. Remapped format (IM = 0): 14:12, 31:24, 127:84, and in xAPIC
  // mode the DST bits other than 15:8 (entry bits 39:32 and 63:48). Posted format (IM = 1), whose
  // 63:38 and 127:96 hold the posted-descriptor address and bit 14 URG: only 13:12 and 95:84 are
  // checked. SVT = 3 is reserved in both.
  bool reserved_set(bool x2apic) const {
    if (svt() == 3) return true;
    if (im()) return bits(lo, 13, 12) != 0 || bits(hi, 31, 20) != 0;
    if (bits(lo, 14, 12) != 0 || bits(lo, 31, 24) != 0 || bits(hi, 63, 20) != 0) return true;
    return !x2apic && (bits(lo, 39, 32) != 0 || bits(lo, 63, 48) != 0);
  }
};
constexpr unsigned kSvtNone = 0, kSvtSidSq = 1, kSvtBusRange = 2;

}  // namespace iovsim::iommu::vtd

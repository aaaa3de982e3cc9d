// ATS (PCIe Address Translation Services) wire formats, bit for bit as vtd-pcie.md §3 and §6 give
// them: the S-bit range encoding, the 8-byte translation completion entry and the 8-byte body of an
// Invalidate Request message. They live in core because both sides use them: the IOMMU, which
// answers translation requests and sends invalidate requests, and devices, which cache
// translations; neither may include the other's headers. Plain data; no behaviour.
#pragma once

#include <cstdint>

#include "bitfield.hpp"

namespace iovsim::core::ats {

constexpr unsigned kPageShift = 12;
// S = 1 with ADDR[63:12] all ones stands for the whole 64-bit address space.
constexpr unsigned kMaxRangeShift = 64;
// ITags a host may have outstanding per function (5-bit ITag; the Invalidate Completion's vector).
constexpr unsigned kItags = 32;

// A naturally aligned range of 2^shift bytes (shift 12..64).
struct Range {
  uint64_t base = 0;
  unsigned shift = kPageShift;
  uint64_t last() const { return shift >= 64 ? ~uint64_t{0} : base + (uint64_t{1} << shift) - 1; }
  bool contains(uint64_t addr) const { return addr >= base && addr <= last(); }
  bool overlaps(const Range& o) const { return base <= o.last() && o.base <= last(); }
};

// The range ADDR[63:12] and S encode (the device-TLB descriptor, translation completions and
// invalidate requests share it): S = 0 -> the 4 KiB page at ADDR; S = 1 -> 8 KiB << (number of
// trailing 1 bits in ADDR[63:12]), the range holding ADDR (the low bits that encode the size are
// not part of the base).
constexpr Range decode_range(uint64_t addr, bool s) {
  Range r;
  if (s) {
    unsigned ones = 0;
    while (kPageShift + ones < 64 && bit(addr, kPageShift + ones)) ++ones;
    r.shift = kPageShift + 1 + ones < kMaxRangeShift ? kPageShift + 1 + ones : kMaxRangeShift;
  }
  r.base = r.shift >= 64 ? 0 : addr & ~bit_mask(r.shift - 1, 0);
  return r;
}

// ADDR[63:12] (as a 64-bit value, bits 11:0 zero) and S encoding the 2^shift range holding addr
// (shift clamped to 12..64).
struct EncodedRange {
  uint64_t addr = 0;
  bool s = false;
};
constexpr EncodedRange encode_range(uint64_t addr, unsigned shift) {
  EncodedRange e;
  if (shift <= kPageShift) {
    e.addr = addr & ~bit_mask(kPageShift - 1, 0);
    return e;
  }
  e.s = true;
  if (shift >= kMaxRangeShift) {
    e.addr = bit_mask(62, kPageShift);  // 51 ones, bit 63 clear: 8 KiB << 51 = 2^64
    return e;
  }
  // Bits shift-2 .. 12 set, bit shift-1 clear: (shift - 13) trailing ones.
  const uint64_t base = addr & ~bit_mask(shift - 1, 0);
  e.addr = shift == kPageShift + 1 ? base : base | bit_mask(shift - 2, kPageShift);
  return e;
}

// Translation completion data entry (vtd-pcie.md §6): translated address 63:12, S 11, N 10, U 2,
// W 1, R 0. R = W = 0: no translation (the untranslated address is not mapped for the requester).
struct TranslationEntry {
  static constexpr unsigned kS = 11, kN = 10, kU = 2, kW = 1, kR = 0;
  uint64_t translated_base = 0;  // of the range, 2^shift aligned
  unsigned shift = kPageShift;   // range size: 4 KiB, 2 MiB, 1 GiB ...
  bool n = false;                // no snoop: the device may use no-snoop accesses
  bool u = false;                // untranslated access only: use AT = 00 for this range
  bool w = false, r = false;

  bool no_translation() const { return !r && !w; }
  Range range() const { return Range{translated_base, shift}; }
  uint64_t encode() const {
    const EncodedRange e = encode_range(translated_base, shift);
    return e.addr | uint64_t{e.s} << kS | uint64_t{n} << kN | uint64_t{u} << kU |
           uint64_t{w} << kW | uint64_t{r} << kR;
  }
  static TranslationEntry decode(uint64_t v) {
    TranslationEntry t;
    const Range range = decode_range(v & bit_mask(63, kPageShift), bit(v, kS));
    t.translated_base = range.base;
    t.shift = range.shift;
    t.n = bit(v, kN);
    t.u = bit(v, kU);
    t.w = bit(v, kW);
    t.r = bit(v, kR);
    return t;
  }
};

// Invalidate Request message body (8 bytes): untranslated address 63:12, S 11, global invalidate
// 0 (ATS 1.1: the range is invalidated for every PASID; always 0 from VT-d legacy mode).
struct InvalidateRequestBody {
  static constexpr unsigned kS = 11, kGlobal = 0;
  Range range;
  bool global = false;

  uint64_t encode() const {
    const EncodedRange e = encode_range(range.base, range.shift);
    return e.addr | uint64_t{e.s} << kS | uint64_t{global} << kGlobal;
  }
  static InvalidateRequestBody decode(uint64_t v) {
    InvalidateRequestBody b;
    b.range = decode_range(v & bit_mask(63, kPageShift), bit(v, kS));
    b.global = bit(v, kGlobal);
    return b;
  }
};

// Invalidate Completion Count (CC, 3 bits): how many completions the function sends per ITag.
constexpr unsigned completions_expected(unsigned cc) {
  return (cc & 7) == 0 ? 8 : (cc & 7);
}

}  // namespace iovsim::core::ats

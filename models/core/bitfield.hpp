// Bit-field helpers for spec-format registers and table entries. Bit 0 is the least significant.
#pragma once

#include <cstddef>
#include <cstdint>

namespace iovsim::core {

// Mask with bits hi..lo set (inclusive), 0 <= lo <= hi <= 63.
constexpr uint64_t bit_mask(unsigned hi, unsigned lo) {
  return (hi - lo >= 63 ? ~0ull : ((1ull << (hi - lo + 1)) - 1)) << lo;
}

// Field hi..lo of v, shifted down to bit 0.
constexpr uint64_t bits(uint64_t v, unsigned hi, unsigned lo) {
  return (v & bit_mask(hi, lo)) >> lo;
}

constexpr bool bit(uint64_t v, unsigned n) {
  return (v >> n) & 1u;
}

// v with field hi..lo replaced by x (x is truncated to the field width).
constexpr uint64_t set_bits(uint64_t v, unsigned hi, unsigned lo, uint64_t x) {
  return (v & ~bit_mask(hi, lo)) | ((x << lo) & bit_mask(hi, lo));
}

constexpr uint64_t set_bit(uint64_t v, unsigned n, bool on) {
  return set_bits(v, n, n, on ? 1 : 0);
}

constexpr bool is_pow2(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

constexpr unsigned log2_floor(uint64_t v) {
  return v == 0 ? 0 : 63u - static_cast<unsigned>(__builtin_clzll(v));
}

constexpr uint64_t align_down(uint64_t v, uint64_t a) {
  return v & ~(a - 1);
}
constexpr uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) & ~(a - 1);
}

// Not (a + b - 1) / b, which wraps for a near 2^64.
// Little-endian loads and stores, byte by byte: VT-d structures and PCIe data are little-endian
// whatever the simulator's host is.
template <typename T>
T load_le(const uint8_t* p) {
  T v = 0;
  for (int i = static_cast<int>(sizeof(T)) - 1; i >= 0; --i) v = static_cast<T>((v << 8) | p[i]);
  return v;
}
template <typename T>
void store_le(uint8_t* p, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

constexpr uint64_t div_ceil(uint64_t a, uint64_t b) {
  return a / b + (a % b != 0);
}

}  // namespace iovsim::core

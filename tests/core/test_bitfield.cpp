// Bit-field helpers: edge widths (1 bit, 64 bits, bit 63) are where shifts go wrong.
#include <catch2/catch.hpp>

#include <iovsim/core/bitfield.hpp>

#include <cstdint>
#include <limits>

namespace core = iovsim::core;

namespace {
constexpr uint64_t kAll = ~uint64_t{0};
// The helpers are constexpr: spec formats use them in static_asserts.
static_assert(core::bit_mask(63, 0) == kAll);
static_assert(core::bits(0xABCD, 15, 8) == 0xAB);
static_assert(core::set_bits(0, 63, 63, 1) == uint64_t{1} << 63);
}  // namespace

TEST_CASE("bit_mask covers single bits, full width and bit 63", "[bitfield]") {
  CHECK(core::bit_mask(0, 0) == 0x1);
  CHECK(core::bit_mask(63, 63) == uint64_t{1} << 63);
  CHECK(core::bit_mask(63, 0) == kAll);
  CHECK(core::bit_mask(62, 0) == kAll >> 1);
  CHECK(core::bit_mask(63, 1) == kAll - 1);
  CHECK(core::bit_mask(7, 4) == 0xF0);
  CHECK(core::bit_mask(31, 0) == 0xFFFFFFFFull);
  CHECK(core::bit_mask(51, 12) == 0x000FFFFFFFFFF000ull);  // VT-d 4 KiB page frame
  for (unsigned n = 0; n < 64; ++n) {
    INFO("bit " << n);
    CHECK(core::bit_mask(n, n) == uint64_t{1} << n);
    CHECK(core::bit_mask(n, 0) == (n == 63 ? kAll : (uint64_t{1} << (n + 1)) - 1));
    CHECK(core::bit_mask(63, n) == kAll << n);
  }
}

TEST_CASE("bits extracts fields", "[bitfield]") {
  const uint64_t v = 0xFEDCBA9876543210ull;
  CHECK(core::bits(v, 63, 0) == v);
  CHECK(core::bits(v, 3, 0) == 0x0);
  CHECK(core::bits(v, 7, 4) == 0x1);
  CHECK(core::bits(v, 63, 60) == 0xF);
  CHECK(core::bits(v, 63, 63) == 1);
  CHECK(core::bits(v, 0, 0) == 0);
  CHECK(core::bits(v, 39, 8) == 0x98765432ull);
  CHECK(core::bits(v, 62, 1) == ((v >> 1) & (kAll >> 2)));
  CHECK(core::bit(v, 63));
  CHECK(core::bit(v, 4));
  CHECK_FALSE(core::bit(v, 0));
  CHECK_FALSE(core::bit(v, 3));
}

TEST_CASE("set_bits replaces a field and truncates the value", "[bitfield]") {
  CHECK(core::set_bits(0, 7, 4, 0xA) == 0xA0);
  CHECK(core::set_bits(0, 7, 4, 0x1F) == 0xF0);  // 5-bit value into a 4-bit field
  CHECK(core::set_bits(kAll, 7, 4, 0) == (kAll & ~uint64_t{0xF0}));
  CHECK(core::set_bits(0x1234, 63, 0, 0x5678) == 0x5678);
  CHECK(core::set_bits(0, 63, 63, 1) == 0x8000000000000000ull);
  CHECK(core::set_bits(0, 63, 63, 2) == 0);  // only bit 0 of x fits
  CHECK(core::set_bits(0, 0, 0, 1) == 1);
  CHECK(core::set_bits(0xFFFF, 11, 8, 0x3) == 0xF3FF);
  CHECK(core::set_bit(0, 63, true) == uint64_t{1} << 63);
  CHECK(core::set_bit(kAll, 0, false) == kAll - 1);
  CHECK(core::set_bit(0x10, 4, true) == 0x10);
  // set then get is the identity on the field and leaves the rest alone.
  const uint64_t base = 0x0123456789ABCDEFull;
  for (unsigned lo = 0; lo < 64; lo += 7) {
    for (unsigned hi = lo; hi < 64; hi += 5) {
      INFO("field " << hi << ".." << lo);
      const uint64_t x = 0x5555555555555555ull;
      const uint64_t r = core::set_bits(base, hi, lo, x);
      CHECK(core::bits(r, hi, lo) == (x & core::bit_mask(hi - lo, 0)));
      CHECK((r & ~core::bit_mask(hi, lo)) == (base & ~core::bit_mask(hi, lo)));
    }
  }
}

TEST_CASE("log2_floor, is_pow2, alignment and div_ceil", "[bitfield]") {
  CHECK(core::log2_floor(0) == 0);
  CHECK(core::log2_floor(1) == 0);
  CHECK(core::log2_floor(2) == 1);
  CHECK(core::log2_floor(3) == 1);
  CHECK(core::log2_floor(4096) == 12);
  CHECK(core::log2_floor(4097) == 12);
  CHECK(core::log2_floor(uint64_t{1} << 63) == 63);
  CHECK(core::log2_floor(kAll) == 63);

  CHECK_FALSE(core::is_pow2(0));
  CHECK(core::is_pow2(1));
  CHECK(core::is_pow2(uint64_t{1} << 63));
  CHECK_FALSE(core::is_pow2(6));
  CHECK_FALSE(core::is_pow2(kAll));

  CHECK(core::align_down(0x1FFF, 0x1000) == 0x1000);
  CHECK(core::align_down(0x1000, 0x1000) == 0x1000);
  CHECK(core::align_down(kAll, 0x1000) == 0xFFFFFFFFFFFFF000ull);
  CHECK(core::align_up(0x1001, 0x1000) == 0x2000);
  CHECK(core::align_up(0x1000, 0x1000) == 0x1000);
  CHECK(core::align_up(0, 0x1000) == 0);
  CHECK(core::align_up(1, 1) == 1);
  CHECK(core::align_up(0x200001, 0x200000) == 0x400000);

  CHECK(core::div_ceil(0, 4) == 0);
  CHECK(core::div_ceil(1, 4) == 1);
  CHECK(core::div_ceil(8, 4) == 2);
  CHECK(core::div_ceil(9, 4) == 3);
  CHECK(core::div_ceil(4096, 128) == 32);
  CHECK(core::div_ceil(4097, 128) == 33);
  CHECK(core::div_ceil(7, 1) == 7);
  // Near the top of the range the result must not wrap (a + b - 1 would overflow).
  CHECK(core::div_ceil(kAll, 2) == uint64_t{1} << 63);
  CHECK(core::div_ceil(kAll, kAll) == 1);
  CHECK(core::div_ceil(kAll - 1, kAll) == 1);
}

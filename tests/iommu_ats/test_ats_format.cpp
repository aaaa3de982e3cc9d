// ATS wire formats (core/ats_format.hpp) against hand-encoded values from vtd-pcie.md §3 and §6:
// the S-bit size encoding, translation completion entries and Invalidate Request bodies.
#include <catch2/catch.hpp>

#include <iovsim/core/ats_format.hpp>

using namespace iovsim::core::ats;

TEST_CASE("S = 0 is one 4 KiB page, S = 1 is 8 KiB shifted by the trailing ones of ADDR[63:12]",
          "[ats_format]") {
  Range r = decode_range(0x12345000, false);
  CHECK(r.base == 0x12345000);
  CHECK(r.shift == 12);
  // S = 1, bit 12 clear: 8 KiB.
  r = decode_range(0x12344000, true);
  CHECK(r.base == 0x12344000);
  CHECK(r.shift == 13);
  // Bits 19:12 set, bit 20 clear: 8 KiB << 8 = 2 MiB at 0x40000000.
  r = decode_range(0x400FF000, true);
  CHECK(r.base == 0x40000000);
  CHECK(r.shift == 21);
  // 1 GiB: bits 28:12 set (17 ones).
  r = decode_range(0x81FFFF000ull, true);
  CHECK(r.base == 0x800000000ull);
  CHECK(r.shift == 30);
  // ADDR[63:12] all ones (or all but bit 63): the whole address space.
  CHECK(decode_range(0xFFFFFFFFFFFFF000ull, true).shift == 64);
  CHECK(decode_range(0x7FFFFFFFFFFFF000ull, true).shift == 64);
  CHECK(decode_range(0x7FFFFFFFFFFFF000ull, true).base == 0);
  CHECK(decode_range(0x3FFFFFFFFFFFF000ull, true).shift == 63);
}

TEST_CASE("encode_range is the inverse of decode_range for every size", "[ats_format]") {
  CHECK(encode_range(0x12345678, 12).addr == 0x12345000);
  CHECK_FALSE(encode_range(0x12345678, 12).s);
  CHECK(encode_range(0x12345678, 13).addr == 0x12344000);
  CHECK(encode_range(0x40012345, 21).addr == 0x400FF000);
  CHECK(encode_range(0x40012345, 21).s);
  CHECK(encode_range(0, 64).addr == 0x7FFFFFFFFFFFF000ull);
  for (unsigned shift = 12; shift <= 64; ++shift) {
    const uint64_t addr = 0xDEADBEEFCAFEF00Dull;
    const EncodedRange e = encode_range(addr, shift);
    const Range r = decode_range(e.addr, e.s);
    INFO("shift " << shift);
    CHECK(r.shift == shift);
    CHECK(r.contains(addr));
    CHECK((e.addr & 0xfff) == 0);
  }
}

TEST_CASE("translation completion entry: address 63:12, S 11, N 10, U 2, W 1, R 0",
          "[ats_format]") {
  TranslationEntry e;
  e.translated_base = 0x200000;
  e.r = true;
  e.w = true;
  CHECK(e.encode() == 0x200003);
  e.w = false;
  CHECK(e.encode() == 0x200001);
  e.n = true;
  e.u = true;
  CHECK(e.encode() == (0x200000 | 1u << 10 | 1u << 2 | 1));
  // A 2 MiB superpage at 0x40000000, R and W.
  TranslationEntry big;
  big.translated_base = 0x40000000;
  big.shift = 21;
  big.r = big.w = true;
  CHECK(big.encode() == 0x400FF803ull);
  const TranslationEntry d = TranslationEntry::decode(0x400FF803ull);
  CHECK(d.translated_base == 0x40000000);
  CHECK(d.shift == 21);
  CHECK(d.r);
  CHECK(d.w);
  CHECK_FALSE(d.n);
  CHECK_FALSE(d.u);
  CHECK(TranslationEntry::decode(0).no_translation());
  CHECK(TranslationEntry::decode(0x1234567000ull | 1u << 10).no_translation());
}

TEST_CASE("invalidate request body: untranslated address 63:12, S 11, global 0", "[ats_format]") {
  InvalidateRequestBody b;
  b.range = Range{0x7000, 12};
  CHECK(b.encode() == 0x7000);
  b.range = Range{0x10000, 16};  // 64 KiB: bits 14:12 set, S
  CHECK(b.encode() == (0x17000 | 1u << 11));
  b.global = true;
  CHECK(b.encode() == (0x17000 | 1u << 11 | 1));
  const InvalidateRequestBody d = InvalidateRequestBody::decode(0x17801);
  CHECK(d.range.base == 0x10000);
  CHECK(d.range.shift == 16);
  CHECK(d.global);
  CHECK(completions_expected(1) == 1);
  CHECK(completions_expected(0) == 8);
  CHECK(completions_expected(7) == 7);
}

TEST_CASE("ranges overlap and contain by their bounds", "[ats_format]") {
  const Range page{0x201000, 12}, huge{0x200000, 21}, all{0, 64};
  CHECK(huge.overlaps(page));
  CHECK(page.overlaps(huge));
  CHECK_FALSE(page.overlaps(Range{0x202000, 12}));
  CHECK(all.overlaps(page));
  CHECK(all.last() == ~uint64_t{0});
  CHECK(huge.last() == 0x3FFFFF);
  CHECK(huge.contains(0x3FFFFF));
  CHECK_FALSE(huge.contains(0x400000));
}

// Sparse backing store: zero-fill, page-spanning copies, little-endian accessors, bounds, and that
// only touched pages cost host memory.
#include <catch2/catch.hpp>

#include <iovsim/core/sparse_store.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <vector>

namespace core = iovsim::core;

TEST_CASE("untouched memory reads as zero without allocating", "[sparse_store]") {
  core::SparseStore s(1 << 20);
  CHECK(s.size() == 1u << 20);
  CHECK(s.page_bytes() == 4096);
  std::vector<uint8_t> buf(10000, 0xAA);
  s.read(12345, buf.data(), buf.size());
  CHECK(std::all_of(buf.begin(), buf.end(), [](uint8_t b) { return b == 0; }));
  CHECK(s.read_u64(0) == 0);
  CHECK(s.read_u32((1 << 20) - 4) == 0);
  CHECK(s.pages_allocated() == 0);
}

TEST_CASE("writes and reads across page boundaries", "[sparse_store]") {
  core::SparseStore s(1 << 20);
  std::vector<uint8_t> in(10000);
  std::iota(in.begin(), in.end(), uint8_t{1});  // 1, 2, ..., wrapping at 256
  // [4000, 14000) touches pages 0 (4000..4095), 1, 2 and 3 (12288..13999).
  s.write(4000, in.data(), in.size());
  CHECK(s.pages_allocated() == 4);
  std::vector<uint8_t> out(in.size());
  s.read(4000, out.data(), out.size());
  CHECK(out == in);
  // Bytes around the written range are still zero; a read spanning the edge sees both.
  std::array<uint8_t, 4> edge{};
  s.read(3998, edge.data(), edge.size());
  CHECK(edge == std::array<uint8_t, 4>{0, 0, 1, 2});
  s.read(13998, edge.data(), edge.size());
  CHECK(edge == std::array<uint8_t, 4>{in[9998], in[9999], 0, 0});
  // A read of an untouched page between touched ones does not allocate.
  uint8_t b = 0xFF;
  s.read(100000, &b, 1);
  CHECK(b == 0);
  CHECK(s.pages_allocated() == 4);
}

TEST_CASE("u32/u64 accessors are little-endian", "[sparse_store]") {
  core::SparseStore s(1 << 16);
  s.write_u64(0x100, 0x0123456789ABCDEFull);
  std::array<uint8_t, 8> bytes{};
  s.read(0x100, bytes.data(), 8);
  CHECK(bytes == std::array<uint8_t, 8>{0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01});
  CHECK(s.read_u64(0x100) == 0x0123456789ABCDEFull);
  CHECK(s.read_u32(0x100) == 0x89ABCDEFu);
  CHECK(s.read_u32(0x104) == 0x01234567u);

  s.write_u32(0x200, 0xDEADBEEFu);
  s.read(0x200, bytes.data(), 4);
  CHECK(bytes[0] == 0xEF);
  CHECK(bytes[1] == 0xBE);
  CHECK(bytes[2] == 0xAD);
  CHECK(bytes[3] == 0xDE);
  CHECK(s.read_u64(0x200) == 0x00000000DEADBEEFull);

  // A u64 straddling a page boundary (4092..4099).
  s.write_u64(4092, 0x1122334455667788ull);
  CHECK(s.read_u32(4092) == 0x55667788u);
  CHECK(s.read_u32(4096) == 0x11223344u);
  CHECK(s.read_u64(4092) == 0x1122334455667788ull);
}

TEST_CASE("accesses outside the address space throw out_of_range", "[sparse_store]") {
  core::SparseStore s(8192);
  uint8_t buf[16] = {};
  CHECK_THROWS_AS(s.read(8192, buf, 1), std::out_of_range);
  CHECK_THROWS_AS(s.read(8190, buf, 4), std::out_of_range);
  CHECK_THROWS_AS(s.write(8185, buf, 8), std::out_of_range);
  CHECK_THROWS_AS(s.read_u64(8188), std::out_of_range);
  CHECK_THROWS_AS(s.write_u32(8190, 1), std::out_of_range);
  CHECK_THROWS_AS(s.page(8192), std::out_of_range);
  // Wrap-around of addr + len must not sneak past the check.
  CHECK_THROWS_AS(s.read(~uint64_t{0} - 2, buf, 8), std::out_of_range);
  CHECK_FALSE(s.contains(~uint64_t{0}, 2));
  CHECK(s.pages_allocated() == 0);  // a rejected write allocated nothing
  // The last bytes are fine.
  s.write_u64(8184, 42);
  CHECK(s.read_u64(8184) == 42);
  CHECK(s.contains(8192, 0));
  CHECK(s.contains(0, 8192));
  CHECK_FALSE(s.contains(1, 8192));
  CHECK_THROWS_AS(core::SparseStore(4096, 3000), std::invalid_argument);
}

TEST_CASE("a 1 TiB store costs only the touched pages", "[sparse_store]") {
  const uint64_t tib = uint64_t{1} << 40;
  core::SparseStore s(tib);
  s.write_u64(0, 1);
  s.write_u64(tib / 2, 2);
  s.write_u64(tib - 8, 3);
  s.write_u64(tib - 16, 4);  // same page as the previous write
  CHECK(s.pages_allocated() == 3);
  CHECK(s.read_u64(0) == 1);
  CHECK(s.read_u64(tib / 2) == 2);
  CHECK(s.read_u64(tib - 8) == 3);
  CHECK(s.read_u64(tib - 16) == 4);
  CHECK(s.read_u64(tib / 4) == 0);
  CHECK(s.pages_allocated() == 3);
}

TEST_CASE("page() hands out stable zeroed pages shared with read/write", "[sparse_store]") {
  core::SparseStore s(1 << 24, 1 << 12);
  uint8_t* p = s.page(0x5123);
  CHECK(s.page_base(0x5123) == 0x5000);
  CHECK(s.pages_allocated() == 1);
  CHECK(std::all_of(p, p + 4096, [](uint8_t b) { return b == 0; }));
  CHECK(s.page(0x5000) == p);
  CHECK(s.page(0x5FFF) == p);
  // Writes through the pointer are seen by reads, and vice versa (DMI).
  p[0x123] = 0x5A;
  CHECK(s.read_u32(0x5120) == 0x5A000000u);
  s.write_u32(0x5200, 0xCAFEF00Du);
  CHECK(p[0x200] == 0x0D);
  // Allocating many more pages (rehashing the index) does not move it.
  for (uint64_t a = 0; a < (1 << 24); a += 4096 * 7) s.write_u32(a, static_cast<uint32_t>(a));
  CHECK(s.page(0x5123) == p);
  CHECK(p[0x123] == 0x5A);
  // A larger granule.
  core::SparseStore big(1 << 30, 1 << 21);
  big.write_u64((1 << 21) - 4, ~uint64_t{0});  // spans the first two 2 MiB pages
  CHECK(big.pages_allocated() == 2);
  CHECK(big.page_base(0x3FFFFF) == 0x200000);
}

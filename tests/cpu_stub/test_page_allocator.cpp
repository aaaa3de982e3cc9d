// The driver's page allocator and HostAccess's little-endian helpers, over the fake machine.
#include <algorithm>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/cpu_stub/page_allocator.hpp>

#include "fake_machine.hpp"

using namespace iovsim::cpu_stub;
using iovsim::cpu_stub::test::FakeMachine;

TEST_CASE("HostAccess helpers are little-endian", "[cpu_stub][host_access]") {
  FakeMachine m;
  HostAccess& h = m;
  h.write_u64(0x1000, 0x0102030405060708ull);
  uint8_t b[8];
  m.mem.read(0x1000, b, 8);
  for (int i = 0; i < 8; ++i) CHECK(b[i] == 8 - i);
  CHECK(h.read_u64(0x1000) == 0x0102030405060708ull);
  CHECK(h.read_u32(0x1000) == 0x05060708u);
  CHECK(h.read_u32(0x1004) == 0x01020304u);
  h.write_u32(0x2002, 0xA1B2C3D4u);  // unaligned is fine: memory, not a register
  m.mem.read(0x2002, b, 4);
  CHECK(b[0] == 0xD4);
  CHECK(b[3] == 0xA1);
  CHECK(h.read_u32(0x2002) == 0xA1B2C3D4u);
}

TEST_CASE("PageAllocator hands out consecutive zeroed pages", "[cpu_stub][page_allocator]") {
  FakeMachine m;
  const uint64_t base = 0x40000000, size = 4 * 4096;
  // Stale data in the region: allocation must zero it.
  const std::vector<uint8_t> junk(size, 0xA5);
  m.mem.write(base, junk.data(), junk.size());
  PageAllocator pages(m, base, size);
  CHECK(pages.pages_used() == 0);
  for (uint64_t i = 0; i < 4; ++i) {
    const uint64_t p = pages.alloc_page();
    CHECK(p == base + i * 4096);
    CHECK(pages.pages_used() == i + 1);
    std::vector<uint8_t> got(4096, 0xFF);
    m.mem.read(p, got.data(), got.size());
    CHECK(std::all_of(got.begin(), got.end(), [](uint8_t x) { return x == 0; }));
  }
  CHECK_THROWS_AS(pages.alloc_page(), std::runtime_error);
  CHECK(pages.pages_used() == 4);
  // The byte after the region is untouched.
  uint8_t after = 0;
  m.mem.read(base + size, &after, 1);
  CHECK(after == 0);
}

TEST_CASE("PageAllocator rejects a misaligned region", "[cpu_stub][page_allocator]") {
  FakeMachine m;
  CHECK_THROWS_AS(PageAllocator(m, 0x1800, 0x2000), std::invalid_argument);
  CHECK_THROWS_AS(PageAllocator(m, 0x1000, 0x1800), std::invalid_argument);
  PageAllocator empty(m, 0x1000, 0);
  CHECK_THROWS_AS(empty.alloc_page(), std::runtime_error);
}

// The IOMMU driver's device-TLB (ATS) invalidation against the fake remapping unit: the type 3
// descriptor decoded bit by bit from ../shared/reference/vtd-pcie.md §3 (the size encoding as
// Linux's qi_flush_dev_iotlb writes it), unmap's and detach's device-TLB flushes for TT = 1
// devices, and the refusals.
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/cpu_stub/iommu_driver.hpp>
#include <iovsim/cpu_stub/page_allocator.hpp>

#include "fake_machine.hpp"

using namespace iovsim::cpu_stub;
using namespace iovsim::cpu_stub::test;

namespace {

constexpr uint64_t kPool = 0x10000000, kPoolSize = 4 << 20;

uint64_t field(uint64_t v, unsigned hi, unsigned lo) {
  return (v >> lo) & ((hi - lo == 63) ? ~0ull : ((1ull << (hi - lo + 1)) - 1));
}

struct Rig {
  FakeMachine m;
  PageAllocator pages;
  IommuDriver drv;
  explicit Rig(IommuDriverOptions o = {}, bool dt = true)
      : pages(m, kPool, kPoolSize), drv(m, FakeMachine::kMmioBase, pages, o) {
    m.ecap = make_ecap(/*qi=*/true, /*pt=*/true, dt);
    drv.bring_up();
    m.descriptors.clear();
  }
  // The non-wait descriptors, after checking every other one is a wait.
  std::vector<Desc> invalidations() {
    std::vector<Desc> out;
    REQUIRE(m.descriptors.size() % 2 == 0);
    for (std::size_t i = 0; i < m.descriptors.size(); i += 2) {
      CHECK(field(m.descriptors[i + 1].lo, 3, 0) == 5);
      out.push_back(m.descriptors[i]);
    }
    return out;
  }
};

// A device-TLB descriptor: type 3, SID, PFSID split over lo 15:12 and 63:52, MIP, ADDR | S.
void check_devtlb(const Desc& d, uint16_t sid, uint16_t pfsid, unsigned mip, uint64_t hi) {
  INFO("lo 0x" << std::hex << d.lo << " hi 0x" << d.hi);
  CHECK(field(d.lo, 3, 0) == 3);
  CHECK(field(d.lo, 11, 4) == 0);
  CHECK(field(d.lo, 15, 12) == (pfsid & 0xf));
  CHECK(field(d.lo, 20, 16) == mip);
  CHECK(field(d.lo, 31, 21) == 0);
  CHECK(field(d.lo, 47, 32) == sid);
  CHECK(field(d.lo, 51, 48) == 0);
  CHECK(field(d.lo, 63, 52) == pfsid >> 4);
  CHECK(field(d.hi, 11, 1) == 0);
  CHECK(d.hi == hi);
}

}  // namespace

TEST_CASE("invalidate_device_tlb: a type 3 descriptor and a wait, the size in ADDR and S",
          "[cpu_stub][iommu_driver][ats]") {
  Rig r;
  r.drv.invalidate_device_tlb(0x0310, 0x40000, 0);  // one page: S = 0
  r.drv.invalidate_device_tlb(0x0310, 0x40000, 2);  // 4 pages: bit 12 set, S = 1 (16 KiB)
  r.drv.invalidate_device_tlb(0x0311, 0x200000, 9, /*pfsid=*/0x0310, /*mip=*/5);  // 2 MiB
  r.drv.invalidate_device_tlb(0x0310, 0, 52);  // the whole address space: ADDR 62:12 set
  const auto d = r.invalidations();
  REQUIRE(d.size() == 4);
  check_devtlb(d[0], 0x0310, 0x0310, 0, 0x40000);
  check_devtlb(d[1], 0x0310, 0x0310, 0, 0x41001);
  check_devtlb(d[2], 0x0311, 0x0310, 5, 0x2FF001);
  check_devtlb(d[3], 0x0310, 0x0310, 0, 0x7FFFFFFFFFFFF001ull);
  CHECK(r.drv.invalidations_issued() >= 4);
}

TEST_CASE("invalidate_device_tlb refusals", "[cpu_stub][iommu_driver][ats]") {
  Rig r;
  CHECK_THROWS_AS(r.drv.invalidate_device_tlb(1, 0x1000, 1), std::invalid_argument);  // unaligned
  CHECK_THROWS_AS(r.drv.invalidate_device_tlb(1, 0, 53), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.invalidate_device_tlb(1, 0x1000, 52), std::invalid_argument);
  CHECK_THROWS_AS(r.drv.invalidate_device_tlb(1, 0, 0, std::nullopt, 32), std::invalid_argument);
  CHECK(r.m.descriptors.empty());
  Rig no_dt({}, /*dt=*/false);
  CHECK_THROWS_AS(no_dt.drv.invalidate_device_tlb(1, 0, 0), std::invalid_argument);
  // Register-based invalidation: VT-d has no register for it, and a TT = 1 context is refused.
  IommuDriverOptions reg;
  reg.invalidation = InvalidationMode::kRegister;
  Rig regs(reg);
  CHECK_THROWS_AS(regs.drv.invalidate_device_tlb(1, 0, 0), std::logic_error);
  CHECK_THROWS_AS(regs.drv.attach_device(0x0100, 1, 2, /*tt=*/1), std::invalid_argument);
}

TEST_CASE("unmap flushes the device TLBs of the domain's TT = 1 devices after the IOTLB",
          "[cpu_stub][iommu_driver][ats]") {
  Rig r;
  r.drv.attach_device(0x0100, 1, 2, /*tt=*/1);
  r.drv.attach_device(0x0200, 1, 2, /*tt=*/0);  // same domain, no ATS
  r.drv.attach_device(0x0300, 2, 2, /*tt=*/1);  // ATS, another domain
  r.drv.map(1, 0x10000, 0x80000000, 8 * 4096, 4096);
  r.m.descriptors.clear();
  r.drv.unmap(1, 0x11000, 0x2000);
  const auto d = r.invalidations();
  // Two page-selective IOTLB invalidations (0x11000, 0x12000), then one device-TLB invalidation
  // for 01:00.0 covering [0x11000, 0x13000): the 16 KiB block at 0x10000.
  REQUIRE(d.size() == 3);
  CHECK(field(d[0].lo, 3, 0) == 2);
  CHECK(field(d[1].lo, 3, 0) == 2);
  check_devtlb(d[2], 0x0100, 0x0100, 0, 0x11001);
}

TEST_CASE("detaching a TT = 1 device flushes its whole device TLB",
          "[cpu_stub][iommu_driver][ats]") {
  Rig r;
  r.drv.attach_device(0x0100, 1, 2, /*tt=*/1);
  r.m.descriptors.clear();
  r.drv.detach_device(0x0100);
  const auto d = r.invalidations();
  REQUIRE(d.size() == 3);  // context-cache (device), IOTLB (domain), device TLB
  CHECK(field(d[0].lo, 3, 0) == 1);
  CHECK(field(d[1].lo, 3, 0) == 2);
  check_devtlb(d[2], 0x0100, 0x0100, 0, 0x7FFFFFFFFFFFF001ull);
}

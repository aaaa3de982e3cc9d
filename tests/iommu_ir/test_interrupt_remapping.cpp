// The interrupt-remapping core against IRTEs and MSIs hand-encoded from reference/vtd-pcie.md §4
// (literal bit patterns, never built by code under test): the KVM example, SHV and handle[15],
// every interrupt-remapping fault 0x20-0x26 with FPD, source-id verification (SQ, bus range),
// xAPIC and x2APIC destinations, posted entries, the interrupt entry cache and exact timing.
#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include <iovsim/core/params.hpp>
#include <iovsim/core/sparse_store.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/iommu/interrupt_remapping.hpp>

namespace {

using iovsim::core::SparseStore;
using iovsim::core::StatGroup;
using iovsim::core::StatMap;
using namespace iovsim::iommu;
using FR = vtd::FaultReason;

constexpr uint64_t kMemBytes = 0x4000'0000;  // 1 GiB: anything at or above reads as an error
constexpr uint64_t kLatencyPs = 50'000;      // 50 ns per read
constexpr uint64_t kCyclePs = 1'000;         // 1 GHz IOMMU
constexpr uint64_t kStart = 1'000'000;
constexpr uint64_t kDecodePs = 2 * kCyclePs;  // decode_cycles = 2
constexpr uint64_t kHitPs = 2 * kCyclePs;     // iec_hit_cycles = 2

// Host memory with a fixed latency per read; reads outside [0, size) fail.
class TestMemory : public WalkMemory {
 public:
  explicit TestMemory(uint64_t size) : store_(size) {}
  bool read(uint64_t hpa, void* dst, unsigned len, uint64_t* t_ps) override {
    ++reads;
    *t_ps += kLatencyPs;
    if (!store_.contains(hpa, len)) return false;
    store_.read(hpa, dst, len);
    return true;
  }
  void put128(uint64_t addr, uint64_t lo, uint64_t hi) {
    store_.write_u64(addr, lo);
    store_.write_u64(addr + 8, hi);
  }
  unsigned reads = 0;

 private:
  SparseStore store_;
};

// IRTA: table at 0x100000, S = 15 (65536 entries); with EIME (bit 11) for x2APIC.
constexpr uint64_t kIrta = 0x0010'000F;
constexpr uint64_t kIrtaX2apic = 0x0010'080F;
constexpr uint64_t kIrt = 0x10'0000;
constexpr uint64_t irte_addr(uint64_t index) {
  return kIrt + 16 * index;
}

constexpr uint16_t kDev = 0x0108;  // bus 1, dev 1, fn 0

// Remappable-format MSI addresses (0xFEE in 31:20, handle[14:0] at 19:5, IF 4, SHV 3, handle[15]
// at 2), written out as literals.
constexpr uint64_t kMsiIdx2 = 0xFEE0'0050;  // 0xFEE00000 | 2 << 5 | 1 << 4 (the KVM example)
constexpr uint64_t kMsiIdx3 = 0xFEE0'0070;
constexpr uint64_t kMsiIdx4 = 0xFEE0'0090;
constexpr uint64_t kMsiIdx5 = 0xFEE0'00B0;
constexpr uint64_t kMsiIdx6 = 0xFEE0'00D0;
constexpr uint64_t kMsiIdx7 = 0xFEE0'00F0;
constexpr uint64_t kMsiIdx8 = 0xFEE0'0110;
constexpr uint64_t kMsiIdx9 = 0xFEE0'0130;
constexpr uint64_t kMsiIdx10 = 0xFEE0'0150;
constexpr uint64_t kMsiIdx11 = 0xFEE0'0170;
constexpr uint64_t kMsiIdx12 = 0xFEE0'0190;
constexpr uint64_t kMsiIdx13 = 0xFEE0'01B0;
constexpr uint64_t kMsiIdx14 = 0xFEE0'01D0;
constexpr uint64_t kMsiIdx15 = 0xFEE0'01F0;
constexpr uint64_t kMsiIdx16 = 0xFEE0'0210;
constexpr uint64_t kMsiIdx17 = 0xFEE0'0230;
constexpr uint64_t kMsiShv20 = 0xFEE0'0418;     // handle 0x20, SHV: index = 0x20 + data[15:0]
constexpr uint64_t kMsiHandle15 = 0xFEE0'0034;  // handle[14:0] = 1, handle[15] (bit 2): 0x8001
constexpr uint64_t kMsiShvFfff = 0xFEEF'FFFC;   // handle 0xFFFF with SHV

struct Unit {
  TestMemory mem{kMemBytes};
  StatGroup stats{"iommu"};
  IrConfig cfg;
  IommuCaps caps;
  std::unique_ptr<InterruptRemapper> ir;

  Unit() {
    cfg.cycle_ps = kCyclePs;
    // Index 2, the KVM example: P, FPD, physical, edge, fixed, vector 0xEE, DST 0; SVT 1, SQ 0,
    // SID = the device.
    mem.put128(irte_addr(2), 0x0000'0000'00EE'0003, 0x0000'0000'0004'0108);
    // Index 3: P, DM logical, RH, TM level, DLM 1 (lowest priority), vector 0x31, DST[15:8] 0x5A.
    mem.put128(irte_addr(3), 0x0000'5A00'0031'003D, 0);
    // Index 4: xAPIC with DST bit 0 set (entry bit 32): reserved in xAPIC mode.
    mem.put128(irte_addr(4), 0x0000'0001'0040'0001, 0);
    // Index 5: all zero (not present). Index 6: not present with FPD.
    mem.put128(irte_addr(6), 0x0000'0000'0000'0002, 0);
    // Reserved bits: 7 bit 12; 8 bit 84; 9 bit 24; 10 SVT = 3; 11 bit 12 with FPD.
    mem.put128(irte_addr(7), 0x0000'0000'0000'1001, 0);
    mem.put128(irte_addr(8), 0x0000'0000'0000'0001, 0x0000'0000'0010'0000);
    mem.put128(irte_addr(9), 0x0000'0000'0100'0001, 0);
    mem.put128(irte_addr(10), 0x0000'0000'0000'0001, 0x0000'0000'000C'0000);
    mem.put128(irte_addr(11), 0x0000'0000'0000'1003, 0);
    // Source-id verification, vector 0x60, FPD clear. SVT 1 with SID 0x0108 and SQ 1, 2, 3.
    mem.put128(irte_addr(12), 0x0000'0000'0060'0001, 0x0000'0000'0005'0108);
    mem.put128(irte_addr(13), 0x0000'0000'0060'0001, 0x0000'0000'0006'0108);
    mem.put128(irte_addr(14), 0x0000'0000'0060'0001, 0x0000'0000'0007'0108);
    // Index 15: SVT 2 (bus range), SID 0x0204: start bus 2 in SID[15:8], end bus 4 in SID[7:0].
    mem.put128(irte_addr(15), 0x0000'0000'0060'0001, 0x0000'0000'0008'0204);
    // Index 16: DST 0x00012345 (a 32-bit x2APIC id), vector 0x70.
    mem.put128(irte_addr(16), 0x0001'2345'0070'0001, 0);
    // Index 17: posted (IM = 1), vector 0x80, SVT 0.
    mem.put128(irte_addr(17), 0x0000'0000'0080'8001, 0);
    // Index 0x25 (handle 0x20 + subhandle 5): vector 0x51 to APIC 1.
    mem.put128(irte_addr(0x25), 0x0000'0100'0051'0001, 0);
    // Index 0x8001 (handle[15] set): vector 0x81 to APIC 2.
    mem.put128(irte_addr(0x8001), 0x0000'0200'0081'0001, 0);
  }

  InterruptRemapper& make(uint64_t irta = kIrta) {
    ir.reset();
    ir = std::make_unique<InterruptRemapper>(cfg, caps, mem, &stats);
    ir->set_irt(irta);
    ir->set_enabled(true);
    return *ir;
  }
  RemappedInterrupt send(uint64_t address, uint32_t data = 0, uint16_t sid = kDev,
                         uint64_t start = kStart) {
    if (!ir) make();
    InterruptRequest req;
    req.sid = sid;
    req.address = address;
    req.data = data;
    return ir->remap(req, start);
  }
  uint64_t stat(const std::string& name) const {
    StatMap m;
    stats.collect(m);
    auto it = m.find(name);
    REQUIRE(it != m.end());
    return std::get<uint64_t>(it->second);
  }
};

void require_fault(const RemappedInterrupt& r, FR reason, uint16_t index, bool recorded) {
  CHECK(r.fault == reason);
  CHECK(r.index == index);
  CHECK(r.record_fault == recorded);
  CHECK_FALSE(r.posted);
  CHECK_FALSE(r.compatibility);
}

}  // namespace

TEST_CASE("the KVM example delivers vector 0xEE to APIC 0 with exact miss timing", "[remap]") {
  Unit u;
  const RemappedInterrupt r = u.send(kMsiIdx2, 0);
  CHECK(r.fault == FR::kNone);
  CHECK(r.index == 2);
  CHECK_FALSE(r.compatibility);
  CHECK_FALSE(r.posted);
  CHECK(r.vector == 0xEE);
  CHECK(r.destination == 0);
  CHECK_FALSE(r.dest_logical);
  CHECK_FALSE(r.redirection_hint);
  CHECK_FALSE(r.level);
  CHECK(r.delivery_mode == 0);
  CHECK_FALSE(r.iec_hit);
  CHECK(r.mem_reads == 1);
  CHECK(r.done_ps == kStart + kDecodePs + kLatencyPs);
  CHECK(u.mem.reads == 1);
  CHECK(u.stat("iommu.ir.remapped") == 1);
  CHECK(u.stat("iommu.ir.irte_reads") == 1);
  CHECK(u.stat("iommu.ir.iec.misses") == 1);
  CHECK(u.stat("iommu.ir.iec.hits") == 0);
  CHECK(u.stat("iommu.ir.blocked") == 0);
}

TEST_CASE("an IEC hit costs decode plus hit cycles and reads nothing", "[iec][timing]") {
  Unit u;
  u.send(kMsiIdx2);
  const RemappedInterrupt r = u.send(kMsiIdx2, 0, kDev, 5'000'000);
  CHECK(r.fault == FR::kNone);
  CHECK(r.vector == 0xEE);
  CHECK(r.iec_hit);
  CHECK(r.mem_reads == 0);
  CHECK(r.done_ps == 5'000'000 + kDecodePs + kHitPs);
  CHECK(u.mem.reads == 1);
  CHECK(u.stat("iommu.ir.iec.hits") == 1);
  CHECK(u.stat("iommu.ir.iec.misses") == 1);
  CHECK(u.stat("iommu.ir.irte_reads") == 1);
  CHECK(u.stat("iommu.ir.remapped") == 2);
}

TEST_CASE("IRTE fields: xAPIC destination in DST[15:8], DM, RH, TM, DLM", "[remap]") {
  Unit u;
  const RemappedInterrupt r = u.send(kMsiIdx3);
  CHECK(r.fault == FR::kNone);
  CHECK(r.vector == 0x31);
  CHECK(r.destination == 0x5A);
  CHECK(r.dest_logical);
  CHECK(r.redirection_hint);
  CHECK(r.level);
  CHECK(r.delivery_mode == 1);
}

TEST_CASE("SHV adds the data subhandle, and handle[15] comes from address bit 2", "[remap]") {
  Unit u;
  const RemappedInterrupt shv = u.send(kMsiShv20, 0x0000'0005);
  CHECK(shv.fault == FR::kNone);
  CHECK(shv.index == 0x25);
  CHECK(shv.vector == 0x51);
  CHECK(shv.destination == 1);
  // Without SHV the data is ignored: handle 0x20 alone selects entry 0x20 (not present).
  const RemappedInterrupt no_shv = u.send(0xFEE0'0410, 0x0000'0005);
  require_fault(no_shv, FR::kIrteNotPresent, 0x20, true);
  const RemappedInterrupt h15 = u.send(kMsiHandle15);
  CHECK(h15.fault == FR::kNone);
  CHECK(h15.index == 0x8001);
  CHECK(h15.vector == 0x81);
  CHECK(h15.destination == 2);
}

TEST_CASE("fault 0x20: reserved fields in the interrupt request", "[fault]") {
  Unit u;
  // High 32 address bits set.
  require_fault(u.send(0x1'FEE0'0050), FR::kIrReservedRequest, 2, true);
  // SHV with data[31:16] non-zero.
  require_fault(u.send(kMsiShv20, 0x0001'0005), FR::kIrReservedRequest, 0x25, true);
  // Not an interrupt address (31:20 != 0xFEE).
  const RemappedInterrupt r = u.send(0xFED0'0050);
  require_fault(r, FR::kIrReservedRequest, 2, true);
  CHECK(r.mem_reads == 0);
  CHECK(r.done_ps == kStart + kDecodePs);
  CHECK(u.mem.reads == 0);
  CHECK(u.stat("iommu.ir.blocked") == 3);
}

TEST_CASE("fault 0x21: interrupt index beyond the table", "[fault]") {
  Unit u;
  u.make(0x0010'0007);                              // S = 7: 256 entries
  const RemappedInterrupt r = u.send(0xFEE0'2010);  // handle 256
  require_fault(r, FR::kIrIndexBeyondTable, 256, true);
  CHECK(r.mem_reads == 0);
  CHECK(r.done_ps == kStart + kDecodePs);
  CHECK(u.send(0xFEE0'1FF0).fault == FR::kIrteNotPresent);  // handle 255: in the table
  // S = 15: handle 0xFFFF + subhandle 1 = 0x10000 is beyond 65536 entries (FI keeps 16 bits).
  u.make(kIrta);
  require_fault(u.send(kMsiShvFfff, 1), FR::kIrIndexBeyondTable, 0, true);
  CHECK(u.mem.reads == 1);
}

TEST_CASE("fault 0x22: IRTE not present, and FPD in a not-present entry suppresses recording",
          "[fault][fpd]") {
  Unit u;
  const RemappedInterrupt r = u.send(kMsiIdx5);
  require_fault(r, FR::kIrteNotPresent, 5, true);
  CHECK(r.mem_reads == 1);
  CHECK(r.done_ps == kStart + kDecodePs + kLatencyPs);
  require_fault(u.send(kMsiIdx6), FR::kIrteNotPresent, 6, false);
  CHECK(u.stat("iommu.ir.blocked") == 2);
}

TEST_CASE("fault 0x23: error reading the IRT is always recorded", "[fault]") {
  Unit u;
  u.make(0x4000'000F);  // table outside memory
  const RemappedInterrupt r = u.send(kMsiIdx2);
  require_fault(r, FR::kIrtReadError, 2, true);
  CHECK(r.mem_reads == 1);
  CHECK(r.done_ps == kStart + kDecodePs + kLatencyPs);
  // Not cached: the next one reads again.
  require_fault(u.send(kMsiIdx2), FR::kIrtReadError, 2, true);
  CHECK(u.stat("iommu.ir.irte_reads") == 2);
  CHECK(u.stat("iommu.ir.iec.hits") == 0);
}

TEST_CASE("fault 0x24: reserved bits in a present IRTE", "[fault][fpd]") {
  Unit u;
  require_fault(u.send(kMsiIdx7), FR::kIrteReserved, 7, true);     // bit 12
  require_fault(u.send(kMsiIdx8), FR::kIrteReserved, 8, true);     // bit 84
  require_fault(u.send(kMsiIdx9), FR::kIrteReserved, 9, true);     // bit 24
  require_fault(u.send(kMsiIdx10), FR::kIrteReserved, 10, true);   // SVT = 3
  require_fault(u.send(kMsiIdx11), FR::kIrteReserved, 11, false);  // bit 12, FPD
  require_fault(u.send(kMsiIdx4), FR::kIrteReserved, 4, true);     // xAPIC: DST bit 0
  require_fault(u.send(kMsiIdx16), FR::kIrteReserved, 16, true);   // xAPIC: DST 0x00012345
  CHECK(u.stat("iommu.ir.blocked") == 7);
  CHECK(u.stat("iommu.ir.remapped") == 0);
}

TEST_CASE("fault 0x25: compatibility format blocked unless CFIS", "[fault][compat]") {
  Unit u;
  // Compatibility format: destination 3 at 19:12, RH 3, DM 2; data vector 0x41, delivery mode 1,
  // level 14, trigger 15.
  constexpr uint64_t kCompatAddr = 0xFEE0'300C;
  constexpr uint32_t kCompatData = 0x0000'C141;
  const RemappedInterrupt r = u.send(kCompatAddr, kCompatData);
  CHECK(r.fault == FR::kIrCompatBlocked);
  CHECK(r.record_fault);
  CHECK_FALSE(r.compatibility);
  CHECK(r.mem_reads == 0);
  CHECK(r.done_ps == kStart + kDecodePs);
  u.ir->set_cfi(true);
  const RemappedInterrupt p = u.send(kCompatAddr, kCompatData);
  CHECK(p.fault == FR::kNone);
  CHECK(p.compatibility);
  CHECK(p.vector == 0x41);
  CHECK(p.destination == 3);
  CHECK(p.dest_logical);
  CHECK(p.redirection_hint);
  CHECK(p.level);
  CHECK(p.delivery_mode == 1);
  CHECK(p.mem_reads == 0);
  CHECK(p.done_ps == kStart + kDecodePs);
  CHECK(u.stat("iommu.ir.blocked") == 1);
  CHECK(u.stat("iommu.ir.compatibility_passed") == 1);
  CHECK(u.stat("iommu.ir.remapped") == 0);
  // Remappable messages are still remapped with CFIS.
  CHECK(u.send(kMsiIdx2).vector == 0xEE);
}

TEST_CASE("IR disabled: the message comes back unchanged in compatibility format", "[compat]") {
  Unit u;
  u.make();
  u.ir->set_enabled(false);
  CHECK_FALSE(u.ir->enabled());
  const RemappedInterrupt r = u.send(0xFEE0'5000, 0x0000'0033);
  CHECK(r.fault == FR::kNone);
  CHECK(r.compatibility);
  CHECK(r.vector == 0x33);
  CHECK(r.destination == 5);
  CHECK(r.done_ps == kStart);
  CHECK(u.mem.reads == 0);
  CHECK(u.stat("iommu.ir.compatibility_passed") == 0);
  u.ir->set_enabled(true);
  CHECK(u.ir->enabled());
  CHECK(u.send(0xFEE0'5000, 0x0000'0033).fault == FR::kIrCompatBlocked);
}

TEST_CASE(
    "fault 0x26: SVT 1 with SQ 0 compares the whole requester id, and FPD suppresses recording",
    "[fault][sid]") {
  Unit u;
  CHECK(u.send(kMsiIdx2, 0, 0x0108).fault == FR::kNone);
  // The KVM entry has FPD set: the fault blocks but is not recorded.
  require_fault(u.send(kMsiIdx2, 0, 0x010C), FR::kIrSidVerifyFailed, 2, false);
  require_fault(u.send(kMsiIdx2, 0, 0x0109), FR::kIrSidVerifyFailed, 2, false);
  require_fault(u.send(kMsiIdx2, 0, 0x0208), FR::kIrSidVerifyFailed, 2, false);
}

TEST_CASE("SQ 1, 2, 3 ignore requester-id bit 2, bits 2:1, bits 2:0", "[sid]") {
  Unit u;
  // SQ 1 (index 12).
  for (uint16_t sid : {0x0108, 0x010C}) CHECK(u.send(kMsiIdx12, 0, sid).fault == FR::kNone);
  for (uint16_t sid : {0x010A, 0x0109, 0x0208, 0x0100})
    require_fault(u.send(kMsiIdx12, 0, sid), FR::kIrSidVerifyFailed, 12, true);
  // SQ 2 (index 13).
  for (uint16_t sid : {0x0108, 0x010A, 0x010C, 0x010E})
    CHECK(u.send(kMsiIdx13, 0, sid).fault == FR::kNone);
  for (uint16_t sid : {0x0109, 0x010F, 0x0110, 0x0008})
    require_fault(u.send(kMsiIdx13, 0, sid), FR::kIrSidVerifyFailed, 13, true);
  // SQ 3 (index 14).
  for (uint16_t sid : {0x0108, 0x0109, 0x010B, 0x010F})
    CHECK(u.send(kMsiIdx14, 0, sid).fault == FR::kNone);
  for (uint16_t sid : {0x0110, 0x0100, 0x0107, 0x0008})
    require_fault(u.send(kMsiIdx14, 0, sid), FR::kIrSidVerifyFailed, 14, true);
  CHECK(u.send(kMsiIdx14, 0, 0x010F).vector == 0x60);
}

TEST_CASE("SVT 2: requester bus within [SID[15:8], SID[7:0]] (Linux order)", "[sid]") {
  Unit u;
  for (uint16_t sid : {0x0200, 0x0300, 0x04FF, 0x0408})
    CHECK(u.send(kMsiIdx15, 0, sid).fault == FR::kNone);
  for (uint16_t sid : {0x0100, 0x01FF, 0x0500, 0x0004})
    require_fault(u.send(kMsiIdx15, 0, sid), FR::kIrSidVerifyFailed, 15, true);
}

TEST_CASE("x2APIC (IRTA.EIME with ECAP.EIM): all 32 DST bits are the destination", "[remap]") {
  Unit u;
  u.caps.eim = true;
  u.make(kIrtaX2apic);
  const RemappedInterrupt r = u.send(kMsiIdx16);
  CHECK(r.fault == FR::kNone);
  CHECK(r.vector == 0x70);
  CHECK(r.destination == 0x0001'2345);
  // DST bits other than 15:8 are not reserved in x2APIC mode.
  const RemappedInterrupt r4 = u.send(kMsiIdx4);
  CHECK(r4.fault == FR::kNone);
  CHECK(r4.destination == 0x0000'0001);
  CHECK(u.send(kMsiIdx2).destination == 0);
}

TEST_CASE("IM = 1: posted interrupts are recognised and dropped, not faulted", "[posted]") {
  Unit u;
  const RemappedInterrupt r = u.send(kMsiIdx17);
  CHECK(r.fault == FR::kNone);
  CHECK(r.posted);
  CHECK(r.index == 17);
  CHECK(r.done_ps == kStart + kDecodePs + kLatencyPs);
  CHECK(u.stat("iommu.ir.posted_dropped") == 1);
  CHECK(u.stat("iommu.ir.remapped") == 0);
  CHECK(u.stat("iommu.ir.blocked") == 0);
  // Cached like any usable entry.
  CHECK(u.send(kMsiIdx17).iec_hit);
  CHECK(u.stat("iommu.ir.posted_dropped") == 2);
}

TEST_CASE("IEC: a stale IRTE is used until invalidate_index or invalidate_all", "[iec]") {
  Unit u;
  CHECK(u.send(kMsiIdx2).vector == 0xEE);
  // Software rewrites index 2 (vector 0xEF) without invalidating.
  u.mem.put128(irte_addr(2), 0x0000'0000'00EF'0003, 0x0000'0000'0004'0108);
  const RemappedInterrupt stale = u.send(kMsiIdx2);
  CHECK(stale.iec_hit);
  CHECK(stale.vector == 0xEE);
  u.ir->invalidate_index(3, 0);  // another index: no effect
  CHECK(u.send(kMsiIdx2).vector == 0xEE);
  u.ir->invalidate_index(2, 0);
  const RemappedInterrupt fresh = u.send(kMsiIdx2);
  CHECK_FALSE(fresh.iec_hit);
  CHECK(fresh.vector == 0xEF);
  // And again through a global invalidation.
  u.mem.put128(irte_addr(2), 0x0000'0000'00F0'0003, 0x0000'0000'0004'0108);
  CHECK(u.send(kMsiIdx2).vector == 0xEF);
  u.ir->invalidate_all();
  CHECK(u.send(kMsiIdx2).vector == 0xF0);
  CHECK(u.stat("iommu.ir.iec.hits") == 3);
  CHECK(u.stat("iommu.ir.iec.misses") == 3);
  CHECK(u.stat("iommu.ir.irte_reads") == 3);
}

TEST_CASE("IEC: index-selective invalidation with IM removes only the aligned block", "[iec]") {
  Unit u;
  const uint64_t msis[] = {kMsiIdx2, kMsiIdx3, kMsiIdx12, kMsiIdx13, kMsiIdx14, kMsiIdx15};
  for (uint64_t a : msis) CHECK_FALSE(u.send(a).iec_hit);
  for (uint64_t a : msis) CHECK(u.send(a).iec_hit);
  CHECK(u.stat("iommu.ir.iec.misses") == 6);
  CHECK(u.stat("iommu.ir.iec.hits") == 6);
  u.ir->invalidate_index(13, 1);  // block [12, 13]
  CHECK_FALSE(u.send(kMsiIdx12).iec_hit);
  CHECK_FALSE(u.send(kMsiIdx13).iec_hit);
  CHECK(u.send(kMsiIdx14).iec_hit);
  CHECK(u.send(kMsiIdx15).iec_hit);
  CHECK(u.send(kMsiIdx2).iec_hit);
  CHECK(u.send(kMsiIdx3).iec_hit);
  u.ir->invalidate_index(14, 2);  // block [12, 15]
  for (uint64_t a : {kMsiIdx12, kMsiIdx13, kMsiIdx14, kMsiIdx15}) CHECK_FALSE(u.send(a).iec_hit);
  CHECK(u.send(kMsiIdx2).iec_hit);
  CHECK(u.send(kMsiIdx3).iec_hit);
  u.ir->invalidate_index(0, 2);  // block [0, 3]
  CHECK_FALSE(u.send(kMsiIdx2).iec_hit);
  CHECK_FALSE(u.send(kMsiIdx3).iec_hit);
  CHECK(u.send(kMsiIdx12).iec_hit);
  u.ir->invalidate_index(0x1234, 16);  // IM >= 16: everything
  CHECK_FALSE(u.send(kMsiIdx12).iec_hit);
  CHECK(u.stat("iommu.ir.iec.misses") == 6 + 2 + 4 + 2 + 1);
  CHECK(u.stat("iommu.ir.iec.hits") == 6 + 4 + 2 + 1);
  CHECK(u.stat("iommu.ir.irte_reads") == 15);
}

TEST_CASE("IEC: faulting entries are cached only under CAP.CM, and SID checks apply on hits",
          "[iec][cm]") {
  SECTION("without CM, not-present and reserved entries are read every time") {
    Unit u;
    u.send(kMsiIdx5);
    u.send(kMsiIdx5);
    u.send(kMsiIdx7);
    u.send(kMsiIdx7);
    CHECK(u.stat("iommu.ir.iec.hits") == 0);
    CHECK(u.stat("iommu.ir.irte_reads") == 4);
    // Setting P takes effect at once: nothing stale was cached.
    u.mem.put128(irte_addr(5), 0x0000'0000'0055'0001, 0);
    CHECK(u.send(kMsiIdx5).vector == 0x55);
  }
  SECTION("with CM, a not-present entry is cached and stays not-present until invalidated") {
    Unit u;
    u.caps.cm = true;
    u.make();
    require_fault(u.send(kMsiIdx5), FR::kIrteNotPresent, 5, true);
    u.mem.put128(irte_addr(5), 0x0000'0000'0055'0001, 0);
    const RemappedInterrupt r = u.send(kMsiIdx5);
    require_fault(r, FR::kIrteNotPresent, 5, true);
    CHECK(r.iec_hit);
    CHECK(r.done_ps == kStart + kDecodePs + kHitPs);
    require_fault(u.send(kMsiIdx6), FR::kIrteNotPresent, 6, false);
    require_fault(u.send(kMsiIdx6), FR::kIrteNotPresent, 6, false);  // FPD kept in the IEC
    u.ir->invalidate_index(5, 0);
    CHECK(u.send(kMsiIdx5).vector == 0x55);
    CHECK(u.stat("iommu.ir.iec.hits") == 2);
    CHECK(u.stat("iommu.ir.iec.misses") == 3);
  }
  SECTION("a cached entry still verifies the requester id") {
    Unit u;
    CHECK(u.send(kMsiIdx12, 0, 0x0108).fault == FR::kNone);
    const RemappedInterrupt r = u.send(kMsiIdx12, 0, 0x0208);
    require_fault(r, FR::kIrSidVerifyFailed, 12, true);
    CHECK(r.iec_hit);
  }
}

TEST_CASE("IEC disabled (0 entries): every interrupt reads its IRTE", "[iec]") {
  Unit u;
  u.cfg.iec_entries = 0;
  u.make();
  for (int i = 0; i < 3; ++i) {
    const RemappedInterrupt r = u.send(kMsiIdx2);
    CHECK_FALSE(r.iec_hit);
    CHECK(r.mem_reads == 1);
    CHECK(r.done_ps == kStart + kDecodePs + kLatencyPs);
  }
  CHECK(u.stat("iommu.ir.irte_reads") == 3);
  CHECK(u.stat("iommu.ir.iec.hits") == 0);
  CHECK(u.stat("iommu.ir.iec.misses") == 0);
  u.ir->invalidate_index(2, 0);
  u.ir->invalidate_all();
}

TEST_CASE("IEC geometry: a set-associative IEC evicts within the set by policy", "[iec]") {
  Unit u;
  u.cfg.iec_entries = 4;
  u.cfg.iec_ways = 2;  // 2 sets: even and odd indices
  u.make();
  // Even indices 2, 12, 14 compete for set 0 (LRU): 14 evicts 2.
  for (uint64_t a : {kMsiIdx2, kMsiIdx12, kMsiIdx14}) CHECK_FALSE(u.send(a).iec_hit);
  CHECK(u.send(kMsiIdx14).iec_hit);
  CHECK(u.send(kMsiIdx12).iec_hit);
  CHECK_FALSE(u.send(kMsiIdx2).iec_hit);
  CHECK_FALSE(u.send(kMsiIdx3).iec_hit);  // odd set untouched by the above
  CHECK(u.send(kMsiIdx3).iec_hit);
  u.cfg.iec_entries = 6;
  u.cfg.iec_ways = 4;
  CHECK_THROWS_AS(u.make(), iovsim::core::ConfigError);
  u.cfg.iec_entries = 4;
  u.cfg.iec_policy = "no-such-policy";
  CHECK_THROWS_AS(u.make(), iovsim::core::ConfigError);
}

TEST_CASE("parameters: iommu.ir.* defaults and overrides", "[params]") {
  iovsim::core::Config c;
  const IrConfig d = IrConfig::from(c);
  CHECK(d.iec_entries == 64);
  CHECK(d.iec_ways == 0);
  CHECK(d.iec_policy == "lru");
  CHECK(d.iec_hit_cycles == 2);
  CHECK(d.decode_cycles == 2);
  CHECK_FALSE(ir_enabled_param(c));
  c.set("iommu.ir.enabled", "true");
  c.set("iommu.ir.iec.entries", "128");
  c.set("iommu.ir.iec.ways", "4");
  c.set("iommu.ir.iec.policy", "fifo");
  c.set("iommu.ir.iec.hit_cycles", "3");
  c.set("iommu.ir.decode_cycles", "5");
  const IrConfig o = IrConfig::from(c);
  CHECK(ir_enabled_param(c));
  CHECK(o.iec_entries == 128);
  CHECK(o.iec_ways == 4);
  CHECK(o.iec_policy == "fifo");
  CHECK(o.iec_hit_cycles == 3);
  CHECK(o.decode_cycles == 5);
  CHECK_THROWS(c.set("iommu.ir.iec.policy", "mru"));
  CHECK_THROWS(c.set("iommu.ir.iec.entries", "70000"));
}

TEST_CASE("decode and hit cycles scale with the configuration", "[timing]") {
  Unit u;
  u.cfg.decode_cycles = 5;
  u.cfg.iec_hit_cycles = 7;
  u.cfg.cycle_ps = 500;
  u.make();
  CHECK(u.send(kMsiIdx2).done_ps == kStart + 5 * 500 + kLatencyPs);
  CHECK(u.send(kMsiIdx2).done_ps == kStart + 5 * 500 + 7 * 500);
  CHECK(u.send(0x1'FEE0'0050).done_ps == kStart + 5 * 500);
}

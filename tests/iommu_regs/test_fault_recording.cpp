// Fault recording (vtd-pcie.md §2): FRCD contents, FSTS.PPF/PFO/FRI, same-SID collapse, overflow,
// RW1C clearing, FECTL masking with the deferred fault event, IQE and the invalidation-completion
// event registers.
#include <catch2/catch.hpp>

#include <iovsim/iommu/register_file.hpp>

#include "regs_fixture.hpp"

using namespace regs_test;
using iommu::IommuCaps;
using iommu::RegisterFile;

namespace {
// Default caps: FRO 0x20, so FRCD[i] is at 0x200 + 16 i.
constexpr uint32_t frcd_lo(unsigned i) {
  return 0x200 + 16 * i;
}
constexpr uint32_t frcd_hi(unsigned i) {
  return 0x208 + 16 * i;
}

void program_fault_msi(RegisterFile& regs) {
  regs.write(0x3C, 4, 0x4021);      // FEDATA
  regs.write(0x40, 4, 0xFEE00000);  // FEADDR
  regs.write(0x44, 4, 0);           // FEUADDR
}
}  // namespace

TEST_CASE("a fault is recorded bit-exactly, and a masked event pends and fires on unmask",
          "[iommu_regs]") {
  Recorder rec;
  RegisterFile regs(IommuCaps{}, rec.hooks());
  program_fault_msi(regs);
  CHECK(regs.record_fault(0x0100, 0x12345678, vtd::FaultReason::kReadDenied, true));
  // FI 0x12345 (page), SID 0x0100, FR 6, T = 1 (read), F.
  CHECK(regs.read(frcd_lo(0), 8) == 0x0000000012345000ull);
  CHECK(regs.read(frcd_hi(0), 8) == 0xC000000600000100ull);
  CHECK(regs.read(frcd_hi(0) + 4, 4) == 0xC0000006u);
  CHECK(regs.read(frcd_hi(0), 4) == 0x00000100u);
  CHECK(regs.read(0x34, 4) == 0x2);         // PPF, FRI 0
  CHECK(regs.read(0x38, 4) == 0xC0000000);  // IM (reset) and IP
  CHECK(rec.msis.empty());
  // Unmask: the pending event goes out and IP clears.
  regs.write(0x38, 4, 0);
  REQUIRE(rec.msis.size() == 1);
  CHECK(rec.msis[0].addr == 0xFEE00000);
  CHECK(rec.msis[0].data == 0x4021);
  CHECK(regs.read(0x38, 4) == 0);
  // Writing IP (read-only) or unmasking again sends nothing more.
  regs.write(0x38, 4, 0x40000000);
  CHECK(regs.read(0x38, 4) == 0);
  CHECK(rec.msis.size() == 1);
}

TEST_CASE("same-SID faults collapse, others fill the next slot without a new event",
          "[iommu_regs]") {
  Recorder rec;
  RegisterFile regs(IommuCaps{}, rec.hooks());
  program_fault_msi(regs);
  regs.write(0x38, 4, 0);  // unmasked
  CHECK(regs.record_fault(0x0100, 0x12345678, vtd::FaultReason::kReadDenied, true));
  REQUIRE(rec.msis.size() == 1);
  CHECK(regs.read(0x38, 4) == 0);  // sent, so not pending
  // Same SID, other address and reason: collapsed onto the pending record.
  CHECK_FALSE(regs.record_fault(0x0100, 0xABC000, vtd::FaultReason::kWriteDenied, false));
  CHECK(regs.read(frcd_hi(1), 8) == 0);
  CHECK(regs.read(frcd_hi(0), 8) == 0xC000000600000100ull);
  // Another SID: slot 1, write fault (T = 0). PPF was set: FRI stays 0, no event.
  CHECK(regs.record_fault(0x0200, 0x9000, vtd::FaultReason::kWriteDenied, false));
  CHECK(regs.read(frcd_lo(1), 8) == 0x9000);
  CHECK(regs.read(frcd_hi(1), 8) == 0x8000000500000200ull);
  CHECK(regs.read(0x34, 4) == 0x2);
  CHECK(rec.msis.size() == 1);

  // RW1C: a 32-bit write of bit 31 at +12 clears record 0's F; other writes change nothing.
  regs.write(frcd_lo(0), 8, ~0ull);
  regs.write(frcd_hi(0), 4, 0xFFFFFFFF);
  regs.write(frcd_hi(0) + 4, 4, 0x7FFFFFFF);
  CHECK(regs.read(frcd_lo(0), 8) == 0x12345000);
  CHECK(regs.read(frcd_hi(0), 8) == 0xC000000600000100ull);
  regs.write(frcd_hi(0) + 4, 4, 0x80000000);
  CHECK(regs.read(frcd_hi(0), 8) == 0x4000000600000100ull);
  CHECK(regs.read(0x34, 4) == 0x2);  // record 1 still pending
  // Now SID 0x0100 faults again: no pending record with that SID, so it is recorded (slot 2).
  CHECK(regs.record_fault(0x0100, 0x5000, vtd::FaultReason::kReadDenied, true));
  CHECK(regs.read(frcd_hi(2), 8) == 0xC000000600000100ull);
  // A 64-bit write of bit 63 at +8 clears records 1 and 2: PPF drops.
  regs.write(frcd_hi(1), 8, 0x8000000000000000ull);
  regs.write(frcd_hi(2), 8, 0x8000000000000000ull);
  CHECK(regs.read(0x34, 4) == 0);
  // The next fault goes to slot 3 (the pointer rotates), FRI = 3, and a new event fires.
  CHECK(regs.record_fault(0x0300, 0x7000, vtd::FaultReason::kContextNotPresent, true));
  CHECK(regs.read(frcd_hi(3), 8) == 0xC000000200000300ull);
  CHECK(regs.read(0x34, 4) == 0x302);
  CHECK(rec.msis.size() == 2);
}

TEST_CASE("overflow with NFR records sets PFO, which drops faults until cleared", "[iommu_regs]") {
  IommuCaps k;
  k.nfr = 4;
  Recorder rec;
  RegisterFile regs(k, rec.hooks());
  CHECK(regs.read(0x08, 8) == 0x0009038C202F0602ull);  // NFR-1 = 3
  for (uint16_t s = 1; s <= 4; ++s)
    CHECK(regs.record_fault(s, uint64_t{s} << 12, vtd::FaultReason::kReadDenied, true));
  CHECK(regs.read(0x34, 4) == 0x2);
  // Slot 0 (next) is busy: PFO, nothing recorded.
  CHECK_FALSE(regs.record_fault(5, 0x5000, vtd::FaultReason::kReadDenied, true));
  CHECK(regs.read(0x34, 4) == 0x3);
  CHECK(regs.read(frcd_lo(0), 8) == 0x1000);
  // Free slot 0, but PFO still drops.
  regs.write(frcd_hi(0), 8, 0x8000000000000000ull);
  CHECK_FALSE(regs.record_fault(6, 0x6000, vtd::FaultReason::kReadDenied, true));
  CHECK(regs.read(frcd_hi(0), 8) == 0x4000000600000001ull);
  // PFO is RW1C; writing PPF or FRI does nothing.
  regs.write(0x34, 4, 0xFF02);
  CHECK(regs.read(0x34, 4) == 0x3);
  regs.write(0x34, 4, 0x1);
  CHECK(regs.read(0x34, 4) == 0x2);
  // Now slot 0 takes the fault; PPF was set, so FRI stays 0.
  CHECK(regs.record_fault(6, 0x6000, vtd::FaultReason::kWriteDenied, false));
  CHECK(regs.read(frcd_lo(0), 8) == 0x6000);
  CHECK(regs.read(frcd_hi(0), 8) == 0x8000000500000006ull);
  CHECK(regs.read(0x34, 4) == 0x2);
  // Full again: the next slot (1) is busy.
  CHECK_FALSE(regs.record_fault(7, 0x7000, vtd::FaultReason::kReadDenied, true));
  CHECK(regs.read(0x34, 4) == 0x3);
  CHECK(rec.msis.empty());  // IM is still set
  CHECK(regs.read(0x38, 4) == 0xC0000000);
}

TEST_CASE("interrupt-remapping faults carry the index in FI[63:48]", "[iommu_regs]") {
  RegisterFile regs(IommuCaps{}, {});
  CHECK(regs.record_fault(0x0008, uint64_t{2} << 48, vtd::FaultReason::kIrteNotPresent, false));
  CHECK(regs.read(frcd_lo(0), 8) == 0x0002000000000000ull);
  CHECK(regs.read(frcd_hi(0), 8) == 0x8000002200000008ull);
}

TEST_CASE("IP clears when software services every status condition", "[iommu_regs]") {
  Recorder rec;
  RegisterFile regs(IommuCaps{}, rec.hooks());
  CHECK(regs.record_fault(0x10, 0x1000, vtd::FaultReason::kReadDenied, true));
  CHECK(regs.read(0x38, 4) == 0xC0000000);
  regs.write(frcd_hi(0) + 4, 4, 0x80000000);
  CHECK(regs.read(0x38, 4) == 0x80000000);
  regs.write(0x38, 4, 0);
  CHECK(rec.msis.empty());  // nothing left to report
}

TEST_CASE("IQE: fault event like other FSTS errors, RW1C, IQER", "[iommu_regs]") {
  Recorder rec;
  RegisterFile regs(IommuCaps{}, rec.hooks());
  program_fault_msi(regs);
  regs.set_iqe(0x3);
  CHECK(regs.read(0x34, 4) == 0x10);
  CHECK(regs.read(0xB0, 8) == 0x3);
  CHECK(regs.read(0x38, 4) == 0xC0000000);
  regs.write(0x34, 4, 0x10);
  CHECK(regs.read(0x34, 4) == 0);
  CHECK(regs.read(0xB0, 8) == 0);
  CHECK(regs.read(0x38, 4) == 0x80000000);
  // Unmasked: immediate event.
  regs.write(0x38, 4, 0);
  CHECK(rec.msis.empty());
  regs.set_iqe(0x1);
  REQUIRE(rec.msis.size() == 1);
  CHECK(rec.msis[0].addr == 0xFEE00000);
  CHECK(rec.msis[0].data == 0x4021);
  // With IQE pending, a first DMA fault is not a new interrupt condition (PPF, FRI still set).
  CHECK(regs.record_fault(0x20, 0x2000, vtd::FaultReason::kWriteDenied, false));
  CHECK(regs.read(0x34, 4) == 0x12);
  CHECK(rec.msis.size() == 1);
}

TEST_CASE("invalidation completion event: ICS.IWC, IECTL masking", "[iommu_regs]") {
  Recorder rec;
  RegisterFile regs(IommuCaps{}, rec.hooks());
  regs.write(0xA4, 4, 0x55);
  regs.write(0xA8, 4, 0xFEE01000);
  regs.write(0xAC, 4, 0x1);
  regs.invalidation_wait_interrupt();
  CHECK(regs.read(0x9C, 4) == 1);
  CHECK(regs.read(0xA0, 4) == 0xC0000000);
  CHECK(rec.msis.empty());
  regs.write(0xA0, 4, 0);
  REQUIRE(rec.msis.size() == 1);
  CHECK(rec.msis[0].addr == 0x1FEE01000ull);
  CHECK(rec.msis[0].data == 0x55);
  CHECK(regs.read(0xA0, 4) == 0);
  // IWC still set: a second completion is not a new event.
  regs.invalidation_wait_interrupt();
  CHECK(rec.msis.size() == 1);
  // RW1C.
  regs.write(0x9C, 4, 0);
  CHECK(regs.read(0x9C, 4) == 1);
  regs.write(0x9C, 4, 1);
  CHECK(regs.read(0x9C, 4) == 0);
  regs.invalidation_wait_interrupt();
  CHECK(rec.msis.size() == 2);
  CHECK(regs.read(0xA0, 4) == 0);
  // Masked again: pending; clearing IWC retires it, so unmasking sends nothing.
  regs.write(0x9C, 4, 1);
  regs.write(0xA0, 4, 0x80000000);
  regs.invalidation_wait_interrupt();
  CHECK(regs.read(0xA0, 4) == 0xC0000000);
  regs.write(0x9C, 4, 1);
  CHECK(regs.read(0xA0, 4) == 0x80000000);
  regs.write(0xA0, 4, 0);
  CHECK(rec.msis.size() == 2);
}

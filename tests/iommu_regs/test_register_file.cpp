// Register file: VER/CAP/ECAP encodings, the GCMD/GSTS protocol as a driver uses it, RW registers,
// register-based context-cache and IOTLB invalidation. Expected values computed by hand from
// vtd-pcie.md §2.
#include <catch2/catch.hpp>

#include <iovsim/core/stats.hpp>
#include <iovsim/iommu/register_file.hpp>

#include "regs_fixture.hpp"

using namespace regs_test;
using iommu::IommuCaps;
using iommu::RegisterFile;

TEST_CASE("VER, CAP and ECAP read the hand-computed encodings", "[iommu_regs]") {
  Recorder rec;
  RegisterFile regs(IommuCaps{}, rec.hooks());
  CHECK(regs.read(0x00, 4) == 0x10);
  // ND 2 | SAGAW 0b00110 | MGAW-1 47 | FRO 0x20 | SLLPS 3 | PSI | NFR-1 7 | MAMV 9.
  CHECK(regs.read(0x08, 8) == 0x0009078C202F0602ull);
  CHECK(regs.read(0x08, 4) == 0x202F0602u);
  CHECK(regs.read(0x0C, 4) == 0x0009078Cu);
  // QI | IR | PT | IRO 0x30 | MHMV 15.
  CHECK(regs.read(0x10, 8) == 0x00F0304Aull);

  IommuCaps k;
  k.nd = 3;
  k.rwbf = true;
  k.cm = true;
  k.sagaw = 0b0010;
  k.mgaw = 39;
  k.fro = 0x22;
  k.sllps = 1;
  k.psi = false;
  k.nfr = 4;
  k.mamv = 0;
  k.c = true;
  k.dt = true;
  k.eim = true;
  k.sc = true;
  k.iro = 0x28;
  k.mhmv = 0;
  RegisterFile other(k, {});
  CHECK(other.read(0x08, 8) == 0x0000030422260293ull);
  CHECK(other.read(0x10, 8) == 0x00000000000028DFull);
  // Read-only: writes do nothing.
  other.write(0x08, 8, 0);
  other.write(0x10, 8, 0);
  other.write(0x00, 4, 0x20);
  CHECK(other.read(0x08, 8) == 0x0000030422260293ull);
  CHECK(other.read(0x10, 8) == 0x00000000000028DFull);
  CHECK(other.read(0x00, 4) == 0x10);
}

TEST_CASE("reset values, unknown offsets and bad access sizes", "[iommu_regs]") {
  Recorder rec;
  RegisterFile regs(IommuCaps{}, rec.hooks());
  CHECK(regs.read(0x1C, 4) == 0);           // GSTS
  CHECK(regs.read(0x34, 4) == 0);           // FSTS
  CHECK(regs.read(0x38, 4) == 0x80000000);  // FECTL.IM resets to 1
  CHECK(regs.read(0xA0, 4) == 0x80000000);  // IECTL.IM resets to 1
  CHECK(regs.read(0x9C, 4) == 0);           // ICS
  CHECK(regs.read(0x30, 4) == 0);           // reserved
  CHECK(regs.read(0x50, 8) == 0);
  CHECK(regs.read(0xFF8, 8) == 0);
  // 64-bit read of the FSTS pair: reserved 0x30 low, FSTS high.
  CHECK(regs.read(0x38, 8) == 0x80000000ull);
  regs.write(0x50, 8, ~0ull);
  CHECK(regs.read(0x50, 8) == 0);
  CHECK(regs.read(0x08, 2) == 0);  // only 4- and 8-byte accesses
  CHECK(regs.read(0x0A, 4) == 0);  // misaligned
  regs.write(0x20, 2, 0xFFFF);
  regs.write(0x24, 8, ~0ull);
  CHECK(regs.read(0x20, 8) == 0);
}

TEST_CASE("GCMD/GSTS bring-up as KVM's intel-iommu test does it", "[iommu_regs]") {
  Recorder rec;
  RegisterFile regs(IommuCaps{}, rec.hooks());
  auto gcmd_or = [&](uint32_t bit) {
    const auto gsts = static_cast<uint32_t>(regs.read(0x1C, 4));
    regs.write(0x18, 4, gsts | bit);
  };
  // 1. QI: queue at 0x10000, then QIE.
  regs.write(0x90, 8, 0x10000);
  gcmd_or(1u << 26);
  CHECK(regs.read(0x1C, 4) == 0x04000000);
  CHECK(regs.qi_enabled());
  CHECK(rec.tail_writes == 0);  // IQT = 0: nothing to fetch
  // Root table: RTADDR only takes effect at SRTP.
  regs.write(0x20, 8, 0x20000);
  CHECK(rec.root_tables.empty());
  CHECK(regs.rtaddr() == 0);
  gcmd_or(1u << 30);
  CHECK(regs.read(0x1C, 4) == 0x44000000);
  REQUIRE(rec.root_tables.size() == 1);
  CHECK(rec.root_tables[0] == 0x20000);
  CHECK(regs.rtaddr() == 0x20000);
  // IRT: 0x30000 | 0xF (65536 entries, xAPIC).
  regs.write(0xB8, 8, 0x3000F);
  CHECK(rec.irts.empty());
  gcmd_or(1u << 24);
  CHECK(regs.read(0x1C, 4) == 0x45000000);
  REQUIRE(rec.irts.size() == 1);
  CHECK(rec.irts[0] == 0x3000F);
  CHECK(regs.irta() == 0x3000F);
  CHECK(rec.root_tables.size() == 2);  // 0x45000000 carried RTPS: SRTP again
  // TE: the written value 0xC5000000 re-issues SRTP and SIRTP (one-shot, acted on each time).
  gcmd_or(1u << 31);
  CHECK(regs.read(0x1C, 4) == 0xC5000000);
  CHECK(rec.te == std::vector<bool>{true});
  CHECK(rec.root_tables.size() == 3);
  CHECK(rec.irts.size() == 2);
  CHECK(regs.translation_enabled());
  // IRE.
  gcmd_or(1u << 25);
  CHECK(regs.read(0x1C, 4) == 0xC7000000);
  CHECK(rec.ire == std::vector<bool>{true});
  CHECK(rec.te.size() == 1);  // TE unchanged: no second call
  CHECK(rec.root_tables.size() == 4);
  CHECK(rec.irts.size() == 3);
  CHECK(regs.ir_enabled());
  // 2. FSTS clear; GCMD reads 0; RTADDR/IRTA read back as written.
  CHECK(regs.read(0x34, 4) == 0);
  CHECK(regs.read(0x18, 4) == 0);
  CHECK(regs.read(0x20, 8) == 0x20000);
  CHECK(regs.read(0xB8, 8) == 0x3000F);
  CHECK(regs.read(0x90, 8) == 0x10000);
  // 64-bit read at 0x18: GCMD (0) low, GSTS high.
  CHECK(regs.read(0x18, 8) == 0xC700000000000000ull);

  // A new RTADDR is latched only by the next SRTP.
  regs.write(0x20, 8, 0x55000);
  CHECK(regs.rtaddr() == 0x20000);
  regs.write(0x18, 4, 0xC7000000);  // GSTS as read: includes RTPS
  CHECK(regs.rtaddr() == 0x55000);
  CHECK(rec.root_tables.back() == 0x55000);
  // Disabling TE and IRE: reported once each.
  regs.write(0x18, 4, 0x45000000);
  CHECK(regs.read(0x1C, 4) == 0x45000000);
  CHECK(rec.te == std::vector<bool>{true, false});
  CHECK(rec.ire == std::vector<bool>{true, false});
  CHECK_FALSE(regs.translation_enabled());
  CHECK_FALSE(regs.ir_enabled());
}

TEST_CASE("GCMD: CFI, SFL/WBF and unsupported enables", "[iommu_regs]") {
  Recorder rec;
  RegisterFile regs(IommuCaps{}, rec.hooks());
  regs.write(0x18, 4, 1u << 23);  // CFI
  CHECK(regs.read(0x1C, 4) == 0x00800000);
  CHECK(regs.cfi_enabled());
  regs.write(0x18, 4, 0);
  CHECK(regs.read(0x1C, 4) == 0);
  CHECK_FALSE(regs.cfi_enabled());
  // SFL, EAFL, WBF: no status bit, nothing else changes.
  regs.write(0x18, 4, (1u << 29) | (1u << 28) | (1u << 27));
  CHECK(regs.read(0x1C, 4) == 0);
  CHECK(rec.root_tables.empty());

  IommuCaps k;
  k.qi = false;
  k.ir = false;
  Recorder rec2;
  RegisterFile bare(k, rec2.hooks());
  bare.write(0x18, 4, (1u << 26) | (1u << 25) | (1u << 24) | (1u << 23));
  CHECK(bare.read(0x1C, 4) == 0);
  CHECK(rec2.ire.empty());
  CHECK(rec2.irts.empty());
}

TEST_CASE("QIE resets IQH, and IQT writes ring the engine only while QIE is set", "[iommu_regs]") {
  Recorder rec;
  RegisterFile regs(IommuCaps{}, rec.hooks());
  regs.write(0x90, 8, 0x7F000 | 3);  // base 0x7F000, QS 3
  CHECK(regs.iq_base() == 0x7F000);
  CHECK(regs.iq_entries() == 2048);
  CHECK(regs.iq_128bit());
  regs.write(0x88, 8, 0x30);  // QIE clear: stored only
  CHECK(rec.tail_writes == 0);
  CHECK(regs.iq_tail() == 3);
  regs.write(0x88, 8, 0);
  regs.write(0x18, 4, 1u << 26);
  regs.set_iq_head(5);
  CHECK(regs.read(0x80, 8) == 0x50);
  CHECK(regs.iq_head() == 5);
  regs.write(0x80, 8, 0);  // IQH is read-only
  CHECK(regs.iq_head() == 5);
  regs.write(0x88, 8, 0x7F);  // bits 3:0 reserved
  CHECK(regs.read(0x88, 8) == 0x70);
  CHECK(rec.tail_writes == 1);
  // Disable and re-enable: IQH back to 0, and a non-empty queue is fetched at once.
  regs.write(0x18, 4, 0);
  CHECK(regs.iq_head() == 5);
  regs.write(0x18, 4, 1u << 26);
  CHECK(regs.iq_head() == 0);
  CHECK(rec.tail_writes == 2);
  // DW = 1 is reported (the engine refuses it).
  regs.write(0x90, 8, 0x7F000 | (1u << 11));
  CHECK_FALSE(regs.iq_128bit());
  CHECK(regs.read(0x90, 8) == 0x7F800);
  CHECK(regs.iq_entries() == 256);
}

TEST_CASE("RW registers keep their writable bits, and 32-bit halves combine", "[iommu_regs]") {
  RegisterFile regs(IommuCaps{}, {});
  regs.write(0x20, 8, 0xFFFFFFFFFFFFFFFFull);
  CHECK(regs.read(0x20, 8) == 0xFFFFFFFFFFFFFC00ull);  // RTA 63:12 + TTM 11:10
  regs.write(0x20, 4, 0x00012000);
  regs.write(0x24, 4, 0x00000001);
  CHECK(regs.read(0x20, 8) == 0x0000000100012000ull);
  CHECK(regs.read(0x24, 4) == 1);
  regs.write(0xB8, 8, ~0ull);
  CHECK(regs.read(0xB8, 8) == 0xFFFFFFFFFFFFF80Full);  // base 63:12, EIME 11, S 3:0
  regs.write(0x90, 8, ~0ull);
  CHECK(regs.read(0x90, 8) == 0xFFFFFFFFFFFFF807ull);  // base 63:12, DW 11, QS 2:0
  regs.write(0x3C, 4, 0x12345678);
  regs.write(0x40, 4, 0xFEE00003);
  regs.write(0x44, 4, 0xABCD);
  CHECK(regs.read(0x3C, 4) == 0x12345678);
  CHECK(regs.read(0x40, 4) == 0xFEE00000);  // 1:0 reserved
  CHECK(regs.read(0x40, 8) == 0x0000ABCDFEE00000ull);
  regs.write(0xA8, 8, 0x00000001FEE0100Full);  // IEADDR and IEUADDR in one access
  CHECK(regs.read(0xA8, 4) == 0xFEE0100C);
  CHECK(regs.read(0xAC, 4) == 1);
  regs.write(0xA4, 4, 0x99);
  CHECK(regs.read(0xA4, 4) == 0x99);
  regs.write(0xB0, 8, 5);  // IQER is read-only
  CHECK(regs.read(0xB0, 8) == 0);
}

TEST_CASE("CCMD: ICC invalidates with the decoded fields and completes at once", "[iommu_regs]") {
  Recorder rec;
  iovsim::core::StatGroup root("iommu");
  RegisterFile regs(IommuCaps{}, rec.hooks(), &root);
  // ICC | CIRG 3 (device) | FM 2 | SID 0x0108 | DID 0x0042.
  regs.write(0x28, 8, 0xE000000201080042ull);
  REQUIRE(rec.context.size() == 1);
  CHECK(rec.context[0].g == vtd::Granularity::kDeviceOrPage);
  CHECK(rec.context[0].did == 0x42);
  CHECK(rec.context[0].sid == 0x108);
  CHECK(rec.context[0].fm == 2);
  CHECK(regs.read(0x28, 8) == 0x7800000201080042ull);  // ICC clear, CAIG 3
  // Global.
  regs.write(0x28, 8, 0xA000000000000000ull);
  REQUIRE(rec.context.size() == 2);
  CHECK(rec.context[1].g == vtd::Granularity::kGlobal);
  CHECK(rec.context[1].did == 0);
  CHECK(regs.read(0x28, 8) == 0x2800000000000000ull);
  // Domain 5.
  regs.write(0x28, 8, 0xC000000000000005ull);
  REQUIRE(rec.context.size() == 3);
  CHECK(rec.context[2].g == vtd::Granularity::kDomain);
  CHECK(rec.context[2].did == 5);
  CHECK(regs.read(0x28, 8) == 0x5000000000000005ull);
  // Reserved CIRG 0: not performed, CAIG 0.
  regs.write(0x28, 8, 0x8000000000000000ull);
  CHECK(rec.context.size() == 3);
  CHECK(regs.read(0x28, 8) == 0);
  // Two 32-bit writes (low half first): the command fires on the half that carries ICC.
  regs.write(0x28, 4, 0x01080042);
  CHECK(rec.context.size() == 3);
  regs.write(0x2C, 4, 0xE0000001);
  REQUIRE(rec.context.size() == 4);
  CHECK(rec.context[3].g == vtd::Granularity::kDeviceOrPage);
  CHECK(rec.context[3].sid == 0x108);
  CHECK(rec.context[3].did == 0x42);
  CHECK(rec.context[3].fm == 1);
  CHECK(regs.read(0x2C, 4) == 0x78000001);
  // Without ICC nothing happens.
  regs.write(0x28, 8, 0x2000000000000000ull);
  CHECK(rec.context.size() == 4);

  iovsim::core::StatMap m;
  root.collect(m);
  CHECK(std::get<uint64_t>(m.at("iommu.invalidations.context_global")) == 1);
  CHECK(std::get<uint64_t>(m.at("iommu.invalidations.context_domain")) == 1);
  CHECK(std::get<uint64_t>(m.at("iommu.invalidations.context_device")) == 2);
}

TEST_CASE("IOTLB register: IVT with IVA, IAIG reporting, PSI and MAMV limits", "[iommu_regs]") {
  Recorder rec;
  iovsim::core::StatGroup root("iommu");
  RegisterFile regs(IommuCaps{}, rec.hooks(), &root);
  // IRO 0x30: IVA at 0x300, IOTLB at 0x308. IVA: addr 0x12345000 | IH | AM 3.
  regs.write(0x300, 8, 0x12345043);
  CHECK(regs.read(0x300, 8) == 0x12345043);
  CHECK(rec.iotlb.empty());
  // IVT | IIRG 3 (page) | DID 7.
  regs.write(0x308, 8, 0xB000000700000000ull);
  REQUIRE(rec.iotlb.size() == 1);
  CHECK(rec.iotlb[0].g == vtd::Granularity::kDeviceOrPage);
  CHECK(rec.iotlb[0].did == 7);
  CHECK(rec.iotlb[0].addr == 0x12345000);
  CHECK(rec.iotlb[0].am == 3);
  CHECK(rec.iotlb[0].ih);
  CHECK(regs.read(0x308, 8) == 0x3600000700000000ull);  // IVT clear, IAIG 3
  // Global, with DR | DW.
  regs.write(0x308, 8, 0x9003000000000000ull);
  REQUIRE(rec.iotlb.size() == 2);
  CHECK(rec.iotlb[1].g == vtd::Granularity::kGlobal);
  CHECK(regs.read(0x308, 8) == 0x1203000000000000ull);
  // Domain 9, as two 32-bit writes (high half carries IVT).
  regs.write(0x308, 4, 0);
  regs.write(0x30C, 4, 0xA0000009);
  REQUIRE(rec.iotlb.size() == 3);
  CHECK(rec.iotlb[2].g == vtd::Granularity::kDomain);
  CHECK(rec.iotlb[2].did == 9);
  CHECK(regs.read(0x308, 8) == 0x2400000900000000ull);
  // Page-selective with AM 10 > MAMV 9: not performed, IAIG 0.
  regs.write(0x300, 8, 0x1234500A);
  regs.write(0x308, 8, 0xB000000700000000ull);
  CHECK(rec.iotlb.size() == 3);
  CHECK(regs.read(0x308, 8) == 0x3000000700000000ull);
  // Reserved IIRG 0.
  regs.write(0x308, 8, 0x8000000000000000ull);
  CHECK(rec.iotlb.size() == 3);
  CHECK(regs.read(0x308, 8) == 0);

  iovsim::core::StatMap m;
  root.collect(m);
  CHECK(std::get<uint64_t>(m.at("iommu.invalidations.iotlb_global")) == 1);
  CHECK(std::get<uint64_t>(m.at("iommu.invalidations.iotlb_domain")) == 1);
  CHECK(std::get<uint64_t>(m.at("iommu.invalidations.iotlb_page")) == 1);

  // Without CAP.PSI, page-selective requests are refused even with AM 0.
  IommuCaps k;
  k.psi = false;
  k.iro = 0x40;
  Recorder rec2;
  RegisterFile nopsi(k, rec2.hooks());
  nopsi.write(0x400, 8, 0x5000);
  nopsi.write(0x408, 8, 0xB000000100000000ull);
  CHECK(rec2.iotlb.empty());
  CHECK(nopsi.read(0x408, 8) == 0x3000000100000000ull);
  nopsi.write(0x408, 8, 0xA000000100000000ull);
  REQUIRE(rec2.iotlb.size() == 1);
  CHECK(nopsi.read(0x408, 8) == 0x2400000100000000ull);
}

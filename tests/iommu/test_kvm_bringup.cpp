// The bring-up sequence of KVM's intel-iommu unit test (vtd-pcie.md §8, steps 1–3), register by
// register, with the tables encoded by hand, then DMA through the unit. Step 4 (interrupt
// remapping) belongs to the interrupt-remapping tests.
#include "machine.hpp"

using namespace iovsim;
using namespace iovsim::iommu::vtd;
using iovsim::test::kR;
using iovsim::test::kW;
using iovsim::test::Machine;
using iovsim::test::put_entry;

TEST_CASE(
    "KVM intel-iommu bring-up: enable QI, root table, IRT, TE, IRE, map IOVA 0, DMA read then "
    "write") {
  Machine m;
  auto& s = m.store();
  const uint64_t queue = 0x100000, root = 0x101000, irt = 0x102000, ctx = 0x103000, l3 = 0x104000,
                 l2 = 0x105000, l1 = 0x106000, page = 0x200000;
  const uint16_t sid = 0x0008;  // 00:01.0

  // 1. QI, root table (SRTP), IRT (SIRTP), TE, IRE, each by read GSTS | bit -> GCMD, then poll
  // GSTS.
  m.set_reg(kIqa, 8, queue);
  m.set_reg(kIqt, 8, 0);
  m.gcmd(kGcmdQie);
  CHECK((m.reg(kGsts, 4) >> kGcmdQie) & 1);
  m.set_reg(kRtaddr, 8, root);
  m.gcmd(kGcmdSrtp);
  CHECK((m.reg(kGsts, 4) >> kGcmdSrtp) & 1);
  m.set_reg(kIrta, 8, irt | 0xF);
  m.gcmd(kGcmdSirtp);
  CHECK((m.reg(kGsts, 4) >> kGcmdSirtp) & 1);
  m.gcmd(kGcmdTe);  // GSTS still shows RTPS/IRTPS: SRTP and SIRTP are re-written here, as KVM does
  CHECK((m.reg(kGsts, 4) >> kGcmdTe) & 1);
  m.gcmd(kGcmdIre);

  // 2. FSTS clear; GSTS = QIES | RTPS | IRTPS | TES | IRES; CAP: 39-bit SAGAW, 2 MiB and 1 GiB
  // pages.
  CHECK(m.reg(kFsts, 4) == 0);
  const uint32_t want = (1u << kGcmdQie) | (1u << kGcmdSrtp) | (1u << kGcmdSirtp) |
                        (1u << kGcmdTe) | (1u << kGcmdIre);
  CHECK((m.reg(kGsts, 4) & want) == want);
  const uint64_t cap = m.reg(kCap, 8);
  CHECK(((cap >> 8) & 0x1f) & 0b00010);  // SAGAW bit 1: 39-bit
  CHECK(((cap >> 34) & 0xf) == 0b0011);  // SLLPS: 2 MiB and 1 GiB

  // 3. Root entry for bus 0 -> context table; context entry for devfn 0x08: P, FPD, TT 0, AW 1
  // (3-level),
  //    DID = SID; three levels, non-leaf = next | R | W, leaf = page | R | W.
  put_entry(s, root + 16 * 0, ctx | 1);
  put_entry(s, ctx + 16 * 0x08, l3 | 0b0011, (uint64_t{sid} << 8) | 1);
  put_entry(s, l3, l2 | kR | kW);
  s.write_u64(l2, l1 | kR | kW);
  s.write_u64(l1, page | kR | kW);
  s.write_u32(page, 0x12345678);

  uint32_t v = 0;
  auto rd = m.dma(sid, false, 0x0, &v, 4);
  REQUIRE(rd.ok);
  CHECK(v == 0x12345678);
  auto wr = m.dma(sid, true, 0x4, &v, 4, 10000);  // after the read's walk: an IOTLB hit
  REQUIRE(wr.ok);
  CHECK(s.read_u32(page + 4) == 0x12345678);
  CHECK(m.reg(kFsts, 4) == 0);
  CHECK(m.counter("iommu.walks") == 1);  // the write hit the translation the read walked
  CHECK(m.counter("iommu.iotlb.hits") == 1);
}

TEST_CASE("KVM intel-iommu interrupt test: IRTE index 2, vector 0xEE, delivered to APIC 0") {
  Machine m;
  auto& s = m.store();
  const uint64_t queue = 0x100000, root = 0x101000, irt = 0x110000;
  const uint16_t sid = 0x0008;
  m.set_reg(kIqa, 8, queue);
  m.set_reg(kIqt, 8, 0);
  m.gcmd(kGcmdQie);
  m.set_reg(kRtaddr, 8, root);
  m.gcmd(kGcmdSrtp);
  m.set_reg(kIrta, 8, irt | 0xF);  // 2^16 entries, xAPIC
  m.gcmd(kGcmdSirtp);
  m.gcmd(kGcmdTe);
  m.gcmd(kGcmdIre);
  // 4. IRTE 2: P, FPD, physical, edge, fixed, vector 0xEE (23:16), DST 0, SID (79:64), SQ 0, SVT 1
  // (83:82).
  put_entry(s, irt + 16 * 2, 0b11 | (uint64_t{0xEE} << 16), uint64_t{sid} | (uint64_t{1} << 18));
  // Remappable-format address: 0xFEE00000 | (2 & 0x7FFF) << 5 | IF << 4 | (2 >> 15) << 2; data 0.
  m.msi(sid, 0xFEE00050, 0);
  REQUIRE(m.irq().delivered() == 1);
  CHECK(m.irq().received()[0].vector == 0xEE);
  CHECK(m.irq().received()[0].apic_id == 0);
  CHECK(m.reg(kFsts, 4) == 0);
  // Another requester using that handle fails source-id verification (0x26), recorded with the
  // index in FI[63:48] — except that this IRTE has FPD set, which suppresses recording of 0x26.
  m.msi(0x0010, 0xFEE00050, 0);
  CHECK(m.irq().delivered() == 1);
  CHECK(m.counter("iommu.fault_reasons.0x26") == 1);
  CHECK(m.reg(kFsts, 4) == 0);
  // Index 3 is not present and has no FPD: fault 0x22 recorded, FI[63:48] = 3.
  m.msi(sid, 0xFEE00070, 0);
  const uint32_t fro = m.unit().config().caps.frcd_offset(0);
  CHECK(m.reg(fro, 8) == (uint64_t{3} << 48));
  CHECK(((m.reg(fro + 8, 8) >> 32) & 0xff) == 0x22);
  CHECK(((m.reg(fro + 8, 8) >> 63) & 1) == 1);
  CHECK(m.irq().delivered() == 1);
}

TEST_CASE(
    "every interrupt-remapping fault reason is recorded in FRCD with the index, and FSTS shows "
    "it") {
  Machine m;
  auto& s = m.store();
  const uint64_t irt = 0x110000;
  const uint16_t sid = 0x0008;
  m.set_reg(kIqa, 8, 0x100000);
  m.set_reg(kIqt, 8, 0);
  m.gcmd(kGcmdQie);
  m.set_reg(kIrta, 8, irt | 0x2);  // S = 2: 8 entries, xAPIC
  m.gcmd(kGcmdSirtp);
  m.gcmd(kGcmdIre);
  const uint64_t valid_hi = uint64_t{sid} | (uint64_t{1} << 18);       // SID, SQ 0, SVT 1
  put_entry(s, irt + 16 * 1, 0x1 | (uint64_t{0x40} << 16), valid_hi);  // good, no FPD
  put_entry(s, irt + 16 * 2, 0x0, valid_hi);                           // not present
  put_entry(s, irt + 16 * 3, 0x1 | (uint64_t{1} << 12) | (uint64_t{0x40} << 16),
            valid_hi);  // reserved bit 12
  auto handle = [](unsigned index) { return 0xFEE00000ull | ((index & 0x7FFF) << 5) | (1u << 4); };
  const uint32_t fro = m.unit().config().caps.frcd_offset(0);

  struct Case {
    const char* what;
    uint16_t sid;
    uint64_t address;
    uint32_t data;
    unsigned reason;
    unsigned index;
  } cases[] = {
      {"high address bits set", sid, (uint64_t{1} << 32) | handle(1), 0, 0x20, 1},
      {"index beyond the table", sid, handle(9), 0, 0x21, 9},
      {"IRTE not present", sid, handle(2), 0, 0x22, 2},
      {"reserved IRTE bits", sid, handle(3), 0, 0x24, 3},
      {"compatibility format with IR on", sid, 0xFEE00000, 0x40, 0x25, 0},
      {"source-id verification", 0x0010, handle(1), 0, 0x26, 1},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    m.msi(c.sid, c.address, c.data);
    const uint32_t fsts = static_cast<uint32_t>(m.reg(kFsts, 4));
    REQUIRE(((fsts >> 1) & 1) == 1);  // PPF
    const unsigned fri = (fsts >> 8) & 0xff;
    const uint64_t lo = m.reg(fro + 16 * fri, 8), hi = m.reg(fro + 16 * fri + 8, 8);
    CHECK(((hi >> 32) & 0xff) == c.reason);
    CHECK((lo >> 48) == c.index);
    CHECK((hi & 0xffff) == c.sid);
    CHECK((hi >> 63) == 1);
    m.set_reg(fro + 16 * fri + 8, 8, uint64_t{1} << 63);  // RW1C: clear F
    CHECK(((m.reg(kFsts, 4) >> 1) & 1) == 0);
  }
  // The IRT itself unreadable: IRTA beyond memory, fault 0x23 (index 4, never cached in the IEC).
  m.set_reg(kIrta, 8, (uint64_t{1} << 40) | 0x2);
  m.gcmd(kGcmdSirtp);
  m.msi(sid, handle(4), 0);
  const unsigned fri = (m.reg(kFsts, 4) >> 8) & 0xff;
  CHECK(((m.reg(fro + 16 * fri + 8, 8) >> 32) & 0xff) == 0x23);
  CHECK(m.irq().delivered() == 0);
}

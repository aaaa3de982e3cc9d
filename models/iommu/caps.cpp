#include "caps.hpp"

#include "vtd_format.hpp"

namespace iovsim::iommu {

namespace {
const core::IntParam kNd{"iommu.cap.nd", 2, "CAP.ND: number of domains = 2^(4+2*ND)",
                         core::Range{0, 6}};
const core::BoolParam kCm{"iommu.cap.cm", false,
                          "CAP.CM caching mode: not-present and faulting entries may be cached"};
const core::IntParam kSagaw{
    "iommu.cap.sagaw", 0b0110,
    "CAP.SAGAW bit mask: bit 1 = 39-bit/3-level, 2 = 48-bit/4-level, 3 = 57-bit/5-level",
    core::Range{1, 0b11110}};
const core::IntParam kMgaw{"iommu.cap.mgaw", 48, "CAP.MGAW: maximum guest address width (bits)",
                           core::Range{30, 64}};
const core::IntParam kSllps{"iommu.cap.sllps", 0b11,
                            "CAP.SLLPS: bit 0 = 2 MiB, bit 1 = 1 GiB superpages",
                            core::Range{0, 3}};
const core::BoolParam kPsi{"iommu.cap.psi", true, "CAP.PSI: page-selective IOTLB invalidation"};
const core::IntParam kNfr{"iommu.cap.nfr", 8, "CAP.NFR: fault-recording registers",
                          core::Range{1, 256}};
const core::IntParam kMamv{"iommu.cap.mamv", 9,
                           "CAP.MAMV: largest address mask in page-selective invalidation",
                           core::Range{0, 63}};
const core::BoolParam kQi{"iommu.ecap.qi", true, "ECAP.QI: queued invalidation"};
const core::BoolParam kDt{"iommu.ecap.dt", false, "ECAP.DT: device-TLB (ATS) support"};
const core::BoolParam kIr{"iommu.ecap.ir", true, "ECAP.IR: interrupt remapping support"};
const core::BoolParam kPt{"iommu.ecap.pt", true, "ECAP.PT: pass-through (context TT = 2)"};
const core::BoolParam kSc{"iommu.ecap.sc", false, "ECAP.SC: snoop control"};
const core::IntParam kHaw{"iommu.haw", 46,
                          "Host address width of addresses in paging entries (bits)",
                          core::Range{32, 52}};
}  // namespace

IommuCaps IommuCaps::from(const core::Config& c) {
  IommuCaps k;
  k.nd = static_cast<unsigned>(kNd.get(c));
  k.cm = kCm.get(c);
  k.sagaw = static_cast<unsigned>(kSagaw.get(c));
  k.mgaw = static_cast<unsigned>(kMgaw.get(c));
  k.sllps = static_cast<unsigned>(kSllps.get(c));
  k.psi = kPsi.get(c);
  k.nfr = static_cast<unsigned>(kNfr.get(c));
  k.mamv = static_cast<unsigned>(kMamv.get(c));
  k.qi = kQi.get(c);
  k.dt = kDt.get(c);
  k.ir = kIr.get(c);
  k.pt = kPt.get(c);
  k.sc = kSc.get(c);
  k.haw = static_cast<unsigned>(kHaw.get(c));
  // FRCD registers must fit in the 4 KiB page after the IOTLB registers.
  if (k.fro * 16 + 16 * k.nfr > vtd::kMmioSize)
    throw core::ConfigError("iommu.cap.nfr: " + std::to_string(k.nfr) +
                            " fault records do not fit the register page");
  return k;
}

uint64_t IommuCaps::cap() const {
  using F = vtd::CapFields;
  uint64_t v = 0;
  v = core::set_bits(v, F::kNdHi, F::kNdLo, nd);
  v = core::set_bit(v, F::kRwbf, rwbf);
  v = core::set_bit(v, F::kCm, cm);
  v = core::set_bits(v, F::kSagawHi, F::kSagawLo, sagaw);
  v = core::set_bits(v, F::kMgawHi, F::kMgawLo, mgaw - 1);
  v = core::set_bits(v, F::kFroHi, F::kFroLo, fro);
  v = core::set_bits(v, F::kSllpsHi, F::kSllpsLo, sllps);
  v = core::set_bit(v, F::kPsi, psi);
  v = core::set_bits(v, F::kNfrHi, F::kNfrLo, nfr - 1);
  v = core::set_bits(v, F::kMamvHi, F::kMamvLo, mamv);
  return v;
}

uint64_t IommuCaps::ecap() const {
  using F = vtd::EcapFields;
  uint64_t v = 0;
  v = core::set_bit(v, F::kC, c);
  v = core::set_bit(v, F::kQi, qi);
  v = core::set_bit(v, F::kDt, dt);
  v = core::set_bit(v, F::kIr, ir);
  v = core::set_bit(v, F::kEim, eim);
  v = core::set_bit(v, F::kPt, pt);
  v = core::set_bit(v, F::kSc, sc);
  v = core::set_bits(v, F::kIroHi, F::kIroLo, iro);
  v = core::set_bits(v, F::kMhmvHi, F::kMhmvLo, mhmv);
  return v;
}

}  // namespace iovsim::iommu

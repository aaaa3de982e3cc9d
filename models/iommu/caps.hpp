// What this remapping unit supports: the CAP/ECAP fields, from parameters (iommu.cap.*,
// iommu.ecap.*), and their register encodings. Shared by the register file (which reports them) and
// the walker (which obeys them).
#pragma once

#include <cstdint>

#include <iovsim/core/params.hpp>

namespace iovsim::iommu {

struct IommuCaps {
  // CAP
  unsigned nd = 2;  // domains = 2^(4 + 2*ND)
  bool rwbf = false;
  bool cm = false;          // caching mode: not-present entries may be cached
  unsigned sagaw = 0b0110;  // bit 1 = 39-bit (3-level), 2 = 48-bit (4-level), 3 = 57-bit (5-level)
  unsigned mgaw = 48;       // maximum guest address width (bits)
  unsigned fro = 0x20;      // fault-recording registers at FRO*16
  unsigned sllps = 0b11;    // bit 0 = 2 MiB, bit 1 = 1 GiB superpages
  bool psi = true;          // page-selective invalidation
  unsigned nfr = 8;         // number of fault-recording registers (1..256)
  unsigned mamv = 9;        // maximum address mask value for page-selective invalidation
  // ECAP
  bool c = false;       // page-walk coherency
  bool qi = true;       // queued invalidation
  bool dt = false;      // device-TLB (ATS)
  bool ir = true;       // interrupt remapping
  bool eim = false;     // extended interrupt mode (x2APIC)
  bool pt = true;       // pass-through
  bool sc = false;      // snoop control
  unsigned iro = 0x30;  // IOTLB registers at IRO*16
  unsigned mhmv = 15;   // maximum handle mask value
  // Not a register field: the host address width the paging entries' addresses have.
  unsigned haw = 46;

  static IommuCaps from(const core::Config& config);

  uint64_t cap() const;
  uint64_t ecap() const;
  bool supports_aw(unsigned aw) const { return aw < 5 && ((sagaw >> aw) & 1); }
  bool supports_superpage(unsigned level) const {  // level 2 = 2 MiB, 3 = 1 GiB
    return (level == 2 && (sllps & 1)) || (level == 3 && (sllps & 2));
  }
  unsigned domains() const { return 1u << (4 + 2 * nd); }
  uint32_t frcd_offset(unsigned i) const { return fro * 16 + 16 * i; }
  uint32_t iva_offset() const { return iro * 16; }
  uint32_t iotlb_offset() const { return iro * 16 + 8; }
};

}  // namespace iovsim::iommu

// A fake machine for driver tests: host memory in a SparseStore and a small VT-d register model
// written from ../shared/reference/vtd-pcie.md §2–3 (not from the iommu models, which are
// elsewhere): it records every MMIO write, reflects GCMD into GSTS, completes CCMD/IOTLB commands
// at once, and processes queued descriptors (interrupt-entry-cache ones included: recorded like the
// rest) when IQT is written; IRTA is a plain register, SIRTP latches IRTPS, IRE is a level. Knobs
// make it stall so that the driver's polling timeouts can be tested.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/core/sparse_store.hpp>
#include <iovsim/cpu_stub/host_access.hpp>

namespace iovsim::cpu_stub::test {

struct MmioWrite {
  uint32_t off;
  unsigned size;
  uint64_t value;
  bool operator==(const MmioWrite& o) const {
    return off == o.off && size == o.size && value == o.value;
  }
};

inline std::ostream& operator<<(std::ostream& os, const MmioWrite& w) {
  return os << "{0x" << std::hex << w.off << ", " << std::dec << w.size << ", 0x" << std::hex
            << w.value << std::dec << "}";
}

struct Desc {
  uint64_t lo, hi;
};

// CAP / ECAP encoded by hand from the reference's field table.
inline uint64_t make_cap(unsigned sagaw = 0b0110, unsigned sllps = 0b11, bool psi = true,
                         unsigned mamv = 9, unsigned nd = 2, bool cm = false, unsigned mgaw = 48) {
  return uint64_t{nd} | uint64_t{cm} << 7 | uint64_t{sagaw} << 8 | uint64_t{mgaw - 1} << 16 |
         uint64_t{0x20} << 24 | uint64_t{sllps} << 34 | uint64_t{psi} << 39 | uint64_t{7} << 40 |
         uint64_t{mamv} << 48;
}
inline uint64_t make_ecap(bool qi = true, bool pt = true, bool dt = false, unsigned iro = 0x30) {
  return uint64_t{qi} << 1 | uint64_t{dt} << 2 | uint64_t{1} << 3 | uint64_t{pt} << 6 |
         uint64_t{iro} << 8;
}

class FakeMachine : public HostAccess {
 public:
  static constexpr uint64_t kMmioBase = 0xFED90000;
  static constexpr uint32_t kGcmd = 0x18, kGsts = 0x1C, kRtaddr = 0x20, kCcmd = 0x28, kFsts = 0x34,
                            kIqh = 0x80, kIqt = 0x88, kIqa = 0x90, kIrta = 0xB8, kIva = 0x300,
                            kIotlb = 0x308;
  static constexpr uint32_t kTe = 1u << 31, kSrtp = 1u << 30, kQie = 1u << 26, kIre = 1u << 25,
                            kSirtp = 1u << 24;

  core::SparseStore mem{uint64_t{1} << 44};
  uint32_t ver = 0x10;
  uint64_t cap = make_cap(), ecap = make_ecap();
  uint32_t gsts = 0, fsts = 0;
  uint64_t rtaddr = 0, ccmd = 0, iqa = 0, iqt = 0, iqh = 0, iva = 0, iotlb = 0, irta = 0;
  std::vector<MmioWrite> writes;
  std::vector<Desc> descriptors;  // processed, in queue order
  bool gsts_stuck = false, ccmd_stuck = false, iotlb_stuck = false, qi_stall = false;
  uint64_t relaxes = 0;
  // Called for each descriptor as it is processed: lets a test see memory at invalidation time.
  std::function<void(const Desc&)> on_descriptor;

  void mem_read(uint64_t hpa, void* dst, std::size_t len) override { mem.read(hpa, dst, len); }
  void mem_write(uint64_t hpa, const void* src, std::size_t len) override {
    mem.write(hpa, src, len);
  }
  void relax() override { ++relaxes; }

  uint64_t mmio_read(uint64_t addr, unsigned size) override {
    REQUIRE((size == 4 || size == 8));
    switch (static_cast<uint32_t>(addr - kMmioBase)) {
      case 0x00:
        return ver;
      case 0x08:
        return cap;
      case 0x10:
        return ecap;
      case kGsts:
        return gsts;
      case kRtaddr:
        return rtaddr;
      case kCcmd:
        return ccmd;
      case kFsts:
        return fsts;
      case kIqh:
        return iqh;
      case kIqt:
        return iqt;
      case kIqa:
        return iqa;
      case kIrta:
        return irta;
      case kIva:
        return iva;
      case kIotlb:
        return iotlb;
      default:
        return 0;
    }
  }

  void mmio_write(uint64_t addr, unsigned size, uint64_t v) override {
    REQUIRE((size == 4 || size == 8));
    const auto off = static_cast<uint32_t>(addr - kMmioBase);
    writes.push_back({off, size, v});
    switch (off) {
      case kGcmd:
        if (gsts_stuck) break;
        {
          // TE, QIE, IRE, CFI, EAFL are levels; SRTP and SIRTP latch RTPS / IRTPS.
          const uint32_t levels = kTe | kQie | kIre | (1u << 23) | (1u << 28);
          gsts = (gsts & ~levels) | (static_cast<uint32_t>(v) & levels);
          if (v & kSrtp) gsts |= kSrtp;
          if (v & kSirtp) gsts |= kSirtp;
        }
        break;
      case kRtaddr:
        rtaddr = v;
        break;
      case kCcmd:
        ccmd = ccmd_stuck ? v : v & ~(uint64_t{1} << 63);
        break;
      case kIva:
        iva = v;
        break;
      case kIotlb:
        iotlb = iotlb_stuck ? v : v & ~(uint64_t{1} << 63);
        break;
      case kIqa:
        iqa = v;
        break;
      case kIrta:
        irta = v;
        break;
      case kIqt:
        iqt = v;
        if (gsts & kQie) process_queue();
        break;
      default:
        break;
    }
  }

  // Status-word writes of the processed wait descriptors, so a test can check them.
  void process_queue() {
    const uint64_t base = iqa & ~uint64_t{0xfff};
    const uint64_t entries = uint64_t{256} << (iqa & 7);
    uint64_t head = (iqh >> 4) % entries;
    const uint64_t tail = (iqt >> 4) % entries;
    while (head != tail) {
      Desc d{mem.read_u64(base + 16 * head), mem.read_u64(base + 16 * head + 8)};
      descriptors.push_back(d);
      if (on_descriptor) on_descriptor(d);
      if ((d.lo & 0xf) == 5 && (d.lo >> 5 & 1) && !qi_stall)
        mem.write_u32(d.hi & ~uint64_t{3}, static_cast<uint32_t>(d.lo >> 32));
      head = (head + 1) % entries;
    }
    iqh = head << 4;
  }
};

}  // namespace iovsim::cpu_stub::test

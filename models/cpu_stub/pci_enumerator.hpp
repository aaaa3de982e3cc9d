// The CPU stub's PCI enumeration: what Linux's PCI core does at boot, over ECAM. It walks the buses
// depth first from bus 0, numbers unconfigured bridges, sizes every memory BAR and assigns it a
// base from one MMIO window, programs MPS/MRRS in the PCI Express capability, enables memory decode
// and bus mastering, and records what it found (vtd-pcie.md §5). Plain C++ over HostAccess, so a
// unit test can put a fake machine under it and a platform can route the same accesses through TLM
// sockets.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <iovsim/cpu_stub/host_access.hpp>

namespace iovsim::cpu_stub {

// A memory BAR as assigned; for a 64-bit BAR `index` is the lower half (index + 1 holds the upper).
struct PciBar {
  unsigned index = 0;
  uint64_t base = 0, size = 0;
  bool is64 = false, prefetchable = false;
};

struct PciFunctionInfo {
  uint8_t bus = 0, dev = 0, fn = 0;
  uint16_t vendor = 0, device = 0;
  uint32_t class_code = 0;  // base class 23:16, subclass 15:8, programming interface 7:0
  uint8_t header_type = 0;  // without the multifunction bit
  bool multifunction = false;
  std::vector<PciBar> bars;                                     // memory BARs only, by index
  std::vector<std::pair<uint8_t, uint16_t>> capabilities;       // (id, offset), list order
  std::vector<std::pair<uint16_t, uint16_t>> ext_capabilities;  // (id, offset), list order
  uint8_t secondary_bus = 0, subordinate_bus = 0;               // type 1
  unsigned mps = 0, mrrs = 0;  // as programmed (bytes), 0 without a PCI Express capability
  uint16_t rid() const { return uint16_t(bus << 8 | dev << 3 | fn); }
};

struct EnumeratorOptions {
  uint64_t ecam_base = 0xE0000000;
  uint64_t mmio_base = 0xC0000000, mmio_size = 0x10000000;  // BARs are assigned from this window
  // Programmed in every function with a PCI Express capability; MPS is clamped to each function's
  // max payload supported. Powers of two from 128 to 4096.
  unsigned mps = 256, mrrs = 512;
  bool enable = true;  // set memory space and bus master
};

class PciEnumerator {
 public:
  // Throws std::invalid_argument for an MPS/MRRS the Device Control encoding cannot express or an
  // empty or wrapping MMIO window.
  PciEnumerator(HostAccess& host, EnumeratorOptions opts);

  // Scans like Linux: bus 0 first; for each device 0..31 reads the vendor id of function 0 (0xFFFF
  // = absent); the header type's bit 7 says whether functions 1..7 exist. A type 1 header is a
  // bridge: bridges firmware numbered are followed first, then unnumbered ones (secondary bus 0)
  // get the next free bus and primary/secondary/subordinate programmed (subordinate 0xFF while the
  // bus below is scanned, then the highest bus found there). Every function's memory BARs are sized
  // (decode off, save, write all ones, read back, restore) and, once the whole hierarchy is known,
  // assigned naturally aligned bases from the MMIO window, largest first (64-bit BARs write both
  // halves); I/O BARs are left alone, there is no I/O window. Then MPS/MRRS and the command
  // register. Throws std::runtime_error naming the device when a BAR does not fit the window;
  // nothing is assigned then. Calling it again rescans from scratch.
  const std::vector<PciFunctionInfo>& enumerate();
  // In scan order: a bus's functions by dev.fn, then the buses below its bridges.
  const std::vector<PciFunctionInfo>& functions() const { return functions_; }
  const PciFunctionInfo* find(uint16_t rid) const;

  // A tree in the spirit of `lspci -tv`: one line per function, each bus under the bridge leading
  // to it, BARs under their function:
  //
  //   [0000:00]
  //   +-- 00:00.0 8086:1000 class 020000 multifunction mps 256 mrrs 512
  //   |     BAR0 64-bit prefetchable [0x00000000c0000000-0x00000000c00fffff] 1M
  //   +-- 00:00.1 8086:1001 class 020000 multifunction
  //   `-- 00:1c.0 8086:2000 class 060400 bridge [01-01] mps 256 mrrs 512
  //         [0000:01]
  //         `-- 01:00.0 8086:3000 class 010802 mps 256 mrrs 512
  //               BAR0 32-bit [0xc0100000-0xc0103fff] 16K
  //
  // A function line is bus:dev.fn, vendor:device, class code, then when they apply: multifunction,
  // bridge [secondary-subordinate], and mps/mrrs (functions with a PCI Express capability). BAR
  // ranges are inclusive; 32-bit BARs print 8 hex digits, 64-bit ones 16. Empty before enumerate().
  std::string listing() const;

 private:
  struct Pending {  // a BAR sized but not yet placed
    std::size_t function;
    std::size_t bar;
  };

  uint64_t ecam(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t offset) const;
  uint32_t read32(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t offset);
  void write32(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t offset, uint32_t value);
  uint16_t read16(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t offset);
  uint8_t read8(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t offset);

  // Scans `bus` and the buses below it; returns the highest bus number found there.
  uint8_t scan_bus(uint8_t bus);
  // Reads the header and the capability lists and sizes the BARs; false when the function is
  // absent.
  bool probe_function(uint8_t bus, uint8_t dev, uint8_t fn, PciFunctionInfo& info);
  void size_bars(PciFunctionInfo& info);
  void read_capabilities(PciFunctionInfo& info);
  void assign_bars();
  // Programs every bridge's memory (below 4 GiB) or prefetchable (64-bit) window to cover the BARs
  // below it, so root ports route MMIO by address as Linux sets them up.
  void program_bridge_windows();
  // The index of the bus-0 bridge whose bus range holds `bus` (-1 for bus 0 or none).
  int root_group(uint8_t bus) const;
  void program_function(PciFunctionInfo& info);
  void list_bus(std::string& out, uint8_t bus, const std::string& prefix,
                std::set<uint8_t>& listed) const;

  HostAccess& host_;
  EnumeratorOptions opts_;
  std::vector<PciFunctionInfo> functions_;
  std::set<uint8_t> scanned_buses_;  // guards against bridges that loop or share a bus
  unsigned max_bus_ = 0;             // highest bus number scanned or claimed by firmware so far
};

}  // namespace iovsim::cpu_stub

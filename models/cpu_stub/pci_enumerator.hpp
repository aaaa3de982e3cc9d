// The CPU stub's PCI enumeration: what Linux's PCI core does at boot, over ECAM. It walks the buses
// depth first from bus 0, numbers unconfigured bridges, sizes every memory BAR and assigns it a
// base from one MMIO window, programs MPS/MRRS in the PCI Express capability, enables memory decode
// and bus mastering, and records what it found (vtd-pcie.md §5). SR-IOV physical functions get
// their VF BARs and VF bus numbers reserved at scan; enable_sriov()/disable_sriov() then create and
// remove the VFs as Linux's pci_enable_sriov()/pci_disable_sriov() do. Plain C++ over HostAccess,
// so a unit test can put a fake machine under it and a platform can route the same accesses through
// TLM sockets.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
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

// A physical function's SR-IOV capability as enumeration found and programmed it.
struct PciSriovInfo {
  uint16_t cap = 0;  // offset of the SR-IOV extended capability
  uint16_t initial_vfs = 0, total_vfs = 0;
  // Read after writing NumVFs (they may depend on it): with TotalVFs at scan, with num_vfs once
  // enabled.
  uint16_t first_vf_offset = 0, vf_stride = 0;
  uint16_t vf_device = 0;      // VF Device ID: the device id VFs are recorded with
  bool ari_hierarchy = false;  // ARI Capable Hierarchy written at scan
  // The highest bus a VF can have (TotalVFs VFs), reserved below the PF's bridge at scan.
  uint8_t last_vf_bus = 0;
  // VF BARn as assigned: `base` is VF 0's BAR (VF i's = base + i * size), `size` one VF's; the
  // region reserved is total_vfs * size, aligned to size.
  std::vector<PciBar> vf_bars;
  uint16_t num_vfs = 0;  // enabled by enable_sriov(), 0 while disabled
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
  // A physical function's SR-IOV capability (nullopt: none, or one Linux would not use: First VF
  // Offset 0, or VF Stride 0 with more than one VF).
  std::optional<PciSriovInfo> sriov;
  // A virtual function (added by enable_sriov()): its PF, its index. `vendor` is the PF's and
  // `device` the PF's VF Device ID (the VF's own header reads 0xFFFF, as Linux does it); `bars` are
  // its slices of the PF's VF BARs; mps/mrrs are the PF's (a VF's fields are RsvdP).
  bool is_vf = false;
  uint16_t pf_rid = 0;
  unsigned vf_index = 0;
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
  //
  // SR-IOV (Linux's sriov_init): a function with the SR-IOV capability has VF Enable and VF MSE
  // cleared (VFs left enabled go away), ARI Capable Hierarchy set when it has an ARI capability, is
  // below a bridge (not on bus 0) and is the first PF on its bus (the bridges model no ARI
  // Forwarding bit to check), the system page size set to the smallest supported one (Linux with 4
  // KiB pages), its VF BARs sized like BARs (through the capability's VF BAR registers) and the bus
  // numbers of its VFs reserved: NumVFs is set to each of TotalVFs..1 in turn (offset and stride
  // may depend on it) and the highest last-VF bus seen counts as used on its bus, before any bridge
  // there is numbered, so the bridge above covers it. Each VF BAR gets a region of TotalVFs x its
  // size, aligned to its size (as Linux's pcibios_iov_resource_alignment), placed with the BARs: by
  // alignment, then size, largest first; it must fit like any BAR (Linux would leave it unassigned
  // and refuse VFs later). The bridges' windows cover the regions.
  const std::vector<PciFunctionInfo>& enumerate();
  // In scan order: a bus's functions by dev.fn, then the buses below its bridges; each PF's enabled
  // VFs right after it, by index.
  const std::vector<PciFunctionInfo>& functions() const { return functions_; }
  // Finds VFs too. The pointer is valid until the next enumerate(), enable_sriov() or
  // disable_sriov().
  const PciFunctionInfo* find(uint16_t rid) const;

  // What Linux's pci_enable_sriov() does: writes NumVFs, reads First VF Offset and VF Stride, sets
  // VF Enable and VF MSE (ARI Capable Hierarchy kept as scan set it), then probes each VF at its
  // routing id (PF RID + offset + stride * i) over ECAM: reads its header (vendor and device read
  // 0xFFFF), its capabilities, sets Bus Master Enable in its Command (with
  // EnumeratorOptions::enable), and records it (see PciFunctionInfo) with BARs base + i * size from
  // the PF's VF BARs. Returns the VFs added (valid until disable_sriov() of this PF or
  // enumerate()). std::invalid_argument, with nothing written: an unknown rid or a VF, no usable
  // SR-IOV capability, num_vfs 0 or above TotalVFs, VFs already enabled. std::runtime_error: a VF's
  // routing id beyond 0xFFFF, on a bus the PF's bridge does not cover, or taken by another
  // function; a VF that does not answer (its class code reads all ones) — the PF is then disabled
  // again.
  const std::vector<PciFunctionInfo>& enable_sriov(uint16_t pf_rid, uint16_t num_vfs);
  // What pci_disable_sriov() does: clears VF Enable and VF MSE, then NumVFs, and removes the VFs
  // from functions(). Nothing happens when none are enabled; std::invalid_argument for an unknown
  // rid, a VF or a function without a usable SR-IOV capability.
  void disable_sriov(uint16_t pf_rid);

  // A tree in the spirit of `lspci -tv`: one line per function, each bus under the bridge leading
  // to it, BARs under their function:
  //
  //   [0000:00]
  //   +-- 00:00.0 8086:1000 class 020000 multifunction mps 256 mrrs 512
  //   |     BAR0 64-bit prefetchable [0x00000000c0000000-0x00000000c00fffff] 1M
  //   +-- 00:00.1 8086:1001 class 020000 multifunction
  //   +-- 00:1c.0 8086:2000 class 060400 bridge [01-01] mps 256 mrrs 512
  //   |     [0000:01]
  //   |     `-- 01:00.0 8086:3000 class 010802 mps 256 mrrs 512
  //   |           BAR0 32-bit [0xc0100000-0xc0103fff] 16K
  //   `-- 00:1d.0 8086:2001 class 060400 bridge [02-04] mps 256 mrrs 512
  //         [0000:02]
  //         +-- 02:00.0 8086:10fb class 020000 mps 256 mrrs 512 sriov 200/200 VFs
  //         |     BAR2 32-bit [0xc0300000-0xc0303fff] 16K
  //         |     VF BAR2 32-bit [0xc0304000-0xc03cbfff] 4K x 200
  //         +-- 02:10.0 8086:10ed class 020000 mps 256 mrrs 512 VF 0 of 02:00.0
  //         |     BAR2 32-bit [0xc0304000-0xc0304fff] 4K
  //         ...
  //         `-- 02:1f.6 8086:10ed class 020000 mps 256 mrrs 512 VF 63 of 02:00.0
  //               BAR2 32-bit [0xc0343000-0xc0343fff] 4K
  //         [0000:03]
  //         +-- 03:00.0 8086:10ed class 020000 mps 256 mrrs 512 VF 64 of 02:00.0
  //         ...
  //         [0000:04]
  //         ...
  //
  // A function line is bus:dev.fn, vendor:device, class code, then when they apply: multifunction,
  // bridge [secondary-subordinate], mps/mrrs (functions with a PCI Express capability), sriov
  // enabled/total VFs (a PF), VF i of its PF (a VF). VFs are listed with the functions of their
  // bus; a VF bus other than its PF's (no bridge leads there) follows the PF's bus, at its level.
  // BAR ranges are inclusive; 32-bit BARs print 8 hex digits, 64-bit ones 16; a PF's VF BARs show
  // the whole region and the per-VF size. Empty before enumerate().
  std::string listing() const;

 private:
  struct Pending {  // a BAR (or a PF's VF BAR region) sized but not yet placed
    std::size_t function;
    std::size_t bar;
    bool vf = false;  // bar indexes sriov->vf_bars
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
  // The memory BARs of a block of `count` BAR registers at `reg0` (header or SR-IOV VF BARs),
  // sized by writing all ones; decode must be off.
  std::vector<PciBar> size_bar_block(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t reg0,
                                     unsigned count);
  // Linux's sriov_init(): see enumerate().
  void init_sriov(PciFunctionInfo& info);
  void write_bar(const PciFunctionInfo& f, uint16_t reg, const PciBar& bar);
  // The PF of enable_sriov()/disable_sriov(), checked.
  PciFunctionInfo& sriov_pf(uint16_t pf_rid, const char* what);
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
  std::map<uint16_t, std::vector<PciFunctionInfo>>
      vfs_;                          // enabled VFs by PF (enable_sriov's result)
  std::set<uint8_t> scanned_buses_;  // guards against bridges that loop or share a bus
  unsigned max_bus_ = 0;             // highest bus number scanned or claimed by firmware so far
};

}  // namespace iovsim::cpu_stub

// A PCI Express function's configuration space (4 KiB), plain C++: the type 0 (endpoint) or type 1
// (root port / bridge) header, BARs with sizing, command/status semantics, and the standard and
// extended capability lists (vtd-pcie.md §5). Software (ECAM accesses) goes through read()/write(),
// which honour read-only, read-write and RW1C bits; the device model defines the layout at
// construction and observes the result (memory_enabled(), bus_master(), bar_address(), mps(), ...).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace iovsim::pcie {

// Capability ids.
constexpr uint8_t kCapMsi = 0x05, kCapPcie = 0x10, kCapMsix = 0x11;
constexpr uint16_t kExtCapAri = 0x0E, kExtCapAts = 0x0F, kExtCapSriov = 0x10, kExtCapPasid = 0x1B;
// ATS capability: the ATS Control register's offset and its Enable bit.
constexpr uint16_t kAtsCtrl = 0x06, kAtsCtrlEnable = 1u << 15;

// Header offsets and command bits.
constexpr uint16_t kCfgVendor = 0x00, kCfgDevice = 0x02, kCfgCommand = 0x04, kCfgStatus = 0x06,
                   kCfgRevision = 0x08, kCfgClass = 0x09, kCfgHeaderType = 0x0E, kCfgBar0 = 0x10,
                   kCfgPrimaryBus = 0x18, kCfgSecondaryBus = 0x19, kCfgSubordinateBus = 0x1A,
                   kCfgSubsystemVendor = 0x2C, kCfgSubsystem = 0x2E, kCfgCapPtr = 0x34,
                   kCfgInterruptLine = 0x3C, kCfgInterruptPin = 0x3D, kCfgExtCapStart = 0x100;
constexpr uint16_t kCmdMemorySpace = 1u << 1, kCmdBusMaster = 1u << 2;
constexpr uint16_t kStatusCapList = 1u << 4;

struct BarInfo {
  uint64_t size = 0;  // 0 = not implemented
  bool is64 = false;  // uses the next BAR as its upper half
  bool prefetchable = false;
};

class ConfigSpace {
 public:
  static constexpr unsigned kSize = 4096;

  // header_type 0 (endpoint) or 1 (bridge); multifunction sets header-type bit 7.
  ConfigSpace(uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t header_type = 0,
              bool multifunction = false);

  // ---- Software's view (ECAM): naturally aligned accesses of 1, 2 or 4 bytes. ----
  uint32_t read(uint16_t offset, unsigned size) const;
  void write(uint16_t offset, unsigned size, uint32_t value);

  // ---- Device side: layout, defined before software touches it. ----
  // Memory BAR `index` (0..5 type 0, 0..1 type 1) of `size` bytes (a power of two >= 16; 0 = none).
  void define_bar(unsigned index, uint64_t size, bool is64, bool prefetchable = false);
  // Appends a standard capability of `length` bytes (>= 4, id and next pointer included) to the
  // list starting at 0x34 and returns its offset; bytes after the 2-byte header are zero and
  // read-only until set_rw_mask() makes them writable.
  uint16_t add_capability(uint8_t id, unsigned length);
  // Appends an extended capability (header: id 15:0, version 19:16, next 31:20) from 0x100.
  uint16_t add_ext_capability(uint16_t id, uint8_t version, unsigned length);
  // Ready-made capability structures (layouts as vtd-pcie.md §5); each returns its offset.
  uint16_t add_msi(unsigned vectors_log2, bool addr64, bool per_vector_mask);
  uint16_t add_msix(unsigned table_size, unsigned table_bir, uint32_t table_offset,
                    unsigned pba_bir, uint32_t pba_offset);
  // PCI Express capability; max_payload_supported as the 3-bit encoding (128 << v bytes);
  // port_type: 0 endpoint, 4 root port.
  uint16_t add_pcie(unsigned max_payload_supported, unsigned port_type = 0);
  uint16_t add_ari(uint8_t next_function);
  uint16_t add_ats(unsigned invalidate_queue_depth);
  uint16_t add_pasid(unsigned max_width);
  // SR-IOV: TotalVFs = InitialVFs = total_vfs, First VF Offset, VF Stride, VF Device ID, VF BARs
  // sized like BARs (vf_bars[i] sizes per VF), supported page sizes 4 KiB.
  uint16_t add_sriov(uint16_t total_vfs, uint16_t first_vf_offset, uint16_t vf_stride,
                     uint16_t vf_device_id, const std::array<BarInfo, 6>& vf_bars);

  // Device-side raw access: ignores masks (the device sets read-only fields and status bits).
  uint32_t raw(uint16_t offset, unsigned size) const;
  void set_raw(uint16_t offset, unsigned size, uint32_t value);
  // Makes bits software-writable (rw) or write-one-to-clear (rw1c) at offset (size 1, 2 or 4).
  void set_rw_mask(uint16_t offset, unsigned size, uint32_t rw);
  void set_rw1c_mask(uint16_t offset, unsigned size, uint32_t rw1c);
  // Called after every software write that changed something: (offset, size) of the access.
  void on_write(std::function<void(uint16_t offset, unsigned size)> hook) {
    hooks_.push_back(std::move(hook));
  }

  // ---- Device side: observing what software programmed. ----
  uint16_t vendor() const;
  uint8_t header_type() const;  // without the multifunction bit
  bool multifunction() const;
  uint16_t command() const;
  bool memory_enabled() const { return command() & kCmdMemorySpace; }
  bool bus_master() const { return command() & kCmdBusMaster; }
  const BarInfo& bar_info(unsigned index) const { return bars_.at(index); }
  // The programmed base of an implemented BAR (64-bit BARs combine both halves); nullopt when the
  // BAR is not implemented or is still being sized (all ones written).
  std::optional<uint64_t> bar_address(unsigned index) const;
  // Whether addr falls in a BAR this function decodes (memory space enabled); the BAR index if so.
  std::optional<unsigned> bar_hit(uint64_t addr, uint64_t len) const;
  // Offsets of capabilities (0 when absent).
  uint16_t find_capability(uint8_t id) const;
  uint16_t find_ext_capability(uint16_t id) const;
  // MPS and MRRS in bytes from the PCI Express capability's Device Control (128 when absent). mps()
  // is clamped to Max Payload Size Supported (a larger written value reads back but is not used);
  // the reserved MRRS encodings 6 and 7 count as 4096.
  unsigned mps() const;
  unsigned mrrs() const;
  // Type 1: bus numbers.
  uint8_t secondary_bus() const;
  uint8_t subordinate_bus() const;
  // SR-IOV: the programmed base of VF BAR `index` (VF n's BAR is this + n * size); nullopt when
  // there is no SR-IOV capability, the VF BAR is not implemented or it is being sized. (Addition to
  // the API.)
  std::optional<uint64_t> vf_bar_address(unsigned index) const;

 private:
  // A block of six BAR registers at `reg0` (header BARs or SR-IOV VF BARs) and their decoding.
  void layout_bar(uint16_t reg0, std::array<BarInfo, 6>& bars, unsigned index, const BarInfo& bar,
                  unsigned count);
  std::optional<uint64_t> decode_bar(uint16_t reg0, const std::array<BarInfo, 6>& bars,
                                     unsigned index) const;
  void set_mask(std::array<uint8_t, kSize>& mask, uint16_t offset, unsigned size, uint32_t bits);

  std::array<uint8_t, kSize> data_{};
  std::array<uint8_t, kSize> rw_{};    // per-bit writable
  std::array<uint8_t, kSize> rw1c_{};  // per-bit write-one-to-clear
  std::array<BarInfo, 6> bars_{};
  uint16_t last_cap_ = 0, last_ext_cap_ = 0;
  uint16_t cap_end_ = 0x40, ext_cap_end_ = kCfgExtCapStart;  // where the next capability goes
  uint16_t sriov_cap_ = 0;
  std::array<BarInfo, 6> vf_bars_{};
  std::vector<std::function<void(uint16_t, unsigned)>> hooks_;
};

}  // namespace iovsim::pcie

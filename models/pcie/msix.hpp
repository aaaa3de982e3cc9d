// Device-side MSI-X and MSI behaviour (vtd-pcie.md §5, PCI spec), plain C++: the MSI-X table and
// pending bit array (which live in a BAR; the device forwards BAR accesses in those ranges here),
// the per-vector and function masks, pending bits, and the release of pending messages on unmask.
// Control (enable, function mask, MME, MSI mask bits) lives in the ConfigSpace capability; the
// classes observe it and hook ConfigSpace::on_write so an unmask through config space releases
// pending messages at once. Both classes register a hook on the ConfigSpace they are given, which
// must outlive them; they are neither copyable nor movable (the hook refers to the object).
#pragma once

#include <tlm>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "config_space.hpp"

namespace iovsim::pcie {

struct MsiMessage {
  uint64_t address = 0;
  uint32_t data = 0;
  unsigned vector = 0;
};

// MSI-X capability control bits (Message Control at +2) and vector control bit.
constexpr uint16_t kMsixCtrlEnable = 1u << 15, kMsixCtrlFunctionMask = 1u << 14;
constexpr uint32_t kMsixVectorMasked = 1u << 0;
constexpr unsigned kMsixEntrySize = 16;

class MsixTable {
 public:
  // cap_offset: an MSI-X capability (ConfigSpace::add_msix) whose table size is table_size;
  // throws std::invalid_argument otherwise.
  MsixTable(ConfigSpace& cs, uint16_t cap_offset, unsigned table_size);
  MsixTable(const MsixTable&) = delete;
  MsixTable& operator=(const MsixTable&) = delete;

  // BAR accesses, offsets relative to the table / PBA start; aligned accesses of 4 or 8 bytes
  // (anything else throws std::invalid_argument). Table entry i (16 B): addr lo +0 (bits 1:0 read
  // 0), addr hi +4, data +8, vector control +12 (bit 0 mask; other bits reserved, read 0). Reset:
  // every vector masked. Offsets past the table / PBA read 0 and ignore writes. The PBA is
  // read-only (writes ignored): vector v at bit v % 64 of qword v / 64.
  uint64_t table_read(uint32_t offset, unsigned size) const;
  void table_write(uint32_t offset, unsigned size, uint64_t value);
  uint64_t pba_read(uint32_t offset, unsigned size) const;
  void pba_write(uint32_t offset, unsigned size, uint64_t value);  // checked, then ignored

  // The device wants to signal `vector` (< size(), else std::out_of_range): if MSI-X is enabled and
  // neither the function mask nor the vector's mask is set, returns the message to send; otherwise,
  // when enabled, the vector's pending bit is set and nothing is sent (when MSI-X is disabled
  // nothing happens: returns nullopt, not pending).
  std::optional<MsiMessage> signal(unsigned vector);
  // Messages that became deliverable since the last call, in the order they were released (by
  // vector within one release), because a vector or the function was unmasked (or MSI-X enabled)
  // while its pending bit was set; the pending bit is cleared as the message is released, with the
  // address/data programmed at release time.
  std::vector<MsiMessage> take_released();

  bool enabled() const;
  bool function_masked() const;
  bool masked(unsigned vector) const;  // the vector's own mask bit
  bool pending(unsigned vector) const;
  unsigned size() const { return static_cast<unsigned>(entries_.size()); }
  // Bytes the table and the PBA occupy in their BARs (addition): 16 * size, 8 * ceil(size / 64).
  uint32_t table_bytes() const { return size() * kMsixEntrySize; }
  uint32_t pba_bytes() const { return static_cast<uint32_t>(pba_.size() * 8); }
  // The programmed message of a vector, whatever its masks (addition).
  MsiMessage message(unsigned vector) const;

 private:
  struct Entry {
    uint32_t addr_lo = 0, addr_hi = 0, data = 0, control = kMsixVectorMasked;
  };
  uint16_t control() const;
  bool deliverable(unsigned vector) const;
  void set_pending(unsigned vector, bool on);
  void release();  // moves every deliverable pending vector to released_
  uint32_t read_dword(uint32_t offset) const;
  void write_dword(uint32_t offset, uint32_t value);

  ConfigSpace& cs_;
  uint16_t cap_;
  std::vector<Entry> entries_;
  std::vector<uint64_t> pba_;
  std::vector<MsiMessage> released_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // the config hook's guard
};

// Sends `m` as a device does: a posted 4-byte write from requester `rid` on `out`, leaving at
// send_ps (annotated), carrying core::IrqTiming (decided at decide_ps, sent at send_ps) so the
// interrupt's latency can be split by stage.
void send_msi_write(tlm::tlm_fw_transport_if<>& out, const MsiMessage& m, uint16_t rid,
                    uint64_t decide_ps, uint64_t send_ps);

// MSI capability layout (Message Control at +2).
constexpr uint16_t kMsiCtrlEnable = 1u << 0, kMsiCtrl64Bit = 1u << 7,
                   kMsiCtrlPerVectorMask = 1u << 8;

// Plain MSI (capability added with ConfigSpace::add_msi): enable, multiple-message enable, address,
// data, per-vector mask and pending when the capability has them.
class MsiCapability {
 public:
  // cap_offset: an MSI capability (throws std::invalid_argument otherwise).
  MsiCapability(ConfigSpace& cs, uint16_t cap_offset);
  MsiCapability(const MsiCapability&) = delete;
  MsiCapability& operator=(const MsiCapability&) = delete;

  // vector < 2^MMC (else std::out_of_range). Disabled, or vector >= vectors() (not allocated by
  // software): nullopt, not pending. Masked (per-vector masking): pending bit set, nullopt.
  // Otherwise the message: address as programmed, data = (programmed data & ~(vectors() - 1)) | v.
  std::optional<MsiMessage> signal(unsigned vector);
  // As MsixTable::take_released: messages released by an unmask (or enable) while pending.
  std::vector<MsiMessage> take_released();

  // Observers (additions).
  bool enabled() const;
  // Vectors software allocated: 2^MME, MME clamped to MMC (a larger MME is undefined; not used).
  unsigned vectors() const;
  unsigned capable() const;  // 2^MMC
  bool has_mask() const;     // per-vector masking capable
  bool masked(unsigned vector) const;
  bool pending(unsigned vector) const;
  uint16_t mask_offset() const { return static_cast<uint16_t>(cap_ + data_off_ + 4); }
  uint16_t pending_offset() const { return static_cast<uint16_t>(cap_ + data_off_ + 8); }
  // The message for `vector` as currently programmed (addition).
  MsiMessage message(unsigned vector) const;

 private:
  uint16_t control() const;
  void release();

  ConfigSpace& cs_;
  uint16_t cap_;
  unsigned data_off_;  // 0x8 (32-bit address) or 0xC (64-bit)
  std::vector<MsiMessage> released_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace iovsim::pcie

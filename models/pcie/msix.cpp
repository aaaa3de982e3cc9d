#include "msix.hpp"

#include <iovsim/core/pcie_ext.hpp>

#include <iovsim/core/irq_timing.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace iovsim::pcie {

namespace {

// Whether the config access (offset, size) touches [begin, begin + len).
bool overlaps(uint16_t offset, unsigned size, unsigned begin, unsigned len) {
  return offset < begin + len && begin < offset + size;
}

void check_bar_access(uint32_t offset, unsigned size) {
  if ((size != 4 && size != 8) || offset % size != 0)
    throw std::invalid_argument("MSI-X table and PBA take aligned 4- or 8-byte accesses");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MSI-X

MsixTable::MsixTable(ConfigSpace& cs, uint16_t cap_offset, unsigned table_size)
    : cs_(cs), cap_(cap_offset) {
  if (cap_offset < 0x40 || cap_offset > 0xF0 || cs.raw(cap_offset, 1) != kCapMsix)
    throw std::invalid_argument("no MSI-X capability at the given offset");
  if (table_size != (cs.raw(static_cast<uint16_t>(cap_offset + 2), 2) & 0x7FFu) + 1)
    throw std::invalid_argument("MSI-X table size differs from the capability's");
  entries_.resize(table_size);
  pba_.assign((table_size + 63) / 64, 0);
  // Enable or function mask changes can release pending messages at once.
  std::weak_ptr<bool> alive = alive_;
  cs.on_write([this, alive](uint16_t offset, unsigned size) {
    if (alive.expired()) return;
    if (overlaps(offset, size, cap_ + 2u, 2)) release();
  });
}

uint16_t MsixTable::control() const {
  return static_cast<uint16_t>(cs_.raw(static_cast<uint16_t>(cap_ + 2), 2));
}

bool MsixTable::enabled() const {
  return control() & kMsixCtrlEnable;
}

bool MsixTable::function_masked() const {
  return control() & kMsixCtrlFunctionMask;
}

bool MsixTable::masked(unsigned vector) const {
  return entries_.at(vector).control & kMsixVectorMasked;
}

bool MsixTable::pending(unsigned vector) const {
  if (vector >= size()) throw std::out_of_range("MSI-X vector out of range");
  return (pba_[vector / 64] >> (vector % 64)) & 1u;
}

MsiMessage MsixTable::message(unsigned vector) const {
  const Entry& e = entries_.at(vector);
  return MsiMessage{(uint64_t{e.addr_hi} << 32) | e.addr_lo, e.data, vector};
}

bool MsixTable::deliverable(unsigned vector) const {
  const uint16_t ctrl = control();
  return (ctrl & kMsixCtrlEnable) && !(ctrl & kMsixCtrlFunctionMask) && !masked(vector);
}

void MsixTable::set_pending(unsigned vector, bool on) {
  const uint64_t bit = uint64_t{1} << (vector % 64);
  if (on)
    pba_[vector / 64] |= bit;
  else
    pba_[vector / 64] &= ~bit;
}

void MsixTable::release() {
  const uint16_t ctrl = control();
  if (!(ctrl & kMsixCtrlEnable) || (ctrl & kMsixCtrlFunctionMask)) return;
  for (size_t w = 0; w < pba_.size(); ++w) {
    for (uint64_t bits = pba_[w]; bits != 0; bits &= bits - 1) {
      unsigned b = 0;
      while (!((bits >> b) & 1u)) ++b;
      const auto vector = static_cast<unsigned>(w * 64 + b);
      if (masked(vector)) continue;
      set_pending(vector, false);
      released_.push_back(message(vector));
    }
  }
}

std::optional<MsiMessage> MsixTable::signal(unsigned vector) {
  if (vector >= size()) throw std::out_of_range("MSI-X vector out of range");
  if (!enabled()) return std::nullopt;
  if (!deliverable(vector)) {
    set_pending(vector, true);
    return std::nullopt;
  }
  return message(vector);
}

std::vector<MsiMessage> MsixTable::take_released() {
  release();  // anything the device side changed without a config write
  return std::exchange(released_, {});
}

uint32_t MsixTable::read_dword(uint32_t offset) const {
  if (offset >= table_bytes()) return 0;
  const Entry& e = entries_[offset / kMsixEntrySize];
  switch (offset % kMsixEntrySize) {
    case 0:
      return e.addr_lo;
    case 4:
      return e.addr_hi;
    case 8:
      return e.data;
    default:
      return e.control;
  }
}

void MsixTable::write_dword(uint32_t offset, uint32_t value) {
  if (offset >= table_bytes()) return;
  Entry& e = entries_[offset / kMsixEntrySize];
  switch (offset % kMsixEntrySize) {
    case 0:
      e.addr_lo = value & ~3u;  // dword-aligned address
      break;
    case 4:
      e.addr_hi = value;
      break;
    case 8:
      e.data = value;
      break;
    default:
      e.control = value & kMsixVectorMasked;  // reserved bits read 0
      break;
  }
}

uint64_t MsixTable::table_read(uint32_t offset, unsigned size) const {
  check_bar_access(offset, size);
  uint64_t v = read_dword(offset);
  if (size == 8) v |= uint64_t{read_dword(offset + 4)} << 32;
  return v;
}

void MsixTable::table_write(uint32_t offset, unsigned size, uint64_t value) {
  check_bar_access(offset, size);
  write_dword(offset, static_cast<uint32_t>(value));
  if (size == 8) write_dword(offset + 4, static_cast<uint32_t>(value >> 32));
  release();  // a vector unmask releases its pending message with the entry as now programmed
}

uint64_t MsixTable::pba_read(uint32_t offset, unsigned size) const {
  check_bar_access(offset, size);
  if (offset >= pba_bytes()) return 0;
  const uint64_t q = pba_[offset / 8];
  if (size == 8) return q;
  return static_cast<uint32_t>(offset % 8 ? q >> 32 : q);
}

void MsixTable::pba_write(uint32_t offset, unsigned size, uint64_t /*value*/) {
  check_bar_access(offset, size);
}

// ---------------------------------------------------------------------------------------------
// MSI

MsiCapability::MsiCapability(ConfigSpace& cs, uint16_t cap_offset) : cs_(cs), cap_(cap_offset) {
  if (cap_offset < 0x40 || cap_offset > 0xF0 || cs.raw(cap_offset, 1) != kCapMsi)
    throw std::invalid_argument("no MSI capability at the given offset");
  data_off_ = (control() & kMsiCtrl64Bit) ? 0xC : 0x8;
  const unsigned length = data_off_ + (has_mask() ? 0xCu : 0x4u);
  std::weak_ptr<bool> alive = alive_;
  cs.on_write([this, alive, length](uint16_t offset, unsigned size) {
    if (alive.expired()) return;
    if (overlaps(offset, size, cap_ + 2u, length - 2)) release();
  });
}

uint16_t MsiCapability::control() const {
  return static_cast<uint16_t>(cs_.raw(static_cast<uint16_t>(cap_ + 2), 2));
}

bool MsiCapability::enabled() const {
  return control() & kMsiCtrlEnable;
}

bool MsiCapability::has_mask() const {
  return control() & kMsiCtrlPerVectorMask;
}

unsigned MsiCapability::capable() const {
  return 1u << ((control() >> 1) & 7u);
}

unsigned MsiCapability::vectors() const {
  const unsigned mmc = (control() >> 1) & 7u, mme = (control() >> 4) & 7u;
  return 1u << std::min(mmc, mme);
}

bool MsiCapability::masked(unsigned vector) const {
  if (vector >= capable()) throw std::out_of_range("MSI vector out of range");
  return has_mask() && ((cs_.raw(mask_offset(), 4) >> vector) & 1u);
}

bool MsiCapability::pending(unsigned vector) const {
  if (vector >= capable()) throw std::out_of_range("MSI vector out of range");
  return has_mask() && ((cs_.raw(pending_offset(), 4) >> vector) & 1u);
}

MsiMessage MsiCapability::message(unsigned vector) const {
  if (vector >= capable()) throw std::out_of_range("MSI vector out of range");
  uint64_t address = cs_.raw(static_cast<uint16_t>(cap_ + 4), 4);
  if (control() & kMsiCtrl64Bit)
    address |= uint64_t{cs_.raw(static_cast<uint16_t>(cap_ + 8), 4)} << 32;
  const uint32_t data = cs_.raw(static_cast<uint16_t>(cap_ + data_off_), 2);
  return MsiMessage{address, (data & ~(vectors() - 1)) | vector, vector};
}

std::optional<MsiMessage> MsiCapability::signal(unsigned vector) {
  if (vector >= capable()) throw std::out_of_range("MSI vector out of range");
  if (!enabled() || vector >= vectors()) return std::nullopt;
  if (masked(vector)) {
    cs_.set_raw(pending_offset(), 4, cs_.raw(pending_offset(), 4) | (1u << vector));
    return std::nullopt;
  }
  return message(vector);
}

void MsiCapability::release() {
  if (!enabled() || !has_mask()) return;
  const uint32_t pend = cs_.raw(pending_offset(), 4);
  if (pend == 0) return;
  const uint32_t mask = cs_.raw(mask_offset(), 4);
  uint32_t cleared = 0;
  for (unsigned v = 0; v < vectors(); ++v) {
    if (!((pend >> v) & 1u) || ((mask >> v) & 1u)) continue;
    cleared |= 1u << v;
    released_.push_back(message(v));
  }
  if (cleared) cs_.set_raw(pending_offset(), 4, pend & ~cleared);
}

std::vector<MsiMessage> MsiCapability::take_released() {
  release();
  return std::exchange(released_, {});
}

void send_msi_write(tlm::tlm_fw_transport_if<>& out, const MsiMessage& m, uint16_t rid,
                    uint64_t decide_ps, uint64_t send_ps) {
  uint32_t data = m.data;
  tlm::tlm_generic_payload p;
  core::PcieExtension ext;
  ext.requester_id = rid;
  ext.posted = true;
  core::IrqTiming timing;
  timing.decide_ps = decide_ps;
  timing.send_ps = send_ps;
  timing.source_rid = rid;
  p.set_extension(&ext);
  p.set_extension(&timing);
  p.set_command(tlm::TLM_WRITE_COMMAND);
  p.set_address(m.address);
  p.set_data_ptr(reinterpret_cast<unsigned char*>(&data));
  p.set_data_length(4);
  p.set_streaming_width(4);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  const uint64_t now = sc_core::sc_time_stamp().value();
  sc_core::sc_time delay = sc_core::sc_time::from_value(send_ps > now ? send_ps - now : 0);
  out.b_transport(p, delay);
  p.clear_extension(&ext);
  p.clear_extension(&timing);
}

}  // namespace iovsim::pcie

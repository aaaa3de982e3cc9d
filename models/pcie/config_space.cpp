#include "config_space.hpp"

#include <algorithm>
#include <stdexcept>

namespace iovsim::pcie {

namespace {

// Command bits software may set: memory space, bus master, parity error response, SERR# enable,
// interrupt disable. I/O space stays 0 (no I/O BARs), the rest is hardwired on PCI Express.
constexpr uint16_t kCommandRw = 0x0546;
// Status error bits the device reports and software clears: 15:11 and master data parity error (8).
constexpr uint16_t kStatusRw1c = 0xF900;
constexpr uint16_t kStdCapEnd = 0x100;  // standard capabilities live in 0x40..0xFF

// PCI Express capability (version 2 layout, 0x3C bytes).
constexpr uint16_t kPcieCapLength = 0x3C;
// Device Control: error reporting enables 3:0, relaxed ordering 4, MPS 7:5, no snoop 11, MRRS
// 14:12. Extended tag (8), phantom functions (9) and aux power (10) are RO 0: not advertised as
// supported.
constexpr uint16_t kDevCtlRw = 0x78FF;
// Reset: relaxed ordering and no snoop enabled, MPS 128 B, MRRS 512 B (PCIe base spec defaults).
constexpr uint16_t kDevCtlReset = 0x2810;
constexpr uint32_t kDevCapRoleBasedErrors = 1u << 15;  // must be 1 on PCIe 1.1+ functions
constexpr uint32_t kLinkCapGen3x8 = 0x83;              // max speed 3 (8 GT/s), max width 8
constexpr uint16_t kLinkStatusGen3x8 = 0x83;           // current speed 3, negotiated width 8

constexpr uint16_t kSriovLength = 0x40, kSriovVfBar0 = 0x24;
constexpr uint16_t kSriovCtlRw = 0x0019;  // VF Enable, VF MSE, ARI capable hierarchy

// What an unanswered access returns: all ones of its width (a full dword for invalid sizes).
uint32_t all_ones(unsigned size) {
  return size == 1 ? 0xFFu : size == 2 ? 0xFFFFu : 0xFFFFFFFFu;
}

bool valid_access_size(unsigned size) {
  return size == 1 || size == 2 || size == 4;
}

uint16_t align4(unsigned v) {
  return static_cast<uint16_t>((v + 3) & ~3u);
}

// Checks that `bar` can be placed at `index` of a block of `count` BAR registers given the BARs
// already there; throws on a layout the PCI spec cannot express.
void validate_bar(const std::array<BarInfo, 6>& bars, unsigned index, const BarInfo& bar,
                  unsigned count) {
  if (index >= count) throw std::out_of_range("BAR index out of range for this header type");
  if (index > 0 && bars[index - 1].size != 0 && bars[index - 1].is64)
    throw std::invalid_argument("BAR slot is the upper half of a 64-bit BAR");
  if (bar.size == 0) return;
  if (bar.size < 16 || (bar.size & (bar.size - 1)) != 0)
    throw std::invalid_argument("BAR size must be a power of two >= 16");
  if (!bar.is64 && bar.size > (uint64_t{1} << 31))
    throw std::invalid_argument("32-bit BAR larger than 2 GiB");
  if (bar.is64 && bar.size > (uint64_t{1} << 63))
    throw std::invalid_argument("64-bit BAR larger than 2^63");
  if (bar.is64 && (index + 1 >= count || bars[index + 1].size != 0))
    throw std::invalid_argument("64-bit BAR needs the next BAR slot free for its upper half");
}

// Address bits of a BAR software can program: those at or above log2(size), above the flag nibble.
uint64_t bar_address_mask(const BarInfo& bar) {
  uint64_t mask = ~(bar.size - 1) & ~uint64_t{0xF};
  return bar.is64 ? mask : (mask & 0xFFFFFFFFu);
}

}  // namespace

ConfigSpace::ConfigSpace(uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t header_type,
                         bool multifunction) {
  if (header_type > 1) throw std::invalid_argument("header type must be 0 or 1");
  if (class_code > 0xFFFFFF) throw std::invalid_argument("class code is 24 bits");
  set_raw(kCfgVendor, 2, vendor);
  set_raw(kCfgDevice, 2, device);
  set_raw(kCfgRevision, 4,
          class_code << 8);  // revision 0 (the device may set it), class 0x09..0x0B
  set_raw(kCfgHeaderType, 1, header_type | (multifunction ? 0x80u : 0u));
  set_rw_mask(kCfgCommand, 2, kCommandRw);
  set_rw1c_mask(kCfgStatus, 2, kStatusRw1c);
  set_rw_mask(0x0C, 1, 0xFF);  // cache line size: RW per spec, no effect on PCI Express
  set_rw_mask(kCfgInterruptLine, 1, 0xFF);
  if (header_type == 1)
    set_rw_mask(kCfgPrimaryBus, 4, 0x00FFFFFF);  // primary/secondary/subordinate
}

uint32_t ConfigSpace::read(uint16_t offset, unsigned size) const {
  if (!valid_access_size(size) || offset % size != 0 || offset + size > kSize)
    return all_ones(size);
  return raw(offset, size);
}

void ConfigSpace::write(uint16_t offset, unsigned size, uint32_t value) {
  if (!valid_access_size(size) || offset % size != 0 || offset + size > kSize) return;
  bool changed = false;
  for (unsigned i = 0; i < size; ++i) {
    const unsigned b = offset + i;
    const auto v = static_cast<uint8_t>(value >> (8 * i));
    const uint8_t old = data_[b];
    auto next = static_cast<uint8_t>((old & ~rw_[b]) | (v & rw_[b]));
    next = static_cast<uint8_t>(next & ~(v & rw1c_[b]));
    changed |= next != old;
    data_[b] = next;
  }
  if (!changed) return;
  // By index: a hook may register another hook.
  for (size_t i = 0; i < hooks_.size(); ++i) hooks_[i](offset, size);
}

uint32_t ConfigSpace::raw(uint16_t offset, unsigned size) const {
  if (!valid_access_size(size) || offset + size > kSize)
    throw std::out_of_range("config space raw access out of range");
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint32_t{data_[offset + i]} << (8 * i);
  return v;
}

void ConfigSpace::set_raw(uint16_t offset, unsigned size, uint32_t value) {
  if (!valid_access_size(size) || offset + size > kSize)
    throw std::out_of_range("config space raw access out of range");
  for (unsigned i = 0; i < size; ++i) data_[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

void ConfigSpace::set_mask(std::array<uint8_t, kSize>& mask, uint16_t offset, unsigned size,
                           uint32_t bits) {
  if (!valid_access_size(size) || offset + size > kSize)
    throw std::out_of_range("config space mask out of range");
  for (unsigned i = 0; i < size; ++i) mask[offset + i] = static_cast<uint8_t>(bits >> (8 * i));
}

// The masks replace the previous ones for the bytes covered, and a bit is either RW or RW1C, never
// both (the last call wins), so the write rule stays unambiguous.
void ConfigSpace::set_rw_mask(uint16_t offset, unsigned size, uint32_t rw) {
  set_mask(rw_, offset, size, rw);
  for (unsigned i = 0; i < size; ++i) rw1c_[offset + i] &= static_cast<uint8_t>(~rw_[offset + i]);
}

void ConfigSpace::set_rw1c_mask(uint16_t offset, unsigned size, uint32_t rw1c) {
  set_mask(rw1c_, offset, size, rw1c);
  for (unsigned i = 0; i < size; ++i) rw_[offset + i] &= static_cast<uint8_t>(~rw1c_[offset + i]);
}

// ---- BARs ----

void ConfigSpace::layout_bar(uint16_t reg0, std::array<BarInfo, 6>& bars, unsigned index,
                             const BarInfo& bar, unsigned count) {
  // Redefinition: checked against the other BARs only, then the old layout (and its upper half)
  // goes.
  std::array<BarInfo, 6> others = bars;
  if (index < count) others[index] = BarInfo{};
  validate_bar(others, index, bar, count);
  auto clear_dword = [this](uint16_t reg) {
    set_raw(reg, 4, 0);
    set_rw_mask(reg, 4, 0);
    set_rw1c_mask(reg, 4, 0);
  };
  if (bars[index].size != 0) {
    if (bars[index].is64) clear_dword(static_cast<uint16_t>(reg0 + 4 * (index + 1)));
    clear_dword(static_cast<uint16_t>(reg0 + 4 * index));
    bars[index] = BarInfo{};
  }
  if (bar.size == 0) return;
  bars[index] = bar;
  const auto reg = static_cast<uint16_t>(reg0 + 4 * index);
  // Flags: memory (bit 0 = 0), type 2:1, prefetchable 3; all read-only.
  set_raw(reg, 4, (bar.is64 ? 0x4u : 0u) | (bar.prefetchable ? 0x8u : 0u));
  const uint64_t mask = bar_address_mask(bar);
  set_rw_mask(reg, 4, static_cast<uint32_t>(mask));
  if (bar.is64) set_rw_mask(static_cast<uint16_t>(reg + 4), 4, static_cast<uint32_t>(mask >> 32));
}

std::optional<uint64_t> ConfigSpace::decode_bar(uint16_t reg0, const std::array<BarInfo, 6>& bars,
                                                unsigned index) const {
  if (index >= bars.size() || bars[index].size == 0) return std::nullopt;
  const BarInfo& bar = bars[index];
  const auto reg = static_cast<uint16_t>(reg0 + 4 * index);
  uint64_t value = raw(reg, 4);
  if (bar.is64) value |= uint64_t{raw(static_cast<uint16_t>(reg + 4), 4)} << 32;
  const uint64_t mask = bar_address_mask(bar);
  const uint64_t address = value & mask;
  if (address == mask) return std::nullopt;  // all ones written: software is sizing it
  return address;
}

void ConfigSpace::define_bar(unsigned index, uint64_t size, bool is64, bool prefetchable) {
  const unsigned count = header_type() == 1 ? 2 : 6;
  layout_bar(kCfgBar0, bars_, index, BarInfo{size, is64, prefetchable}, count);
}

std::optional<uint64_t> ConfigSpace::bar_address(unsigned index) const {
  return decode_bar(kCfgBar0, bars_, index);
}

std::optional<unsigned> ConfigSpace::bar_hit(uint64_t addr, uint64_t len) const {
  if (!memory_enabled()) return std::nullopt;
  for (unsigned i = 0; i < bars_.size(); ++i) {
    const auto base = bar_address(i);
    if (!base) continue;
    const uint64_t size = bars_[i].size;
    // Written without base + size, which can overflow at the top of the address space.
    if (addr >= *base && addr - *base < size && len <= size - (addr - *base)) return i;
  }
  return std::nullopt;
}

std::optional<uint64_t> ConfigSpace::vf_bar_address(unsigned index) const {
  if (sriov_cap_ == 0) return std::nullopt;
  return decode_bar(static_cast<uint16_t>(sriov_cap_ + kSriovVfBar0), vf_bars_, index);
}

// ---- Capability lists ----

uint16_t ConfigSpace::add_capability(uint8_t id, unsigned length) {
  if (length < 4) throw std::invalid_argument("a capability is at least 4 bytes");
  const uint16_t off = cap_end_;
  if (off + length > kStdCapEnd)
    throw std::length_error("no room for the capability in 0x40..0xFF");
  data_[off] = id;
  data_[off + 1] = 0;
  if (last_cap_ != 0)
    data_[last_cap_ + 1] = static_cast<uint8_t>(off);
  else
    data_[kCfgCapPtr] = static_cast<uint8_t>(off);
  last_cap_ = off;
  cap_end_ = align4(off + length);
  data_[kCfgStatus] |= kStatusCapList;
  return off;
}

uint16_t ConfigSpace::add_ext_capability(uint16_t id, uint8_t version, unsigned length) {
  if (version > 0xF) throw std::invalid_argument("extended capability version is 4 bits");
  if (length < 4) throw std::invalid_argument("a capability is at least 4 bytes");
  const uint16_t off = ext_cap_end_;
  if (off + length > kSize) throw std::length_error("no room for the extended capability");
  set_raw(off, 4, id | (uint32_t{version} << 16));
  if (last_ext_cap_ != 0) {
    const uint32_t header = raw(last_ext_cap_, 4);
    set_raw(last_ext_cap_, 4, (header & 0x000FFFFF) | (uint32_t{off} << 20));
  }
  last_ext_cap_ = off;
  ext_cap_end_ = align4(off + length);
  return off;
}

uint16_t ConfigSpace::find_capability(uint8_t id) const {
  if (!(data_[kCfgStatus] & kStatusCapList)) return 0;
  uint16_t off = data_[kCfgCapPtr] & 0xFC;
  // Bounded walk: the device could have corrupted the list with set_raw.
  for (unsigned n = 0; off >= 0x40 && n < 48; ++n) {
    if (data_[off] == id) return off;
    off = data_[off + 1] & 0xFC;
  }
  return 0;
}

uint16_t ConfigSpace::find_ext_capability(uint16_t id) const {
  uint16_t off = kCfgExtCapStart;
  for (unsigned n = 0; off >= kCfgExtCapStart && n < (kSize - kCfgExtCapStart) / 4; ++n) {
    const uint32_t header = raw(off, 4);
    if (header == 0) return 0;
    if ((header & 0xFFFF) == id) return off;
    off = static_cast<uint16_t>((header >> 20) & 0xFFC);
  }
  return 0;
}

uint16_t ConfigSpace::add_msi(unsigned vectors_log2, bool addr64, bool per_vector_mask) {
  if (vectors_log2 > 5) throw std::invalid_argument("MSI supports at most 32 vectors");
  const unsigned data_off = addr64 ? 0xC : 0x8;
  const unsigned length = data_off + (per_vector_mask ? 0xC : 0x4);
  const uint16_t off = add_capability(kCapMsi, length);
  const auto at = [off](unsigned rel) { return static_cast<uint16_t>(off + rel); };
  set_raw(at(2), 2,
          (vectors_log2 << 1) | (addr64 ? 1u << 7 : 0u) | (per_vector_mask ? 1u << 8 : 0u));
  set_rw_mask(at(2), 2, 0x0071);      // enable, MME
  set_rw_mask(at(4), 4, 0xFFFFFFFC);  // dword-aligned address
  if (addr64) set_rw_mask(at(8), 4, 0xFFFFFFFF);
  set_rw_mask(at(data_off), 2, 0xFFFF);
  if (per_vector_mask) {
    // Mask bits exist only for the vectors the function implements; pending bits are the device's.
    const unsigned vectors = 1u << vectors_log2;
    set_rw_mask(at(data_off + 4), 4, vectors >= 32 ? 0xFFFFFFFFu : (1u << vectors) - 1);
  }
  return off;
}

uint16_t ConfigSpace::add_msix(unsigned table_size, unsigned table_bir, uint32_t table_offset,
                               unsigned pba_bir, uint32_t pba_offset) {
  if (table_size < 1 || table_size > 2048)
    throw std::invalid_argument("MSI-X table size must be 1..2048");
  if (table_bir > 5 || pba_bir > 5) throw std::invalid_argument("MSI-X BIR must be 0..5");
  if ((table_offset & 7) || (pba_offset & 7))
    throw std::invalid_argument("MSI-X table and PBA offsets are 8-byte aligned");
  const uint16_t off = add_capability(kCapMsix, 12);
  set_raw(static_cast<uint16_t>(off + 2), 2, table_size - 1);
  set_rw_mask(static_cast<uint16_t>(off + 2), 2, 0xC000);  // function mask, enable
  set_raw(static_cast<uint16_t>(off + 4), 4, table_offset | table_bir);
  set_raw(static_cast<uint16_t>(off + 8), 4, pba_offset | pba_bir);
  return off;
}

uint16_t ConfigSpace::add_pcie(unsigned max_payload_supported, unsigned port_type) {
  if (max_payload_supported > 5) throw std::invalid_argument("max payload supported is 0..5");
  if (port_type > 0xF) throw std::invalid_argument("device/port type is 4 bits");
  const uint16_t off = add_capability(kCapPcie, kPcieCapLength);
  const auto at = [off](unsigned rel) { return static_cast<uint16_t>(off + rel); };
  set_raw(at(2), 2, 2u | (port_type << 4));
  set_raw(at(4), 4, max_payload_supported | kDevCapRoleBasedErrors);
  set_raw(at(8), 2, kDevCtlReset);
  set_rw_mask(at(8), 2, kDevCtlRw);
  set_rw1c_mask(at(0xA), 2, 0x000F);  // correctable, non-fatal, fatal, unsupported request detected
  set_raw(at(0xC), 4, kLinkCapGen3x8);
  set_raw(at(0x12), 2, kLinkStatusGen3x8);
  return off;
}

uint16_t ConfigSpace::add_ari(uint8_t next_function) {
  const uint16_t off = add_ext_capability(kExtCapAri, 1, 8);
  set_raw(static_cast<uint16_t>(off + 4), 2, uint32_t{next_function} << 8);
  return off;
}

uint16_t ConfigSpace::add_ats(unsigned invalidate_queue_depth) {
  if (invalidate_queue_depth > 32) throw std::invalid_argument("ATS queue depth is 0..32");
  const uint16_t off = add_ext_capability(kExtCapAts, 1, 8);
  // Depth 32 encodes as 0 (as does 0, which the spec also reads as 32).
  set_raw(static_cast<uint16_t>(off + 4), 2, (invalidate_queue_depth & 0x1F) | (1u << 5));
  set_rw_mask(static_cast<uint16_t>(off + 6), 2, 0x801F);  // STU, enable
  return off;
}

uint16_t ConfigSpace::add_pasid(unsigned max_width) {
  if (max_width > 20) throw std::invalid_argument("PASID width is at most 20");
  const uint16_t off = add_ext_capability(kExtCapPasid, 1, 8);
  set_raw(static_cast<uint16_t>(off + 4), 2, max_width << 8);
  set_rw_mask(static_cast<uint16_t>(off + 6), 2, 0x0001);  // enable; exec/privileged unsupported
  return off;
}

uint16_t ConfigSpace::add_sriov(uint16_t total_vfs, uint16_t first_vf_offset, uint16_t vf_stride,
                                uint16_t vf_device_id, const std::array<BarInfo, 6>& vf_bars) {
  if (sriov_cap_ != 0) throw std::logic_error("a function has one SR-IOV capability");
  // Validate the VF BARs before adding anything, so a bad layout leaves the space untouched.
  std::array<BarInfo, 6> check{};
  for (unsigned i = 0; i < 6; ++i) {
    if (vf_bars[i].size == 0 && i > 0 && check[i - 1].is64 && check[i - 1].size != 0) continue;
    validate_bar(check, i, vf_bars[i], 6);
    check[i] = vf_bars[i];
  }
  const uint16_t off = add_ext_capability(kExtCapSriov, 1, kSriovLength);
  const auto at = [off](unsigned rel) { return static_cast<uint16_t>(off + rel); };
  sriov_cap_ = off;
  set_raw(at(4), 4, 0);  // no VF migration, ARI capable hierarchy preserved = 0
  set_rw_mask(at(8), 2, kSriovCtlRw);
  set_raw(at(0xC), 2, total_vfs);    // InitialVFs
  set_raw(at(0xE), 2, total_vfs);    // TotalVFs
  set_rw_mask(at(0x10), 2, 0xFFFF);  // NumVFs
  set_raw(at(0x14), 2, first_vf_offset);
  set_raw(at(0x16), 2, vf_stride);
  set_raw(at(0x1A), 2, vf_device_id);
  set_raw(at(0x1C), 4, 0x1);  // supported page sizes: 4 KiB
  set_raw(at(0x20), 4, 0x1);  // system page size: 4 KiB
  set_rw_mask(at(0x20), 4, 0xFFFFFFFF);
  for (unsigned i = 0; i < 6; ++i)
    if (vf_bars[i].size != 0) layout_bar(at(kSriovVfBar0), vf_bars_, i, vf_bars[i], 6);
  return off;
}

// ---- Observers ----

uint16_t ConfigSpace::vendor() const {
  return static_cast<uint16_t>(raw(kCfgVendor, 2));
}

uint8_t ConfigSpace::header_type() const {
  return data_[kCfgHeaderType] & 0x7F;
}

bool ConfigSpace::multifunction() const {
  return data_[kCfgHeaderType] & 0x80;
}

uint16_t ConfigSpace::command() const {
  return static_cast<uint16_t>(raw(kCfgCommand, 2));
}

unsigned ConfigSpace::mps() const {
  const uint16_t off = find_capability(kCapPcie);
  if (off == 0) return 128;
  const unsigned supported = data_[off + 4] & 0x7;
  const unsigned value = (raw(static_cast<uint16_t>(off + 8), 2) >> 5) & 0x7;
  return 128u << std::min(value, supported);
}

unsigned ConfigSpace::mrrs() const {
  const uint16_t off = find_capability(kCapPcie);
  if (off == 0) return 128;
  const unsigned value = (raw(static_cast<uint16_t>(off + 8), 2) >> 12) & 0x7;
  return 128u << std::min(value, 5u);
}

uint8_t ConfigSpace::secondary_bus() const {
  return data_[kCfgSecondaryBus];
}

uint8_t ConfigSpace::subordinate_bus() const {
  return data_[kCfgSubordinateBus];
}

}  // namespace iovsim::pcie

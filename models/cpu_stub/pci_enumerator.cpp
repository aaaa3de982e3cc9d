#include <iovsim/cpu_stub/pci_enumerator.hpp>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/pcie/config_space.hpp>
#include <iovsim/pcie/sriov.hpp>

namespace iovsim::cpu_stub {

namespace {

namespace pcie = iovsim::pcie;

constexpr unsigned kDevices = 32, kFunctions = 8;
constexpr uint64_t k4GiB = uint64_t{1} << 32;
// BAR low dword: bit 0 I/O, bits 2:1 type (10 = 64-bit), bit 3 prefetchable, address above.
constexpr uint32_t kBarIo = 1u << 0, kBar64 = 2u << 1, kBarTypeMask = 3u << 1,
                   kBarPrefetch = 1u << 3;
constexpr uint32_t kBarFlags = 0xF;
// PCI Express capability: Device Capabilities (max payload supported 2:0) and Device Control
// (MPS 7:5, MRRS 14:12), both encoded as 128 << value bytes.
constexpr uint16_t kPcieDevCap = 0x04, kPcieDevCtl = 0x08;
constexpr unsigned kMpsShift = 5, kMrrsShift = 12;
constexpr unsigned kMaxPayloadEncoding = 5;  // 4096 bytes; 6 and 7 are reserved
// Bounds on list walks, so a corrupt next pointer cannot loop forever: each standard capability
// takes at least 4 bytes of 0x40..0xFF, each extended one at least 4 of 0x100..0xFFF.
// Type 1 memory windows (PCI-to-PCI bridge): base/limit pairs, address bits 31:20 in 15:4.
constexpr uint16_t kBridgeMemBase = 0x20, kBridgePrefBase = 0x24, kBridgePrefBaseUpper = 0x28,
                   kBridgePrefLimitUpper = 0x2C;
constexpr uint64_t kBridgeGranule = uint64_t{1} << 20;
constexpr unsigned kMaxCaps = (256 - 0x40) / 4, kMaxExtCaps = (4096 - 0x100) / 4;
constexpr unsigned kVfBarCount = 6;

// The Device Control encoding of a size in bytes, or -1 when it is not 128 << 0..5.
int payload_encoding(unsigned bytes) {
  for (unsigned v = 0; v <= kMaxPayloadEncoding; ++v)
    if (bytes == 128u << v) return static_cast<int>(v);
  return -1;
}

std::string bdf(uint16_t rid) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0000:%02x:%02x.%x", unsigned{rid} >> 8, (rid >> 3) & 31u,
                rid & 7u);
  return buf;
}

std::string bdf(const PciFunctionInfo& f) {
  return bdf(f.rid());
}

bool has_ext_cap(const PciFunctionInfo& f, uint16_t id) {
  return std::any_of(f.ext_capabilities.begin(), f.ext_capabilities.end(),
                     [id](const auto& c) { return c.first == id; });
}

// Bytes a pending BAR occupies in the window: a VF BAR's region holds one slice per possible VF.
// 0 when that overflows 64 bits (it fits nowhere).
uint64_t region_size(const PciBar& bar, unsigned count) {
  if (bar.size > std::numeric_limits<uint64_t>::max() / count) return 0;
  return bar.size * count;
}

std::string human_size(uint64_t size) {
  static const char* const kUnits[] = {"", "K", "M", "G", "T", "P", "E"};
  unsigned u = 0;
  while (u + 1 < std::size(kUnits) && size >= 1024 && size % 1024 == 0) {
    size /= 1024;
    ++u;
  }
  return std::to_string(size) + (u == 0 ? "B" : kUnits[u]);
}

}  // namespace

PciEnumerator::PciEnumerator(HostAccess& host, EnumeratorOptions opts) : host_(host), opts_(opts) {
  if (payload_encoding(opts_.mps) < 0 || payload_encoding(opts_.mrrs) < 0)
    throw std::invalid_argument(
        "pci enumerator: mps and mrrs must be powers of two from 128 to 4096");
  if (opts_.mmio_size == 0 || opts_.mmio_base + opts_.mmio_size < opts_.mmio_base)
    throw std::invalid_argument("pci enumerator: empty or wrapping MMIO window");
}

// ---- Config accesses: always aligned dwords, the only size every ECAM implementation takes. ----

uint64_t PciEnumerator::ecam(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t offset) const {
  return opts_.ecam_base +
         (uint64_t{bus} << 20 | uint64_t{dev} << 15 | uint64_t{fn} << 12 | (offset & 0xFFCu));
}

uint32_t PciEnumerator::read32(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t offset) {
  return static_cast<uint32_t>(host_.mmio_read(ecam(bus, dev, fn, offset), 4));
}

void PciEnumerator::write32(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t offset, uint32_t value) {
  host_.mmio_write(ecam(bus, dev, fn, offset), 4, value);
}

uint16_t PciEnumerator::read16(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t offset) {
  return static_cast<uint16_t>(read32(bus, dev, fn, offset) >> (8 * (offset & 2)));
}

uint8_t PciEnumerator::read8(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t offset) {
  return static_cast<uint8_t>(read32(bus, dev, fn, offset) >> (8 * (offset & 3)));
}

// ---- Scan ----

const std::vector<PciFunctionInfo>& PciEnumerator::enumerate() {
  functions_.clear();
  vfs_.clear();
  scanned_buses_.clear();
  max_bus_ = 0;
  scan_bus(0);
  // Placement needs every BAR of the hierarchy (largest first), so it waits for the whole scan.
  assign_bars();
  program_bridge_windows();
  for (auto& f : functions_) program_function(f);
  return functions_;
}

const PciFunctionInfo* PciEnumerator::find(uint16_t rid) const {
  for (const auto& f : functions_)
    if (f.rid() == rid) return &f;
  return nullptr;
}

uint8_t PciEnumerator::scan_bus(uint8_t bus) {
  scanned_buses_.insert(bus);
  max_bus_ = std::max<unsigned>(max_bus_, bus);
  std::vector<std::size_t> bridges;  // indices into functions_, which grows during recursion
  const std::size_t first = functions_.size();
  for (unsigned dev = 0; dev < kDevices; ++dev) {
    // Function 0 must exist for a device to exist; only its multifunction bit makes 1..7 worth
    // probing (a single-function device may decode every function number as function 0).
    for (unsigned fn = 0; fn < kFunctions; ++fn) {
      PciFunctionInfo info;
      if (!probe_function(bus, static_cast<uint8_t>(dev), static_cast<uint8_t>(fn), info)) {
        if (fn == 0) break;
        continue;
      }
      const bool multifunction = info.multifunction;
      if (info.header_type == 1) bridges.push_back(functions_.size());
      functions_.push_back(std::move(info));
      if (fn == 0 && !multifunction) break;
    }
  }

  // Linux's pci_iov_bus_range(): the buses SR-IOV PFs here can put VFs on are used, before any
  // bridge of this bus is numbered, so no bridge gets them and the bridge above covers them.
  unsigned highest = bus;
  for (std::size_t i = first; i < functions_.size(); ++i)
    if (functions_[i].bus == bus && functions_[i].sriov)
      highest = std::max<unsigned>(highest, functions_[i].sriov->last_vf_bus);
  max_bus_ = std::max(max_bus_, highest);

  // Like Linux, two passes: bridges firmware numbered first, and their ranges claimed before any is
  // followed, so that the numbers handed to unnumbered bridges never collide with them.
  auto numbered = [&](const PciFunctionInfo& f) {
    return f.secondary_bus > bus && f.subordinate_bus >= f.secondary_bus;
  };
  for (std::size_t i : bridges)
    if (numbered(functions_[i]))
      max_bus_ = std::max<unsigned>(max_bus_, functions_[i].subordinate_bus);

  std::vector<std::size_t> unnumbered;
  for (std::size_t i : bridges) {
    const PciFunctionInfo f = functions_[i];
    if (!numbered(f) || scanned_buses_.count(f.secondary_bus)) {
      unnumbered.push_back(i);
      continue;
    }
    const unsigned below = scan_bus(f.secondary_bus);
    highest = std::max<unsigned>({highest, below, f.subordinate_bus});
    if (below > f.subordinate_bus) {
      // An unnumbered bridge further down got a bus beyond the firmware range: widen the range so
      // type 1 config cycles still reach it.
      const uint32_t d = read32(f.bus, f.dev, f.fn, pcie::kCfgPrimaryBus);
      write32(f.bus, f.dev, f.fn, pcie::kCfgPrimaryBus, (d & 0xFF00FFFFu) | below << 16);
      functions_[i].subordinate_bus = static_cast<uint8_t>(below);
    }
  }

  for (std::size_t i : unnumbered) {
    const PciFunctionInfo f = functions_[i];
    if (max_bus_ >= 0xFF) throw std::runtime_error("pci: no bus number left for bridge " + bdf(f));
    const uint8_t secondary = static_cast<uint8_t>(++max_bus_);
    // Subordinate 0xFF while the bus below is scanned, so config cycles for any bus number that
    // gets handed out down there are forwarded; then the highest one actually used.
    const uint32_t d = read32(f.bus, f.dev, f.fn, pcie::kCfgPrimaryBus) & 0xFF000000u;
    write32(f.bus, f.dev, f.fn, pcie::kCfgPrimaryBus,
            d | 0xFFu << 16 | uint32_t{secondary} << 8 | bus);
    const unsigned below = scan_bus(secondary);
    write32(f.bus, f.dev, f.fn, pcie::kCfgPrimaryBus,
            d | below << 16 | uint32_t{secondary} << 8 | bus);
    functions_[i].secondary_bus = secondary;
    functions_[i].subordinate_bus = static_cast<uint8_t>(below);
    highest = std::max(highest, below);
  }
  return static_cast<uint8_t>(highest);
}

bool PciEnumerator::probe_function(uint8_t bus, uint8_t dev, uint8_t fn, PciFunctionInfo& info) {
  const uint32_t id = read32(bus, dev, fn, pcie::kCfgVendor);
  const uint16_t vendor = static_cast<uint16_t>(id);
  // All ones is a master abort (nothing there); Linux treats vendor 0 as absent too.
  if (vendor == 0xFFFF || vendor == 0) return false;
  info.bus = bus;
  info.dev = dev;
  info.fn = fn;
  info.vendor = vendor;
  info.device = static_cast<uint16_t>(id >> 16);
  info.class_code = read32(bus, dev, fn, pcie::kCfgRevision) >> 8;
  const uint8_t ht = read8(bus, dev, fn, pcie::kCfgHeaderType);
  info.header_type = ht & 0x7F;
  info.multifunction = (ht & 0x80) != 0;
  if (info.header_type == 1) {
    const uint32_t d = read32(bus, dev, fn, pcie::kCfgPrimaryBus);
    info.secondary_bus = static_cast<uint8_t>(d >> 8);
    info.subordinate_bus = static_cast<uint8_t>(d >> 16);
  }
  read_capabilities(info);
  size_bars(info);
  if (info.header_type == 0 && has_ext_cap(info, pcie::kExtCapSriov)) init_sriov(info);
  return true;
}

void PciEnumerator::init_sriov(PciFunctionInfo& info) {
  const uint8_t b = info.bus, d = info.dev, f = info.fn;
  PciSriovInfo s;
  for (const auto& c : info.ext_capabilities)
    if (c.first == pcie::kExtCapSriov) s.cap = c.second;
  const auto reg = [&s](uint16_t r) { return static_cast<uint16_t>(s.cap + r); };
  // VFs firmware (or an earlier boot) left enabled go: their BARs are about to move. Only the
  // lowest PF on a bus holds ARI Capable Hierarchy (the bit is reserved in the others).
  const bool first_pf = std::none_of(functions_.begin(), functions_.end(), [&](const auto& o) {
    return o.bus == b && o.sriov.has_value();
  });
  s.ari_hierarchy = b != 0 && first_pf && has_ext_cap(info, pcie::kExtCapAri);
  // Status (upper half) is RW1C: writing 0 there clears nothing.
  write32(b, d, f, reg(pcie::kSriovCtrl), s.ari_hierarchy ? pcie::kSriovCtrlAriHierarchy : 0u);

  const uint32_t vfs = read32(b, d, f, reg(pcie::kSriovInitialVfs));
  s.initial_vfs = static_cast<uint16_t>(vfs);
  s.total_vfs = static_cast<uint16_t>(vfs >> 16);
  if (s.total_vfs == 0) return;
  // The smallest supported page size from 4 KiB up, like Linux with 4 KiB pages.
  const uint32_t supported = read32(b, d, f, reg(pcie::kSriovSupportedPageSizes));
  if (supported == 0) return;
  write32(b, d, f, reg(pcie::kSriovSystemPageSize), supported & (~supported + 1));
  s.vf_device = read16(b, d, f, reg(pcie::kSriovVfDevice));
  // VF Enable and VF MSE are clear: sizing cannot make VFs decode.
  s.vf_bars = size_bar_block(b, d, f, reg(pcie::kSriovVfBar0), kVfBarCount);

  // Linux's compute_max_vf_buses(): offset and stride may change with NumVFs, so every count.
  unsigned last_bus = b;
  bool usable = true;
  for (unsigned n = s.total_vfs; n > 0 && usable; --n) {
    write32(b, d, f, reg(pcie::kSriovNumVfs), n);
    const uint32_t geometry = read32(b, d, f, reg(pcie::kSriovFirstVfOffset));
    const auto offset = static_cast<uint16_t>(geometry),
               stride = static_cast<uint16_t>(geometry >> 16);
    if (offset == 0 || (n > 1 && stride == 0)) usable = false;
    if (n == s.total_vfs) s.first_vf_offset = offset, s.vf_stride = stride;
    last_bus = std::max(last_bus, (info.rid() + offset + stride * (n - 1u)) >> 8);
  }
  write32(b, d, f, reg(pcie::kSriovNumVfs), 0);
  if (!usable) return;
  // Beyond bus 255 nothing can be reserved; enable_sriov() refuses VFs there.
  s.last_vf_bus = static_cast<uint8_t>(std::min(last_bus, 0xFFu));
  info.sriov = std::move(s);
}

void PciEnumerator::read_capabilities(PciFunctionInfo& info) {
  const uint8_t b = info.bus, d = info.dev, f = info.fn;
  if (read16(b, d, f, pcie::kCfgStatus) & pcie::kStatusCapList) {
    uint8_t ptr = read8(b, d, f, pcie::kCfgCapPtr) & 0xFC;
    for (unsigned n = 0; ptr >= 0x40 && n < kMaxCaps; ++n) {
      const uint32_t h = read32(b, d, f, ptr);
      if ((h & 0xFF) == 0xFF) break;  // the function went away under us
      info.capabilities.emplace_back(static_cast<uint8_t>(h), ptr);
      ptr = static_cast<uint8_t>(h >> 8) & 0xFC;
    }
  }
  // Only a PCI Express function has the 4 KiB space the extended list lives in.
  const bool express = std::any_of(info.capabilities.begin(), info.capabilities.end(),
                                   [](const auto& c) { return c.first == pcie::kCapPcie; });
  if (!express) return;
  uint16_t off = pcie::kCfgExtCapStart;
  for (unsigned n = 0; off >= pcie::kCfgExtCapStart && n < kMaxExtCaps; ++n) {
    const uint32_t h = read32(b, d, f, off);
    if (h == 0 || h == 0xFFFFFFFF) break;  // empty list / nothing there
    info.ext_capabilities.emplace_back(static_cast<uint16_t>(h), off);
    off = static_cast<uint16_t>(h >> 20) & 0xFFC;
  }
}

void PciEnumerator::size_bars(PciFunctionInfo& info) {
  const unsigned count = info.header_type == 0 ? 6 : info.header_type == 1 ? 2 : 0;
  if (count == 0) return;
  const uint8_t b = info.bus, d = info.dev, f = info.fn;
  // Memory decode off while a BAR holds all ones, or the function would claim a bogus range.
  const uint16_t command = read16(b, d, f, pcie::kCfgCommand);
  const bool decoding = (command & pcie::kCmdMemorySpace) != 0;
  // Status (upper half) is RW1C: writing 0 there clears nothing.
  if (decoding) write32(b, d, f, pcie::kCfgCommand, command & ~pcie::kCmdMemorySpace);
  info.bars = size_bar_block(b, d, f, pcie::kCfgBar0, count);
  if (decoding) write32(b, d, f, pcie::kCfgCommand, command);
}

std::vector<PciBar> PciEnumerator::size_bar_block(uint8_t b, uint8_t d, uint8_t f, uint16_t reg0,
                                                  unsigned count) {
  std::vector<PciBar> bars;
  for (unsigned i = 0; i < count; ++i) {
    const uint16_t off = static_cast<uint16_t>(reg0 + 4 * i);
    const uint32_t lo = read32(b, d, f, off);
    if (lo & kBarIo) continue;  // no I/O window to place it in
    const bool is64 = (lo & kBarTypeMask) == kBar64;
    if (is64 && i + 1 == count) continue;  // no register left for the upper half: malformed
    const uint32_t hi = is64 ? read32(b, d, f, off + 4) : 0;

    write32(b, d, f, off, 0xFFFFFFFF);
    if (is64) write32(b, d, f, off + 4, 0xFFFFFFFF);
    const uint32_t lo_mask = read32(b, d, f, off);
    const uint32_t hi_mask = is64 ? read32(b, d, f, off + 4) : 0xFFFFFFFF;
    write32(b, d, f, off, lo);
    if (is64) write32(b, d, f, off + 4, hi);

    // The writable address bits; the size is the lowest of them (as Linux's pci_size(), which
    // copes with devices that do not implement every upper bit).
    const uint64_t mask = uint64_t{hi_mask} << 32 | (lo_mask & ~kBarFlags);
    if (is64) ++i;
    if (mask == 0 || (!is64 && (lo_mask & ~kBarFlags) == 0)) continue;  // not implemented
    PciBar bar;
    bar.index = static_cast<unsigned>(is64 ? i - 1 : i);
    bar.size = mask & (~mask + 1);
    bar.is64 = is64;
    bar.prefetchable = (lo & kBarPrefetch) != 0;
    bars.push_back(bar);
  }
  return bars;
}

// ---- Resources ----

void PciEnumerator::assign_bars() {
  std::vector<Pending> pending;
  for (std::size_t fi = 0; fi < functions_.size(); ++fi) {
    for (std::size_t bi = 0; bi < functions_[fi].bars.size(); ++bi) pending.push_back({fi, bi});
    if (functions_[fi].sriov)
      for (std::size_t bi = 0; bi < functions_[fi].sriov->vf_bars.size(); ++bi)
        pending.push_back({fi, bi, true});
  }
  auto bar_of = [&](const Pending& x) -> PciBar& {
    PciFunctionInfo& f = functions_[x.function];
    return x.vf ? f.sriov->vf_bars[x.bar] : f.bars[x.bar];
  };
  // A BAR's alignment is its size; a VF BAR region's is one VF's size (what Linux asks of it).
  auto length = [&](const Pending& x) {
    return x.vf ? region_size(bar_of(x), functions_[x.function].sriov->total_vfs) : bar_of(x).size;
  };
  // BARs below one bus-0 bridge are placed together (its memory window must cover them and nothing
  // else), each group starting on a 1 MiB boundary, the bridge window granule. Within a group,
  // largest alignment first, then largest first: every length is a multiple of its (power of two)
  // alignment, so each BAR lands aligned right after the previous one.
  auto group = [&](const Pending& x) { return root_group(functions_[x.function].bus); };
  std::stable_sort(pending.begin(), pending.end(), [&](const Pending& x, const Pending& y) {
    if (group(x) != group(y)) return group(x) < group(y);
    if (bar_of(x).size != bar_of(y).size) return bar_of(x).size > bar_of(y).size;
    return length(x) > length(y);
  });

  // Every base is computed before any is written, so a window that is too small changes nothing.
  const uint64_t end = opts_.mmio_base + opts_.mmio_size;
  uint64_t cursor = opts_.mmio_base;
  std::vector<uint64_t> bases(pending.size());
  for (std::size_t k = 0; k < pending.size(); ++k) {
    const PciFunctionInfo& f = functions_[pending[k].function];
    const PciBar& bar = bar_of(pending[k]);
    const uint64_t len = length(pending[k]);
    if (k > 0 && group(pending[k]) != group(pending[k - 1]))
      cursor = core::align_up(cursor, kBridgeGranule);
    const uint64_t pad = (bar.size - (cursor & (bar.size - 1))) & (bar.size - 1);
    auto describe = [&] {
      char buf[192];
      if (pending[k].vf)
        std::snprintf(buf, sizeof buf, "VF BAR%u (0x%llx bytes x %u VFs) of %s %04x:%04x",
                      bar.index, static_cast<unsigned long long>(bar.size),
                      unsigned{f.sriov->total_vfs}, bdf(f).c_str(), unsigned{f.vendor},
                      unsigned{f.device});
      else
        std::snprintf(buf, sizeof buf, "BAR%u (0x%llx bytes) of %s %04x:%04x", bar.index,
                      static_cast<unsigned long long>(bar.size), bdf(f).c_str(), unsigned{f.vendor},
                      unsigned{f.device});
      return std::string(buf);
    };
    if (len == 0 || pad > end - cursor || len > end - cursor - pad) {
      char buf[96];
      std::snprintf(buf, sizeof buf, " does not fit in the MMIO window [0x%llx, 0x%llx)",
                    static_cast<unsigned long long>(opts_.mmio_base),
                    static_cast<unsigned long long>(end));
      throw std::runtime_error("pci: " + describe() + buf);
    }
    const uint64_t base = cursor + pad;
    if (!bar.is64 && (base >= k4GiB || len > k4GiB - base))
      throw std::runtime_error("pci: 32-bit " + describe() + " would be placed above 4 GiB");
    bases[k] = base;
    cursor = base + len;
  }

  for (std::size_t k = 0; k < pending.size(); ++k) bar_of(pending[k]).base = bases[k];
  for (const auto& f : functions_) {
    if (!f.bars.empty()) {
      // Decode off while a 64-bit BAR is half rewritten; program_function() enables it afterwards.
      const uint16_t command = read16(f.bus, f.dev, f.fn, pcie::kCfgCommand);
      const bool decoding = (command & pcie::kCmdMemorySpace) != 0;
      if (decoding)
        write32(f.bus, f.dev, f.fn, pcie::kCfgCommand, command & ~pcie::kCmdMemorySpace);
      for (const auto& bar : f.bars)
        write_bar(f, static_cast<uint16_t>(pcie::kCfgBar0 + 4 * bar.index), bar);
      if (decoding) write32(f.bus, f.dev, f.fn, pcie::kCfgCommand, command);
    }
    // VF MSE is off since init_sriov(): VF BARs can be rewritten half by half.
    if (f.sriov)
      for (const auto& bar : f.sriov->vf_bars)
        write_bar(f, static_cast<uint16_t>(f.sriov->cap + pcie::kSriovVfBar0 + 4 * bar.index), bar);
  }
}

void PciEnumerator::write_bar(const PciFunctionInfo& f, uint16_t reg, const PciBar& bar) {
  const uint32_t flags = (bar.is64 ? kBar64 : 0) | (bar.prefetchable ? kBarPrefetch : 0);
  write32(f.bus, f.dev, f.fn, reg, static_cast<uint32_t>(bar.base) | flags);
  if (bar.is64) write32(f.bus, f.dev, f.fn, reg + 4, static_cast<uint32_t>(bar.base >> 32));
}

void PciEnumerator::program_function(PciFunctionInfo& info) {
  const uint8_t b = info.bus, d = info.dev, f = info.fn;
  const auto express = std::find_if(info.capabilities.begin(), info.capabilities.end(),
                                    [](const auto& c) { return c.first == pcie::kCapPcie; });
  if (express != info.capabilities.end()) {
    const uint16_t cap = express->second;
    const unsigned supported =
        std::min(read32(b, d, f, cap + kPcieDevCap) & 7u, kMaxPayloadEncoding);
    const unsigned mps = std::min(static_cast<unsigned>(payload_encoding(opts_.mps)), supported);
    const unsigned mrrs = static_cast<unsigned>(payload_encoding(opts_.mrrs));
    uint32_t ctl = read16(b, d, f, cap + kPcieDevCtl);
    ctl = (ctl & ~(7u << kMpsShift | 7u << kMrrsShift)) | mps << kMpsShift | mrrs << kMrrsShift;
    // Device Status (upper half) is RW1C: writing 0 there clears nothing.
    write32(b, d, f, cap + kPcieDevCtl, ctl);
    // Recorded as read back: what the function actually took.
    const uint16_t now = read16(b, d, f, cap + kPcieDevCtl);
    info.mps = 128u << ((now >> kMpsShift) & 7);
    info.mrrs = 128u << ((now >> kMrrsShift) & 7);
  }
  if (opts_.enable) {
    const uint16_t command = read16(b, d, f, pcie::kCfgCommand);
    write32(b, d, f, pcie::kCfgCommand, command | pcie::kCmdMemorySpace | pcie::kCmdBusMaster);
  }
}

int PciEnumerator::root_group(uint8_t bus) const {
  if (bus == 0) return -1;
  for (std::size_t i = 0; i < functions_.size(); ++i) {
    const PciFunctionInfo& b = functions_[i];
    if (b.bus == 0 && b.header_type == 1 && bus >= b.secondary_bus && bus <= b.subordinate_bus)
      return static_cast<int>(i);
  }
  return -1;
}

void PciEnumerator::program_bridge_windows() {
  for (const PciFunctionInfo& br : functions_) {
    if (br.header_type != 1) continue;
    uint64_t lo = ~uint64_t{0}, hi = 0;
    for (const PciFunctionInfo& f : functions_)
      if (f.bus >= br.secondary_bus && f.bus <= br.subordinate_bus && f.bus != 0) {
        for (const PciBar& bar : f.bars)
          lo = std::min(lo, bar.base), hi = std::max(hi, bar.base + bar.size);
        // A PF's VF BAR regions (VFs decode there once enabled; they are not in functions_ yet).
        if (f.sriov)
          for (const PciBar& bar : f.sriov->vf_bars)
            lo = std::min(lo, bar.base),
            hi = std::max(hi, bar.base + region_size(bar, f.sriov->total_vfs));
      }
    const uint8_t b = br.bus, d = br.dev, fn = br.fn;
    // An empty window is base > limit. Windows are 1 MiB granules: base/limit hold address 31:20.
    uint32_t mem = 0x0000FFF0, pref = 0x0000FFF0, pref_base_hi = 0, pref_limit_hi = 0;
    if (hi > lo && hi <= k4GiB) {
      mem = static_cast<uint32_t>(((lo >> 16) & 0xFFF0) | (((hi - 1) >> 16) & 0xFFF0) << 16);
    } else if (hi > lo) {
      pref = static_cast<uint32_t>(((lo >> 16) & 0xFFF0) | (((hi - 1) >> 16) & 0xFFF0) << 16);
      pref_base_hi = static_cast<uint32_t>(lo >> 32);
      pref_limit_hi = static_cast<uint32_t>((hi - 1) >> 32);
    }
    write32(b, d, fn, kBridgeMemBase, mem);
    write32(b, d, fn, kBridgePrefBase, pref);
    write32(b, d, fn, kBridgePrefBaseUpper, pref_base_hi);
    write32(b, d, fn, kBridgePrefLimitUpper, pref_limit_hi);
  }
}

// ---- SR-IOV ----

PciFunctionInfo& PciEnumerator::sriov_pf(uint16_t pf_rid, const char* what) {
  const auto it = std::find_if(functions_.begin(), functions_.end(),
                               [pf_rid](const auto& f) { return f.rid() == pf_rid && !f.is_vf; });
  if (it == functions_.end())
    throw std::invalid_argument(std::string("pci: ") + what + ": no physical function " +
                                bdf(pf_rid));
  if (!it->sriov)
    throw std::invalid_argument(std::string("pci: ") + what + ": " + bdf(pf_rid) +
                                " has no usable SR-IOV capability");
  return *it;
}

const std::vector<PciFunctionInfo>& PciEnumerator::enable_sriov(uint16_t pf_rid, uint16_t num_vfs) {
  PciFunctionInfo& pf = sriov_pf(pf_rid, "enable_sriov");
  PciSriovInfo& s = *pf.sriov;
  if (num_vfs == 0 || num_vfs > s.total_vfs)
    throw std::invalid_argument("pci: enable_sriov: " + bdf(pf) + " has 1.." +
                                std::to_string(s.total_vfs) + " VFs, not " +
                                std::to_string(num_vfs));
  if (s.num_vfs != 0)
    throw std::invalid_argument("pci: enable_sriov: " + bdf(pf) + " already has " +
                                std::to_string(s.num_vfs) + " VFs enabled");
  const uint8_t b = pf.bus, d = pf.dev, f = pf.fn;
  const auto reg = [&s](uint16_t r) { return static_cast<uint16_t>(s.cap + r); };
  const uint32_t ctrl_off = s.ari_hierarchy ? pcie::kSriovCtrlAriHierarchy : 0u;

  // NumVFs first: First VF Offset and VF Stride are read for that count.
  write32(b, d, f, reg(pcie::kSriovNumVfs), num_vfs);
  const uint32_t geometry = read32(b, d, f, reg(pcie::kSriovFirstVfOffset));
  const auto offset = static_cast<uint16_t>(geometry),
             stride = static_cast<uint16_t>(geometry >> 16);
  // The bus range VFs can be reached in: the bridge's above the PF (all of them on bus 0).
  unsigned last_bus = 0xFF;
  for (const auto& br : functions_)
    if (br.header_type == 1 && br.secondary_bus == b && br.secondary_bus != 0)
      last_bus = br.subordinate_bus;
  std::vector<uint16_t> rids;
  std::string problem;
  if (offset == 0 || (num_vfs > 1 && stride == 0)) problem = "First VF Offset or VF Stride is 0";
  for (unsigned i = 0; i < num_vfs && problem.empty(); ++i) {
    const uint32_t r = uint32_t{pf_rid} + offset + uint32_t{stride} * i;
    char buf[96];
    if (r > 0xFFFF) {
      std::snprintf(buf, sizeof buf, "VF %u's routing id is beyond 0xFFFF", i);
      problem = buf;
    } else if ((r >> 8) > last_bus) {
      std::snprintf(buf, sizeof buf, "VF %u (%s) is on a bus beyond %02x, the last it can reach", i,
                    bdf(static_cast<uint16_t>(r)).c_str(), last_bus);
      problem = buf;
    } else if (find(static_cast<uint16_t>(r))) {
      problem =
          "VF " + std::to_string(i) + "'s routing id is " + bdf(static_cast<uint16_t>(r)) + "'s";
    }
    rids.push_back(static_cast<uint16_t>(r));
  }
  if (!problem.empty()) {
    write32(b, d, f, reg(pcie::kSriovNumVfs), 0);
    throw std::runtime_error("pci: enable_sriov: " + bdf(pf) + ": " + problem);
  }

  write32(b, d, f, reg(pcie::kSriovCtrl),
          ctrl_off | pcie::kSriovCtrlVfEnable | pcie::kSriovCtrlVfMse);
  std::vector<PciFunctionInfo> vfs;
  for (unsigned i = 0; i < num_vfs; ++i) {
    PciFunctionInfo vf;
    vf.bus = static_cast<uint8_t>(rids[i] >> 8);
    vf.dev = static_cast<uint8_t>((rids[i] >> 3) & 31);
    vf.fn = static_cast<uint8_t>(rids[i] & 7);
    // A VF's vendor and device read 0xFFFF, so absence shows in the class code's dword.
    const uint32_t class_rev = read32(vf.bus, vf.dev, vf.fn, pcie::kCfgRevision);
    if (class_rev == 0xFFFFFFFF) {
      write32(b, d, f, reg(pcie::kSriovCtrl), ctrl_off);
      write32(b, d, f, reg(pcie::kSriovNumVfs), 0);
      throw std::runtime_error("pci: enable_sriov: VF " + std::to_string(i) + " of " + bdf(pf) +
                               " does not answer at " + bdf(rids[i]));
    }
    vf.vendor = pf.vendor;
    vf.device = s.vf_device;
    vf.class_code = class_rev >> 8;
    const uint8_t ht = read8(vf.bus, vf.dev, vf.fn, pcie::kCfgHeaderType);
    vf.header_type = ht & 0x7F;
    vf.multifunction = (ht & 0x80) != 0;
    read_capabilities(vf);
    for (const PciBar& region : s.vf_bars) {
      PciBar bar = region;
      bar.base = region.base + uint64_t{i} * region.size;
      vf.bars.push_back(bar);
    }
    vf.mps = pf.mps;
    vf.mrrs = pf.mrrs;
    vf.is_vf = true;
    vf.pf_rid = pf_rid;
    vf.vf_index = i;
    if (opts_.enable) {
      // Only Bus Master Enable is the VF's own; memory decode is the PF's VF MSE.
      const uint16_t command = read16(vf.bus, vf.dev, vf.fn, pcie::kCfgCommand);
      write32(vf.bus, vf.dev, vf.fn, pcie::kCfgCommand, command | pcie::kCmdBusMaster);
    }
    vfs.push_back(std::move(vf));
  }

  s.num_vfs = num_vfs;
  s.first_vf_offset = offset;
  s.vf_stride = stride;
  // Right after the PF; `pf` and `s` are not used past this point (the vector may move).
  const auto at = std::find_if(functions_.begin(), functions_.end(),
                               [pf_rid](const auto& x) { return x.rid() == pf_rid && !x.is_vf; });
  functions_.insert(at + 1, vfs.begin(), vfs.end());
  return vfs_[pf_rid] = std::move(vfs);
}

void PciEnumerator::disable_sriov(uint16_t pf_rid) {
  PciFunctionInfo& pf = sriov_pf(pf_rid, "disable_sriov");
  PciSriovInfo& s = *pf.sriov;
  if (s.num_vfs == 0) return;
  const auto reg = [&s](uint16_t r) { return static_cast<uint16_t>(s.cap + r); };
  write32(pf.bus, pf.dev, pf.fn, reg(pcie::kSriovCtrl),
          s.ari_hierarchy ? pcie::kSriovCtrlAriHierarchy : 0u);
  write32(pf.bus, pf.dev, pf.fn, reg(pcie::kSriovNumVfs), 0);
  s.num_vfs = 0;
  functions_.erase(
      std::remove_if(functions_.begin(), functions_.end(),
                     [pf_rid](const auto& x) { return x.is_vf && x.pf_rid == pf_rid; }),
      functions_.end());
  vfs_.erase(pf_rid);
}

// ---- Listing ----

std::string PciEnumerator::listing() const {
  if (functions_.empty()) return {};
  std::string out = "[0000:00]\n";
  std::set<uint8_t> listed{0};
  list_bus(out, 0, "", listed);
  return out;
}

void PciEnumerator::list_bus(std::string& out, uint8_t bus, const std::string& prefix,
                             std::set<uint8_t>& listed) const {
  std::vector<const PciFunctionInfo*> on_bus;
  for (const auto& f : functions_)
    if (f.bus == bus) on_bus.push_back(&f);
  for (std::size_t k = 0; k < on_bus.size(); ++k) {
    const PciFunctionInfo& f = *on_bus[k];
    const bool last = k + 1 == on_bus.size();
    char buf[160];
    std::snprintf(buf, sizeof buf, "%02x:%02x.%x %04x:%04x class %06x", unsigned{f.bus},
                  unsigned{f.dev}, unsigned{f.fn}, unsigned{f.vendor}, unsigned{f.device},
                  static_cast<unsigned>(f.class_code));
    out += prefix + (last ? "`-- " : "+-- ") + buf;
    if (f.multifunction) out += " multifunction";
    if (f.header_type == 1) {
      std::snprintf(buf, sizeof buf, " bridge [%02x-%02x]", unsigned{f.secondary_bus},
                    unsigned{f.subordinate_bus});
      out += buf;
    }
    if (f.mps != 0) out += " mps " + std::to_string(f.mps) + " mrrs " + std::to_string(f.mrrs);
    if (f.sriov)
      out += " sriov " + std::to_string(f.sriov->num_vfs) + "/" +
             std::to_string(f.sriov->total_vfs) + " VFs";
    if (f.is_vf) {
      std::snprintf(buf, sizeof buf, " VF %u of %02x:%02x.%x", f.vf_index, f.pf_rid >> 8u,
                    (f.pf_rid >> 3u) & 31u, f.pf_rid & 7u);
      out += buf;
    }
    out += '\n';

    const std::string child = prefix + (last ? "    " : "|   ");
    auto list_bar = [&](const char* kind, const PciBar& bar, unsigned count) {
      const int digits = bar.is64 ? 16 : 8;
      std::snprintf(buf, sizeof buf, "  %sBAR%u %s%s [0x%0*llx-0x%0*llx] ", kind, bar.index,
                    bar.is64 ? "64-bit" : "32-bit", bar.prefetchable ? " prefetchable" : "", digits,
                    static_cast<unsigned long long>(bar.base), digits,
                    static_cast<unsigned long long>(bar.base + bar.size * count - 1));
      out += child + buf + human_size(bar.size);
      out += count > 1 ? " x " + std::to_string(count) + '\n' : std::string("\n");
    };
    for (const auto& bar : f.bars) list_bar("", bar, 1);
    if (f.sriov)
      for (const auto& bar : f.sriov->vf_bars) list_bar("VF ", bar, f.sriov->total_vfs);
    if (f.header_type == 1 && scanned_buses_.count(f.secondary_bus) &&
        listed.insert(f.secondary_bus).second) {
      std::snprintf(buf, sizeof buf, "  [0000:%02x]\n", unsigned{f.secondary_bus});
      out += child + buf;
      list_bus(out, f.secondary_bus, child + "  ", listed);
    }
  }
  // Buses only VFs of this bus's PFs are on: no bridge leads there, so they follow this one.
  std::set<uint8_t> vf_buses;
  for (const auto& f : functions_)
    if (f.is_vf && (f.pf_rid >> 8) == bus && f.bus != bus) vf_buses.insert(f.bus);
  for (uint8_t vf_bus : vf_buses) {
    if (!listed.insert(vf_bus).second) continue;
    char buf[16];
    std::snprintf(buf, sizeof buf, "[0000:%02x]\n", unsigned{vf_bus});
    out += prefix + buf;
    list_bus(out, vf_bus, prefix, listed);
  }
}

}  // namespace iovsim::cpu_stub

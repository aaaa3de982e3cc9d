#include "vpci.hpp"

#include <stdexcept>

#include <iovsim/pcie/config_space.hpp>
#include <iovsim/pcie/msix.hpp>

namespace iovsim::cpu_stub {

namespace {
// 2000 cycles: a VM exit and entry cost ~1000-1500 cycles on current Intel cores; the in-kernel
// handling of a config access or MSI-X table write (decode, VFIO's emulation) adds the rest.
// Config accesses that go to a user-space VMM (QEMU) cost ~10x: raise it to model those.
const core::IntParam kExitCycles{"vm.exit_cycles", 2000,
                                 "CPU cycles (at cpu.clock_mhz) a trapped guest access costs: VM "
                                 "exit, the hypervisor's handling, VM entry (vPCI)",
                                 core::Range{0, 1e9}};
constexpr uint16_t kCmdIntxDisable = 1u << 10;
}  // namespace

const char* to_string(VpciPolicy p) {
  switch (p) {
    case VpciPolicy::kPass:
      return "pass";
    case VpciPolicy::kEmulate:
      return "emulate";
    case VpciPolicy::kDiscard:
      return "discard";
  }
  return "?";
}

VpciConfig VpciConfig::from(const core::Config& c) {
  VpciConfig v;
  v.exit_cycles = static_cast<uint64_t>(kExitCycles.get(c));
  v.clock_mhz = c.get_real("cpu.clock_mhz");
  return v;
}

VirtualPciBus::VirtualPciBus(std::string name, HostAccess& host, uint64_t ecam_base,
                             const VpciConfig& config, MsiRemapper remap,
                             core::StatGroup* parent_stats)
    : name_(std::move(name)),
      host_(host),
      ecam_base_(ecam_base),
      config_(config),
      remap_(std::move(remap)),
      stats_(name_, parent_stats),
      traps_(stats_.add_counter("traps", "Guest accesses that trapped to the hypervisor")),
      reads_(stats_.add_counter("config_reads", "Trapped guest configuration reads")),
      writes_(stats_.add_counter("config_writes", "Trapped guest configuration writes")),
      pass_(stats_.add_counter("pass", "Traps on pass-through registers")),
      emulate_(stats_.add_counter("emulate",
                                  "Traps on emulated registers (MSI-X table accesses included)")),
      discard_(stats_.add_counter("discard", "Traps on registers whose writes are discarded")),
      table_traps_(stats_.add_counter("msix_table_traps", "Trapped guest MSI-X table accesses")),
      remaps_(stats_.add_counter("msix_remaps",
                                 "MSI-X entries the hypervisor programmed from a guest message")),
      cpu_ns_(stats_.add_scalar("cpu_ns", "CPU time the traps cost (vm.exit_cycles each) (ns)")) {
  if (config_.clock_mhz <= 0) throw core::ConfigError("cpu.clock_mhz must be positive");
}

VirtualPciBus::Function* VirtualPciBus::find(uint8_t devfn) {
  auto it = functions_.find(devfn);
  return it == functions_.end() ? nullptr : &it->second;
}
const VirtualPciBus::Function* VirtualPciBus::find(uint8_t devfn) const {
  auto it = functions_.find(devfn);
  return it == functions_.end() ? nullptr : &it->second;
}

uint64_t VirtualPciBus::ecam(const Function& f, uint16_t offset) const {
  return ecam_base_ + (uint64_t{f.a.host_rid} << 12) + offset;
}

uint32_t VirtualPciBus::shadow_read(const Function& f, uint16_t offset, unsigned size) const {
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint32_t{f.shadow[offset + i]} << (8 * i);
  return v;
}
void VirtualPciBus::shadow_write(Function& f, uint16_t offset, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size; ++i) f.shadow[offset + i] = uint8_t(value >> (8 * i));
}

uint8_t VirtualPciBus::add(const VpciAssignment& a) {
  if (a.bar_bytes == 0 || (a.bar_bytes & (a.bar_bytes - 1)) || a.host_bar % a.bar_bytes)
    throw std::invalid_argument(name_ +
                                ": an assigned BAR must be a naturally aligned power of two");
  uint8_t dev = 1;
  while (functions_.count(uint8_t(dev << 3))) ++dev;
  if (dev >= 32) throw std::invalid_argument(name_ + ": the virtual bus is full (31 devices)");
  const uint8_t devfn = uint8_t(dev << 3);
  Function& f = functions_[devfn];
  f.a = a;
  f.devfn = devfn;
  f.reg_of.assign(4096, -1);
  auto reg = [&](uint16_t off, unsigned size, const char* name, VpciPolicy p, uint32_t device_mask,
                 uint32_t writable = 0, uint32_t initial = 0) {
    f.regs.push_back({off, size, name, p, device_mask, writable});
    for (unsigned i = 0; i < size; ++i) f.reg_of[off + i] = int(f.regs.size() - 1);
    shadow_write(f, off, size, initial);
  };
  using P = VpciPolicy;
  f.bar_flags = a.bar_flags & 0xF;
  f.bar_size_mask = ~(a.bar_bytes - 1);
  const uint64_t g = a.guest_bar ? a.guest_bar : a.host_bar;
  if (g % a.bar_bytes) throw std::invalid_argument(name_ + ": guest BAR not aligned to its size");
  reg(0x00, 2, "vendor id", P::kEmulate, 0, 0, a.vendor_id);
  reg(0x02, 2, "device id", P::kEmulate, 0, 0, a.device_id);
  // Bus master reaches the device; Memory Space is the guest's own (a VF has none: the PF's VF MSE
  // decodes its BARs), and so is INTx Disable (a VF has no INTx).
  reg(0x04, 2, "command", P::kPass, pcie::kCmdBusMaster, pcie::kCmdMemorySpace | kCmdIntxDisable);
  reg(0x06, 2, "status", P::kDiscard, 0xFFFF);
  reg(0x08, 4, "revision and class", P::kPass, 0xFFFFFFFFu);
  reg(0x0C, 4, "cache line, latency, header type, BIST", P::kDiscard, 0xFFFFFFFFu);
  reg(0x10, 4, "BAR0", P::kEmulate, 0, 0, uint32_t(g & 0xFFFFFFF0u) | f.bar_flags);
  reg(0x14, 4, "BAR1", P::kEmulate, 0, 0, uint32_t(g >> 32));
  for (uint16_t b = 0x18; b <= 0x24; b += 4) reg(b, 4, "BAR2-5 (unimplemented)", P::kEmulate, 0);
  reg(0x28, 4, "CardBus CIS", P::kDiscard, 0xFFFFFFFFu);
  reg(0x2C, 4, "subsystem ids", P::kPass, 0xFFFFFFFFu);
  reg(0x30, 4, "expansion ROM (none)", P::kEmulate, 0);
  reg(0x34, 4, "capability pointer", P::kPass, 0xFFFFFFFFu);
  reg(0x38, 4, "reserved", P::kDiscard, 0xFFFFFFFFu);
  reg(0x3C, 1, "interrupt line", P::kEmulate, 0, 0xFF);
  reg(0x3D, 1, "interrupt pin (no INTx)", P::kEmulate, 0);
  reg(0x3E, 2, "min grant, max latency", P::kDiscard, 0xFFFF);
  // The capability list: headers pass (the guest walks the list); the bodies are the host's
  // (discarded writes) except MSI-X, emulated so the hypervisor sees the guest enable it.
  uint16_t cap = uint16_t(host_.mmio_read(ecam(f, pcie::kCfgCapPtr), 1) & 0xFC);
  for (unsigned guard = 0; cap >= 0x40 && guard < 48; ++guard) {
    const uint32_t head = uint32_t(host_.mmio_read(ecam(f, cap), 4));
    reg(cap, 2, "capability id and next", P::kPass, 0xFFFF);
    if ((head & 0xFF) == pcie::kCapMsix) {
      f.msix = cap;
      f.msix_entries = ((head >> 16) & 0x7FF) + 1;
      const uint32_t table = uint32_t(host_.mmio_read(ecam(f, cap + 4), 4));
      if (table & 7) throw std::invalid_argument(name_ + ": MSI-X table outside BAR0");
      f.table_offset = table & ~7u;
      reg(cap + 2, 2, "MSI-X control", P::kEmulate, 0x07FF,
          pcie::kMsixCtrlEnable | pcie::kMsixCtrlFunctionMask);
      reg(cap + 4, 4, "MSI-X table offset", P::kPass, 0xFFFFFFFFu);
      reg(cap + 8, 4, "MSI-X PBA offset", P::kPass, 0xFFFFFFFFu);
    }
    cap = uint16_t((head >> 8) & 0xFC);
  }
  f.table.assign(f.msix_entries, {0, 0, 0, 1});
  // VFIO resets an assigned function: no DMA, no MSI-X, every vector masked until the guest acts.
  const uint64_t cmd = ecam(f, pcie::kCfgCommand);
  host_.mmio_write(cmd, 2, host_.mmio_read(cmd, 2) & ~uint64_t{pcie::kCmdBusMaster});
  if (f.msix) {
    host_.mmio_write(ecam(f, f.msix + 2), 2, 0);
    for (unsigned e = 0; e < f.msix_entries; ++e)
      host_.mmio_write(a.host_bar + f.table_offset + e * pcie::kMsixEntrySize + 12, 4, 1);
  }
  return devfn;
}

const VpciRegister& VirtualPciBus::policy(uint8_t devfn, uint16_t offset) const {
  static const VpciRegister unlisted{0, 1, "unlisted", VpciPolicy::kDiscard, 0xFFFFFFFFu, 0};
  const Function* f = find(devfn);
  if (!f || offset >= 4096 || f->reg_of[offset] < 0) return unlisted;
  return f->regs[f->reg_of[offset]];
}

const std::vector<VpciRegister>& VirtualPciBus::registers(uint8_t devfn) const {
  const Function* f = find(devfn);
  if (!f) throw std::invalid_argument(name_ + ": no function at that devfn");
  return f->regs;
}

void VirtualPciBus::trap(VpciPolicy p) {
  ++traps_;
  (p == VpciPolicy::kPass ? pass_ : p == VpciPolicy::kEmulate ? emulate_ : discard_) += 1;
  pending_ns_ += config_.trap_ns();
  cpu_ns_.value += config_.trap_ns();
}

uint64_t VirtualPciBus::traps(VpciPolicy p) const {
  return (p == VpciPolicy::kPass ? pass_ : p == VpciPolicy::kEmulate ? emulate_ : discard_).value;
}

double VirtualPciBus::take_cpu_ns() {
  const double ns = pending_ns_;
  pending_ns_ = 0;
  return ns;
}

uint32_t VirtualPciBus::read_register(Function& f, const VpciRegister& r) {
  const uint32_t mask = r.size == 4 ? r.device_mask : r.device_mask & ((1u << (8 * r.size)) - 1);
  const uint32_t dev = mask ? uint32_t(host_.mmio_read(ecam(f, r.offset), r.size)) : 0;
  return (dev & mask) | (shadow_read(f, r.offset, r.size) & ~mask);
}

void VirtualPciBus::write_register(Function& f, const VpciRegister& r, uint32_t v) {
  switch (r.policy) {
    case VpciPolicy::kDiscard:
      return;
    case VpciPolicy::kPass: {
      const uint32_t full = r.size == 4 ? 0xFFFFFFFFu : (1u << (8 * r.size)) - 1;
      const uint32_t mask = r.device_mask & full;
      if (mask) {
        const uint32_t dev =
            mask == full ? 0 : uint32_t(host_.mmio_read(ecam(f, r.offset), r.size));
        host_.mmio_write(ecam(f, r.offset), r.size, (v & mask) | (dev & ~mask));
      }
      const uint32_t old = shadow_read(f, r.offset, r.size);
      shadow_write(f, r.offset, r.size, (old & ~r.writable) | (v & r.writable));
      return;
    }
    case VpciPolicy::kEmulate:
      break;
  }
  if (r.offset == pcie::kCfgBar0) {
    // Sizing works as on hardware: the size's low bits and the flags are read-only.
    shadow_write(f, r.offset, 4, (v & uint32_t(f.bar_size_mask) & 0xFFFFFFF0u) | f.bar_flags);
  } else if (r.offset == pcie::kCfgBar0 + 4) {
    shadow_write(f, r.offset, 4, v & uint32_t(f.bar_size_mask >> 32));
  } else {
    const uint32_t old = shadow_read(f, r.offset, r.size);
    shadow_write(f, r.offset, r.size, (old & ~r.writable) | (v & r.writable));
    if (f.msix && r.offset == f.msix + 2) msix_control_changed(f);
  }
}

uint32_t VirtualPciBus::access(uint8_t devfn, uint16_t offset, unsigned size, uint32_t value,
                               bool is_write) {
  if ((size != 1 && size != 2 && size != 4) || offset % size || offset + size > 4096)
    throw std::invalid_argument(name_ + ": configuration access of size " + std::to_string(size) +
                                " at " + std::to_string(offset));
  Function* f = find(devfn);
  trap(f ? policy(devfn, offset).policy : VpciPolicy::kDiscard);
  (is_write ? writes_ : reads_) += 1;
  const uint32_t ones = size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
  if (!f) return is_write ? 0 : ones;  // nothing there: a master abort
  uint32_t result = 0;
  for (unsigned i = 0; i < size;) {
    const uint16_t at = uint16_t(offset + i);
    const int ri = f->reg_of[at];
    if (ri < 0) {  // unlisted: the device's byte; writes discarded
      if (!is_write) result |= uint32_t(host_.mmio_read(ecam(*f, at), 1) & 0xFF) << (8 * i);
      ++i;
      continue;
    }
    const VpciRegister& r = f->regs[ri];
    const unsigned lo = at - r.offset, n = std::min<unsigned>(r.size - lo, size - i);
    const uint32_t cur = read_register(*f, r);
    const uint32_t part_mask = (n == 4 ? 0xFFFFFFFFu : (1u << (8 * n)) - 1) << (8 * lo);
    if (is_write) {
      const uint32_t part = ((value >> (8 * i)) << (8 * lo)) & part_mask;
      write_register(*f, r, (cur & ~part_mask) | part);
    } else {
      result |= ((cur & part_mask) >> (8 * lo)) << (8 * i);
    }
    i += n;
  }
  return is_write ? 0 : result;
}

// ---- BAR MMIO and the MSI-X table ------------------------------------------------------------

uint64_t VirtualPciBus::guest_bar(const Function& f) const {
  return (uint64_t{shadow_read(f, 0x14, 4)} << 32) | (shadow_read(f, 0x10, 4) & 0xFFFFFFF0u);
}

VirtualPciBus::Function* VirtualPciBus::bar_of(uint64_t addr, uint64_t& offset) {
  for (auto& [devfn, f] : functions_) {
    const uint64_t g = guest_bar(f);
    if (g && addr >= g && addr - g < f.a.bar_bytes) {
      offset = addr - g;
      return &f;
    }
  }
  return nullptr;
}

bool VirtualPciBus::in_table(const Function& f, uint64_t off) const {
  return f.msix && off >= f.table_offset &&
         off < f.table_offset + uint64_t{f.msix_entries} * pcie::kMsixEntrySize;
}

uint64_t VirtualPciBus::GuestAccess::mmio_read(uint64_t addr, unsigned size) {
  uint64_t off = 0;
  Function* f = bus_.bar_of(addr, off);
  if (!f) return bus_.host_.mmio_read(addr, size);
  if (!(bus_.shadow_read(*f, pcie::kCfgCommand, 2) & pcie::kCmdMemorySpace))
    return size == 8 ? ~uint64_t{0} : 0xFFFFFFFFu;  // not decoded: as unclaimed space
  if (bus_.in_table(*f, off)) {
    bus_.trap(VpciPolicy::kEmulate);
    ++bus_.table_traps_;
    return bus_.table_read(*f, off, size);
  }
  return bus_.host_.mmio_read(f->a.host_bar + off, size);  // mapped straight in: no trap
}

void VirtualPciBus::GuestAccess::mmio_write(uint64_t addr, unsigned size, uint64_t value) {
  uint64_t off = 0;
  Function* f = bus_.bar_of(addr, off);
  if (!f) return bus_.host_.mmio_write(addr, size, value);
  if (!(bus_.shadow_read(*f, pcie::kCfgCommand, 2) & pcie::kCmdMemorySpace)) return;
  if (bus_.in_table(*f, off)) {
    bus_.trap(VpciPolicy::kEmulate);
    ++bus_.table_traps_;
    return bus_.table_write(*f, off, size, value);
  }
  bus_.host_.mmio_write(f->a.host_bar + off, size, value);
}

uint64_t VirtualPciBus::table_read(const Function& f, uint64_t off, unsigned size) const {
  const uint64_t rel = off - f.table_offset;
  const unsigned e = unsigned(rel / pcie::kMsixEntrySize), dw = unsigned(rel % 16) / 4;
  uint64_t v = f.table[e][dw];
  if (size == 8 && dw < 3) v |= uint64_t{f.table[e][dw + 1]} << 32;
  return v;
}

void VirtualPciBus::table_write(Function& f, uint64_t off, unsigned size, uint64_t value) {
  const uint64_t rel = off - f.table_offset;
  const unsigned e = unsigned(rel / pcie::kMsixEntrySize), dw = unsigned(rel % 16) / 4;
  f.table[e][dw] = uint32_t(value);
  if (size == 8 && dw < 3) f.table[e][dw + 1] = uint32_t(value >> 32);
  const uint64_t real = f.a.host_bar + f.table_offset + e * pcie::kMsixEntrySize;
  if (f.table[e][3] & 1) {
    host_.mmio_write(real + 12, 4, 1);  // the guest masked it: mask the real entry
    return;
  }
  // Unmasked (or changed while unmasked): the guest's message becomes a remapped one.
  program_entry(f, e);
}

void VirtualPciBus::program_entry(Function& f, unsigned e) {
  const auto& t = f.table[e];
  GuestMsi m;
  m.guest_devfn = f.devfn;
  m.host_rid = f.a.host_rid;
  m.entry = e;
  m.vector = t[2] & 0xFF;
  m.vcpu = (t[0] >> 12) & 0xFF;
  MsiProgramming msg{(uint64_t{t[1]} << 32) | t[0], t[2]};
  if (remap_) msg = remap_(m);
  const uint64_t real = f.a.host_bar + f.table_offset + e * pcie::kMsixEntrySize;
  host_.mmio_write(real + 0, 4, msg.address & 0xFFFFFFFFu);
  host_.mmio_write(real + 4, 4, msg.address >> 32);
  host_.mmio_write(real + 8, 4, msg.data);
  host_.mmio_write(real + 12, 4, 0);
  ++remaps_;
}

void VirtualPciBus::msix_control_changed(Function& f) {
  // The device's enable and function mask follow the guest's; the table size stays the device's.
  const uint16_t guest = uint16_t(shadow_read(f, f.msix + 2, 2));
  const uint16_t bits = guest & (pcie::kMsixCtrlEnable | pcie::kMsixCtrlFunctionMask);
  host_.mmio_write(ecam(f, f.msix + 2), 2, bits);
}

// ---- The guest ---------------------------------------------------------------------------------

GuestPciDevice guest_probe(VirtualPciBus& bus, uint8_t devfn) {
  GuestPciDevice d;
  d.devfn = devfn;
  const uint32_t id = bus.read(devfn, pcie::kCfgVendor, 4);
  if ((id & 0xFFFF) == 0xFFFF) throw std::runtime_error("guest: no device at that slot");
  d.vendor_id = uint16_t(id);
  d.device_id = uint16_t(id >> 16);
  d.class_code = bus.read(devfn, 0x08, 4) >> 8;
  // BAR0 sizing, as the PCI core does it (decoding is still off at probe).
  const uint32_t lo = bus.read(devfn, pcie::kCfgBar0, 4),
                 hi = bus.read(devfn, pcie::kCfgBar0 + 4, 4);
  if ((lo & 0x7) != 0x4) throw std::runtime_error("guest: BAR0 is not a 64-bit memory BAR");
  bus.write(devfn, pcie::kCfgBar0, 4, 0xFFFFFFFFu);
  bus.write(devfn, pcie::kCfgBar0 + 4, 4, 0xFFFFFFFFu);
  const uint64_t mask = uint64_t{bus.read(devfn, pcie::kCfgBar0 + 4, 4)} << 32 |
                        (bus.read(devfn, pcie::kCfgBar0, 4) & 0xFFFFFFF0u);
  bus.write(devfn, pcie::kCfgBar0, 4, lo);
  bus.write(devfn, pcie::kCfgBar0 + 4, 4, hi);
  d.bar_bytes = ~mask + 1;
  d.bar = uint64_t{hi} << 32 | (lo & 0xFFFFFFF0u);
  // The capability list, for MSI-X.
  if (bus.read(devfn, pcie::kCfgStatus, 2) & pcie::kStatusCapList) {
    uint16_t cap = uint16_t(bus.read(devfn, pcie::kCfgCapPtr, 1) & 0xFC);
    for (unsigned guard = 0; cap >= 0x40 && guard < 48; ++guard) {
      const uint32_t head = bus.read(devfn, cap, 2);
      if ((head & 0xFF) == pcie::kCapMsix) {
        d.msix = cap;
        d.msix_entries = (bus.read(devfn, cap + 2, 2) & 0x7FF) + 1;
        d.msix_table = bus.read(devfn, cap + 4, 4) & ~7u;
      }
      cap = uint16_t((head >> 8) & 0xFC);
    }
  }
  const uint32_t cmd = bus.read(devfn, pcie::kCfgCommand, 2);
  bus.write(devfn, pcie::kCfgCommand, 2, cmd | pcie::kCmdMemorySpace | pcie::kCmdBusMaster);
  return d;
}

void guest_enable_msix(VirtualPciBus& bus, HostAccess& guest, const GuestPciDevice& d,
                       const std::vector<GuestVector>& entries) {
  if (!d.msix || entries.size() > d.msix_entries)
    throw std::runtime_error("guest: the device has too few MSI-X vectors");
  const uint16_t ctl = d.msix + 2;
  bus.write(d.devfn, ctl, 2, pcie::kMsixCtrlEnable | pcie::kMsixCtrlFunctionMask);
  for (unsigned i = 0; i < entries.size(); ++i) {
    const uint64_t e = d.bar + d.msix_table + uint64_t{i} * pcie::kMsixEntrySize;
    guest.mmio_write(e + 0, 4, 0xFEE00000u | (entries[i].vcpu & 0xFF) << 12);
    guest.mmio_write(e + 4, 4, 0);
    guest.mmio_write(e + 8, 4, entries[i].vector & 0xFF);
    guest.mmio_write(e + 12, 4, 0);  // unmask
  }
  bus.write(d.devfn, ctl, 2, pcie::kMsixCtrlEnable);
}

}  // namespace iovsim::cpu_stub

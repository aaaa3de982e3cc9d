// vPCI: the virtual PCI bus a hypervisor exports to one VM, holding the functions assigned to it
// (VFIO/KVM device assignment). Every guest configuration access traps to the hypervisor, which by
// a per-register policy passes it through to the device, emulates it (vendor/device ids, BARs,
// MSI-X control, interrupt line), or discards it (a write to a register the host owns: the PCI
// Express capability's controls, ATS, everything unlisted). BAR MMIO is mapped straight into the
// guest (no trap) except the MSI-X table, which is trapped: the guest's (vector, vCPU) message is
// turned into a remappable interrupt by the hypervisor (an IRTE with the function's SID) and the
// real table entry gets that message. Each trap costs `vm.exit_cycles` (exit + handling + entry)
// at `cpu.clock_mhz`; the cost accrues and the owner takes it with take_cpu_ns() (the nic workload
// charges it to the guest's driver at boot). See docs/models/cpu_stub.md (vPCI).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>

#include "host_access.hpp"
#include "iommu_driver.hpp"

namespace iovsim::cpu_stub {

enum class VpciPolicy { kPass, kEmulate, kDiscard };
const char* to_string(VpciPolicy p);

// One register of the guest's configuration space and what the hypervisor does with it.
struct VpciRegister {
  uint16_t offset = 0;
  unsigned size = 4;  // 1, 2 or 4
  std::string name;
  VpciPolicy policy = VpciPolicy::kDiscard;
  // kPass: the bits written to and read from the device (the others are emulated: the guest's
  // own, kept by the hypervisor). kEmulate: the bits read from the device (read-only ones such as
  // the MSI-X table size); writes never reach the device directly.
  uint32_t device_mask = 0xFFFFFFFFu;
  // The emulated bits a guest write changes (the rest of the emulated bits are read-only).
  uint32_t writable = 0;
};

// What the guest asked for in an MSI-X table entry, and where it is.
struct GuestMsi {
  uint8_t guest_devfn = 0;
  uint16_t host_rid = 0;
  unsigned entry = 0;
  unsigned vector = 0;  // guest vector (data 7:0)
  unsigned vcpu = 0;    // guest destination APIC id (address 19:12) = the vCPU
};

// The hypervisor's side of MSI-X: remap a guest message (an IRTE with SID = the function, or a
// compatibility message without remapping) and return what the device must send.
using MsiRemapper = std::function<MsiProgramming(const GuestMsi&)>;

struct VpciConfig {
  uint64_t exit_cycles = 2000;  // vm.exit_cycles
  double clock_mhz = 2200;      // cpu.clock_mhz
  double trap_ns() const { return double(exit_cycles) * 1000.0 / clock_mhz; }
  static VpciConfig from(const core::Config& config);
};

// A function as the hypervisor assigns it.
struct VpciAssignment {
  uint16_t host_rid = 0;
  uint16_t vendor_id = 0;  // the guest must see a real device: for a VF the PF's vendor ...
  uint16_t device_id = 0;  // ... and the VF Device ID from the PF's SR-IOV capability
  uint64_t host_bar = 0;   // BAR0 (64-bit memory) as the host assigned it
  uint64_t bar_bytes = 0;
  uint64_t guest_bar = 0;  // where the guest first sees it (0: at host_bar, an identity EPT map)
  // BAR0 bits 3:0 as the guest sees them: a VF's own header BARs read 0 (the PF's VF BARn
  // describe them), so the hypervisor supplies them; 0x4 = 64-bit memory, not prefetchable.
  uint32_t bar_flags = 0x4;
};

class VirtualPciBus {
 public:
  // `host`: the hypervisor's own access (ECAM at ecam_base, the device's real BARs).
  VirtualPciBus(std::string name, HostAccess& host, uint64_t ecam_base, const VpciConfig& config,
                MsiRemapper remap, core::StatGroup* parent_stats);

  // Puts a function on the bus at 00:dev.0 (the returned devfn = dev << 3). Reads its capability
  // list through ECAM to build the policy table; resets its Command (bus master and memory off:
  // VFIO resets an assigned function), masks its MSI-X table entries and disables MSI-X.
  uint8_t add(const VpciAssignment& a);

  // A guest configuration access (size 1, 2, 4; within the 4 KiB space; not crossing a dword):
  // one trap. Reads of an absent function return all ones. std::invalid_argument for bad sizes.
  uint32_t access(uint8_t devfn, uint16_t offset, unsigned size, uint32_t value, bool is_write);
  uint32_t read(uint8_t devfn, uint16_t offset, unsigned size) {
    return access(devfn, offset, size, 0, false);
  }
  void write(uint8_t devfn, uint16_t offset, unsigned size, uint32_t value) {
    access(devfn, offset, size, value, true);
  }

  // The guest's view of the machine for its drivers: memory as the host's (the caller adds the
  // VM's offset), MMIO to a guest BAR goes to the host BAR untrapped, except the MSI-X table
  // (trapped, emulated). Other MMIO passes to the host unchanged.
  HostAccess& guest() { return guest_; }

  // The policy of the register holding `offset` (tests, documentation).
  const VpciRegister& policy(uint8_t devfn, uint16_t offset) const;
  const std::vector<VpciRegister>& registers(uint8_t devfn) const;

  uint64_t traps() const { return traps_.value; }
  uint64_t traps(VpciPolicy p) const;
  uint64_t table_traps() const { return table_traps_.value; }
  // CPU time the traps cost since the last call (and zeroes it).
  double take_cpu_ns();
  double cpu_ns() const { return cpu_ns_.value; }
  const VpciConfig& config() const { return config_; }

 private:
  struct Function {
    VpciAssignment a;
    uint8_t devfn = 0;
    std::array<uint8_t, 4096> shadow{};  // the emulated registers' values
    std::vector<VpciRegister> regs;
    std::vector<int> reg_of;     // byte offset -> index in regs, -1 = none (discard)
    uint64_t bar_size_mask = 0;  // ~(bar_bytes - 1)
    uint32_t bar_flags = 0;      // BAR0 bits 3:0 as the guest sees them
    uint16_t msix = 0;           // MSI-X capability offset (0: none)
    unsigned msix_entries = 0;
    uint32_t table_offset = 0;                   // in BAR0
    std::vector<std::array<uint32_t, 4>> table;  // the guest's entries
  };
  class GuestAccess : public HostAccess {
   public:
    explicit GuestAccess(VirtualPciBus& bus) : bus_(bus) {}
    void mem_read(uint64_t a, void* d, std::size_t n) override { bus_.host_.mem_read(a, d, n); }
    void mem_write(uint64_t a, const void* s, std::size_t n) override {
      bus_.host_.mem_write(a, s, n);
    }
    uint64_t mmio_read(uint64_t addr, unsigned size) override;
    void mmio_write(uint64_t addr, unsigned size, uint64_t value) override;
    void relax() override { bus_.host_.relax(); }

   private:
    VirtualPciBus& bus_;
  };

  Function* find(uint8_t devfn);
  const Function* find(uint8_t devfn) const;
  uint64_t ecam(const Function& f, uint16_t offset) const;
  uint32_t shadow_read(const Function& f, uint16_t offset, unsigned size) const;
  void shadow_write(Function& f, uint16_t offset, unsigned size, uint32_t value);
  uint32_t read_register(Function& f, const VpciRegister& r);
  void write_register(Function& f, const VpciRegister& r, uint32_t value);
  uint64_t guest_bar(const Function& f) const;
  // The function and offset in BAR0 a guest address falls in, or nullptr.
  Function* bar_of(uint64_t guest_addr, uint64_t& offset);
  bool in_table(const Function& f, uint64_t bar_offset) const;
  void table_write(Function& f, uint64_t bar_offset, unsigned size, uint64_t value);
  uint64_t table_read(const Function& f, uint64_t bar_offset, unsigned size) const;
  void program_entry(Function& f, unsigned entry);
  void msix_control_changed(Function& f);
  void trap(VpciPolicy p);

  std::string name_;
  HostAccess& host_;
  uint64_t ecam_base_;
  VpciConfig config_;
  MsiRemapper remap_;
  GuestAccess guest_{*this};
  std::map<uint8_t, Function> functions_;
  double pending_ns_ = 0;
  core::StatGroup stats_;
  core::Counter& traps_;
  core::Counter& reads_;
  core::Counter& writes_;
  core::Counter& pass_;
  core::Counter& emulate_;
  core::Counter& discard_;
  core::Counter& table_traps_;
  core::Counter& remaps_;
  core::Scalar& cpu_ns_;
};

// ---- The guest's side: what its PCI core and MSI-X setup do, every config access through the bus.

// A function as the guest's PCI core found it.
struct GuestPciDevice {
  uint8_t devfn = 0;
  uint16_t vendor_id = 0, device_id = 0;
  uint32_t class_code = 0;
  uint64_t bar = 0, bar_bytes = 0;  // BAR0 (guest-physical), sized
  uint16_t msix = 0;                // MSI-X capability offset (0: none)
  unsigned msix_entries = 0;
  uint32_t msix_table = 0;  // offset in BAR0
};

// Probes and enables `devfn` as a guest's PCI core does: identity (vendor/device, class), BAR0
// sized (all ones, read back, restore) with decoding off, the capability list walked for MSI-X,
// then Memory Space and Bus Master set: 18 configuration accesses (10 emulated, 7 passed, 1
// discarded) for a function with two standard capabilities, MSI-X among them. std::runtime_error
// for an absent function or one without a 64-bit memory BAR0.
GuestPciDevice guest_probe(VirtualPciBus& bus, uint8_t devfn);

// The guest's MSI-X setup: enable with the function masked, each entry i written with the guest's
// (vCPU, vector) in compatibility format and unmasked (4 trapped table writes each), then the
// function mask cleared: 2 configuration writes and 4 table writes per entry.
struct GuestVector {
  unsigned vcpu = 0, vector = 0;
};
void guest_enable_msix(VirtualPciBus& bus, HostAccess& guest, const GuestPciDevice& dev,
                       const std::vector<GuestVector>& entries);

}  // namespace iovsim::cpu_stub

// cpu_stub::VirtualPciBus over a fake VF (a pcie::ConfigSpace behind ECAM, BAR0 registers as a
// map): what the guest reads back, what the device saw, which accesses trapped and their cost.
#include <catch2/catch.hpp>

#include <map>
#include <vector>

#include <iovsim/cpu_stub/vpci.hpp>
#include <iovsim/pcie/config_space.hpp>
#include <iovsim/pcie/msix.hpp>

using namespace iovsim;
using cpu_stub::VpciPolicy;

namespace {

constexpr uint64_t kEcam = 0xE0000000, kBar = 0xC0010000, kBarBytes = 0x4000;
constexpr uint16_t kRid = 0x0180;

// A VF as the NIC builds one: vendor/device 0xFFFF, class Ethernet, BAR0 16 KiB 64-bit, PCI
// Express, MSI-X (2 vectors, table at 0x2000, PBA 0x3000), only Bus Master writable in Command.
struct FakeVf : cpu_stub::HostAccess {
  pcie::ConfigSpace cs{0xFFFF, 0xFFFF, 0x020000};
  std::map<uint64_t, uint64_t> bar;  // BAR0 offset -> last value written
  std::vector<uint64_t> bar_writes;  // BAR0 offsets written, in order
  unsigned cfg_writes = 0;
  uint16_t msix = 0;
  FakeVf() {
    cs.define_bar(0, kBarBytes, true);
    cs.add_pcie(1);
    msix = cs.add_msix(2, 0, 0x2000, 0, 0x3000);
    cs.set_rw_mask(pcie::kCfgCommand, 2, pcie::kCmdBusMaster);
    cs.write(pcie::kCfgBar0, 4, uint32_t(kBar));
  }
  void mem_read(uint64_t, void*, std::size_t) override {}
  void mem_write(uint64_t, const void*, std::size_t) override {}
  uint64_t mmio_read(uint64_t a, unsigned size) override {
    if (a >= kEcam && a < kEcam + (1u << 28)) {
      REQUIRE(((a - kEcam) >> 12) == kRid);
      return cs.read(uint16_t(a & 0xFFF), size);
    }
    REQUIRE(a >= kBar);
    REQUIRE(a < kBar + kBarBytes);
    return bar.count(a - kBar) ? bar[a - kBar] : 0;
  }
  void mmio_write(uint64_t a, unsigned size, uint64_t v) override {
    if (a >= kEcam && a < kEcam + (1u << 28)) {
      ++cfg_writes;
      return cs.write(uint16_t(a & 0xFFF), size, uint32_t(v));
    }
    REQUIRE(a >= kBar);
    REQUIRE(a < kBar + kBarBytes);
    bar[a - kBar] = v;
    bar_writes.push_back(a - kBar);
  }
};

struct Bus {
  FakeVf vf;
  core::StatGroup stats;
  std::vector<cpu_stub::GuestMsi> asked;
  cpu_stub::VirtualPciBus bus;
  uint8_t devfn;
  explicit Bus(uint64_t exit_cycles = 2000, double mhz = 2000)
      : bus(
            "vpci", vf, kEcam, cpu_stub::VpciConfig{exit_cycles, mhz},
            [this](const cpu_stub::GuestMsi& m) {
              asked.push_back(m);
              // The hypervisor's remappable message: IRTE index 5 + entry.
              return cpu_stub::MsiProgramming{0xFEE00010u | ((5u + m.entry) << 5), 0};
            },
            &stats),
        devfn(bus.add({kRid, 0x8086, 0x10ED, kBar, kBarBytes, 0, 0x4})) {}
};

}  // namespace

TEST_CASE("vPCI: the policy table names pass - emulate and discard per register") {
  Bus b;
  CHECK(b.devfn == 0x08);  // 00:01.0
  auto pol = [&](uint16_t off) { return b.bus.policy(b.devfn, off).policy; };
  CHECK(pol(0x00) == VpciPolicy::kEmulate);  // vendor
  CHECK(pol(0x02) == VpciPolicy::kEmulate);  // device
  CHECK(pol(0x04) == VpciPolicy::kPass);     // command
  CHECK(pol(0x06) == VpciPolicy::kDiscard);  // status
  CHECK(pol(0x08) == VpciPolicy::kPass);     // class
  CHECK(pol(0x10) == VpciPolicy::kEmulate);  // BAR0
  CHECK(pol(0x34) == VpciPolicy::kPass);     // capability pointer
  CHECK(pol(b.vf.msix) == VpciPolicy::kPass);
  CHECK(pol(b.vf.msix + 2) == VpciPolicy::kEmulate);
  const uint16_t pcie_cap = b.vf.cs.find_capability(pcie::kCapPcie);
  CHECK(pol(pcie_cap) == VpciPolicy::kPass);
  CHECK(pol(pcie_cap + 8) == VpciPolicy::kDiscard);  // device control: the host's
  CHECK(pol(0x100) == VpciPolicy::kDiscard);
  CHECK(std::string(cpu_stub::to_string(VpciPolicy::kEmulate)) == "emulate");
}

TEST_CASE("vPCI: identity registers are emulated from the PF-supplied ids") {
  Bus b;
  CHECK(b.vf.cs.read(0x00, 4) == 0xFFFFFFFFu);  // the VF itself answers ffff
  CHECK(b.bus.read(b.devfn, 0x00, 4) == 0x10ED8086u);
  CHECK(b.bus.read(b.devfn, 0x02, 2) == 0x10EDu);
  CHECK(b.bus.read(b.devfn, 0x01, 1) == 0x80u);
  b.bus.write(b.devfn, 0x00, 4, 0x12345678);  // read-only: nothing changes anywhere
  CHECK(b.bus.read(b.devfn, 0x00, 4) == 0x10ED8086u);
  CHECK(b.bus.read(b.devfn, 0x08, 4) >> 8 == 0x020000u);  // class passes
  CHECK(b.bus.read(b.devfn, 0x3D, 1) == 0);               // no INTx pin
  b.bus.write(b.devfn, 0x3C, 1, 0x0B);                    // interrupt line: the guest's own
  CHECK(b.bus.read(b.devfn, 0x3C, 1) == 0x0B);
  CHECK(b.vf.cs.read(0x3C, 1) == 0);
  // An absent function: all ones, still a trap.
  CHECK(b.bus.read(0x10, 0x00, 4) == 0xFFFFFFFFu);
  CHECK(b.bus.read(0x10, 0x00, 2) == 0xFFFFu);
}

TEST_CASE("vPCI: Command passes Bus Master to the device and keeps Memory Space for the guest") {
  Bus b;
  CHECK(!b.vf.cs.bus_master());  // the assignment reset it
  b.bus.write(b.devfn, 0x04, 2, pcie::kCmdBusMaster | pcie::kCmdMemorySpace | (1u << 6));
  CHECK(b.vf.cs.bus_master());                  // the device saw BME
  CHECK(!b.vf.cs.memory_enabled());             // not MSE (the PF's VF MSE decodes)
  CHECK((b.vf.cs.command() & (1u << 6)) == 0);  // nor parity (not writable on the VF)
  const uint32_t guest = b.bus.read(b.devfn, 0x04, 2);
  CHECK((guest & pcie::kCmdBusMaster) != 0);    // read back from the device
  CHECK((guest & pcie::kCmdMemorySpace) != 0);  // read back from the emulation
  CHECK((guest & (1u << 6)) == 0);              // dropped: neither passed nor emulated
  b.bus.write(b.devfn, 0x04, 2, pcie::kCmdMemorySpace);
  CHECK(!b.vf.cs.bus_master());
  CHECK(b.bus.read(b.devfn, 0x04, 2) == pcie::kCmdMemorySpace);
  // Status reads from the device (capability list) but a write never reaches it.
  const unsigned writes = b.vf.cfg_writes;
  CHECK((b.bus.read(b.devfn, 0x06, 2) & pcie::kStatusCapList) != 0);
  b.bus.write(b.devfn, 0x06, 2, 0xFFFF);
  CHECK(b.vf.cfg_writes == writes);
}

TEST_CASE("vPCI: BARs are emulated - sizing and moving never touch the device") {
  Bus b;
  const unsigned writes = b.vf.cfg_writes;
  CHECK(b.bus.read(b.devfn, 0x10, 4) == (uint32_t(kBar) | 0x4));  // 64-bit memory
  CHECK(b.bus.read(b.devfn, 0x14, 4) == 0);
  b.bus.write(b.devfn, 0x10, 4, 0xFFFFFFFFu);
  CHECK(b.bus.read(b.devfn, 0x10, 4) == (uint32_t(~(kBarBytes - 1)) | 0x4));
  b.bus.write(b.devfn, 0x14, 4, 0xFFFFFFFFu);
  CHECK(b.bus.read(b.devfn, 0x14, 4) == 0xFFFFFFFFu);
  b.bus.write(b.devfn, 0x10, 4, 0x80004000u);  // the guest moves it
  b.bus.write(b.devfn, 0x14, 4, 0x1);
  CHECK(b.bus.read(b.devfn, 0x10, 4) == 0x80004004u);
  CHECK(b.bus.read(b.devfn, 0x14, 4) == 0x1u);
  CHECK(b.bus.read(b.devfn, 0x18, 4) == 0);  // BAR2: unimplemented
  CHECK(b.bus.read(b.devfn, 0x30, 4) == 0);  // no ROM
  CHECK(b.vf.cfg_writes == writes);
  CHECK(b.vf.cs.bar_address(0) == kBar);  // the host's BAR stays
  // MMIO at the new guest address reaches the host BAR, once the guest enables memory space.
  auto& g = b.bus.guest();
  const std::size_t setup_writes = b.vf.bar_writes.size();  // the assignment masked the table
  g.mmio_write(0x180004000ull + 0x10, 4, 7);
  CHECK(b.vf.bar_writes.size() == setup_writes);  // memory space off: not decoded
  b.bus.write(b.devfn, 0x04, 2, pcie::kCmdMemorySpace);
  g.mmio_write(0x180004000ull + 0x10, 4, 7);
  CHECK(b.vf.bar.at(0x10) == 7);
}

TEST_CASE("vPCI: every config access traps and costs vm.exit_cycles - BAR MMIO does not") {
  Bus b(3000, 1500);                 // 3000 cycles at 1.5 GHz = 2 us
  CHECK(b.bus.traps() == 0);         // the hypervisor's own setup is not a guest trap
  b.bus.read(b.devfn, 0x00, 4);      // emulate
  b.bus.write(b.devfn, 0x04, 2, 6);  // pass
  b.bus.read(b.devfn, 0x08, 4);      // pass
  b.bus.write(b.devfn, 0x06, 2, 0);  // discard
  b.bus.read(b.devfn, 0x100, 4);     // unlisted: discard
  CHECK(b.bus.traps() == 5);
  CHECK(b.bus.traps(VpciPolicy::kEmulate) == 1);
  CHECK(b.bus.traps(VpciPolicy::kPass) == 2);
  CHECK(b.bus.traps(VpciPolicy::kDiscard) == 2);
  CHECK(b.bus.cpu_ns() == Approx(5 * 2000.0));
  CHECK(b.bus.take_cpu_ns() == Approx(10000.0));
  CHECK(b.bus.take_cpu_ns() == 0);
  auto& g = b.bus.guest();
  for (int i = 0; i < 10; ++i) g.mmio_write(kBar + 0x10, 4, uint64_t(i));  // a doorbell
  CHECK(g.mmio_read(kBar + 0x10, 4) == 9);
  CHECK(b.bus.traps() == 5);
  CHECK(b.bus.table_traps() == 0);
  CHECK_THROWS_AS(b.bus.read(b.devfn, 0x02, 4), std::invalid_argument);
  CHECK_THROWS_AS(b.bus.read(b.devfn, 0x00, 3), std::invalid_argument);
}

TEST_CASE("vPCI: MSI-X table writes trap and program the hypervisor's remapped message") {
  Bus b;
  b.bus.write(b.devfn, 0x04, 2, pcie::kCmdMemorySpace | pcie::kCmdBusMaster);
  const uint16_t ctl = b.vf.msix + 2;
  CHECK(b.bus.read(b.devfn, ctl, 2) == 1);  // table size - 1 from the device, disabled
  b.bus.write(b.devfn, ctl, 2, pcie::kMsixCtrlEnable | pcie::kMsixCtrlFunctionMask | 0x7FF);
  CHECK(b.vf.cs.read(ctl, 2) == (pcie::kMsixCtrlEnable | pcie::kMsixCtrlFunctionMask | 1));
  CHECK(b.bus.read(b.devfn, ctl, 2) == (pcie::kMsixCtrlEnable | pcie::kMsixCtrlFunctionMask | 1));
  auto& g = b.bus.guest();
  const uint64_t e1 = kBar + 0x2000 + 16;
  const uint64_t traps = b.bus.traps();
  g.mmio_write(e1 + 0, 4, 0xFEE00000u | (3u << 12));  // vCPU 3
  g.mmio_write(e1 + 4, 4, 0);
  g.mmio_write(e1 + 8, 4, 0x45);  // guest vector
  CHECK(b.asked.empty());         // still masked: nothing programmed
  CHECK(b.vf.bar.at(0x2000 + 16 + 12) == 1);
  g.mmio_write(e1 + 12, 4, 0);  // unmask
  REQUIRE(b.asked.size() == 1);
  CHECK(b.asked[0].entry == 1);
  CHECK(b.asked[0].vcpu == 3);
  CHECK(b.asked[0].vector == 0x45);
  CHECK(b.asked[0].host_rid == kRid);
  // The device holds the hypervisor's message, the guest reads back its own.
  CHECK(b.vf.bar.at(0x2000 + 16 + 0) == (0xFEE00010u | (6u << 5)));
  CHECK(b.vf.bar.at(0x2000 + 16 + 8) == 0);
  CHECK(b.vf.bar.at(0x2000 + 16 + 12) == 0);
  CHECK(g.mmio_read(e1 + 0, 4) == (0xFEE00000u | (3u << 12)));
  CHECK(g.mmio_read(e1 + 8, 4) == 0x45);
  CHECK(b.bus.traps() == traps + 6);
  CHECK(b.bus.table_traps() == 6);
  b.bus.write(b.devfn, ctl, 2, pcie::kMsixCtrlEnable);
  CHECK(b.vf.cs.read(ctl, 2) == (pcie::kMsixCtrlEnable | 1));
  // The table-offset register passes; a write to the PCIe capability is discarded.
  CHECK(b.bus.read(b.devfn, b.vf.msix + 4, 4) == 0x2000u);
  const uint16_t pcie_cap = b.vf.cs.find_capability(pcie::kCapPcie);
  const uint32_t devctl = b.vf.cs.read(pcie_cap + 8, 2);
  b.bus.write(b.devfn, pcie_cap + 8, 2, 0x5000);
  CHECK(b.vf.cs.read(pcie_cap + 8, 2) == devctl);
}

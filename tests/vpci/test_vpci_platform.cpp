// The nic workload's guests bring their VFs up through vPCI (what trapped, what the device saw,
// what the guest read back), then receive their packets; interrupt affinity: interrupts reach the
// CPU a vCPU is pinned to, and misrouted ones pay vm.forward_ns. Each test case is its own process
// (SystemC elaborates once).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <iovsim/pcie/msix.hpp>
#include <iovsim/platforms/nic_workload.hpp>
#include <iovsim/platforms/platform.hpp>
#include <iovsim/sriov_nic/nic_registers.hpp>

#include "../support/nic_platform.hpp"

using namespace iovsim;
using cpu_stub::VpciPolicy;
using test::NicPlatform;

namespace {

// What the guest's bring-up does per VF (cpu_stub::guest_probe, guest_enable_msix with 2 vectors):
// probe 18 config accesses (10 emulated: identity, 8 for BAR0 sizing, MSI-X control; 7 passed:
// class, capability pointer, 2 capability headers, MSI-X table offset, Command read and write; 1
// discarded: Status), MSI-X 2 control writes (emulated) and 4 table writes per vector (emulated).
constexpr unsigned kPass = 7, kDiscard = 1, kEmulate = 10 + 2 + 8, kTable = 8;
constexpr unsigned kTraps = kPass + kDiscard + kEmulate;

}  // namespace

TEST_CASE("vPCI: a guest's VF comes up through its virtual bus and receives its packets") {
  NicPlatform p({"nic.vfs=2", "iommu.enabled=true", "iommu.ir.enabled=true", "vm.exit_cycles=2200",
                 "cpu.clock_mhz=2200"});
  p.boot();
  auto& w = p.workload();
  auto& nic = w.nic();
  for (unsigned vf = 0; vf < 2; ++vf) {
    auto& bus = w.vpci(vf);  // one VM per VF
    INFO("VF " << vf);
    CHECK(w.guest_devfn(vf) == 0x08);  // 00:01.0 in its VM
    CHECK(bus.traps() == kTraps);
    CHECK(bus.traps(VpciPolicy::kPass) == kPass);
    CHECK(bus.traps(VpciPolicy::kEmulate) == kEmulate);
    CHECK(bus.traps(VpciPolicy::kDiscard) == kDiscard);
    CHECK(bus.table_traps() == kTable);
    // 2200 cycles at 2200 MHz = 1 us per trap, booked to the guest's driver.
    CHECK(bus.cpu_ns() == Approx(kTraps * 1000.0));
    CHECK(p.stat("guest.vf" + std::to_string(vf) + ".cpu_ns") == Approx(kTraps * 1000.0));
    // What the device saw: bus mastering and MSI-X from the guest through the hypervisor, the
    // hypervisor's remappable messages (IF = 1) in its table, unmasked.
    pcie::ConfigSpace& cs = nic.sriov().vf(vf);
    CHECK(cs.bus_master());
    const uint16_t msix = cs.find_capability(pcie::kCapMsix);
    CHECK((cs.read(msix + 2, 2) & (pcie::kMsixCtrlEnable | pcie::kMsixCtrlFunctionMask)) ==
          pcie::kMsixCtrlEnable);
    const uint64_t bar = p.platform->enumerator()->find(nic.rid(1 + vf))->bars[0].base;
    auto& cpu = p.platform->cpu();
    for (unsigned e = 0; e < 2; ++e) {
      const uint64_t entry = bar + sriov_nic::kMsixTable + e * pcie::kMsixEntrySize;
      const uint32_t addr = uint32_t(cpu.mmio_read(entry, 4));
      CHECK((addr >> 20) == 0xFEE);
      CHECK((addr & 0x10) != 0);  // remappable format
      CHECK(cpu.mmio_read(entry + 12, 4) == 0);
      // The guest reads back its own message: vCPU 0, its vector 0x40 + e (one trap each).
      CHECK(bus.guest().mmio_read(entry, 4) == 0xFEE00000u);
      CHECK(bus.guest().mmio_read(entry + 8, 4) == 0x40u + e);
    }
    // The guest's view of identity and BAR: the PF's vendor, the VF device id, 64-bit BAR0.
    CHECK(cs.read(0x00, 4) == 0xFFFFFFFFu);
    CHECK(bus.read(0x08, 0x00, 4) == 0x10ED8086u);
    CHECK(bus.read(0x08, 0x10, 4) == (uint32_t(bar) | 0x4));
  }
  const double traps_after_boot = p.stat("vpci.vm0.traps");
  p.run();
  for (unsigned vf = 0; vf < 2; ++vf) {
    const std::string g = "guest.vf" + std::to_string(vf) + ".";
    CHECK(p.stat(g + "rx_packets") == 400);
    CHECK(p.stat(g + "rx_corrupt") == 0);
    CHECK(p.stat(g + "interrupts") > 0);
  }
  // Traffic (doorbells, ring registers) never trapped: BAR MMIO is mapped into the guest.
  CHECK(p.stat("vpci.vm0.traps") == traps_after_boot);
  CHECK(p.stat("vm.irq.forwarded") == 0);
  CHECK(p.stat("vm.irq.direct") == p.stat("guest.vf0.interrupts") + p.stat("guest.vf1.interrupts"));
}

TEST_CASE("Interrupt affinity: each VF interrupts the CPU its VM's vCPU is pinned to") {
  NicPlatform p({"nic.vfs=4", "vm.count=2", "vm.vcpus=2", "cpu.count=4", "vm.pinning=3,1,0,2",
                 "iommu.enabled=true", "iommu.ir.enabled=true", "nic.packets=200"});
  p.run();
  auto& w = p.workload();
  // VF i is in VM i mod 2, slot i / 2 -> vCPU i / 2; VM v's vCPU j runs on pinning[2v + j].
  const unsigned expect[4] = {3, 0, 1, 2};
  for (unsigned vf = 0; vf < 4; ++vf) CHECK(w.cpu_of(w.vm_of(vf), w.vcpu_of(vf)) == expect[vf]);
  unsigned checked = 0;
  for (const auto& m : p.platform->interrupts().received()) {
    if (!m.has_rid) continue;
    for (unsigned vf = 0; vf < 4; ++vf)
      if (m.source_rid == w.nic().rid(1 + vf)) {
        CHECK(m.apic_id == expect[vf]);
        ++checked;
      }
  }
  CHECK(checked > 0);
  for (unsigned cpu = 0; cpu < 4; ++cpu) CHECK(p.platform->interrupts().delivered_to(cpu) > 0);
  CHECK(p.stat("vm.irq.forwarded") == 0);
  CHECK(p.stat("vm.irq.direct") == p.stat("irq.delivered"));
  for (unsigned vf = 0; vf < 4; ++vf)
    CHECK(p.stat("guest.vf" + std::to_string(vf) + ".rx_packets") == 200);
}

TEST_CASE("Interrupt affinity: misrouted interrupts are forwarded and pay vm.forward_ns exactly") {
  NicPlatform p({"nic.vfs=1", "cpu.count=2", "vm.irq_affinity=misrouted", "vm.forward_ns=1234",
                 "iommu.enabled=true", "iommu.ir.enabled=true"});
  p.run();
  for (const auto& m : p.platform->interrupts().received()) CHECK(m.apic_id == 1);  // not CPU 0
  CHECK(p.stat("vm.irq.direct") == 0);
  CHECK(p.stat("vm.irq.forwarded") == p.stat("irq.delivered"));
  CHECK(p.stat("vm.irq.forwarded") == p.stat("guest.vf0.interrupts"));
  CHECK(p.stat("vm.irq.forwarded_latency_ns.count") == p.stat("irq.delivered"));
  // Each interrupt reaches the guest forward_ns after its handler started on the wrong CPU.
  CHECK(p.stat("vm.irq.forwarded_latency_ns.mean") - p.stat("irq.latency_ns.mean") ==
        Approx(1234).margin(1e-6));
  CHECK(p.stat("vm.irq.forwarded_latency_ns.min") - p.stat("irq.latency_ns.min") ==
        Approx(1234).margin(1e-6));
  CHECK(p.stat("guest.vf0.rx_packets") == 400);
}

TEST_CASE("Interrupt affinity: a guest moving its interrupt between vCPUs keeps one IRTE") {
  NicPlatform p({"nic.vfs=1", "vm.vcpus=2", "cpu.count=2", "vm.pinning=0,1", "iommu.enabled=true",
                 "iommu.ir.enabled=true"});
  p.boot();
  auto& w = p.workload();
  auto& cpu = p.platform->cpu();
  const unsigned irtes = p.platform->iommu_driver()->irtes_in_use();
  CHECK(irtes == 2);  // the VF's RX and TX entries
  const uint64_t rx_entry =
      p.platform->enumerator()->find(w.nic().rid(1))->bars[0].base + sriov_nic::kMsixTable;
  const uint64_t device_address = cpu.mmio_read(rx_entry, 4);
  // The guest's driver moves the interrupt 301 times, more than the 207 vectors a CPU has,
  // alternating vCPU 1 and 0 and ending on vCPU 1 (CPU 1): each an unmasked rewrite of the
  // entry's address, trapped and remapped (from a thread: each move waits for its IEC
  // invalidation).
  uint64_t moved_ps = 0;
  sc_core::sc_spawn([&] {
    for (unsigned i = 0; i < 301; ++i)
      w.vpci(0).guest().mmio_write(rx_entry, 4, 0xFEE00000u | (i % 2 == 0 ? 1u : 0u) << 12);
    moved_ps = sc_core::sc_time_stamp().value();
  });
  p.run();
  REQUIRE(moved_ps > 0);
  CHECK(w.vpci(0).table_traps() == kTable + 301);
  CHECK(p.platform->iommu_driver()->irtes_in_use() == irtes);
  CHECK(cpu.mmio_read(rx_entry, 4) == device_address);  // the same handle: the IRTE moved
  unsigned checked = 0;
  for (const auto& m : p.platform->interrupts().received())
    if (m.has_rid && m.source_rid == w.nic().rid(1) && m.time_ps > moved_ps) {
      CHECK(m.apic_id == 1);
      ++checked;
    }
  CHECK(checked > 0);
  CHECK(p.stat("irq.unexpected") == 0);
  CHECK(p.stat("guest.vf0.rx_packets") == 400);
}

TEST_CASE("Interrupt affinity: misrouting needs two CPUs") {
  CHECK_THROWS_AS(NicPlatform({"nic.vfs=1", "cpu.count=1", "vm.irq_affinity=misrouted"}),
                  core::ConfigError);
}

TEST_CASE("Interrupt affinity: a pinning list must name one CPU per vCPU") {
  CHECK_THROWS_WITH(NicPlatform({"nic.vfs=2", "cpu.count=2", "vm.pinning=0"}),
                    Catch::Contains("vm.pinning lists 1 CPUs but there are 2 vCPUs"));
}

TEST_CASE("Interrupt affinity: a pinning list names existing CPUs") {
  CHECK_THROWS_WITH(NicPlatform({"nic.vfs=2", "cpu.count=2", "vm.pinning=0,2"}),
                    Catch::Contains("'2' is not a CPU below cpu.count = 2"));
}

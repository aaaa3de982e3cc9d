// Whole platforms with workload.kind = nic: SR-IOV enumeration through the root complex, rings
// under load, isolation of VMs by the IOMMU, and interrupt source-id checks. Each test case is its
// own process (SystemC elaborates once).
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/iommu/vtd_format.hpp>
#include <iovsim/pcie/sriov.hpp>
#include <iovsim/platforms/nic_workload.hpp>
#include <iovsim/platforms/platform.hpp>

#include "../support/nic_platform.hpp"

using namespace iovsim;
using test::NicPlatform;

namespace {

uint16_t vf_rid(uint16_t pf, unsigned offset, unsigned stride, unsigned i) {
  return static_cast<uint16_t>(pf + offset + stride * i);
}

}  // namespace

TEST_CASE(
    "Enabling VFs gives the routing ids and BARs of the SR-IOV formula - carrying into the next "
    "bus") {
  NicPlatform p({"nic.vfs=8", "nic.total_vfs=8", "nic.first_vf_offset=0xF0", "nic.vf_stride=4"});
  p.boot();
  auto& nic = p.nic();
  const uint16_t pf = nic.rid(0);
  CHECK(pf == 0x0100);
  REQUIRE(nic.sriov().num_vfs() == 8);
  auto* en = p.platform->enumerator();
  const auto* pf_info = en->find(pf);
  REQUIRE(pf_info);
  REQUIRE(pf_info->sriov);
  REQUIRE(!pf_info->sriov->vf_bars.empty());
  const uint64_t vf_bar0 = pf_info->sriov->vf_bars[0].base;
  CHECK(pf_info->sriov->vf_bars[0].size == sriov_nic::kBarBytes);
  const uint64_t ecam = p.platform->root_complex().config().ecam_base;
  for (unsigned i = 0; i < 8; ++i) {
    const uint16_t rid = vf_rid(pf, 0xF0, 4, i);
    CHECK(nic.rid(1 + i) == rid);
    const auto* info = en->find(rid);
    REQUIRE(info);
    CHECK(info->is_vf);
    CHECK(info->vf_index == i);
    REQUIRE(!info->bars.empty());
    CHECK(info->bars[0].base == vf_bar0 + i * sriov_nic::kBarBytes);
    // Its own configuration space answers over ECAM: vendor/device 0xFFFF, class Ethernet.
    const uint64_t cfg = ecam + (uint64_t{rid} << 12);
    CHECK(p.cpu().mmio_read(cfg, 4) == 0xFFFFFFFFu);
    CHECK((p.cpu().mmio_read(cfg + 8, 4) >> 8) == 0x020000u);
    // And its registers answer at its BAR: the ring it was given (nic.ring_entries, default 256).
    CHECK(p.cpu().mmio_read(info->bars[0].base + sriov_nic::kRxQueue + sriov_nic::kQEntries, 4) ==
          256);
  }
  CHECK(core::rid_bus(vf_rid(pf, 0xF0, 4, 3)) == 1);  // 0x01F0 + 12 = 0x01FC; VF 4 is 0x0200
  CHECK(core::rid_bus(vf_rid(pf, 0xF0, 4, 4)) == 2);
  CHECK(core::rid_bus(vf_rid(pf, 0xF0, 4, 4)) <= p.platform->root_complex().subordinate_bus(0));

  // Disabling removes them: from the enumerator's view and from the bus.
  en->disable_sriov(pf);
  CHECK(nic.sriov().num_vfs() == 0);
  for (unsigned i = 0; i < 8; ++i) {
    const uint16_t rid = vf_rid(pf, 0xF0, 4, i);
    CHECK(en->find(rid) == nullptr);
    CHECK(p.cpu().mmio_read(ecam + (uint64_t{rid} << 12) + 8, 4) == 0xFFFFFFFFu);
  }
}

TEST_CASE("Every packet generated is received once and intact under load and nothing is dropped") {
  NicPlatform p({"nic.vfs=4", "vm.count=2", "nic.packets=1500", "nic.rx_gbps=4",
                 "nic.packet_sizes=uniform", "iommu.enabled=true", "iommu.ir.enabled=true"});
  p.run();
  REQUIRE(p.platform->finished());
  for (unsigned i = 0; i < 4; ++i) {
    auto& d = p.workload().driver(i);
    const auto c = p.nic().counters(1 + i);
    INFO("VF " << i);
    CHECK(c.rx_generated == 1500);
    CHECK(c.rx_drops == 0);
    CHECK(c.rx_packets == 1500);
    CHECK(d.rx_packets() == 1500);
    const std::string g = "guest.vf" + std::to_string(i) + ".";
    CHECK(p.stat(g + "rx_corrupt") == 0);
    CHECK(p.stat(g + "rx_duplicates") == 0);
    CHECK(p.stat(g + "rx_missing") == 0);
    CHECK(p.stat(g + "interrupts") > 0);
  }
  CHECK(p.stat("workload.transactions") == 6000);
  CHECK(p.stat("iommu.faults") == 0);
  CHECK(p.stat("iommu.iotlb.hits") > 0);
}

TEST_CASE("Packets are dropped only when the guest leaves the ring empty and counted") {
  NicPlatform p({"nic.vfs=2", "nic.packets=2000", "nic.rx_gbps=10", "nic.packet_bytes=512",
                 "nic.ring_entries=16", "nic_driver.rx_packet_ns=1500", "iommu.enabled=true"});
  p.run();
  REQUIRE(p.platform->finished());
  for (unsigned i = 0; i < 2; ++i) {
    INFO("VF " << i);
    const auto c = p.nic().counters(1 + i);
    const std::string g = "guest.vf" + std::to_string(i) + ".";
    CHECK(c.rx_drops > 0);
    CHECK(c.rx_packets + c.rx_drops == 2000);
    CHECK(p.stat(g + "rx_packets") == c.rx_packets);
    // Drops are the gaps in the sequence numbers, plus those after the last packet received.
    REQUIRE(c.rx_packets > 0);
    CHECK(p.stat(g + "rx_missing") + (1999 - p.workload().driver(i).last_seq()) == c.rx_drops);
    CHECK(p.stat(g + "rx_corrupt") == 0);
    CHECK(p.stat(g + "rx_duplicates") == 0);
  }
  CHECK(p.stat("workload.drops") == p.nic().counters(1).rx_drops + p.nic().counters(2).rx_drops);
}

TEST_CASE("A guest that keeps up sees no drops at the same rate with a fast driver") {
  NicPlatform p({"nic.vfs=2", "nic.packets=2000", "nic.rx_gbps=10", "nic.packet_bytes=512",
                 "nic.ring_entries=256", "nic_driver.rx_packet_ns=50", "iommu.enabled=true"});
  p.run();
  REQUIRE(p.platform->finished());
  CHECK(p.nic().counters(1).rx_drops == 0);
  CHECK(p.nic().counters(2).rx_drops == 0);
  CHECK(p.stat("workload.transactions") == 4000);
}

TEST_CASE("A VF whose descriptor points outside its VM faults - stops and leaves other VMs alone") {
  NicPlatform p({"nic.vfs=3", "vm.count=3", "vm.memory_bytes=4M", "vm.page_size=2097152",
                 "nic.packets=200", "iommu.enabled=true", "iommu.ir.enabled=true"});
  p.boot();
  auto& w = p.workload();
  // VM 1 is the bystander: no traffic, its memory is hashed before and after.
  p.nic().set_rx_traffic(2, false);
  const uint64_t before = p.host_hash(w.vm_host_base(1), w.vm_bytes());
  // VM 0's driver is compromised: RX descriptor 5 points just past its guest memory (in host
  // terms, exactly where VM 1's memory starts).
  auto& d0 = w.driver(0);
  sriov_nic::Descriptor bad;
  bad.addr = w.vm_bytes();
  bad.length = 2048;
  bad.flags = sriov_nic::kFlagEop;
  uint8_t b[16];
  bad.encode(b);
  p.cpu().mem_write(d0.cpu_address(d0.rx_ring() + 5 * 16), b, 16);
  p.run();
  REQUIRE(p.platform->finished());

  const uint16_t vf0 = p.nic().rid(1);
  const auto faults = p.faults();
  REQUIRE(faults.size() == 1);
  CHECK(faults[0].reason == 0x5);  // a write, not permitted: the page is not mapped
  CHECK(faults[0].sid == vf0);
  CHECK(faults[0].fi == w.vm_bytes());
  CHECK(!faults[0].read);
  // The queue stopped with the error visible in its registers; five packets made it.
  CHECK((p.nic().register_value(1, sriov_nic::kRegStatus) & sriov_nic::kStatusRxError) != 0);
  CHECK(p.nic().register_value(1, sriov_nic::kRegErrAddrLo) == w.vm_bytes());
  const auto c0 = p.nic().counters(1);
  CHECK(c0.rx_packets == 5);
  CHECK(c0.dma_errors == 1);
  CHECK(c0.rx_packets + c0.rx_drops + c0.rx_error_drops == 200);
  // Nothing of VM 1 changed; VM 2 got all its packets.
  CHECK(p.host_hash(w.vm_host_base(1), w.vm_bytes()) == before);
  const auto c2 = p.nic().counters(3);
  CHECK(c2.rx_packets == 200);
  CHECK(c2.dma_errors == 0);
  CHECK(w.driver(2).rx_packets() == 200);
}

TEST_CASE("An MSI sent with another VF's interrupt handle is blocked by source-id verification") {
  NicPlatform p({"nic.vfs=2", "vm.count=2", "nic.packets=300", "nic.rx_gbps=2",
                 "iommu.enabled=true", "iommu.ir.enabled=true", "workload.idle_us=200"});
  p.boot();
  // VF 0's RX vector is reprogrammed with VF 1's remappable message (address and data).
  const auto* vf0 = p.platform->enumerator()->find(p.nic().rid(1));
  const auto* vf1 = p.platform->enumerator()->find(p.nic().rid(2));
  REQUIRE(vf0);
  REQUIRE(vf1);
  const uint64_t e0 = vf0->bars[0].base + sriov_nic::kMsixTable;
  const uint64_t e1 = vf1->bars[0].base + sriov_nic::kMsixTable;
  for (unsigned off = 0; off < 12; off += 4)
    p.cpu().mmio_write(e0 + off, 4, p.cpu().mmio_read(e1 + off, 4));
  p.run();
  REQUIRE(p.platform->finished());
  const auto faults = p.faults();
  REQUIRE(!faults.empty());
  CHECK(faults[0].reason == 0x26);
  CHECK(faults[0].sid == p.nic().rid(1));
  // VF 0's guest never heard of its packets; VF 1's guest got all of its own.
  CHECK(p.stat("guest.vf0.interrupts") == 0);
  CHECK(p.stat("guest.vf1.rx_packets") == 300);
}

TEST_CASE("Guests transmit every packet intact in both directions at once") {
  NicPlatform p({"nic.vfs=3", "vm.count=3", "nic.direction=both", "nic.packets=500",
                 "nic.tx_gbps=3", "nic.rx_gbps=3", "iommu.enabled=true", "iommu.ir.enabled=true"});
  p.run();
  REQUIRE(p.platform->finished());
  for (unsigned i = 0; i < 3; ++i) {
    INFO("VF " << i);
    const auto c = p.nic().counters(1 + i);
    CHECK(c.tx_packets == 500);
    CHECK(c.tx_bytes == 500 * 1500);
    CHECK(c.tx_bad_checksum == 0);
    CHECK(c.rx_packets == 500);
    const std::string g = "guest.vf" + std::to_string(i) + ".";
    CHECK(p.stat(g + "tx_packets") == 500);
    CHECK(p.stat(g + "tx_errors") == 0);
    CHECK(p.stat(g + "rx_packets") == 500);
    CHECK(p.stat(g + "rx_corrupt") == 0);
  }
  CHECK(p.stat("workload.transactions") == 3000);
  // RX at nic.rx_gbps (3) plus TX at nic.tx_gbps (3), both paced at their sources.
  CHECK(p.stat("nic.vf0.throughput_gbps") == Approx(6).epsilon(0.1));
}

TEST_CASE("Weighted round-robin shares a saturated engine by the weights") {
  // Two VFs offering more than the engine serves (two requests in flight): with weights 1 and 3
  // (after the PF's) the second gets three packets for each of the first's while both wait. At the
  // end each still holds up to a ring of claimed packets, served once the other has none: those
  // (ring_entries - 1 each) are left out of the ratio.
  NicPlatform p({"nic.vfs=2", "vm.count=2", "nic.rx_gbps=60", "nic.packets=12000", "cpu.count=2",
                 "nic.dma_outstanding=2", "nic.weights=1,1,3", "nic_driver.rx_packet_ns=10",
                 "iommu.enabled=true"});
  p.run();
  REQUIRE(p.platform->finished());
  const auto a = p.nic().counters(1), b = p.nic().counters(2);
  CHECK(a.rx_drops > 0);
  CHECK(b.rx_drops > 0);
  CHECK(double(b.rx_packets - 255) / double(a.rx_packets - 255) == Approx(3).epsilon(0.1));
}

TEST_CASE(
    "With ATS translated requests bypass the walk and an unmapped VM is unreachable through stale "
    "translations") {
  NicPlatform p({"nic.vfs=2", "vm.count=2", "nic.packets=4000", "nic.rx_gbps=4",
                 "iommu.enabled=true", "iommu.ecap.dt=true", "nic.ats=true"});
  // At 500 us the hypervisor takes VM 0's memory away: unmap, IOTLB and device-TLB invalidation
  // (from a thread, so the driver's wait for the device's completion takes simulated time).
  auto& w = p.workload();
  double translated = 0, walks = 0, translation_requests = 0, hits = 0;
  uint64_t vm0 = 0;
  sc_core::sc_spawn([&] {
    sc_core::wait(500, sc_core::SC_US);
    translated = p.stat("iommu.ats.translated_requests");
    walks = p.stat("iommu.walks");
    translation_requests = p.stat("iommu.ats.translation_requests");
    hits = p.stat("nic.vf0.atc.hits");
    p.platform->iommu_driver()->unmap(w.domain(0), 0, w.vm_bytes());
    vm0 = p.host_hash(w.vm_host_base(0), w.vm_bytes());
  });
  p.run();
  REQUIRE(p.platform->finished());
  // VF 0's next DMA found no translation, asked again (R = W = 0), went untranslated and faulted:
  // its queue stopped, and nothing more reached VM 0's memory.
  // Until then traffic went translated: one translation request (and walk) per page, every other
  // DMA bypassed the IOMMU. In 500 us about 2 x 167 packets arrive (4 Gb/s of 1500 B per VF),
  // each with about 2 translated requests (payload, write-back, and an eighth of a descriptor
  // fetch): ~700, of which more than 300 leaves room for the Poisson arrivals. Each VF's rings
  // and buffers lie in one 2 MiB page (vm.page_size), so a walk or two per VF: fewer than 10.
  // VF 0 alone looks its device TLB up ~350 times, all but its first hits: more than 100.
  CHECK(translated > 300);
  CHECK(translation_requests == walks);
  CHECK(walks < 10);
  CHECK(hits > 100);
  CHECK(p.stat("iommu.ats.invalidation_completions") >= 1);
  CHECK(p.stat("nic.vf0.atc.invalidations") >= 1);
  const auto faults = p.faults();
  REQUIRE(!faults.empty());
  CHECK(faults[0].sid == p.nic().rid(1));
  CHECK(p.stat("iommu.ats.no_translation") >= 1);
  CHECK((p.nic().register_value(1, sriov_nic::kRegStatus) & sriov_nic::kStatusRxError) != 0);
  CHECK(p.host_hash(w.vm_host_base(0), w.vm_bytes()) == vm0);
  // VM 1 was not touched.
  CHECK(p.nic().counters(2).rx_packets == 4000);
  CHECK(p.nic().counters(2).dma_errors == 0);
}

TEST_CASE("Every TX packet leaves on the wire once and intact in its stream's order") {
  NicPlatform p({"nic.mode=sriov", "nic.vfs=2", "vm.count=2", "nic.direction=tx", "nic.packets=300",
                 "iommu.enabled=true"});
  p.run();
  REQUIRE(p.platform->finished());
  const auto& wire = p.nic().tx_wire();
  CHECK(p.nic().tx_wire_corrupt() == 0);
  REQUIRE(wire.size() == 2);
  for (uint32_t stream = 1; stream <= 2; ++stream) {  // guest VF i sends stream 1 + i
    INFO("stream " << stream);
    REQUIRE(wire.count(stream));
    const auto& s = wire.at(stream);
    CHECK(s.packets == 300);
    CHECK(s.bytes == 300 * 1500);  // nic.packet_bytes' default
    CHECK(s.missing == 0);
    CHECK(s.duplicates == 0);
    CHECK(s.next_seq == 300);
    CHECK(p.nic().counters(stream).tx_packets == 300);
  }
  CHECK(p.stat("nic.wire.tx_packets") == 600);
  CHECK(p.stat("nic.wire.tx_bytes") == 600 * 1500);
  CHECK(p.stat("nic.wire.tx_corrupt") == 0);
  CHECK(p.stat("nic.wire.tx_missing") == 0);
  CHECK(p.stat("nic.wire.tx_duplicates") == 0);
  CHECK(p.stat("nic.wire.tx_latency_ns.count") == 600);
  // At least the DMA read of the payload and its serialisation lie between stamp and wire.
  CHECK(p.stat("nic.wire.tx_latency_ns.min") > 0);
}

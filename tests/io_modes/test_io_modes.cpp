// nic.mode = emulated, paravirtual and mq on whole platforms: every packet reaches its guest
// exactly once and intact, the hypervisor's CPU time is exactly the sum of its charged parts (and
// each part is its unit cost times its count), mq refuses a guest buffer outside the guest's
// memory, and impossible configurations are errors. Each test case is its own process (SystemC
// elaborates once).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/platforms/io_modes_workload.hpp>
#include <iovsim/platforms/platform.hpp>
#include <iovsim/sriov_nic/descriptor.hpp>

#include "../support/run_command.hpp"
#include "mode_platform.hpp"

using namespace iovsim;

using test::kGuests;
using test::kPackets;
using test::ModePlatform;

TEST_CASE("emulated: every packet once and intact through the IOMMU", "[io_modes]") {
  ModePlatform p("emulated", {"iommu.enabled=true"});
  p.run();
  p.check_exactly_once();
  CHECK(p.stat("hv.map_ns") > 0);  // the PF's buffers are mapped with dma_map.policy
  CHECK(p.stat("iommu.iotlb.hits") + p.stat("iommu.iotlb.misses") > 0);
  CHECK(p.stat("hv.cpu_ns") ==
        Approx(p.stat("hv.exit_ns") + p.stat("hv.inject_ns") + p.stat("hv.backend_ns") +
               p.stat("hv.copy_ns") + p.stat("hv.emulation_ns") + p.stat("hv.map_ns"))
            .epsilon(1e-12));
}

TEST_CASE("emulated: CPU accounting adds up", "[io_modes]") {
  ModePlatform p("emulated", {});
  p.run();
  p.check_exactly_once();
  p.check_accounting(true, true, false);
  // Every interrupt costs two traps, every batch one doorbell trap.
  double exits = 0, interrupts = 0;
  for (unsigned g = 0; g < kGuests; ++g) {
    exits += p.stat("guest.vm" + std::to_string(g) + ".exits");
    interrupts += p.stat("guest.vm" + std::to_string(g) + ".interrupts");
  }
  CHECK(interrupts > 0);
  CHECK(exits >= 3 * interrupts);
}

TEST_CASE("paravirtual: every packet once and intact through the IOMMU", "[io_modes]") {
  ModePlatform p("paravirtual", {"iommu.enabled=true"});
  p.run();
  p.check_exactly_once();
  CHECK(p.stat("hv.emulation_ns") == 0);
  CHECK(p.stat("hv.map_ns") > 0);
}

TEST_CASE("paravirtual: CPU accounting adds up", "[io_modes]") {
  ModePlatform p("paravirtual", {});
  p.run();
  p.check_exactly_once();
  p.check_accounting(true, false, false);
  // Kicks only when the backend asked: far fewer exits than the emulated mode's per batch.
  CHECK(p.stat("hv.exits") < p.stat("hv.injected"));
}

TEST_CASE("mq: every packet once and intact through the IOMMU", "[io_modes]") {
  ModePlatform p("mq", {"iommu.enabled=true"});
  p.run();
  p.check_exactly_once();
  CHECK(p.stat("hv.copy_bytes") == 0);
  CHECK(p.stat("hv.validated") > 0);
}

TEST_CASE("mq: CPU accounting adds up", "[io_modes]") {
  ModePlatform p("mq", {});
  p.run();
  p.check_exactly_once();
  p.check_accounting(false, false, true);
  // Every buffer the guests reposted during the run was validated once.
  CHECK(p.stat("hv.validated") >= kGuests * kPackets - kGuests * 256);
}

TEST_CASE("mq: a guest buffer outside the guest's memory is refused", "[io_modes]") {
  ModePlatform p("mq", {});
  sc_core::sc_start(sc_core::SC_ZERO_TIME);  // boot: 255 of guest 0's 256 buffers are posted
  // Guest 0 points its last (not yet posted) buffer at its memory's end, where another VM's
  // memory would follow.
  const uint64_t guest0 = static_cast<uint64_t>(p.config.get_int("vm.host_base"));
  const uint64_t slot = guest0 + 255 * sriov_nic::kDescriptorBytes;
  uint8_t b[sriov_nic::kDescriptorBytes];
  p.platform->cpu().mem_read(slot, b, sizeof b);
  auto d = sriov_nic::Descriptor::decode(b);
  d.addr = 8 << 20;
  d.encode(b);
  p.platform->cpu().mem_write(slot, b, sizeof b);
  p.run();
  CHECK(p.stat("hv.rejected") == 1);
  // The guest got its slot back with an error and every packet still arrived.
  CHECK(p.stat("guest.vm0.rx_packets") == kPackets);
  CHECK(p.stat("guest.vm0.rx_corrupt") == 0);
}

TEST_CASE("io modes: impossible configurations are clear errors", "[io_modes]") {
  struct Case {
    const char* args;
    const char* message;
  };
  const Case cases[] = {
      {"--set nic.mode=mq --set io.paravirtual.buffers=grant", "is for nic.mode=paravirtual"},
      {"--set nic.mode=emulated --set nic.direction=tx --set nic.packet_bytes=9000 "
       "--set vm.memory_bytes=2M",
       "do not fit vm.memory_bytes"},
      {"--set nic.mode=paravirtual --set nic.vfs=4 --set vm.count=2", "vm.count must be 0"},
      {"--set nic.mode=mq --set nic.host_queue=true", "the hypervisor owns the PF"},
      {"--set nic.mode=emulated --set nic.vfs=0", "needs nic.vfs >= 1"},
      {"--set nic.mode=virtio", "nic.mode"},
      {"--set nic.mode=emulated --set nic.ring_entries=1024 --set nic.host_memory_bytes=1M",
       "do not fit nic.host_memory_bytes"},
  };
  for (const auto& c : cases) {
    INFO(c.args);
    const auto r = test::run_iovsim(std::string("run --set workload.kind=nic ") + c.args, "bad");
    CHECK(r.status == 2);
    CHECK(r.err.find(c.message) != std::string::npos);
  }
}

TEST_CASE("io modes are deterministic for a seed", "[io_modes]") {
  const std::string args =
      "--set workload.kind=nic --set nic.mode=emulated --set nic.vfs=3 --set nic.packets=300 "
      "--set nic.rx_gbps=5 --set iommu.enabled=true --set nic.packet_sizes=imix "
      "--set nic.direction=both";
  const auto a = test::run_for_stats(args, "io_det_a");
  const auto b = test::run_for_stats(args, "io_det_b");
  CHECK(a["stats"] == b["stats"]);
  CHECK(a["stats"]["hv.cpu_ns"].get<double>() > 0);
}

TEST_CASE("paravirtual: slow guests hold the backend and the NIC drops, nothing else is lost",
          "[io_modes]") {
  // Guests far slower than the traffic: the backend waits for their buffers (and asks them to
  // kick), its own ring fills and the NIC drops arrivals.
  ModePlatform p("paravirtual", {"nic.rx_gbps=8", "nic.ring_entries=32",
                                 "nic_driver.rx_packet_ns=3000", "iommu.enabled=true"});
  p.run();
  double delivered = 0;
  for (unsigned g = 0; g < kGuests; ++g) {
    const std::string q = "guest.vm" + std::to_string(g) + ".";
    delivered += p.stat(q + "rx_packets");
    CHECK(p.stat(q + "rx_duplicates") == 0);
    CHECK(p.stat(q + "rx_corrupt") == 0);
  }
  CHECK(p.stat("workload.drops") > 0);
  CHECK(delivered + p.stat("workload.drops") == kGuests * kPackets);
  CHECK(p.stat("hv.exits") > 0);  // the guests' kicks
}

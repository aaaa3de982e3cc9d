// The TX direction of nic.mode = emulated, paravirtual (copy and grant-mapped buffers) and mq:
// every packet a guest sends leaves on the wire exactly once and intact (the NIC's wire check, per
// guest stream), the hypervisor's CPU time is the sum of its parts with each part its unit cost
// times its count, a TX descriptor pointing outside the guest is refused, and grant mapping beats
// copying only for large packets. Each test case is its own process.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "../support/run_command.hpp"
#include "mode_platform.hpp"

using namespace iovsim;
using test::kGuests;
using test::kPackets;
using test::ModePlatform;

namespace {

// The defaults the numbers below come from: io.backend_packet_ns 200, io.copy_packet_ns 50,
// io.copy_gbps 80, io.emulated.packet_ns 500, io.mq.validate_ns 50, grant map 250 + unmap 500,
// nic_driver.tx_packet_ns 100, io.exit_ns 1000, io.inject_ns 500.
constexpr double kN = kGuests * kPackets;

struct TxPlatform : ModePlatform {
  TxPlatform(const std::string& mode, std::vector<std::string> sets)
      : ModePlatform(mode, with_tx(std::move(sets))) {}
  static std::vector<std::string> with_tx(std::vector<std::string> sets) {
    sets.insert(sets.begin(), {"nic.direction=tx", "nic.tx_gbps=2"});
    return sets;
  }
  // Guest g's packets on the wire: all, in sequence, once, intact; the guest saw them complete.
  void check_sent_exactly_once(uint64_t per_guest = kPackets) {
    const auto& wire = io().nic().tx_wire();
    for (unsigned g = 0; g < kGuests; ++g) {
      INFO("guest " << g);
      const std::string p = "guest.vm" + std::to_string(g) + ".";
      auto it = wire.find(1 + g);  // the guest's stream
      REQUIRE(it != wire.end());
      CHECK(it->second.packets == per_guest);
      CHECK(it->second.missing == 0);
      CHECK(it->second.duplicates == 0);
      CHECK(it->second.next_seq == per_guest);
      CHECK(stat(p + "tx_packets") == per_guest);
      CHECK(stat(p + "tx_bytes") == per_guest * 1500);
      CHECK(stat(p + "tx_errors") == 0);
    }
    CHECK(io().nic().tx_wire_corrupt() == 0);
    CHECK(stat("nic.wire.tx_packets") == kN);
    CHECK(stat("hv.tx_packets") == kN);
    CHECK(stat("hv.device_errors") == 0);
    CHECK(stat("hv.rejected") == 0);
  }
  // hv.cpu_ns is the sum of its parts, each its cost times its count; guests pay 100 ns a packet.
  void check_tx_accounting(double copy_ns, double emulation_ns, double validate_ns,
                           double grant_ns) {
    const double parts = stat("hv.exit_ns") + stat("hv.inject_ns") + stat("hv.backend_ns") +
                         stat("hv.copy_ns") + stat("hv.emulation_ns") + stat("hv.validate_ns") +
                         stat("hv.grant_ns") + stat("hv.map_ns");
    CHECK(stat("hv.cpu_ns") == Approx(parts).epsilon(1e-12));
    CHECK(stat("hv.backend_ns") == Approx(kN * 200).epsilon(1e-12));
    CHECK(stat("hv.copy_ns") == Approx(kN * copy_ns).epsilon(1e-12));
    CHECK(stat("hv.copy_bytes") == (copy_ns > 0 ? kN * 1500 : 0));
    CHECK(stat("hv.emulation_ns") == Approx(kN * emulation_ns).epsilon(1e-12));
    CHECK(stat("hv.validate_ns") == Approx(kN * validate_ns).epsilon(1e-12));
    CHECK(stat("hv.grant_ns") == Approx(kN * grant_ns).epsilon(1e-12));
    CHECK(stat("hv.grant_maps") == (grant_ns > 0 ? kN : 0));
    CHECK(stat("hv.exit_ns") == Approx(stat("hv.exits") * 1000).epsilon(1e-12));
    CHECK(stat("hv.inject_ns") == Approx(stat("hv.injected") * 500).epsilon(1e-12));
    CHECK(stat("guest.cpu_ns") == Approx(kN * 100).epsilon(1e-12));
    CHECK(stat("guest.exits") == stat("hv.exits"));
    CHECK(stat("workload.transactions") == kN);
    CHECK(stat("workload.bytes") == kN * 1500);
  }
};

}  // namespace

TEST_CASE("emulated TX: every packet on the wire once, a trap per doorbell", "[io_modes][tx]") {
  TxPlatform p("emulated", {"iommu.enabled=true"});
  p.run();
  p.check_sent_exactly_once();
  // 1500-byte packets: a copy is 50 + 1500 * 8 / 80 = 200 ns; 500 ns of emulation each.
  p.check_tx_accounting(200, 500, 0, 0);
  CHECK(p.stat("hv.exits") >= kN);  // every TDT write traps
  CHECK(p.stat("hv.map_ns") > 0);   // the PF's buffers go through dma_map.policy
}

TEST_CASE("paravirtual TX, copy: every packet on the wire once", "[io_modes][tx]") {
  TxPlatform p("paravirtual", {"iommu.enabled=true"});
  p.run();
  p.check_sent_exactly_once();
  p.check_tx_accounting(200, 0, 0, 0);
}

TEST_CASE("paravirtual TX, grant-mapped: zero copy, the NIC reads guest memory", "[io_modes][tx]") {
  TxPlatform p("paravirtual", {"iommu.enabled=true", "io.paravirtual.buffers=grant"});
  p.run();
  p.check_sent_exactly_once();
  p.check_tx_accounting(0, 0, 0, 250 + 500);
  // Each guest buffer is DMA-mapped into the PF's domain for its transmission and unmapped after.
  CHECK(p.stat("hv.queue0.dma_map.maps") >= kN);
  CHECK(p.stat("hv.queue0.dma_map.unmaps") == kN);
}

TEST_CASE("mq TX: guest buffers validated and posted, no copy", "[io_modes][tx]") {
  TxPlatform p("mq", {"iommu.enabled=true"});
  p.run();
  p.check_sent_exactly_once();
  p.check_tx_accounting(0, 0, 50, 0);
  CHECK(p.stat("hv.validated") == kN);
}

TEST_CASE("TX accounting without the IOMMU: no mapping costs", "[io_modes][tx]") {
  for (const char* mode : {"emulated", "paravirtual", "mq"}) {
    // One platform per process: a child run of the CLI per mode.
    const auto doc = test::run_for_stats(
        std::string("--set workload.kind=nic --set nic.vfs=3 --set nic.packets=300 "
                    "--set nic.direction=tx --set nic.tx_gbps=2 --set nic.mode=") +
            mode,
        std::string("io_tx_") + mode);
    INFO(mode);
    const auto& s = doc["stats"];
    CHECK(s["hv.map_ns"].get<double>() == 0);
    CHECK(s["nic.wire.tx_packets"].get<double>() == kN);
    CHECK(s["nic.wire.tx_missing"].get<double>() == 0);
    CHECK(s["nic.wire.tx_duplicates"].get<double>() == 0);
    CHECK(s["nic.wire.tx_corrupt"].get<double>() == 0);
  }
}

TEST_CASE("both directions at once: RX to the guests and TX to the wire, each once",
          "[io_modes][tx]") {
  // 1 Gb/s each way per guest: within what the emulated backend's one core handles (about 1 us
  // of its time per packet, so 2 Gb/s each way would overload it and the NIC would drop).
  for (const char* mode : {"emulated", "paravirtual", "mq"}) {
    const auto doc = test::run_for_stats(
        std::string("--set workload.kind=nic --set nic.vfs=3 --set nic.packets=300 "
                    "--set nic.direction=both --set nic.rx_gbps=1 --set nic.tx_gbps=1 "
                    "--set iommu.enabled=true --set nic.mode=") +
            mode,
        std::string("io_both_") + mode);
    INFO(mode);
    const auto& s = doc["stats"];
    for (unsigned g = 0; g < kGuests; ++g) {
      const std::string p = "guest.vm" + std::to_string(g) + ".";
      CHECK(s[p + "rx_packets"].get<double>() == kPackets);
      CHECK(s[p + "rx_missing"].get<double>() == 0);
      CHECK(s[p + "rx_corrupt"].get<double>() == 0);
      CHECK(s[p + "tx_packets"].get<double>() == kPackets);
    }
    CHECK(s["nic.wire.tx_packets"].get<double>() == kN);
    CHECK(s["nic.wire.tx_corrupt"].get<double>() == 0);
    CHECK(s["workload.transactions"].get<double>() == 2 * kN);
    CHECK(s["workload.drops"].get<double>() == 0);
  }
}

namespace {
// Guest 0's packet 10 names the first byte past its 8 MiB (another VM's memory): the hypervisor
// refuses it, the guest gets an error for it, everything else goes out.
void check_misdirected_tx_refused(const std::string& mode) {
  TxPlatform p(mode, {"iommu.enabled=true"});
  p.io().misdirect_tx(0, 10, 8 << 20);
  p.run();
  CHECK(p.stat("hv.rejected") == 1);
  CHECK(p.stat("guest.vm0.tx_errors") == 1);
  CHECK(p.stat("guest.vm0.tx_packets") == kPackets - 1);
  CHECK(p.stat("guest.vm1.tx_packets") == kPackets);
  // The wire saw guest 0's stream skip exactly that packet, and nothing corrupt.
  const auto& s0 = p.io().nic().tx_wire().at(1);
  CHECK(s0.missing == 1);
  CHECK(s0.packets == kPackets - 1);
  CHECK(p.io().nic().tx_wire().at(2).missing == 0);
  CHECK(p.io().nic().tx_wire_corrupt() == 0);
  CHECK(p.stat("iommu.faults") == 0);  // the software check, not the IOMMU, stopped it
}
}  // namespace

TEST_CASE("emulated: a TX descriptor outside the guest's memory is refused", "[io_modes][tx]") {
  check_misdirected_tx_refused("emulated");
}

TEST_CASE("paravirtual: a TX descriptor outside the guest's memory is refused", "[io_modes][tx]") {
  check_misdirected_tx_refused("paravirtual");
}

TEST_CASE("mq: a TX descriptor outside the guest's memory is refused", "[io_modes][tx]") {
  check_misdirected_tx_refused("mq");
}

TEST_CASE("grant mapping costs more than copying for 1500-byte packets, less for 9000",
          "[io_modes][tx]") {
  // Per packet: copy 50 + bytes * 8 / 80 ns; grant map + unmap 750 ns, whatever the size. The
  // crossover is at 7000 bytes.
  struct Case {
    unsigned bytes;
    double copy_ns;
  };
  for (const Case c : {Case{1500, 200}, Case{9000, 950}}) {
    double per_packet[2];
    for (int grant = 0; grant < 2; ++grant) {
      const auto doc = test::run_for_stats(
          "--set workload.kind=nic --set nic.vfs=3 --set nic.packets=300 --set nic.direction=tx "
          "--set nic.tx_gbps=2 --set nic.mode=paravirtual --set nic.packet_bytes=" +
              std::to_string(c.bytes) +
              " --set io.paravirtual.buffers=" + (grant ? "grant" : "copy"),
          "io_grant_" + std::to_string(c.bytes) + "_" + std::to_string(grant));
      const auto& s = doc["stats"];
      per_packet[grant] = (s["hv.copy_ns"].get<double>() + s["hv.grant_ns"].get<double>()) / kN;
    }
    INFO(c.bytes << " B");
    CHECK(per_packet[0] == Approx(c.copy_ns).epsilon(1e-12));
    CHECK(per_packet[1] == Approx(750).epsilon(1e-12));
  }
}

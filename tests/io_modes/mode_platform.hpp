// The whole-platform fixture of the I/O-mode tests: nic.mode, three guests and 300 packets each
// on top of test::NicPlatform, and the checks every mode must pass.
#pragma once

#include <string>
#include <vector>

#include <iovsim/platforms/io_modes_workload.hpp>

#include "../support/nic_platform.hpp"

namespace iovsim::test {

constexpr unsigned kGuests = 3, kPackets = 300;

inline std::vector<std::string> mode_settings(const std::string& mode,
                                              std::vector<std::string> sets) {
  sets.insert(sets.begin(), {"nic.mode=" + mode, "nic.vfs=" + std::to_string(kGuests),
                             "nic.packets=" + std::to_string(kPackets), "nic.rx_gbps=2"});
  return sets;
}

struct ModePlatform : NicPlatform {
  ModePlatform(const std::string& mode, const std::vector<std::string>& sets)
      : NicPlatform(mode_settings(mode, sets)) {}
  platforms::IoModesWorkload& io() {
    return dynamic_cast<platforms::IoModesWorkload&>(platform->workload());
  }
  // Every guest got all its packets, once, intact; nothing was dropped or refused.
  void check_exactly_once() {
    for (unsigned g = 0; g < kGuests; ++g) {
      const std::string p = "guest.vm" + std::to_string(g) + ".";
      INFO("guest " << g);
      CHECK(stat(p + "rx_packets") == kPackets);
      CHECK(stat(p + "rx_missing") == 0);
      CHECK(stat(p + "rx_duplicates") == 0);
      CHECK(stat(p + "rx_corrupt") == 0);
    }
    CHECK(stat("workload.transactions") == kGuests * kPackets);
    CHECK(stat("workload.drops") == 0);
    CHECK(stat("hv.packets") == kGuests * kPackets);
    CHECK(stat("hv.device_errors") == 0);
    CHECK(stat("workload.throughput_gbps") > 0);
  }
  // hv.cpu_ns is the sum of its parts, each part its cost times its count.
  void check_accounting(bool copies, bool emulates, bool validates) {
    const double n = kGuests * kPackets;
    const double parts = stat("hv.exit_ns") + stat("hv.inject_ns") + stat("hv.backend_ns") +
                         stat("hv.copy_ns") + stat("hv.emulation_ns") + stat("hv.validate_ns") +
                         stat("hv.grant_ns") + stat("hv.map_ns");
    CHECK(stat("hv.cpu_ns") == Approx(parts).epsilon(1e-12));
    CHECK(stat("hv.backend_ns") == Approx(n * 200).epsilon(1e-12));
    CHECK(stat("hv.exit_ns") == Approx(stat("hv.exits") * 1000).epsilon(1e-12));
    CHECK(stat("hv.inject_ns") == Approx(stat("hv.injected") * 500).epsilon(1e-12));
    // 1500-byte packets: 50 ns set-up + 1500 * 8 / 80 ns.
    CHECK(stat("hv.copy_ns") == Approx(copies ? n * 200 : 0).epsilon(1e-12));
    CHECK(stat("hv.copy_bytes") == (copies ? n * 1500 : 0));
    CHECK(stat("hv.emulation_ns") == Approx(emulates ? n * 500 : 0).epsilon(1e-12));
    if (validates)
      CHECK(stat("hv.validate_ns") == Approx(stat("hv.validated") * 50).epsilon(1e-12));
    else
      CHECK(stat("hv.validate_ns") == 0);
    // Guests: 100 ns per packet (nic_driver.rx_packet_ns); their exits add up to the
    // hypervisor's, their interrupts to the ones it injected.
    double exits = 0, interrupts = 0, cpu = 0;
    for (unsigned g = 0; g < kGuests; ++g) {
      const std::string p = "guest.vm" + std::to_string(g) + ".";
      exits += stat(p + "exits");
      interrupts += stat(p + "interrupts");
      cpu += stat(p + "cpu_ns");
    }
    CHECK(cpu == Approx(n * 100).epsilon(1e-12));
    CHECK(stat("guest.cpu_ns") == Approx(cpu).epsilon(1e-12));
    CHECK(exits == stat("hv.exits"));
    CHECK(stat("guest.exits") == exits);
    CHECK(interrupts == stat("hv.injected"));
    CHECK(stat("hv.cycles_per_packet") ==
          Approx(stat("hv.cpu_ns") * 2200 / 1000 / n).epsilon(1e-9));
  }
};

}  // namespace iovsim::test

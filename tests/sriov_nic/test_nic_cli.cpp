// The nic workload through the iovsim command: determinism and bad configurations.
#include <catch2/catch.hpp>

#include "../support/run_command.hpp"

using namespace iovsim::test;

TEST_CASE("The nic workload is deterministic for a seed") {
  const std::string args =
      "--set workload.kind=nic --set nic.vfs=4 --set vm.count=2 --set nic.packets=500 "
      "--set iommu.enabled=true --set iommu.ir.enabled=true --set nic.direction=both "
      "--set nic.packet_sizes=uniform --set nic.rx_gbps=8 --seed 7";
  const auto a = run_for_stats(args, "det_a");
  const auto b = run_for_stats(args, "det_b");
  CHECK(a["stats"] == b["stats"]);
  const auto c = run_for_stats(
      "--set workload.kind=nic --set nic.vfs=4 --set vm.count=2 --set nic.packets=500 "
      "--set iommu.enabled=true --set iommu.ir.enabled=true --set nic.direction=both "
      "--set nic.packet_sizes=uniform --set nic.rx_gbps=8 --seed 8",
      "det_c");
  // Another seed: other packet sizes and arrival times.
  CHECK(a["stats"]["nic.vf0.rx_bytes"] != c["stats"]["nic.vf0.rx_bytes"]);
}

TEST_CASE("Impossible nic configurations are clear errors") {
  struct Case {
    const char* args;
    const char* message;
  };
  const Case cases[] = {
      {"--set nic.vfs=8 --set nic.total_vfs=4", "exceeds nic.total_vfs"},
      {"--set nic.vfs=2 --set vm.count=3", "every VM needs a VF"},
      {"--set nic.ats=true", "nic.ats needs iommu.enabled=true"},
      {"--set nic.vfs=0", "nothing carries traffic"},
      {"--set nic.total_vfs=256 --set nic.first_vf_offset=0x80 --set nic.vf_stride=8",
       "raise rc.buses_per_port"},
      {"--set nic.weights=1,x", "nic.weights"},
      {"--set nic.packet_bytes=4000", "does not fit an RX buffer"},
      {"--set cpu.enumerate=false", "cpu.enumerate"},
  };
  for (const auto& c : cases) {
    INFO(c.args);
    const auto r = run_iovsim(std::string("run --set workload.kind=nic ") + c.args, "bad");
    CHECK(r.status == 2);
    CHECK(r.err.find(c.message) != std::string::npos);
  }
}

// The shipped presets: every one loads and runs; the calibrated Broadwell preset
// (xeon-e5-2630v4) carries the mechanisms it was fitted with and lands its no-IOMMU throughput
// figures (calibration.md §3). Its latency and IOMMU figures are the testbenches' (tb_dma_latency,
// tb_iotlb_reach), not repeated here.
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "run_command.hpp"

using iovsim::test::run_for_stats;
using iovsim::test::run_iovsim;

namespace {
std::vector<std::string> preset_names() {
  auto r = run_iovsim("presets", "preset_names");
  REQUIRE(r.status == 0);
  std::vector<std::string> names;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    names.push_back(line.substr(0, line.find(' ')));
  return names;
}
}  // namespace

TEST_CASE("every shipped preset runs by its short name, with and without the IOMMU") {
  const auto names = preset_names();
  REQUIRE(names.size() >= 2);
  for (const auto& name : names) {
    for (const std::string iommu : {"false", "true"}) {
      INFO(name << " iommu.enabled=" << iommu);
      if (name == "sriov-many-vf") {  // the nic workload: 64 VFs, 20 packets each
        auto s = run_for_stats("--config " + name + " --set nic.packets=20 --set iommu.enabled=" +
                                   iommu + " --set iommu.ir.enabled=" + iommu,
                               "preset_" + name + "_" + iommu)["stats"];
        CHECK(s["workload.transactions"].get<uint64_t>() == 64 * 20);
        if (iommu == "true") CHECK(s["iommu.faults"].get<uint64_t>() == 0);
        continue;
      }
      auto s = run_for_stats(
          "--config " + name + " --set workload.requests=500 --set iommu.enabled=" + iommu,
          "preset_" + name + "_" + iommu)["stats"];
      CHECK(s["workload.transactions"].get<uint64_t>() == 500);
      CHECK(s["workload.errors"].get<uint64_t>() == 0);
    }
  }
}

TEST_CASE("xeon-e5-2630v4: a Gen3 x8 link and, with the IOMMU, the fitted IOTLB and walker") {
  auto r =
      run_iovsim("--config xeon-e5-2630v4 --set iommu.enabled=true --set workload.requests=500",
                 "xeon_summary");
  REQUIRE(r.status == 0);
  CHECK(r.out.find("PCIe Gen3 x8 (MPS 256, MRRS 512") != std::string::npos);
  CHECK(r.out.find("IOTLB 120 entries, 8-way lru, 6 walk slots") != std::string::npos);
  CHECK(r.out.find("64 in flight") != std::string::npos);
}

TEST_CASE("xeon-e5-2630v4: DMA throughput without the IOMMU within 5 % of calibration.md §3") {
  struct Figure {
    const char* args;
    double gbps;
  } figures[] = {
      {"", 32.5},                                    // 64 B reads, host-warm (calibrated)
      {"--set workload.host_cache=cold", 27.6},      // 64 B reads, cold (held out)
      {"--set workload.direction=write", 24.3},      // 64 B writes (calibrated)
      {"--set workload.transfer_bytes=512", 53.69},  // 512 B reads: the link (held out)
  };
  int i = 0;
  for (const Figure& f : figures) {
    INFO(f.args);
    auto s = run_for_stats(
        std::string("--config xeon-e5-2630v4 --set workload.requests=40000 ") + f.args,
        "xeon_tput_" + std::to_string(i++))["stats"];
    CHECK(s["workload.throughput_gbps"].get<double>() == Approx(f.gbps).epsilon(0.05));
  }
}

TEST_CASE("xeon-e5-2630v4: in a write_read workload every read waits for its write") {
  auto doc = run_for_stats(
      "--config xeon-e5-2630v4 --set workload.direction=write_read --set workload.outstanding=1 "
      "--set workload.requests=100",
      "xeon_wrrd");
  const auto& s = doc["stats"];
  CHECK(s["memory.writes"].get<uint64_t>() == 100);
  CHECK(s["memory.reads"].get<uint64_t>() == 100);
  CHECK(s["memory.ordered_reads"].get<uint64_t>() == 100);
  // Without the ordering the read would not wait for the write to commit: shorter.
  auto unordered = run_for_stats(
      "--config xeon-e5-2630v4 --set workload.direction=write_read --set workload.outstanding=1 "
      "--set workload.requests=100 --set memory.reads_wait_for_writes=false",
      "xeon_wrrd_unordered")["stats"];
  CHECK(unordered["memory.ordered_reads"].get<uint64_t>() == 0);
  CHECK(unordered["workload.latency_ns.p50"].get<double>() <
        s["workload.latency_ns.p50"].get<double>());
}

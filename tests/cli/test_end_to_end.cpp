// End-to-end runs of the default DMA path (endpoint -> link -> root complex -> memory), with
// results checked against values computed here by hand from the configured latencies and
// bandwidths.
#include <cmath>

#include <catch2/catch.hpp>

#include "run_command.hpp"

using iovsim::test::read_json;
using iovsim::test::run_iovsim;
using iovsim::test::scratch_dir;
using nlohmann::json;

namespace {

// Runs iovsim with ARGS, --out to a fresh directory; returns stats.json.
json run_stats(const std::string& args, const std::string& tag) {
  return iovsim::test::run_for_stats(args, "e2e_" + tag);
}

// Gen3 x8, MPS 256 (calibration.md §1): 8 GT/s x 128/130 x 8 lanes, less ACK and FC DLLPs every 203
// B and SKIPs every 1538 B.
const double kTlpGbps = 8.0 * 128.0 / 130.0 * 8.0 * (1.0 - 8.0 / 203 - 8.0 / 203 - 4.0 / 1538);

// Serialization in whole picoseconds, as the link charges it (SystemC time resolution).
double ser_ns(double bytes) {
  return std::llround(bytes * 8000.0 / kTlpGbps) / 1000.0;
}

const std::string kFixedPlatform =
    "--set pcie.gen=3 --set pcie.lanes=8 --set pcie.mps=256 --set pcie.mrrs=512 --set "
    "pcie.latency_ns=100 "
    "--set rc.latency_ns=20 --set memory.latency_ns=80 --set memory.llc_latency_ns=30 "
    "--set workload.window_base=0x100000000 --set workload.window_bytes=1M ";

}  // namespace

TEST_CASE("one outstanding 64 B read: latency and throughput from the configured latencies") {
  json s = run_stats(
      kFixedPlatform +
          "--set workload.outstanding=1 --set workload.requests=1000 --set endpoint.ideal=true "
          "--set workload.host_cache=cold --set memory.bandwidth_gbps=0",
      "single")["stats"];
  // MRd with a 64-bit address: 24 B up; one CplD: 20 B + 64 B down; 2 link traversals, rc, DRAM.
  const double latency = ser_ns(24) + 100 + 20 + 80 + ser_ns(84) + 100;
  CHECK(s["workload.transactions"].get<uint64_t>() == 1000);
  CHECK(s["workload.bytes"].get<uint64_t>() == 64000);
  CHECK(s["workload.latency_ns.mean"].get<double>() == Approx(latency).epsilon(1e-9));
  CHECK(s["workload.latency_ns.min"].get<double>() == Approx(latency).epsilon(1e-9));
  CHECK(s["workload.latency_ns.max"].get<double>() == Approx(latency).epsilon(1e-9));
  CHECK(s["workload.latency_ns.p50"].get<double>() == Approx(latency).epsilon(1e-9));
  // Back to back, one at a time: 512 bits per latency.
  CHECK(s["workload.throughput_gbps"].get<double>() == Approx(512.0 / latency).epsilon(1e-9));
  CHECK(s["memory.reads"].get<uint64_t>() == 1000);
  CHECK(s["memory.llc_hits"].get<uint64_t>() == 0);
}

TEST_CASE("a warm host cache takes the last-level-cache latency instead of DRAM") {
  json s = run_stats(
      kFixedPlatform +
          "--set workload.outstanding=1 --set workload.requests=100 --set endpoint.ideal=true "
          "--set workload.host_cache=warm",
      "warm")["stats"];
  const double latency = ser_ns(24) + 100 + 20 + 30 + ser_ns(84) + 100;
  CHECK(s["workload.latency_ns.mean"].get<double>() == Approx(latency).epsilon(1e-9));
  CHECK(s["memory.llc_hits"].get<uint64_t>() == 100);
}

TEST_CASE("many outstanding requests saturate the link at the analytic effective rate") {
  // Nothing else limits: 256 in flight, unlimited memory. calibration.md §1 table, within 0.5 %.
  const std::string many =
      kFixedPlatform +
      "--set workload.outstanding=256 --set pcie.tags=256 --set endpoint.ideal=true "
      "--set workload.requests=100000 --set memory.bandwidth_gbps=0 ";
  struct Case {
    const char* dir;
    int size;
    double published;  // Gb/s, calibration.md §1
    double analytic;   // size / wire bytes x TLP rate
  } cases[] = {
      {"read", 64, 44.10, 64.0 / (64 + 20) * kTlpGbps},
      {"write", 64, 42.10, 64.0 / (64 + 24) * kTlpGbps},
      {"read", 512, 53.69, 512.0 / (512 + 2 * 20) * kTlpGbps},
      {"write", 256, 52.92, 256.0 / (256 + 24) * kTlpGbps},
  };
  for (const Case& c : cases) {
    json s = run_stats(many + "--set workload.direction=" + c.dir +
                           " --set workload.transfer_bytes=" + std::to_string(c.size),
                       std::string("link_") + c.dir + std::to_string(c.size))["stats"];
    double got = s["workload.throughput_gbps"].get<double>();
    INFO(c.dir << " " << c.size << " B: " << got << " Gb/s");
    CHECK(got == Approx(c.analytic).epsilon(0.005));
    CHECK(got == Approx(c.published).epsilon(0.005));
  }
}

TEST_CASE("a memory bandwidth limit caps throughput at that bandwidth") {
  // One channel at 10 Gb/s: each 64 B read holds it 51.2 ns, so 100000 reads need 5.12 ms; the
  // pipeline fill (one request's latency, ~0.3 us) is below 0.01 % of that.
  json s = run_stats(
      kFixedPlatform +
          "--set workload.outstanding=64 --set pcie.tags=64 --set endpoint.ideal=true "
          "--set workload.requests=100000 --set memory.bandwidth_gbps=10 --set memory.channels=1",
      "membw")["stats"];
  CHECK(s["workload.throughput_gbps"].get<double>() == Approx(10.0).epsilon(0.001));
  CHECK(s["memory.channel_utilization"].get<double>() == Approx(1.0).epsilon(0.001));
}

TEST_CASE("the engine's issue interval limits a non-ideal endpoint") {
  // 64 B every 20 ns is 25.6 Gb/s, below the link's 44.1: the engine is the bottleneck.
  json s =
      run_stats(kFixedPlatform +
                    "--set workload.outstanding=64 --set pcie.tags=64 --set endpoint.ideal=false "
                    "--set endpoint.issue_interval_ns=20 --set workload.requests=50000",
                "engine")["stats"];
  CHECK(s["workload.throughput_gbps"].get<double>() == Approx(25.6).epsilon(0.002));
}

TEST_CASE("same seed gives identical statistics, another seed changes them") {
  const std::string args =
      "--set memory.bandwidth_gbps=40 --set memory.channels=4 --set workload.requests=20000 ";
  json a = run_stats(args + "--seed 7", "seed_a");
  json b = run_stats(args + "--seed 7", "seed_b");
  json c = run_stats(args + "--seed 8", "seed_c");
  CHECK(a["stats"] == b["stats"]);
  CHECK(a["run"]["seed"] == 7);
  // Random addresses meet the interleaved channels differently, so queueing differs.
  CHECK(a["stats"] != c["stats"]);
  CHECK(a["stats"]["memory.channel_wait_ns"] != c["stats"]["memory.channel_wait_ns"]);
}

TEST_CASE(
    "run with an output directory writes config.json (enough to rerun exactly), stats.json and "
    "stats.csv") {
  auto dir = scratch_dir("out_files");
  auto r = run_iovsim(
      "run --quiet --out '" + dir.string() + "' --set workload.requests=5000 --seed 3", "outfiles");
  REQUIRE(r.status == 0);
  json stats = read_json(dir / "stats.json");
  for (const char* key : {"version", "seed", "sim_time_ns", "wall_s"})
    CHECK(stats["run"].contains(key));
  for (const char* key :
       {"workload.transactions", "workload.bytes", "workload.throughput_gbps",
        "workload.latency_ns.count", "workload.latency_ns.mean", "workload.latency_ns.min",
        "workload.latency_ns.p50", "workload.latency_ns.p90", "workload.latency_ns.p99",
        "workload.latency_ns.max"})
    CHECK(stats["stats"].contains(key));
  CHECK(stats["stats"]["workload.transactions"] == 5000);
  CHECK(stats["run"]["sim_time_ns"].get<double>() > 0);

  // stats.csv: the same names and values, one per line.
  std::istringstream csv(iovsim::test::slurp(dir / "stats.csv"));
  std::string line;
  std::getline(csv, line);
  CHECK(line == "name,value");
  std::size_t rows = 0;
  while (std::getline(csv, line)) {
    auto comma = line.find(',');
    REQUIRE(comma != std::string::npos);
    std::string name = line.substr(0, comma);
    REQUIRE(stats["stats"].contains(name));
    CHECK(std::stod(line.substr(comma + 1)) ==
          Approx(stats["stats"][name].get<double>()).epsilon(1e-12));
    ++rows;
  }
  CHECK(rows == stats["stats"].size());

  // Rerunning from config.json alone reproduces the statistics.
  json config = read_json(dir / "config.json");
  CHECK(config["seed"] == 3);
  CHECK(config["workload.requests"] == 5000);
  auto again = scratch_dir("out_files_again");
  auto r2 = run_iovsim("run --quiet --config '" + (dir / "config.json").string() + "' --out '" +
                           again.string() + "'",
                       "outfiles2");
  REQUIRE(r2.status == 0);
  CHECK(read_json(again / "stats.json")["stats"] == stats["stats"]);
}

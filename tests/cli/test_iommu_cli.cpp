// End-to-end runs with the IOMMU on: IOTLB hit counts against closed forms, the walk-slot bound on
// throughput, superpages, the capture file, determinism, bad IOMMU configurations, and an IOMMU
// left at reset (driver.bring_up=false).
#include <fstream>

#include <catch2/catch.hpp>

#include "run_command.hpp"

using iovsim::test::read_json;
using iovsim::test::run_iovsim;
using iovsim::test::scratch_dir;
using nlohmann::json;

namespace {

json run_stats(const std::string& args, const std::string& tag) {
  return iovsim::test::run_for_stats("--set iommu.enabled=true " + args, "iommu_" + tag)["stats"];
}

uint64_t u(const json& s, const char* k) {
  return s[k].get<uint64_t>();
}

}  // namespace

TEST_CASE("cyclic pages within a fully associative LRU IOTLB: only the first pass misses") {
  // 32 pages (128 KiB), 64 entries, one request at a time, 100 passes of one 64 B read per page.
  json s = run_stats(
      "--set iommu.iotlb.entries=64 --set iommu.iotlb.ways=0 --set iommu.iotlb.policy=lru "
      "--set workload.pattern=cyclic --set workload.window_bytes=128K --set workload.outstanding=1 "
      "--set workload.requests=3200",
      "cyclic_fit");
  CHECK(u(s, "iommu.iotlb.misses") == 32);
  CHECK(u(s, "iommu.iotlb.hits") == 3200 - 32);
  CHECK(u(s, "iommu.walks") == 32);
  CHECK(u(s, "workload.transactions") == 3200);
}

TEST_CASE("cyclic pages beyond a fully associative LRU IOTLB: every access misses") {
  // 128 pages cycled through 64 LRU entries: each page was evicted 64 accesses before its reuse.
  json s = run_stats(
      "--set iommu.iotlb.entries=64 --set iommu.iotlb.ways=0 --set iommu.iotlb.policy=lru "
      "--set workload.pattern=cyclic --set workload.window_bytes=512K --set workload.outstanding=1 "
      "--set workload.requests=3200",
      "cyclic_thrash");
  CHECK(u(s, "iommu.iotlb.hits") == 0);
  CHECK(u(s, "iommu.iotlb.misses") == 3200);
}

TEST_CASE("with every access missing, throughput is bounded by walk_slots / walk time") {
  // Paging-structure caches off: each walk = context-cache hit + 4 paging reads (DRAM 80 ns + 4
  // cycles). IOMMU at 1 GHz: 2 + 4 x 84 = 338 ns. Two slots: 2 / 338 ns translations, 512 bits
  // each.
  json s = run_stats(
      "--set iommu.walk_slots=2 --set iommu.psc.l2.entries=0 --set iommu.psc.l3.entries=0 "
      "--set iommu.psc.l4.entries=0 --set iommu.psc.l5.entries=0 --set iommu.clock_mhz=1000 "
      "--set iommu.context_cache.hit_cycles=2 --set iommu.walk.level_cycles=4 "
      "--set memory.latency_ns=80 --set workload.window_bytes=64M --set workload.outstanding=64 "
      "--set pcie.tags=64 --set endpoint.ideal=true --set workload.requests=20000",
      "walk_bound");
  const double walk_ns = 2 + 4 * (80 + 4);
  const double bound = 2 / walk_ns * 512;
  const double miss_fraction = double(u(s, "iommu.walks")) / 20000;
  CHECK(miss_fraction > 0.99);
  CHECK(s["workload.throughput_gbps"].get<double>() == Approx(bound / miss_fraction).epsilon(0.01));
  CHECK(s["iommu.walk_slot_utilization"].get<double>() > 0.98);
}

TEST_CASE("2 MiB pages: a 64 MiB window fits the IOTLB and throughput does not drop") {
  json base = run_stats("--set workload.window_bytes=64M --set workload.requests=50000", "sp_4k");
  json sp = run_stats(
      "--set workload.window_bytes=64M --set workload.requests=50000 --set workload.page_size=2M",
      "sp_2m");
  CHECK(sp["iommu.iotlb.hit_rate"].get<double>() > 0.99);
  CHECK(u(sp, "iommu.walks") <= 32);
  CHECK(sp["workload.throughput_gbps"].get<double>() >
        base["workload.throughput_gbps"].get<double>());
}

TEST_CASE("same seed, same statistics, with a random-policy set-associative IOTLB") {
  const std::string args =
      "--set iommu.iotlb.policy=random --set iommu.iotlb.ways=4 --set workload.window_bytes=4M "
      "--set workload.requests=20000 ";
  json a = run_stats(args + "--seed 5", "det_a");
  json b = run_stats(args + "--seed 5", "det_b");
  json c = run_stats(args + "--seed 6", "det_c");
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("trace.capture writes one row per translated request") {
  auto dir = scratch_dir("capture");
  const std::string path = (dir / "cap.csv").string();
  auto r = run_iovsim(
      "run --quiet --set iommu.enabled=true --set workload.requests=100 --set trace.capture='" +
          path + "'",
      "capture");
  REQUIRE(r.status == 0);
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  CHECK(line == "issue_ns,done_ns,rid,iova,size,dir,hpa,iotlb,latency_ns,fault");
  int rows = 0, misses = 0;
  double last_done = 0;
  while (std::getline(in, line)) {
    ++rows;
    // In completion order: done_ns (2nd column) never decreases.
    const double done = std::stod(line.substr(line.find(',') + 1));
    CHECK(done >= last_done);
    last_done = done;
    CHECK(std::count(line.begin(), line.end(), ',') == 9);
    CHECK(line.find(",01:00.0,0x1") != std::string::npos);
    CHECK(line.find(",64,R,0x") != std::string::npos);
    misses += line.find(",miss,") != std::string::npos;
  }
  CHECK(rows == 100);
  CHECK(misses >= 1);
}

TEST_CASE("impossible IOMMU configurations exit 2") {
  auto r = run_iovsim(
      "--set iommu.enabled=true --set iommu.iotlb.entries=64 --set iommu.iotlb.ways=3", "bad_ways");
  CHECK(r.status == 2);
  CHECK(r.err.find("ways") != std::string::npos);
  r = run_iovsim("--set iommu.iotlb.policy=mru", "bad_policy");
  CHECK(r.status == 2);
  CHECK(r.err.find("lru, plru, fifo, random") != std::string::npos);
  r = run_iovsim("--set iommu.enabled=true --set workload.page_size=1G --set iommu.cap.sllps=1",
                 "bad_sp");
  CHECK(r.status == 2);
  r = run_iovsim("--set trace.capture=/tmp/x.csv", "capture_no_iommu");
  CHECK(r.status == 2);
  CHECK(r.err.find("iommu.enabled=true") != std::string::npos);
}

TEST_CASE("the summary shows IOTLB hit rate, walks and translation latency") {
  auto r = run_iovsim("--set iommu.enabled=true --set workload.requests=2000", "iommu_summary");
  REQUIRE(r.status == 0);
  for (const char* s : {"IOMMU (IOTLB", "hit rate", "page walks", "translation latency"})
    CHECK(r.out.find(s) != std::string::npos);
}

TEST_CASE("driver.bring_up=false leaves the IOMMU at reset: DMA passes untranslated") {
  auto s = run_stats("--set driver.bring_up=false --set workload.requests=300", "no_bring_up");
  CHECK(s["iommu.bypassed"].get<uint64_t>() == 300);
  CHECK(s["iommu.walks"].get<uint64_t>() == 0);
  CHECK(s["workload.errors"].get<uint64_t>() == 0);
  // The default workload.host_cache=warm warms the window where the untranslated DMA lands: every
  // read hits the LLC (with no driver.hpa_offset applied, as nothing is mapped).
  CHECK(s["memory.llc_hits"].get<uint64_t>() == 300);
  auto r =
      run_iovsim("--set iommu.enabled=true --set iommu.ir.enabled=true --set driver.bring_up=false",
                 "ir_no_bring_up");
  CHECK(r.status == 2);
  CHECK(r.err.find("driver.bring_up") != std::string::npos);
}

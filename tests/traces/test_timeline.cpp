// trace.timeline end to end: valid Chrome/Perfetto trace-event JSON with a slice per DMA request,
// page walk, invalidation and interrupt, lanes that never overlap, and the event cap.
#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "run_command.hpp"

using iovsim::test::count_lines;
using iovsim::test::read_json;
using iovsim::test::run_iovsim;
using iovsim::test::scratch_dir;
using nlohmann::json;

namespace {

struct Timeline {
  json doc;
  json stats;
  std::map<std::string, uint64_t> by_category;  // "X" events
  std::map<int, std::string> processes;         // pid -> name
};

// Runs iovsim with trace.timeline and returns the parsed timeline with the run's stats, after
// checking what every timeline must satisfy.
Timeline run_timeline(const std::string& args, const std::string& tag) {
  const auto dir = scratch_dir("timeline_" + tag);
  const auto file = dir / "timeline.json";
  auto r = run_iovsim("run --quiet --out '" + dir.string() + "' --set trace.timeline='" +
                          file.string() + "' " + args,
                      "timeline_" + tag);
  INFO("stderr: " << r.err);
  REQUIRE(r.status == 0);
  Timeline t;
  t.stats = read_json(dir / "stats.json");
  REQUIRE_NOTHROW(t.doc = read_json(file));
  REQUIRE(t.doc["traceEvents"].is_array());
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> lanes;
  std::set<std::pair<int, int>> named_threads;
  for (const json& e : t.doc["traceEvents"]) {
    const std::string ph = e["ph"];
    if (ph == "M") {
      if (e["name"] == "process_name") t.processes[e["pid"].get<int>()] = e["args"]["name"];
      if (e["name"] == "thread_name")
        named_threads.insert({e["pid"].get<int>(), e["tid"].get<int>()});
      continue;
    }
    if (ph != "X") continue;
    for (const char* k : {"name", "cat", "ts", "dur", "pid", "tid"}) REQUIRE(e.contains(k));
    CHECK(e["ts"].get<double>() >= 0);
    CHECK(e["dur"].get<double>() >= 0);
    ++t.by_category[e["cat"]];
    lanes[{e["pid"].get<int>(), e["tid"].get<int>()}].push_back(
        {e["ts"].get<double>(), e["dur"].get<double>()});
  }
  uint64_t slices = 0;
  for (auto& [key, v] : lanes) {
    CHECK(t.processes.count(key.first));
    CHECK(named_threads.count(key));
    std::sort(v.begin(), v.end());
    for (std::size_t i = 1; i < v.size(); ++i)  // a lane's slices never overlap
      CHECK(v[i].first >= v[i - 1].first + v[i - 1].second - 1e-9);
    slices += v.size();
  }
  CHECK(t.doc["otherData"]["events"].get<uint64_t>() == slices);
  return t;
}

uint64_t u(const json& s, const char* k) {
  INFO("stat " << k);
  REQUIRE(s["stats"].contains(k));
  return s["stats"][k].get<uint64_t>();
}

}  // namespace

TEST_CASE("timeline: an IOMMU + MSI run shows requests, walks, invalidations and interrupts") {
  Timeline t = run_timeline(
      "--set iommu.enabled=true --set iommu.ir.enabled=true --set workload.msi_every=50 "
      "--set workload.requests=1000 --set workload.window_bytes=4M",
      "iommu_msi");
  CHECK(t.by_category["dma"] == u(t.stats, "workload.transactions"));
  CHECK(t.by_category["walk"] == u(t.stats, "iommu.walks"));
  CHECK(t.by_category["walk"] > 0);
  CHECK(t.by_category["invalidation"] == u(t.stats, "iommu.qi.descriptors"));
  CHECK(t.by_category["invalidation"] > 0);
  // Each interrupt: its handler on the CPU and its way there (send -> handler start).
  CHECK(t.by_category["interrupt"] == 2 * u(t.stats, "irq.delivered"));
  CHECK(u(t.stats, "irq.delivered") == 20);
  std::set<std::string> names;
  for (const auto& [pid, name] : t.processes) names.insert(name);
  CHECK(names == std::set<std::string>{"endpoint", "iommu", "irq"});
  CHECK(t.doc["otherData"]["truncated"] == false);
  CHECK(t.stats["run"]["timeline"]["events"].get<uint64_t>() ==
        t.doc["otherData"]["events"].get<uint64_t>());
}

TEST_CASE("timeline: walk slices only for walks, none without the IOMMU") {
  Timeline bare = run_timeline("--set workload.requests=500", "bare");
  CHECK(bare.by_category["dma"] == 500);
  CHECK(bare.by_category.count("walk") == 0);
  CHECK(bare.by_category.count("invalidation") == 0);
  // 2 MiB pages over a 1 MiB window: one walk, every other lookup hits.
  Timeline one = run_timeline(
      "--set iommu.enabled=true --set workload.page_size=2M --set workload.requests=500 "
      "--set workload.outstanding=1 --set driver.invalidation=register",
      "one_walk");
  CHECK(u(one.stats, "iommu.iotlb.misses") == 1);
  CHECK(one.by_category["walk"] == 1);
  // Register-based invalidations appear too (as zero-length slices at the register write).
  CHECK(one.by_category["invalidation"] > 0);
}

TEST_CASE("timeline: a trace replay shows the player's requests with their trace lines") {
  const auto trace = scratch_dir("timeline_trace_input") / "t.csv";
  std::ofstream(trace)
      << "time_ns,rid,iova,size,dir\n0,01:00.0,0x1000,64,R\n0,01:00.1,0x1000,64,W\n"
         "100,01:00.0,0x2000,4096,R\n";
  Timeline t = run_timeline("--set workload.kind=trace --set trace.input='" + trace.string() +
                                "' --set iommu.enabled=true",
                            "trace");
  CHECK(t.by_category["dma"] == 3);
  CHECK(t.by_category["walk"] == 3);
  std::map<uint64_t, std::string> rid_by_line;
  for (const json& e : t.doc["traceEvents"])
    if (e["ph"] == "X" && e["cat"] == "dma")
      rid_by_line[e["args"]["line"].get<uint64_t>()] = e["args"]["rid"];
  CHECK(rid_by_line ==
        std::map<uint64_t, std::string>{{2, "01:00.0"}, {3, "01:00.1"}, {4, "01:00.0"}});
  bool player = false;
  for (const auto& [pid, name] : t.processes) player |= name == "trace_player";
  CHECK(player);
}

TEST_CASE("timeline: trace.timeline_max_events caps the file, which says it was truncated") {
  const auto dir = scratch_dir("timeline_cap");
  const auto file = dir / "timeline.json";
  auto r =
      run_iovsim("run --quiet --out '" + dir.string() + "' --set trace.timeline='" + file.string() +
                     "' --set trace.timeline_max_events=50 --set workload.requests=300",
                 "timeline_cap");
  INFO("stderr: " << r.err);
  REQUIRE(r.status == 0);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find("trace.timeline_max_events") != std::string::npos);
  json doc = read_json(file);
  CHECK(doc["otherData"]["truncated"] == true);
  CHECK(doc["otherData"]["events"] == 50);
  CHECK(doc["otherData"]["dropped_events"] == 250);
  uint64_t x = 0, instant = 0;
  for (const json& e : doc["traceEvents"]) {
    x += e["ph"] == "X";
    instant += e["ph"] == "i";
  }
  CHECK(x == 50);
  CHECK(instant == 1);
}

TEST_CASE("timeline: an unwritable file is bad input") {
  auto r = run_iovsim("--set trace.timeline=/nonexistent/dir/t.json", "timeline_bad");
  INFO("stderr: " << r.err);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find("trace.timeline: cannot write '/nonexistent/dir/t.json'") != std::string::npos);
}

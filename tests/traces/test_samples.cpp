// The shipped sample traces (traces/samples): documented, rebuilt byte for byte by traces/gen.py,
// and replayed with sensible results — with the IOMMU, with superpages, and without the IOMMU.
#include <cstdlib>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include <iovsim/traces/trace_reader.hpp>

#include "run_command.hpp"

using iovsim::test::run_for_stats;
using iovsim::test::scratch_dir;
using iovsim::test::slurp;
using nlohmann::json;

namespace {

std::string sample(const std::string& name) {
  return std::string(IOVSIM_SOURCE_DIR) + "/traces/samples/" + name;
}

std::string trace_args(const std::string& path) {
  return "--set workload.kind=trace --set trace.input='" + path + "' ";
}

uint64_t u(const json& s, const std::string& k) {
  INFO("stat " << k);
  REQUIRE(s.contains(k));
  return s[k].get<uint64_t>();
}

const std::string kPinnedIotlb =
    "--set iommu.enabled=true --set iommu.iotlb.entries=64 --set iommu.iotlb.ways=0 "
    "--set iommu.iotlb.policy=lru ";

}  // namespace

TEST_CASE("samples: each replays with the IOMMU on, without faults, every request on time") {
  const std::string readme = slurp(sample("README.md"));
  for (const std::string name : {"nic_rx.csv", "random.csv", "strided.csv"}) {
    INFO(name);
    CHECK(readme.find(name) != std::string::npos);
    const auto trace = iovsim::traces::TraceReader().read_file(sample(name));
    std::set<std::pair<uint16_t, uint64_t>> pages;  // (requester, 4 KiB page) pairs touched
    std::map<uint16_t, uint64_t> per_rid;
    for (const auto& r : trace.records) {
      pages.insert({r.rid, r.iova >> 12});
      pages.insert({r.rid, (r.iova + r.size - 1) >> 12});
      ++per_rid[r.rid];
    }
    json s = run_for_stats(trace_args(sample(name)) + kPinnedIotlb, "sample_" + name)["stats"];
    const uint64_t n = trace.records.size();
    CHECK(u(s, "workload.transactions") == n);
    CHECK(u(s, "workload.errors") == 0);
    CHECK(u(s, "workload.late") == 0);
    CHECK(u(s, "iommu.faults") == 0);
    CHECK(u(s, "iommu.iotlb.hits") + u(s, "iommu.iotlb.misses") == u(s, "iommu.requests"));
    CHECK(u(s, "iommu.requests") == n);  // no sample request crosses a page
    CHECK(u(s, "iommu.iotlb.misses") >= pages.size());
    for (const auto& [rid, count] : per_rid) {
      char key[48];
      std::snprintf(key, sizeof key, "workload.by_rid.%04x.transactions", rid);
      CHECK(u(s, key) == count);
    }
    if (name == "nic_rx.csv") {
      // Four VFs, each its own domain; their descriptor rings stay in the IOTLB, every buffer
      // page misses once: exactly the compulsory misses.
      CHECK(per_rid.size() == 4);
      CHECK(u(s, "iommu.iotlb.misses") == pages.size());
    }
    if (name == "strided.csv") CHECK(u(s, "iommu.iotlb.hits") == 0);  // 4 KiB + 64 B stride
  }
}

TEST_CASE("samples: superpages, no IOMMU, determinism") {
  // 2 MiB pages: the random sample's 16 MiB window is 8 superpages per requester.
  json sp =
      run_for_stats(trace_args(sample("random.csv")) + kPinnedIotlb + "--set trace.page_size=2M",
                    "sample_sp")["stats"];
  CHECK(u(sp, "iommu.walks") == 16);
  CHECK(u(sp, "workload.transactions") == 2000);

  // Without the IOMMU the addresses are host addresses: every read reaches memory as it is.
  json bare = run_for_stats(trace_args(sample("strided.csv")), "sample_bare")["stats"];
  CHECK(u(bare, "workload.transactions") == 2000);
  CHECK(u(bare, "memory.reads") == 2000);
  CHECK_FALSE(bare.contains("iommu.iotlb.hits"));

  json again = run_for_stats(trace_args(sample("strided.csv")), "sample_bare2")["stats"];
  CHECK(again == bare);
}

TEST_CASE("samples: traces/gen.py rebuilds each sample byte for byte") {
  const std::string src = IOVSIM_SOURCE_DIR;
  for (const char* pattern : {"nic", "random", "strided"}) {
    const std::string name =
        std::string(pattern == std::string("nic") ? "nic_rx" : pattern) + ".csv";
    INFO(name);
    const auto out = scratch_dir(std::string("gen_") + pattern) / name;
    const std::string cmd =
        "python3 '" + src + "/traces/gen.py' " + pattern + " -o '" + out.string() + "'";
    REQUIRE(std::system(cmd.c_str()) == 0);
    CHECK(slurp(out) == slurp(sample(name)));
  }
}

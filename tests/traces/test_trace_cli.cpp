// workload.kind = trace end to end through the iovsim command: bad traces, per-requester domains,
// issue at trace times, capture -> replay equivalence.
#include <fstream>

#include <catch2/catch.hpp>

#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/traces/trace_reader.hpp>

#include "run_command.hpp"

using iovsim::test::count_lines;
using iovsim::test::run_for_stats;
using iovsim::test::run_iovsim;
using iovsim::test::scratch_dir;
using iovsim::test::slurp;
using nlohmann::json;

namespace {

const std::string kHeader = "time_ns,rid,iova,size,dir\n";

std::string write_trace(const std::string& tag, const std::string& text) {
  const auto path = scratch_dir("trace_" + tag) / "t.csv";
  std::ofstream(path) << text;
  return path.string();
}

std::string trace_args(const std::string& path) {
  return "--set workload.kind=trace --set trace.input='" + path + "' ";
}

void expect_bad_input(const iovsim::test::CommandResult& r, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find(needle) != std::string::npos);
}

// Runs a trace with bad content and expects exit 2 with `needle` in the one-line message.
void expect_bad_trace(const std::string& tag, const std::string& text, const std::string& needle,
                      const std::string& extra = "") {
  expect_bad_input(run_iovsim(trace_args(write_trace(tag, text)) + extra, "bad_" + tag), needle);
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

TEST_CASE("trace workload: bad traces exit 2 with one line naming the file and line") {
  expect_bad_trace("size0", kHeader + "0,01:00.0,0x1000,64,R\n10,01:00.0,0x2000,0,R\n",
                   "t.csv:3: size 0 is not in 1..4096 bytes");
  expect_bad_trace("size5k", kHeader + "0,01:00.0,0x1000,5000,R\n", "t.csv:2: size 5000");
  expect_bad_trace("unsorted", kHeader + "10,01:00.0,0x1000,64,R\n5,01:00.0,0x2000,64,R\n",
                   "t.csv:3: time_ns 5 is before line 2's 10");
  expect_bad_trace("truncated", kHeader + "0,01:00.0,0x1000,64,R\n10,01:00.0,0x2",
                   "t.csv:3: truncated");
  expect_bad_trace(
      "rid", kHeader + "0,01:00.0,0x1000,64,R\n0,0a:00.0,0x2000,64,R\n",
      "t.csv:3: unknown requester id 0a:00.0: not on the buses 01-08 below root port 0");
  expect_bad_trace("iova", kHeader + "0,01:00.0,1000h,64,R\n", "t.csv:2: iova '1000h'");
  expect_bad_trace("header", "0,01:00.0,0x1000,64,R\n", "t.csv:1: missing header line");
}

TEST_CASE("trace workload: trace.input is required and must be readable") {
  expect_bad_input(run_iovsim("--set workload.kind=trace", "no_input"),
                   "workload.kind = trace needs trace.input");
  expect_bad_input(run_iovsim(trace_args("/nonexistent/t.csv"), "missing_input"),
                   "cannot read '/nonexistent/t.csv'");
}

TEST_CASE("trace workload: capture or timeline onto the trace being replayed is refused") {
  const std::string text = kHeader + "0,01:00.0,0x1000,64,R\n";
  const auto path = write_trace("self", text);
  expect_bad_input(
      run_iovsim(trace_args(path) + "--set iommu.enabled=true --set trace.capture='" + path + "'",
                 "self_capture"),
      "trace.capture names the trace being replayed");
  expect_bad_input(
      run_iovsim(trace_args(path) + "--set trace.timeline='" + path + "'", "self_timeline"),
      "trace.timeline names the trace being replayed");
  CHECK(slurp(path) == text);  // untouched
}

TEST_CASE("trace workload: traces the platform cannot run are errors before anything runs") {
  expect_bad_trace("msi", kHeader + "0,01:00.0,0x1000,64,R\n5,01:00.0,0xfee00000,4,W\n",
                   "t.csv:3: a write to the interrupt window");
  expect_bad_trace("aw", kHeader + "0,01:00.0,0x1000000000000,64,R\n",
                   "t.csv:2: iova beyond the 48-bit address width", "--set iommu.enabled=true");
  expect_bad_trace("memory", kHeader + "0,01:00.0,0x20000000000,64,R\n",
                   "lies beyond memory.size_bytes");
  std::string many = kHeader;
  for (int i = 0; i < 16; ++i)
    many += "0,01:" + std::to_string(10 + i / 8) + "." + std::to_string(i % 8) + ",0x1000,64,R\n";
  expect_bad_trace("domains", many, "16 requester ids need a domain each; the IOMMU has 15",
                   "--set iommu.enabled=true --set iommu.cap.nd=0");
  std::string sparse = kHeader;  // each row in its own 1 GiB region: three table pages each
  for (int i = 0; i < 8; ++i)
    sparse += "0,01:00.0," + std::to_string(uint64_t(i) << 30) + ",64,R\n";
  expect_bad_trace("tables", sparse, "the trace needs more table pages: driver.tables_bytes",
                   "--set iommu.enabled=true --set driver.tables_bytes=64K");
  expect_bad_trace("page", kHeader + "0,01:00.0,0x1000,64,R\n", "trace.page_size",
                   "--set iommu.enabled=true --set iommu.cap.sllps=0 --set trace.page_size=2M");
}

TEST_CASE("trace workload: each requester its own domain, requests at their trace times") {
  // Three requesters read the same IOVA page in turn, 2 us apart (never two in flight): the
  // IOTLB is tagged by domain, so each requester misses once and then hits.
  const char* rids[] = {"01:00.0", "01:00.1", "02:00.0"};
  std::string text = kHeader;
  std::vector<uint64_t> times;
  for (int i = 0; i < 9; ++i) {
    times.push_back(2000 * i);
    char row[64];
    std::snprintf(row, sizeof row, "%d,%s,0x%x,64,R\n", 2000 * i, rids[i % 3], 0x1000 + 0x40 * i);
    text += row;
  }
  const auto path = write_trace("domains_ok", text);
  const auto cap = scratch_dir("trace_domains_cap") / "cap.csv";
  json s =
      run_for_stats(trace_args(path) + kPinnedIotlb + "--set trace.capture='" + cap.string() + "'",
                    "domains_ok")["stats"];
  CHECK(u(s, "workload.transactions") == 9);
  CHECK(u(s, "workload.errors") == 0);
  CHECK(u(s, "workload.late") == 0);
  CHECK(u(s, "iommu.faults") == 0);
  CHECK(u(s, "iommu.walks") == 3);
  for (const char* r : {"0100", "0101", "0200"}) {
    CHECK(u(s, std::string("iommu.by_rid.") + r + ".iotlb_misses") == 1);
    CHECK(u(s, std::string("iommu.by_rid.") + r + ".iotlb_hits") == 2);
    CHECK(u(s, std::string("workload.by_rid.") + r + ".transactions") == 3);
  }
  // The capture shows each request from its requester, at its trace time plus a constant
  // (the way from the player to the IOMMU).
  const auto captured = iovsim::traces::TraceReader().read_file(cap.string());
  REQUIRE(captured.records.size() == 9);
  for (std::size_t i = 0; i < 9; ++i) {
    CHECK(iovsim::core::format_rid(captured.records[i].rid) == rids[i % 3]);
    CHECK(captured.records[i].time_ps == times[i] * 1000);  // rebased to the first request
  }
}

TEST_CASE("trace workload: a captured DMA run replays to the same IOTLB behaviour") {
  // One request at a time: every lookup happens after the previous translation is done, so the
  // IOTLB sees the same (domain, page) sequence in the same state, and counts must match exactly.
  const auto cap = scratch_dir("trace_replay_cap") / "cap.csv";
  const std::string iommu = kPinnedIotlb + "--set iommu.walk_slots=4 ";
  json dma = run_for_stats(iommu +
                               "--set workload.outstanding=1 --set workload.requests=2000 "
                               "--set workload.window_bytes=512K --set trace.capture='" +
                               cap.string() + "'",
                           "replay_dma")["stats"];
  json replay = run_for_stats(iommu + trace_args(cap.string()), "replay_trace")["stats"];
  for (const char* k : {"iommu.iotlb.hits", "iommu.iotlb.misses", "iommu.walks",
                        "iommu.coalesced_misses", "iommu.walk_mem_reads", "iommu.requests"}) {
    INFO(k);
    CHECK(u(replay, k) == u(dma, k));
  }
  CHECK(u(dma, "iommu.iotlb.hits") > 0);
  CHECK(u(dma, "iommu.iotlb.misses") > 0);
  CHECK(u(replay, "workload.transactions") == 2000);
  CHECK(u(replay, "iommu.faults") == 0);

  // 32 in flight: the replay issues each request when it reached the IOMMU in the original run,
  // so the same translations happen in the same order; whether a miss finds its page's walk
  // still in flight (coalesced) depends on timing, so only the totals are held equal.
  const auto cap32 = scratch_dir("trace_replay_cap32") / "cap.csv";
  json dma32 = run_for_stats(iommu +
                                 "--set workload.requests=2000 --set workload.window_bytes=512K "
                                 "--set trace.capture='" +
                                 cap32.string() + "'",
                             "replay_dma32")["stats"];
  json replay32 = run_for_stats(iommu + trace_args(cap32.string()), "replay_trace32")["stats"];
  CHECK(u(replay32, "iommu.requests") == u(dma32, "iommu.requests"));
  CHECK(u(replay32, "iommu.iotlb.hits") + u(replay32, "iommu.iotlb.misses") ==
        u(dma32, "iommu.iotlb.hits") + u(dma32, "iommu.iotlb.misses"));
}

// Bad input exits 2 with one line naming the culprit (contract.md §1), never a crash.
#include <catch2/catch.hpp>

#include "run_command.hpp"

using iovsim::test::count_lines;
using iovsim::test::run_iovsim;
using iovsim::test::scratch_dir;

namespace {
void expect_bad_input(const iovsim::test::CommandResult& r, const std::string& needle) {
  INFO("stderr: " << r.err);
  CHECK(r.status == 2);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(r.out.empty());
}
void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}
}  // namespace

TEST_CASE("unknown parameter names the nearest known one") {
  auto r = run_iovsim("--set workload.transfer_byte=64", "unknown");
  expect_bad_input(r, "unknown parameter 'workload.transfer_byte'");
  CHECK(r.err.find("did you mean 'workload.transfer_bytes'") != std::string::npos);
}

TEST_CASE("unknown parameter in a nested config file names the file and the nearest key") {
  auto dir = scratch_dir("nested_unknown");
  write(dir / "c.json", "{\"memory\": {\"latancy_ns\": 90}}");
  auto r = run_iovsim("--config '" + (dir / "c.json").string() + "'", "nested_unknown");
  expect_bad_input(r, "c.json: unknown parameter 'memory.latancy_ns'");
  CHECK(r.err.find("did you mean 'memory.latency_ns'") != std::string::npos);
}

TEST_CASE("wrong type names the key and the value") {
  auto r = run_iovsim("--set pcie.lanes=abc", "type");
  expect_bad_input(r, "parameter 'pcie.lanes' expects an integer");
  CHECK(r.err.find("abc") != std::string::npos);
  expect_bad_input(run_iovsim("--set endpoint.ideal=maybe", "type_bool"),
                   "'endpoint.ideal' expects a boolean");
}

TEST_CASE("out-of-range and not-allowed values are rejected") {
  expect_bad_input(run_iovsim("--set pcie.lanes=3", "lanes"),
                   "'pcie.lanes' = 3 is not one of 1, 2, 4, 8, 16");
  expect_bad_input(run_iovsim("--set memory.latency_ns=-5", "range"),
                   "'memory.latency_ns' = -5 is out of range");
  expect_bad_input(run_iovsim("--set workload.pattern=zigzag", "enum"),
                   "'workload.pattern' = zigzag is not one of random, sequential, cyclic");
}

TEST_CASE("malformed JSON names the file and the line") {
  auto dir = scratch_dir("malformed");
  write(dir / "bad.json", "{\n  \"seed\": 3,\n  \"pcie\": {\"lanes\": 8,,}\n}\n");
  auto r = run_iovsim("--config '" + (dir / "bad.json").string() + "'", "malformed");
  expect_bad_input(r, "bad.json:3:");
  CHECK(r.err.find("malformed JSON") != std::string::npos);
}

TEST_CASE("a missing configuration file is named") {
  expect_bad_input(run_iovsim("--config /nonexistent/x.json", "missing"), "/nonexistent/x.json");
}

TEST_CASE("impossible configurations and bad command lines exit 2") {
  expect_bad_input(
      run_iovsim("--set workload.transfer_bytes=2M --set workload.window_bytes=1M", "impossible"),
      "workload.transfer_bytes");
  expect_bad_input(run_iovsim("--set seed", "noeq"), "expected KEY=VALUE");
  expect_bad_input(run_iovsim("frobnicate", "cmd"), "unknown command 'frobnicate'");
  expect_bad_input(run_iovsim("run --bogus", "opt"), "bogus");
  expect_bad_input(run_iovsim("--set log.modules=nosuch=debug", "logmod"),
                   "no module named 'nosuch'");
}

TEST_CASE("a directory given as configuration file is named") {
  auto dir = scratch_dir("config_dir");
  expect_bad_input(run_iovsim("--config '" + dir.string() + "'", "config_dir"), "is a directory");
}

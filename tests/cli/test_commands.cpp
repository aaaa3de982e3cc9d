// The iovsim subcommands: bare run with the embedded default preset, presets, params.
#include <catch2/catch.hpp>

#include "run_command.hpp"

using iovsim::test::run_iovsim;

TEST_CASE("bare iovsim runs the embedded default platform and prints a summary") {
  auto r = run_iovsim("", "bare");
  INFO(r.err);
  REQUIRE(r.status == 0);
  for (const char* s : {"transactions", "throughput", "Gb/s", "latency", "p50", "p99",
                        "simulated time", "wall time"})
    CHECK(r.out.find(s) != std::string::npos);
  CHECK(r.err.empty());  // stderr is not a terminal: no progress line
}

TEST_CASE("iovsim presets lists the default preset with its description") {
  auto r = run_iovsim("presets", "presets");
  REQUIRE(r.status == 0);
  CHECK(r.out.rfind("default ", 0) == 0);
  CHECK(r.out.find("DMA") != std::string::npos);
}

TEST_CASE("iovsim presets lists xeon-e5-2630v4 with its one-line description") {
  auto r = run_iovsim("presets", "presets_xeon");
  REQUIRE(r.status == 0);
  const auto at = r.out.find("\nxeon-e5-2630v4 ");
  REQUIRE(at != std::string::npos);
  const std::string line = r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
  CHECK(line.find("Broadwell") != std::string::npos);
  CHECK(line.find("calibrated") != std::string::npos);
  // Names line up: the description starts in the same column as the default preset's.
  CHECK(line.find_first_not_of(' ', 14) == r.out.find_first_not_of(' ', 7));
}

TEST_CASE("a preset can be named by its short name") {
  auto r = run_iovsim("run --quiet --config default --set workload.requests=100", "preset_name");
  CHECK(r.status == 0);
}

TEST_CASE("iovsim params lists every parameter with type, value and description") {
  auto r = run_iovsim("params --set pcie.lanes=16", "params");
  REQUIRE(r.status == 0);
  for (const char* name :
       {"seed", "sim.quantum_ns", "pcie.gen", "pcie.lanes", "pcie.mps", "pcie.mrrs", "pcie.tags",
        "memory.latency_ns", "memory.bandwidth_gbps", "endpoint.ideal", "workload.kind",
        "workload.direction", "workload.transfer_bytes", "workload.window_bytes",
        "workload.pattern", "workload.outstanding", "workload.requests", "workload.host_cache",
        "log.level"})
    CHECK(r.out.find(std::string(name) + " ") != std::string::npos);
  CHECK(r.out.find("= 16   (default 8)") != std::string::npos);
}

TEST_CASE("docs/parameters.md is the generated parameter reference, up to date") {
  auto r = run_iovsim("params --markdown", "params_md");
  REQUIRE(r.status == 0);
  std::string doc = iovsim::test::slurp(std::string(IOVSIM_SOURCE_DIR) + "/docs/parameters.md");
  INFO("regenerate with: build/<preset>/bin/iovsim params --markdown > docs/parameters.md");
  CHECK(doc == r.out);
}

TEST_CASE("docs/statistics-reference.md is the generated statistics reference and up to date") {
  const std::string script = std::string(IOVSIM_SOURCE_DIR) + "/tools/gen-statistics-doc.sh";
  const auto dir = iovsim::test::scratch_dir("stats_doc");
  // The script writes into the source tree: run it on a copy of what it needs.
  std::filesystem::create_directories(dir / "tools");
  std::filesystem::create_directories(dir / "docs");
  std::filesystem::copy_file(script, dir / "tools" / "gen-statistics-doc.sh");
  const std::string cmd = "bash '" + (dir / "tools" / "gen-statistics-doc.sh").string() + "' '" +
                          IOVSIM_BIN + "' >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  const std::string generated = iovsim::test::slurp(dir / "docs" / "statistics-reference.md");
  const std::string doc =
      iovsim::test::slurp(std::string(IOVSIM_SOURCE_DIR) + "/docs/statistics-reference.md");
  INFO("regenerate with: tools/gen-statistics-doc.sh build/<preset>/bin/iovsim");
  CHECK(!generated.empty());
  CHECK(doc == generated);
}

// Runs the iovsim command in a child process for end-to-end tests: exit status, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace iovsim::test {

struct CommandResult {
  int status = -1;  // exit status, or -1 when the process did not exit normally (crash, abort)
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh, empty directory under the test build tree.
inline std::filesystem::path scratch_dir(const std::string& name) {
  std::filesystem::path d = std::filesystem::path(IOVSIM_TEST_TMP) / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// Runs `iovsim ARGS` (ARGS is shell text; quote what needs it).
inline CommandResult run_iovsim(const std::string& args, const std::string& tag = "cmd") {
  auto dir = scratch_dir("run_" + tag);
  std::string cmd = std::string("'") + IOVSIM_BIN + "' " + args + " >'" + (dir / "out").string() +
                    "' 2>'" + (dir / "err").string() + "' </dev/null";
  int raw = std::system(cmd.c_str());
  CommandResult r;
  if (raw != -1 && WIFEXITED(raw)) r.status = WEXITSTATUS(raw);
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  return r;
}

inline nlohmann::json read_json(const std::filesystem::path& p) {
  return nlohmann::json::parse(slurp(p));
}

// Runs `iovsim run --quiet --out DIR ARGS` with a fresh DIR named by tag, requires exit status 0,
// and returns DIR/stats.json ({"run": ..., "stats": ...}).
inline nlohmann::json run_for_stats(const std::string& args, const std::string& tag) {
  auto dir = scratch_dir("stats_" + tag);
  auto r = run_iovsim("run --quiet --out '" + dir.string() + "' " + args, tag);
  INFO("stderr: " << r.err);
  REQUIRE(r.status == 0);
  return read_json(dir / "stats.json");
}

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace iovsim::test

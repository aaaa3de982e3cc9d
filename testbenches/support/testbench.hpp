// Shared code of the regression testbenches (testbenches/tb_*.cpp): command-line options, one
// child process per simulated configuration, and the report (a table of checks on stdout and
// DIR/stats.json).
//
// SystemC elaborates once per process, so a testbench that measures several configurations runs
// each in a child: run_isolated() fork()s, the child elaborates and simulates (the parent never
// touches SystemC), sends its result back as JSON through a pipe and exits. Children run one at a
// time, so results do not depend on scheduling.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <iovsim/core/params.hpp>

namespace iovsim::testbench {

struct Options {
  std::string out_dir;  // --out DIR (default: tb-results/<testbench> in the current directory)
  bool quick = false;   // --quick: fewer requests and configurations (stated by each testbench)
};

// Parses --out DIR, --quick and --help; prints usage and exits 2 on anything else.
Options parse_options(int argc, char** argv, const std::string& testbench,
                      const std::string& about);

// Runs `body` in a child process and returns the JSON it returned. Throws std::runtime_error when
// the child throws (with its message), crashes or exits without a result.
nlohmann::json run_isolated(const std::function<nlohmann::json()>& body);

using Settings = std::vector<std::pair<std::string, std::string>>;

// A configuration: a shipped preset (by short name), then KEY=VALUE settings as with --set.
core::Config make_config(const std::string& preset, const Settings& settings);

// Simulates the platform for `config` in a child process and returns its stats document
// ({"run": {...}, "stats": {...}}); with a non-empty `dir` the child also writes config.json,
// stats.json and stats.csv there, as `iovsim run --out` does.
nlohmann::json run_platform(const core::Config& config, const std::string& dir = "");

// A statistic from a stats document; throws std::runtime_error naming a missing one.
double stat(const nlohmann::json& doc, const std::string& name);

// The checks of one testbench: printed as a table (target, measured, tolerance, PASS/FAIL) and
// written, with any extra measurements, to DIR/stats.json.
class Report {
 public:
  Report(std::string testbench, Options options);

  // |measured - target| <= tolerance * |target|.
  bool within_rel(const std::string& name, const std::string& unit, double target, double measured,
                  double tolerance);
  // |measured - target| <= tolerance.
  bool within_abs(const std::string& name, const std::string& unit, double target, double measured,
                  double tolerance);
  // measured >= bound, measured <= bound.
  bool at_least(const std::string& name, const std::string& unit, double bound, double measured);
  bool at_most(const std::string& name, const std::string& unit, double bound, double measured);
  // A yes/no check (a register effect, data seen); `detail` goes in the measured column.
  bool holds(const std::string& name, bool ok, const std::string& detail);

  // A measurement reported without a check (in stats.json only). Names become statistic names:
  // lower case, runs of other characters as '_' ("read 64 B" -> "read_64_b").
  void measure(const std::string& name, double value);
  // A section heading in the printed table.
  void section(const std::string& title);

  const Options& options() const { return options_; }
  // A subdirectory of the output directory for one configuration's own files.
  std::string run_dir(const std::string& label) const;

  // Prints the table and the verdict, writes DIR/stats.json; returns the exit status (0 pass, 1
  // fail).
  int finish();

 private:
  struct Row {
    std::string section, name, target, measured, tolerance, error;
    bool is_check = true, pass = true;
  };
  bool add(Row row, const std::string& name, double measured, double target);

  std::string testbench_;
  Options options_;
  std::vector<Row> rows_;
  std::string section_;
  nlohmann::json stats_ = nlohmann::json::object();
  double started_ = 0;
};

// Runs main_body, turning an exception into a FAIL with its message (exit 1).
int guarded(const std::string& testbench, const std::function<int()>& main_body);

}  // namespace iovsim::testbench

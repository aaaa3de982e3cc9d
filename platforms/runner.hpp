// One simulation run: elaborate the platform for a configuration, simulate to the end of the
// workload, collect statistics, and write the output directory (config.json, stats.json,
// stats.csv). SystemC elaborates once per process, so run() may be called once per process.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>

namespace iovsim::platforms {

struct RunOptions {
  bool progress = false;  // progress line on stderr (the CLI enables it when stderr is a terminal)
};

struct RunResult {
  core::StatMap stats;
  nlohmann::json run;  // version, seed, sim_time_ns, wall_s, requests_per_wall_s, ...
  std::string platform_text, workload_text;
  std::string devices_text;  // enumeration's device tree when cpu.list_devices is on
};

RunResult run(const core::Config& config, const RunOptions& options = {});

// Writes DIR/config.json, DIR/stats.json and DIR/stats.csv (creating DIR). Throws
// std::runtime_error.
void write_results(const std::string& dir, const core::Config& config, const RunResult& result);

nlohmann::json stats_document(const RunResult& result);

// Every statistic the platform for `config` declares, name -> description, as it stands after boot
// (elaboration, then the start of simulation: per-requester and per-function groups made at boot
// are included; groups made later, e.g. for a requester first seen during traffic, are not).
// Histograms are listed by their base name. Like run(), once per process.
std::map<std::string, std::string> describe_statistics(const core::Config& config);

}  // namespace iovsim::platforms

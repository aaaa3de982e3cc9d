#include "runner.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <iovsim/core/event_trace.hpp>
#include <iovsim/core/logger.hpp>
#include <iovsim/version.hpp>

#include "platform.hpp"
#include "progress.hpp"

namespace iovsim::platforms {

RunResult run(const core::Config& config, const RunOptions& options) {
  core::configure_logging(config);
  check_trace_files(config);
  // The timeline sink (trace.timeline) outlives the platform, whose models report to it.
  std::unique_ptr<core::EventTrace> timeline = core::EventTrace::from(config);
  core::EventTraceScope timeline_scope(timeline.get());
  core::StatGroup root;
  Platform platform("platform", config, &root);
  core::check_log_modules(config);

  Progress progress(options.progress);
  platform.workload().on_progress(
      [&](uint64_t done, uint64_t total) { progress.update(done, total); });

  const auto t0 = std::chrono::steady_clock::now();
  sc_core::sc_start();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  progress.finish();
  if (!platform.finished())
    throw std::runtime_error("the simulation stopped before the workload finished (" +
                             std::to_string(platform.workload().completed()) +
                             " requests completed)");

  RunResult r;
  root.collect(r.stats);
  const double sim_ns = sc_core::sc_time_stamp().to_seconds() * 1e9;
  const uint64_t requests = platform.workload().completed();
  r.run = {{"version", IOVSIM_VERSION}, {"seed", seed_of(config)},
           {"sim_time_ns", sim_ns},     {"wall_s", wall},
           {"requests", requests},      {"requests_per_wall_s", wall > 0 ? requests / wall : 0.0}};
  r.platform_text = platform.describe_platform();
  r.workload_text = platform.describe_workload();
  r.devices_text = platform.device_listing();
  if (timeline) {
    timeline->finish();
    r.run["timeline"] = {{"file", timeline->path()},
                         {"events", timeline->written()},
                         {"dropped_events", timeline->dropped()}};
    if (timeline->dropped())
      core::Logger("timeline")
          .warn("trace.timeline: ", timeline->path(), " holds the first ", timeline->written(),
                " events; ", timeline->dropped(), " more dropped (trace.timeline_max_events)");
  }
  release_processes();
  return r;
}

std::map<std::string, std::string> describe_statistics(const core::Config& config) {
  core::configure_logging(config);
  core::StatGroup root;
  Platform platform("platform", config, &root);
  sc_core::sc_start(sc_core::SC_ZERO_TIME);  // boot: what enumeration and set-up create
  std::map<std::string, std::string> out;
  root.describe(out);
  release_processes();
  return out;
}

nlohmann::json stats_document(const RunResult& result) {
  return {{"run", result.run}, {"stats", core::stats_to_json(result.stats)}};
}

namespace {
void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}
}  // namespace

void write_results(const std::string& dir, const core::Config& config, const RunResult& result) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create output directory " + dir + ": " + ec.message());
  const std::filesystem::path d(dir);
  write_file(d / "config.json", config.to_json().dump(2) + "\n");
  write_file(d / "stats.json", stats_document(result).dump(2) + "\n");
  write_file(d / "stats.csv", core::stats_to_csv(result.stats));
}

}  // namespace iovsim::platforms

// The iovsim command (contract.md §1):
//   iovsim                    = iovsim run with the embedded default preset
//   iovsim run [--config FILE|PRESET]... [--set KEY=VALUE]... [--seed N] [--out DIR] [--quiet]
//   iovsim params [--config ...]... [--set ...]... [--markdown]
//   iovsim stats [--config ...]... [--set ...]... [--markdown]
//   iovsim presets
// Exit status: 0 success, 2 bad input (one line naming the file, line or key), 1 a simulation that
// could not complete.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <systemc>

#include <iovsim/core/params.hpp>
#include <iovsim/platforms/presets.hpp>
#include <iovsim/platforms/runner.hpp>
#include <iovsim/version.hpp>

#include "summary.hpp"

namespace po = boost::program_options;
using iovsim::core::Config;
using iovsim::core::ConfigError;

namespace {

const char* kUsage =
    "usage: iovsim [run] [--config FILE|PRESET]... [--set KEY=VALUE]... [--seed N] [--out DIR] "
    "[--quiet]\n"
    "       iovsim params [--config FILE|PRESET]... [--set KEY=VALUE]... [--markdown]\n"
    "       iovsim stats [--config FILE|PRESET]... [--set KEY=VALUE]... [--markdown]\n"
    "       iovsim presets\n";

struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string preset_names() {
  std::string s;
  for (const auto& p : iovsim::platforms::embedded_presets())
    s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

// --config takes a file path or a preset's short name.
void load_config(Config& config, const std::string& what) {
  if (std::filesystem::exists(what)) {
    config.load_file(what);
  } else if (const auto* preset = iovsim::platforms::find_preset(what)) {
    config.load_json_text(preset->json, "preset " + what);
  } else {
    throw ConfigError(what + ": no such configuration file or preset (presets: " + preset_names() +
                      ")");
  }
}

Config build_config(const po::variables_map& vm) {
  Config config;
  std::vector<std::string> files;
  if (vm.count("config")) files = vm["config"].as<std::vector<std::string>>();
  if (files.empty()) load_config(config, "default");
  for (const auto& f : files) load_config(config, f);
  if (vm.count("set"))
    for (const auto& s : vm["set"].as<std::vector<std::string>>()) config.set_assignment(s);
  if (vm.count("seed")) config.set("seed", vm["seed"].as<std::string>(), "--seed");
  return config;
}

po::variables_map parse(const std::vector<std::string>& args, const po::options_description& desc) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  po::notify(vm);
  return vm;
}

po::options_description config_options(const char* title) {
  po::options_description d(title);
  d.add_options()("help,h", "this help")(
      "config,c", po::value<std::vector<std::string>>()->composing(),
      "JSON configuration file or preset name (repeatable; later ones override)")(
      "set,s", po::value<std::vector<std::string>>()->composing(),
      "override one parameter: KEY=VALUE (repeatable)");
  return d;
}

int cmd_run(const std::vector<std::string>& args) {
  auto desc = config_options("iovsim run");
  desc.add_options()("seed", po::value<std::string>(), "seed (same as --set seed=N)")(
      "out,o", po::value<std::string>(),
      "write config.json, stats.json and stats.csv to this directory")("quiet,q",
                                                                       "print no summary");
  auto vm = parse(args, desc);
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << desc;
    return 0;
  }
  Config config = build_config(vm);
  std::string out;
  if (vm.count("out")) {
    out = vm["out"].as<std::string>();
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    if (ec || !std::filesystem::is_directory(out))
      throw BadInput(out + ": cannot create output directory" +
                     (ec ? ": " + ec.message() : std::string()));
  }
  iovsim::platforms::RunOptions options;
  options.progress = isatty(STDERR_FILENO) && !vm.count("quiet");
  auto result = iovsim::platforms::run(config, options);
  if (!out.empty()) iovsim::platforms::write_results(out, config, result);
  if (!vm.count("quiet")) iovsim::cli::print_summary(std::cout, result);
  return 0;
}

int cmd_params(const std::vector<std::string>& args) {
  auto desc = config_options("iovsim params");
  desc.add_options()("markdown", "print the parameter reference as Markdown");
  auto vm = parse(args, desc);
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << desc;
    return 0;
  }
  Config config = build_config(vm);
  if (vm.count("markdown"))
    iovsim::cli::print_params_markdown(std::cout, config);
  else
    iovsim::cli::print_params(std::cout, config);
  return 0;
}

int cmd_stats(const std::vector<std::string>& args) {
  auto desc = config_options("iovsim stats");
  desc.add_options()("markdown", "print the statistics as a Markdown table");
  auto vm = parse(args, desc);
  if (vm.count("help")) {
    std::cout << kUsage << "\n" << desc;
    return 0;
  }
  Config config = build_config(vm);
  const auto stats = iovsim::platforms::describe_statistics(config);
  if (vm.count("markdown")) {
    std::cout << "| statistic | description |\n|---|---|\n";
    for (const auto& [name, text] : stats) std::cout << "| `" << name << "` | " << text << " |\n";
  } else {
    std::size_t width = 0;
    for (const auto& [name, text] : stats) width = std::max(width, name.size());
    for (const auto& [name, text] : stats)
      std::cout << name << std::string(width + 2 - name.size(), ' ') << text << "\n";
  }
  return 0;
}

int cmd_presets(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] != "--help" && args[0] != "-h")
    throw BadInput("presets takes no arguments");
  std::size_t width = 0;
  for (const auto& p : iovsim::platforms::embedded_presets())
    width = std::max(width, std::string(p.name).size());
  for (const auto& p : iovsim::platforms::embedded_presets()) {
    std::string name = p.name;
    name.resize(width + 2, ' ');
    std::cout << name << iovsim::platforms::preset_description(p) << "\n";
  }
  return 0;
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  sc_core::sc_report_handler::set_actions("/IEEE_Std_1666/deprecated", sc_core::SC_DO_NOTHING);
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string command = "run";
  if (!args.empty() && !args[0].empty() && args[0][0] != '-') {
    command = args[0];
    args.erase(args.begin());
  }
  try {
    if (command == "run") return cmd_run(args);
    if (command == "params") return cmd_params(args);
    if (command == "presets") return cmd_presets(args);
    if (command == "stats") return cmd_stats(args);
    if (command == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (command == "version") {
      std::cout << "iovsim " << IOVSIM_VERSION << "\n";
      return 0;
    }
    throw BadInput("unknown command '" + command + "' (commands: run, params, stats, presets)");
  } catch (const ConfigError& e) {
    std::cerr << "iovsim: " << e.what() << "\n";
    return 2;
  } catch (const BadInput& e) {
    std::cerr << "iovsim: " << e.what() << "\n";
    return 2;
  } catch (const po::error& e) {
    std::cerr << "iovsim: " << e.what() << " (iovsim --help for usage)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "iovsim: the simulation could not complete: " << e.what() << "\n";
    return 1;
  }
}

// custom_platform: a study built on the iovsim library, outside its source tree.
//
//   custom_platform [--config FILE]... [--set KEY=VALUE]...
//
// Several DMA devices share one IOMMU (shared_iommu_platform.hpp), whose IOTLB uses a replacement
// policy this study registers itself (lfu_policy.hpp) and selects by name, by default or with
// --set iommu.iotlb.policy=NAME. Prints per-device and IOTLB statistics, then checks that every
// device finished and that the chosen policy really chose the victims. Exit status: 0 ok, 1 a
// check failed or the simulation could not complete, 2 bad input.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <systemc>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/iommu/replacement.hpp>
#include <iovsim/version.hpp>

#include "lfu_policy.hpp"
#include "shared_iommu_platform.hpp"

namespace io = iovsim;

namespace {

// The study's defaults, in the same JSON form as a --config file; the command line overrides.
// Several devices contend for one IOMMU: a short quantum keeps one from running far ahead and
// booking the shared walker and memory first (with the default 1 us, the second device of two
// gets about 30 Gb/s to the first's 42).
const char* kDefaults = R"({
  "rc.ports": 2,
  "sim.quantum_ns": 100,
  "iommu.iotlb.entries": 64,
  "iommu.iotlb.ways": 8,
  "workload.window_bytes": "512K",
  "workload.requests": 20000
})";

struct Options {
  io::core::Config config;
  std::string policy = "lfu";
};

// iommu.iotlb.policy is an enumeration of the built-in words, so a policy this study registered
// cannot be stored in the Config. It is taken from --set here and handed to the IOMMU through its
// C++ configuration (RemappingUnitConfig::iotlb.policy); a built-in word goes the usual way too.
void set_policy(Options& o, const std::string& name) {
  const auto* info = io::core::ParamRegistry::instance().find("iommu.iotlb.policy");
  for (const auto& word : info->choices) {
    if (word == name) {
      o.config.set("iommu.iotlb.policy", name);
      o.policy = name;
      return;
    }
  }
  for (const auto& known : io::iommu::PolicyRegistry::instance().names()) {
    if (known == name) {
      o.policy = name;
      return;
    }
  }
  o.config.set("iommu.iotlb.policy", name);  // not a policy at all: the usual error
}

Options parse(int argc, char* argv[]) {
  Options o;
  o.config.load_json_text(kDefaults, "custom_platform defaults");
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if ((a == "--config" || a == "--set") && i + 1 == args.size())
      throw io::core::ConfigError(a + " needs a value");
    if (a == "--config") {
      o.config.load_file(args[++i]);
    } else if (a == "--set") {
      const std::string& s = args[++i];
      const auto eq = s.find('=');
      if (eq != std::string::npos && s.substr(0, eq) == "iommu.iotlb.policy")
        set_policy(o, s.substr(eq + 1));
      else
        o.config.set_assignment(s);
    } else {
      throw io::core::ConfigError("unknown argument '" + a +
                                  "' (usage: custom_platform [--config FILE]... "
                                  "[--set KEY=VALUE]...)");
    }
  }
  return o;
}

double number(const io::core::StatMap& stats, const std::string& name) {
  const auto it = stats.find(name);
  if (it == stats.end()) return -1;
  return std::visit([](auto v) { return static_cast<double>(v); }, it->second);
}

int report(study::SharedIommuPlatform& platform, const Options& o, const io::core::StatMap& stats) {
  const auto& iotlb = platform.iommu().config().iotlb;
  std::printf(
      "custom_platform (iovsim %s): %zu devices, one IOMMU; IOTLB %u entries, %s, "
      "policy %s\n",
      IOVSIM_VERSION, platform.devices(), iotlb.entries,
      iotlb.ways ? (std::to_string(iotlb.ways) + "-way").c_str() : "fully associative",
      iotlb.policy.c_str());
  int failures = 0;
  double requests = 0;
  for (std::size_t i = 0; i < platform.devices(); ++i) {
    const std::string dev = "dev" + std::to_string(i);
    const double done = number(stats, dev + ".workload.transactions");
    const double wanted = static_cast<double>(platform.slot(i).endpoint().config().requests);
    requests += done;
    std::printf("  %s  %.0f requests  %.2f Gb/s  latency p50 %.0f ns\n", dev.c_str(), done,
                number(stats, dev + ".workload.throughput_gbps"),
                number(stats, dev + ".workload.latency_ns.p50"));
    if (done != wanted) {
      std::fprintf(stderr, "custom_platform: FAILED: %s completed %.0f of %.0f requests\n",
                   dev.c_str(), done, wanted);
      ++failures;
    }
  }
  const double hits = number(stats, "iommu.iotlb.hits"),
               misses = number(stats, "iommu.iotlb.misses");
  std::printf("  iommu.iotlb  hits %.0f  misses %.0f  hit rate %.4f  walks %.0f\n", hits, misses,
              number(stats, "iommu.iotlb.hit_rate"), number(stats, "iommu.walks"));
  if (hits <= 0 || misses <= 0 || hits + misses < requests) {
    std::fprintf(stderr,
                 "custom_platform: FAILED: expected IOTLB hits and misses for %.0f "
                 "requests\n",
                 requests);
    ++failures;
  }
  if (o.policy == "lfu") {
    // Every eviction must have been the study's policy's choice.
    const double evictions = number(stats, "iommu.iotlb.evictions");
    const auto victims = study::LfuPolicy::victims_chosen();
    std::printf("  lfu policy   %llu victims chosen, %.0f evictions\n",
                static_cast<unsigned long long>(victims), evictions);
    if (static_cast<double>(victims) != evictions) {
      std::fprintf(stderr,
                   "custom_platform: FAILED: the lfu policy chose %llu victims for %.0f "
                   "evictions\n",
                   static_cast<unsigned long long>(victims), evictions);
      ++failures;
    }
  }
  std::printf("custom_platform: %s\n", failures ? "FAILED" : "OK");
  return failures ? 1 : 0;
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  sc_core::sc_report_handler::set_actions("/IEEE_Std_1666/deprecated", sc_core::SC_DO_NOTHING);
  study::register_lfu_policy();
  try {
    Options o = parse(argc, argv);
    io::core::configure_logging(o.config);
    io::core::StatGroup stats;
    study::SharedIommuPlatform platform("study", o.config, o.policy, &stats);
    sc_core::sc_start();
    if (!platform.finished()) {
      std::fprintf(stderr, "custom_platform: the simulation stopped before the devices finished\n");
      return 1;
    }
    io::core::StatMap values;
    stats.collect(values);
    return report(platform, o, values);
  } catch (const io::core::ConfigError& e) {
    std::fprintf(stderr, "custom_platform: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custom_platform: the simulation could not complete: %s\n", e.what());
    return 1;
  }
}

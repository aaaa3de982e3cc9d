// tb_dma_latency: single-outstanding DMA read latency by size on the xeon-e5-2630v4 preset, no
// IOMMU, against pcie-bench's Broadwell measurements (calibration.md §2): median latency
// of 64..2048 B reads host-warm, 64 B random reads cold and warm, and the held-out write-then-read.
// Tolerance ±5 % (calibration.md §2's goal for the Broadwell preset).
#include <string>

#include <systemc>

#include "support/testbench.hpp"

namespace tb = iovsim::testbench;

namespace {

constexpr double kTolerance = 0.05;

struct Point {
  const char* name;
  const char* direction;
  unsigned size;
  const char* cache;
  double target_ns;
};

int run(const tb::Options& options) {
  tb::Report report("tb_dma_latency", options);
  const std::string requests = options.quick ? "300" : "2000";
  auto median = [&](const std::string& label, const char* direction, unsigned size,
                    const char* cache) {
    const auto config =
        tb::make_config("xeon-e5-2630v4", {{"workload.direction", direction},
                                           {"workload.transfer_bytes", std::to_string(size)},
                                           {"workload.outstanding", "1"},
                                           {"workload.requests", requests},
                                           {"workload.host_cache", cache}});
    return tb::stat(tb::run_platform(config, report.run_dir(label)), "workload.latency_ns.p50");
  };

  report.section("reads by size, host-warm, median (calibrated)");
  const Point sizes[] = {
      {"read 64 B", "read", 64, "warm", 546},     {"read 128 B", "read", 128, "warm", 573},
      {"read 256 B", "read", 256, "warm", 626},   {"read 512 B", "read", 512, "warm", 706},
      {"read 1024 B", "read", 1024, "warm", 853}, {"read 2048 B", "read", 2048, "warm", 1133}};
  double warm64 = 0;
  for (const Point& p : sizes) {
    const double ns = median("read_" + std::to_string(p.size), p.direction, p.size, p.cache);
    if (p.size == 64) warm64 = ns;
    report.within_rel(p.name, "ns", p.target_ns, ns, kTolerance);
  }

  report.section("64 B random reads, cold vs warm host cache (calibrated)");
  const double cold64 = median("read_64_cold", "read", 64, "cold");
  report.within_rel("cold", "ns", 600, cold64, kTolerance);
  report.within_rel("warm (same experiment)", "ns", 560, warm64, kTolerance);
  report.within_abs("cold - warm", "ns", 600 - 560, cold64 - warm64, 10);

  report.section("held out");
  // pcie-bench's WRRD: a 64 B write then a read of the same address, timed together.
  const double wrrd = median("write_read_64", "write_read", 64, "warm");
  report.within_rel("write then read 64 B", "ns", 773, wrrd, kTolerance);
  return report.finish();
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  const auto options = tb::parse_options(
      argc, argv, "tb_dma_latency",
      "single-outstanding DMA read latency on xeon-e5-2630v4 vs pcie-bench (calibration.md §2)");
  return tb::guarded("tb_dma_latency", [&] { return run(options); });
}

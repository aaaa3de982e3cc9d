// tb_pcie_bandwidth: DMA throughput by transfer size (64..4096 B), reads and writes, on a Gen3 x8
// link (MPS 256, MRRS 512) with an ideal endpoint and no IOMMU, against the analytic link model of
// calibration.md §1 computed here from its formulas (not from the model's own code).
// Tolerance: 0.5 %, what calibration.md §1 asks of the link model.
#include <cmath>
#include <string>

#include <systemc>

#include "support/testbench.hpp"

namespace tb = iovsim::testbench;

namespace {

constexpr double kTolerance = 0.005;
constexpr unsigned kMps = 256;
// Gen3: 8 GT/s per lane, 128b/130b; AckLimit = FCLimit = 203 B for x8 at MPS 256.
const double kRawGbps = 8.0 * 128.0 / 130.0 * 8;
const double kTlpGbps = kRawGbps * (1 - 8.0 / 203 - 8.0 / 203 - 4.0 / 1538);

// Effective throughput back to back: a write is ceil(size/MPS) MWr of 24 B + payload upstream; a
// read is limited by its completions downstream, ceil(size/MPS) CplD of 20 B + payload (MRRS 512 is
// a multiple of MPS, so every CplD but the last is full); its 24 B MRds go the other way.
double analytic_gbps(bool write, unsigned size) {
  const double tlps = std::ceil(double(size) / kMps);
  return kTlpGbps * size / (tlps * (write ? 24.0 : 20.0) + size);
}

int run(const tb::Options& options) {
  tb::Report report("tb_pcie_bandwidth", options);
  // The formulas must give calibration.md's published table before anything is measured with them.
  struct Published {
    unsigned size;
    double write, read;
  } table[] = {{64, 42.10, 44.10}, {128, 48.75, 50.06}, {256, 52.92, 53.69}};
  bool formulas_ok = std::fabs(kTlpGbps - 57.885) < 0.001;
  for (const auto& t : table)
    formulas_ok = formulas_ok && std::fabs(analytic_gbps(true, t.size) - t.write) < 0.006 &&
                  std::fabs(analytic_gbps(false, t.size) - t.read) < 0.006;
  report.section("analytic model");
  report.holds("formulas give calibration.md §1 table", formulas_ok,
               "TLP rate " + std::to_string(std::lround(kTlpGbps * 1000)) + " Mb/s");

  // About 4 MB per configuration (1 MB with --quick). No warm-up phase: requests still in flight
  // when the measured phase began would add link time without their bytes (an error of about
  // outstanding / requests); the ramp at the start costs one latency, under 0.2 % here.
  const double bytes = options.quick ? 1e6 : 4e6;
  for (const char* dir : {"read", "write"}) {
    report.section(std::string(dir) + "s, endpoint.ideal, 32 outstanding");
    for (unsigned size = 64; size <= 4096; size *= 2) {
      const auto requests =
          static_cast<uint64_t>(std::max(options.quick ? 2000.0 : 4000.0, bytes / size));
      const auto config =
          tb::make_config("default", {{"endpoint.ideal", "true"},
                                      {"workload.direction", dir},
                                      {"workload.transfer_bytes", std::to_string(size)},
                                      {"workload.window_bytes", "4M"},
                                      {"workload.outstanding", "32"},
                                      {"workload.requests", std::to_string(requests)}});
      const std::string label = std::string(dir) + "_" + std::to_string(size);
      const auto doc = tb::run_platform(config, report.run_dir(label));
      report.within_rel(std::string(dir) + " " + std::to_string(size) + " B", "Gb/s",
                        analytic_gbps(std::string(dir) == "write", size),
                        tb::stat(doc, "workload.throughput_gbps"), kTolerance);
    }
  }
  return report.finish();
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  const auto options =
      tb::parse_options(argc, argv, "tb_pcie_bandwidth",
                        "DMA throughput by size, reads and writes, vs the analytic link model");
  return tb::guarded("tb_pcie_bandwidth", [&] { return run(options); });
}

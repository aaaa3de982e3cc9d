// tb_msi_latency: interrupt latency (irq.latency_ns: the device sends the MSI -> the handler
// starts) on the xeon-e5-2630v4 preset, without the IOMMU, with it but interrupt remapping off,
// and with remapping on: interrupt-entry-cache (IEC) hits, the first interrupt's miss, and an IEC
// of 0 entries (every interrupt reads its IRTE). The differences must be what the configured costs
// predict: a hit adds (iommu.ir.decode_cycles + iommu.ir.iec.hit_cycles) IOMMU cycles, a miss
// decode_cycles plus one IRTE read from DRAM (memory.latency_ns); remapping off adds nothing. The
// model is deterministic here (one DMA outstanding, an interrupt every 10 completions, far apart),
// so the tolerance is 0.01 ns; a second clock and cycle setting checks the scaling.
#include <cmath>
#include <string>

#include <systemc>

#include "support/testbench.hpp"

namespace tb = iovsim::testbench;

namespace {

constexpr double kExact = 0.01;  // ns

struct Measured {
  double min = 0, max = 0, mean = 0, delivered = 0, iec_hits = 0, iec_misses = 0;
};

int run(const tb::Options& options) {
  tb::Report report("tb_msi_latency", options);
  const std::string requests = options.quick ? "500" : "2000";
  auto config = [&](tb::Settings settings) {
    settings.insert(settings.begin(), {{"workload.outstanding", "1"},
                                       {"workload.requests", requests},
                                       {"workload.msi_every", "10"}});
    return tb::make_config("xeon-e5-2630v4", settings);
  };
  auto measure = [&](const std::string& label, const iovsim::core::Config& c) {
    const auto doc = tb::run_platform(c, report.run_dir(label));
    Measured m;
    m.min = tb::stat(doc, "irq.latency_ns.min");
    m.max = tb::stat(doc, "irq.latency_ns.max");
    m.mean = tb::stat(doc, "irq.latency_ns.mean");
    m.delivered = tb::stat(doc, "irq.delivered");
    if (doc["stats"].contains("iommu.ir.iec.hits")) {
      m.iec_hits = tb::stat(doc, "iommu.ir.iec.hits");
      m.iec_misses = tb::stat(doc, "iommu.ir.iec.misses");
    }
    report.measure(label + ".latency_min_ns", m.min);
    report.measure(label + ".latency_max_ns", m.max);
    report.measure(label + ".latency_mean_ns", m.mean);
    return m;
  };

  const auto remapping = config({{"iommu.enabled", "true"}, {"iommu.ir.enabled", "true"}});
  const auto slow_remapping = config({{"iommu.enabled", "true"},
                                      {"iommu.ir.enabled", "true"},
                                      {"iommu.clock_mhz", "500"},
                                      {"iommu.ir.decode_cycles", "5"},
                                      {"iommu.ir.iec.hit_cycles", "3"}});
  const Measured none = measure("no_iommu", config({}));
  const Measured ir_off = measure("ir_off", config({{"iommu.enabled", "true"}}));
  const Measured iec = measure("ir_iec", remapping);
  const Measured no_iec = measure("ir_no_iec", config({{"iommu.enabled", "true"},
                                                       {"iommu.ir.enabled", "true"},
                                                       {"iommu.ir.iec.entries", "0"}}));
  const Measured slow = measure("ir_iec_500mhz", slow_remapping);

  // Predictions from the configurations themselves.
  auto cycle_ns = [](const iovsim::core::Config& c) {
    return std::round(1e6 / c.get_real("iommu.clock_mhz")) / 1000.0;  // the model's ps rounding
  };
  auto hit_cost = [&](const iovsim::core::Config& c) {
    return double(c.get_int("iommu.ir.decode_cycles") + c.get_int("iommu.ir.iec.hit_cycles")) *
           cycle_ns(c);
  };
  const double miss_cost =
      double(remapping.get_int("iommu.ir.decode_cycles")) * cycle_ns(remapping) +
      double(remapping.get_int("memory.latency_ns"));
  const double sent = std::stod(requests) / 10;

  report.section("every interrupt delivered, the same latency each time");
  report.within_abs("delivered, no IOMMU", "", sent, none.delivered, 0);
  report.within_abs("delivered, IR with IEC", "", sent, iec.delivered, 0);
  report.within_abs("no IOMMU: max - min", "ns", 0, none.max - none.min, kExact);
  report.section("interrupt remapping off: passes unchanged");
  report.within_abs("IR off - no IOMMU", "ns", 0, ir_off.mean - none.mean, kExact);
  report.section("IR on, IEC: first interrupt misses, the rest hit");
  report.within_abs("IEC misses", "", 1, iec.iec_misses, 0);
  report.within_abs("IEC hits", "", sent - 1, iec.iec_hits, 0);
  report.within_abs("hit - no IOMMU = (decode + hit) cycles", "ns", hit_cost(remapping),
                    iec.min - none.min, kExact);
  report.within_abs("first - no IOMMU = decode + IRTE read", "ns", miss_cost, iec.max - none.min,
                    kExact);
  report.section("IR on, no IEC: every interrupt reads its IRTE");
  report.within_abs("IEC lookups", "", 0, no_iec.iec_hits + no_iec.iec_misses, 0);
  report.within_abs("miss - no IOMMU = decode + IRTE read", "ns", miss_cost,
                    no_iec.mean - none.mean, kExact);
  report.within_abs("no-IEC latency = first IEC miss", "ns", iec.max, no_iec.max, kExact);
  report.section("ordering");
  report.holds("no IOMMU <= IEC hit < IEC miss", none.min <= iec.min && iec.min < no_iec.min,
               std::to_string(std::lround(none.min)) +
                   " <= " + std::to_string(std::lround(iec.min)) + " < " +
                   std::to_string(std::lround(no_iec.min)) + " ns");
  report.section("IOMMU at 500 MHz, decode 5 and hit 3 cycles");
  report.within_abs("hit - no IOMMU", "ns", hit_cost(slow_remapping), slow.min - none.min, kExact);
  return report.finish();
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  const auto options =
      tb::parse_options(argc, argv, "tb_msi_latency",
                        "MSI latency with and without interrupt remapping, IEC hit and miss");
  return tb::guarded("tb_msi_latency", [&] { return run(options); });
}

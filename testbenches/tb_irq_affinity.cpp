// tb_irq_affinity: guest interrupt latency of an assigned VF (nic workload, direct assignment,
// interrupt remapping on) when the hypervisor aims the VF's IRTE at the CPU running the target
// vCPU (vm.irq_affinity = pinned) and when it deliberately aims it at another CPU (misrouted), so
// that every interrupt must be forwarded to the vCPU's CPU. The guest-side latency (MSI sent ->
// the guest's handler starts: vm.irq.direct_latency_ns / forwarded_latency_ns) must differ by
// exactly the forwarding cost vm.forward_ns: the hardware path (remapping, delivery, dispatch) is
// the same on either idle CPU, and the model adds nothing else, so the tolerance is 0.01 ns. A
// second forwarding cost checks the scaling. One VM, one VF, two CPUs; the VF interrupts far apart
// (moderation), so no interrupt waits behind another.
#include <cmath>
#include <string>

#include <systemc>

#include "support/testbench.hpp"

namespace tb = iovsim::testbench;

namespace {

constexpr double kExact = 0.01;  // ns

struct Measured {
  double delivered = 0, direct = 0, forwarded = 0, hw_mean = 0, guest_mean = 0, guest_min = 0,
         rx_latency = 0, rx_packets = 0;
};

int run(const tb::Options& options) {
  tb::Report report("tb_irq_affinity", options);
  const std::string packets = options.quick ? "500" : "4000";
  auto config = [&](tb::Settings settings) {
    settings.insert(settings.begin(), {{"workload.kind", "nic"},
                                       {"nic.vfs", "1"},
                                       {"nic.packets", packets},
                                       {"cpu.count", "2"},
                                       {"iommu.enabled", "true"},
                                       {"iommu.ir.enabled", "true"}});
    return tb::make_config("default", settings);
  };
  auto measure = [&](const std::string& label, const iovsim::core::Config& c, bool forwarded) {
    const auto doc = tb::run_platform(c, report.run_dir(label));
    const std::string h = forwarded ? "vm.irq.forwarded_latency_ns" : "vm.irq.direct_latency_ns";
    Measured m;
    m.delivered = tb::stat(doc, "irq.delivered");
    m.direct = tb::stat(doc, "vm.irq.direct");
    m.forwarded = tb::stat(doc, "vm.irq.forwarded");
    m.hw_mean = tb::stat(doc, "irq.latency_ns.mean");
    m.guest_mean = tb::stat(doc, h + ".mean");
    m.guest_min = tb::stat(doc, h + ".min");
    m.rx_latency = tb::stat(doc, "guest.vf0.rx_latency_ns.mean");
    m.rx_packets = tb::stat(doc, "guest.vf0.rx_packets");
    report.measure(label + ".guest_irq_latency_mean_ns", m.guest_mean);
    report.measure(label + ".irq_latency_mean_ns", m.hw_mean);
    report.measure(label + ".rx_latency_mean_ns", m.rx_latency);
    return m;
  };

  const double forward = 1000, slow_forward = 3000;
  const Measured pinned = measure("pinned", config({{"vm.forward_ns", "1000"}}), false);
  const Measured misrouted = measure(
      "misrouted", config({{"vm.irq_affinity", "misrouted"}, {"vm.forward_ns", "1000"}}), true);
  const Measured slow = measure(
      "misrouted_3us", config({{"vm.irq_affinity", "misrouted"}, {"vm.forward_ns", "3000"}}), true);

  report.section("every packet received, every interrupt counted once");
  report.within_abs("packets, pinned", "", std::stod(packets), pinned.rx_packets, 0);
  report.within_abs("packets, misrouted", "", std::stod(packets), misrouted.rx_packets, 0);
  report.section("pinned: every interrupt lands on the vCPU's CPU");
  report.at_least("interrupts", "", 1, pinned.delivered);
  report.within_abs("direct = delivered", "", pinned.delivered, pinned.direct, 0);
  report.within_abs("forwarded", "", 0, pinned.forwarded, 0);
  report.within_abs("guest latency = hardware latency", "ns", pinned.hw_mean, pinned.guest_mean,
                    kExact);
  report.section("misrouted: every interrupt is forwarded");
  report.within_abs("forwarded = delivered", "", misrouted.delivered, misrouted.forwarded, 0);
  report.within_abs("direct", "", 0, misrouted.direct, 0);
  report.within_abs("same hardware latency as pinned", "ns", pinned.hw_mean, misrouted.hw_mean,
                    kExact);
  report.section("the difference is the forwarding cost");
  report.within_abs("misrouted - pinned (mean) = vm.forward_ns", "ns", forward,
                    misrouted.guest_mean - pinned.guest_mean, kExact);
  report.within_abs("misrouted - pinned (min) = vm.forward_ns", "ns", forward,
                    misrouted.guest_min - pinned.guest_min, kExact);
  report.within_abs("3 us forwarding: misrouted - pinned", "ns", slow_forward,
                    slow.guest_mean - pinned.guest_mean, kExact);
  report.holds("forwarding delays the guest's packets too",
               misrouted.rx_latency > pinned.rx_latency,
               std::to_string(std::lround(pinned.rx_latency)) + " < " +
                   std::to_string(std::lround(misrouted.rx_latency)) + " ns");
  return report.finish();
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  const auto options = tb::parse_options(
      argc, argv, "tb_irq_affinity",
      "Guest interrupt latency with pinned and misrouted interrupt affinity (vm.forward_ns)");
  return tb::guarded("tb_irq_affinity", [&] { return run(options); });
}

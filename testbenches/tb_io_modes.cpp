// tb_io_modes: the same guests and the same traffic in the four I/O-virtualization modes
// (nic.mode: emulated, paravirtual, mq, sriov; docs/models/io_modes.md), on the default platform
// with the IOMMU on. Four guests each offered 4 Gb/s of 1500-byte packets, received (RX), then
// sent (TX; paravirtual also with grant-mapped buffers): more than the emulated mode's backend
// can handle on one core, within what the others sustain. Checks the expected ordering per
// direction: direct assignment (sriov) delivers the most and costs the hypervisor nothing per
// packet, emulation delivers the least, costs the most and has the highest latency. Prints a
// table per direction.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <systemc>

#include "support/testbench.hpp"

namespace tb = iovsim::testbench;

namespace {

constexpr unsigned kGuests = 4;

struct Result {
  double gbps = 0, vm_min_gbps = 0, p50 = 0, p99 = 0, drops = 0, packets = 0;
  double guest_cpp = 0, hv_cpp = 0;  // CPU cycles per packet
  double exits = 0, interrupts = 0;  // per packet
  double iotlb_hits = 0, iotlb_misses = 0;
};

// One mode in one direction ("rx" or "tx"); extra settings for variants (grant-mapped buffers).
Result measure(const tb::Report& report, const std::string& label, const std::string& mode,
               const std::string& direction, const std::string& packets, tb::Settings extra = {}) {
  tb::Settings settings = {{"workload.kind", "nic"},     {"nic.mode", mode},
                           {"nic.direction", direction}, {"nic.vfs", std::to_string(kGuests)},
                           {"nic.packets", packets},     {"nic.rx_gbps", "4"},
                           {"nic.tx_gbps", "4"},         {"vm.memory_bytes", "8M"},
                           {"iommu.enabled", "true"}};
  settings.insert(settings.end(), extra.begin(), extra.end());
  const auto config = tb::make_config("default", settings);
  const auto doc = tb::run_platform(config, report.run_dir(direction + "_" + label));
  const double clock_mhz = config.get_real("cpu.clock_mhz");
  const bool tx = direction == "tx";
  Result r;
  r.gbps = tb::stat(doc, "workload.throughput_gbps");
  // RX: arrival at the NIC -> reaped by the guest. TX: posted by the guest -> on the wire (the
  // completion a guest sees is reaped lazily, at its next packet, in every mode).
  const std::string latency = tx ? "nic.wire.tx_latency_ns" : "workload.latency_ns";
  r.p50 = tb::stat(doc, latency + ".p50");
  r.p99 = tb::stat(doc, latency + ".p99");
  r.drops = tb::stat(doc, "workload.drops");
  r.packets = tb::stat(doc, "workload.transactions");
  r.iotlb_hits = tb::stat(doc, "iommu.iotlb.hits");
  r.iotlb_misses = tb::stat(doc, "iommu.iotlb.misses");
  // Per VM: its share of the bytes at the workload's rate (the same span for every mode).
  // (sriov TX: the VF's bytes as the NIC counted them; its guest driver counts packets only.)
  const std::string guest = mode != "sriov" ? "guest.vm" : tx ? "nic.vf" : "guest.vf";
  const std::string bytes_stat = tx ? ".tx_bytes" : ".rx_bytes";
  const double bytes = tb::stat(doc, "workload.bytes");
  r.vm_min_gbps = r.gbps;
  for (unsigned i = 0; i < kGuests; ++i)
    r.vm_min_gbps = std::min(
        r.vm_min_gbps, tb::stat(doc, guest + std::to_string(i) + bytes_stat) / bytes * r.gbps);
  if (mode == "sriov") {
    // The guests' VF drivers; interrupts reach them remapped, without exits (posted interrupts
    // assumed, as in the other modes). The hypervisor's part, measured: vPCI traps beyond each
    // guest's bring-up (28: 18 config accesses, 2 MSI-X control and 8 table writes, as
    // tests/vpci counts them), and interrupts it had to forward (vm.forward_ns each).
    double cpu = 0, irqs = 0, traps = 0;
    for (unsigned i = 0; i < kGuests; ++i) {
      cpu += tb::stat(doc, "guest.vf" + std::to_string(i) + ".cpu_ns");
      irqs += tb::stat(doc, "guest.vf" + std::to_string(i) + ".interrupts");
      traps += tb::stat(doc, "vpci.vm" + std::to_string(i) + ".traps");
    }
    r.guest_cpp = cpu * clock_mhz / 1000 / r.packets;
    r.interrupts = irqs / r.packets;
    r.exits = (traps - 28.0 * kGuests) / r.packets;
    r.hv_cpp = tb::stat(doc, "vm.irq.forwarded") * config.get_real("vm.forward_ns") * clock_mhz /
               1000 / r.packets;
  } else {
    r.guest_cpp = tb::stat(doc, "guest.cycles_per_packet");
    r.hv_cpp = tb::stat(doc, "hv.cycles_per_packet");
    r.exits = tb::stat(doc, "hv.exits") / r.packets;
    r.interrupts = tb::stat(doc, "hv.injected") / r.packets;
  }
  return r;
}

void print_table(tb::Report& report, const std::string& direction,
                 const std::vector<std::string>& labels, std::map<std::string, Result>& r) {
  std::printf("\n%s\n%-18s %8s %8s %9s %9s %7s %10s %10s %8s %8s %9s %9s\n",
              direction == "rx" ? "RX (latency: NIC arrival -> guest reaped)"
                                : "TX (latency: guest posted -> on the wire)",
              "nic.mode", "Gb/s", "VM min", "p50 ns", "p99 ns", "drops", "guest c/p", "hv c/p",
              "exits/p", "irqs/p", "iotlb hit", "iotlb mis");
  for (const auto& m : labels) {
    const Result& x = r[m];
    std::printf("%-18s %8.2f %8.2f %9.0f %9.0f %7.0f %10.0f %10.0f %8.3f %8.3f %9.0f %9.0f\n",
                m.c_str(), x.gbps, x.vm_min_gbps, x.p50, x.p99, x.drops, x.guest_cpp, x.hv_cpp,
                x.exits, x.interrupts, x.iotlb_hits, x.iotlb_misses);
    const std::string k = (direction == "rx" ? "" : "tx ") + m + " ";
    report.measure(k + "throughput gbps", x.gbps);
    report.measure(k + "slowest vm gbps", x.vm_min_gbps);
    report.measure(k + "latency p50 ns", x.p50);
    report.measure(k + "guest cycles per packet", x.guest_cpp);
    report.measure(k + "hv cycles per packet", x.hv_cpp);
    report.measure(k + "exits per packet", x.exits);
  }
}

// The ordering every direction must show.
void check_ordering(tb::Report& report, const std::string& direction,
                    std::map<std::string, Result>& r) {
  const Result &em = r["emulated"], &pv = r["paravirtual"], &mq = r["mq"], &sr = r["sriov"];
  const std::string d = direction == "rx" ? "" : "TX ";
  report.section(d + "throughput (Gb/s): sriov highest, emulated lowest");
  report.at_least("sriov vs paravirtual", "Gb/s", pv.gbps * 0.99, sr.gbps);
  report.at_least("sriov vs mq", "Gb/s", mq.gbps * 0.99, sr.gbps);
  report.at_most("emulated vs paravirtual", "Gb/s", pv.gbps, em.gbps);
  report.at_most("emulated vs mq", "Gb/s", mq.gbps, em.gbps);
  report.at_least("sriov delivers the offered load", "Gb/s", kGuests * 4 * 0.9, sr.gbps);

  report.section(d + "hypervisor cycles per packet: sriov lowest, emulated highest");
  report.at_most("sriov vs mq", "cycles", mq.hv_cpp, sr.hv_cpp);
  report.at_most("sriov vs paravirtual", "cycles", pv.hv_cpp, sr.hv_cpp);
  report.at_least("emulated vs paravirtual", "cycles", pv.hv_cpp, em.hv_cpp);
  report.at_least("emulated vs mq", "cycles", mq.hv_cpp, em.hv_cpp);
  report.at_least("paravirtual (copies) vs mq (validates)", "cycles", mq.hv_cpp, pv.hv_cpp);

  report.section(d + "latency p50 (ns): sriov lowest, emulated highest");
  report.at_most("sriov vs paravirtual", "ns", pv.p50, sr.p50);
  report.at_most("sriov vs mq", "ns", mq.p50, sr.p50);
  report.at_least("emulated vs paravirtual", "ns", pv.p50, em.p50);

  report.section(d + "exits per packet");
  report.at_most("sriov", "exits", 0, sr.exits);
  report.at_least("emulated vs paravirtual", "exits", pv.exits, em.exits);
}

int run(const tb::Options& options) {
  tb::Report report("tb_io_modes", options);
  const std::string packets = options.quick ? "500" : "2000";
  const std::vector<std::string> modes = {"emulated", "paravirtual", "mq", "sriov"};

  std::map<std::string, Result> rx;
  for (const auto& m : modes) rx[m] = measure(report, m, m, "rx", packets);
  print_table(report, "rx", modes, rx);

  std::map<std::string, Result> tx;
  for (const auto& m : modes) tx[m] = measure(report, m, m, "tx", packets);
  tx["paravirtual+grant"] = measure(report, "paravirtual_grant", "paravirtual", "tx", packets,
                                    {{"io.paravirtual.buffers", "grant"}});
  std::vector<std::string> tx_rows = modes;
  tx_rows.insert(tx_rows.begin() + 2, "paravirtual+grant");
  print_table(report, "tx", tx_rows, tx);
  std::printf("\n");

  check_ordering(report, "rx", rx);
  check_ordering(report, "tx", tx);
  // Grant mapping trades the copy (200 ns at 1500 B) for a map and unmap (750 ns): the backend's
  // core then needs about 1.2 us a packet and cannot keep up with 16 Gb/s (about 1.33 Mpps),
  // where copying (about 0.7 us) can. (Its cycles per packet are no higher: a saturated backend
  // never empties a guest's ring, so guests stop kicking it.)
  report.section("TX paravirtual at 1500 B: grant-mapped buffers saturate the backend");
  report.at_most("grant vs copy", "Gb/s", tx["paravirtual"].gbps * 0.9,
                 tx["paravirtual+grant"].gbps);
  return report.finish();
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  const auto options = tb::parse_options(
      argc, argv, "tb_io_modes",
      "the four nic.mode I/O-virtualization modes on one workload: ordering and a table");
  return tb::guarded("tb_io_modes", [&] { return run(options); });
}

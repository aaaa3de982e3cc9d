#include "summary.hpp"

#include <cstdio>
#include <sstream>
#include <string>

#include <iovsim/platforms/progress.hpp>

namespace iovsim::cli {

namespace {

double stat(const platforms::RunResult& r, const std::string& name) {
  auto it = r.stats.find(name);
  if (it == r.stats.end()) return 0;
  return std::visit([](auto v) { return static_cast<double>(v); }, it->second);
}

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

void row(std::ostream& os, const std::string& label, const std::string& value) {
  std::string padded = label;
  padded.resize(22, ' ');
  os << "  " << padded << value << "\n";
}

}  // namespace

namespace {
std::string hex4(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04x", v);
  return buf;
}

// The nic workload: one line per function that moved packets.
void print_functions(std::ostream& os, const platforms::RunResult& r) {
  if (!r.stats.count("nic.dma_requests")) return;
  const double sim_s = r.run["sim_time_ns"].get<double>() / 1e9;
  os << "  per function            rx pkts    drops   tx pkts    Gb/s  lat p50/p99 ns   IOTLB hit"
        "   irqs/s  irq p50 ns\n";
  for (int i = -1;; ++i) {
    const std::string f = i < 0 ? "pf" : "vf" + std::to_string(i);
    const std::string n = "nic." + f + ".";
    if (!r.stats.count(n + "rx_packets")) {
      if (i < 0) continue;
      break;
    }
    if (stat(r, n + "rx_packets") + stat(r, n + "tx_packets") + stat(r, n + "rx_drops") == 0)
      continue;
    const std::string rid = "iommu.by_rid." + hex4(static_cast<unsigned>(stat(r, n + "rid"))) + ".";
    const double hits = stat(r, rid + "iotlb_hits"), misses = stat(r, rid + "iotlb_misses");
    const std::string lat = (i < 0 ? "host." : "guest.") + f + ".latency_ns";
    const std::string irq = "irq.rid." + hex4(static_cast<unsigned>(stat(r, n + "rid"))) + ".";
    char line[200];
    std::snprintf(
        line, sizeof line,
        "    %-6s %04x  %10.0f %8.0f %9.0f %7.2f  %6.0f / %-6.0f  %8s %8.0f %10.0f\n", f.c_str(),
        static_cast<unsigned>(stat(r, n + "rid")), stat(r, n + "rx_packets"),
        stat(r, n + "rx_drops") + stat(r, n + "rx_error_drops"), stat(r, n + "tx_packets"),
        stat(r, n + "throughput_gbps"), stat(r, lat + ".p50"), stat(r, lat + ".p99"),
        hits + misses > 0 ? format("%.1f%%", 100 * hits / (hits + misses)).c_str() : "-",
        sim_s > 0 ? stat(r, n + "interrupts") / sim_s : 0.0, stat(r, irq + "latency_ns.p50"));
    os << line;
  }
}
}  // namespace

void print_summary(std::ostream& os, const platforms::RunResult& r) {
  const std::string h = "workload.latency_ns";
  os << "iovsim " << r.run["version"].get<std::string>() << "  (seed "
     << r.run["seed"].get<uint64_t>() << ")\n";
  os << "  platform   " << r.platform_text << "\n";
  os << "  workload   " << r.workload_text << "\n";
  if (!r.devices_text.empty()) {
    os << "  devices\n";
    std::istringstream lines(r.devices_text);
    for (std::string line; std::getline(lines, line);) os << "    " << line << "\n";
  }
  os << "\n";
  row(os, "transactions",
      format("%.0f", stat(r, "workload.transactions")) +
          (stat(r, "workload.errors") > 0
               ? format("  (%.0f completed with errors)", stat(r, "workload.errors"))
               : std::string()));
  if (stat(r, "workload.bme_blocked") > 0)
    row(os, "not issued",
        format("%.0f requests: the endpoint's Bus Master Enable was clear",
               stat(r, "workload.bme_blocked")));
  if (stat(r, "workload.late") > 0)
    row(os, "late",
        format("%.0f", stat(r, "workload.late")) +
            " requests issued after their trace time: no free slot or tag");
  row(os, "throughput", format("%.2f Gb/s", stat(r, "workload.throughput_gbps")));
  row(os, "latency",
      "p50 " + format("%.0f", stat(r, h + ".p50")) + "  p90 " +
          format("%.0f", stat(r, h + ".p90")) + "  p99 " + format("%.0f", stat(r, h + ".p99")) +
          "  max " + format("%.0f", stat(r, h + ".max")) + " ns  (mean " +
          format("%.1f", stat(r, h + ".mean")) + ")");
  if (r.stats.count("iommu.iotlb.hits")) {
    const double hits = stat(r, "iommu.iotlb.hits"), misses = stat(r, "iommu.iotlb.misses");
    row(os, "IOTLB",
        format("hit rate %.1f%%", 100 * stat(r, "iommu.iotlb.hit_rate")) +
            format("  (%.0f hits, ", hits) + format("%.0f misses)", misses));
    row(os, "page walks",
        format("%.0f", stat(r, "iommu.walks")) +
            format("  (%.0f coalesced misses, ", stat(r, "iommu.coalesced_misses")) +
            format("%.0f memory reads)", stat(r, "iommu.walk_mem_reads")));
    const std::string t = "iommu.translation_latency_ns";
    row(os, "translation latency",
        "p50 " + format("%.0f", stat(r, t + ".p50")) + "  p90 " +
            format("%.0f", stat(r, t + ".p90")) + "  p99 " + format("%.0f", stat(r, t + ".p99")) +
            " ns  (mean " + format("%.1f", stat(r, t + ".mean")) + ")");
    if (stat(r, "iommu.faults") > 0)
      row(os, "IOMMU faults", format("%.0f", stat(r, "iommu.faults")));
  }
  if (stat(r, "irq.delivered") > 0 || stat(r, "workload.interrupts") > 0) {
    const std::string l = "irq.latency_ns";
    row(os, "interrupts",
        format("%.0f delivered", stat(r, "irq.delivered")) +
            (r.stats.count("workload.interrupts")
                 ? format(" of %.0f sent", stat(r, "workload.interrupts"))
                 : std::string()) +
            ", latency p50 " + format("%.0f", stat(r, l + ".p50")) + "  p90 " +
            format("%.0f", stat(r, l + ".p90")) + "  p99 " + format("%.0f", stat(r, l + ".p99")) +
            " ns");
  }
  print_functions(os, r);
  row(os, "link utilization",
      format("up %.1f%%", 100 * stat(r, "link.up_utilization")) +
          format("  down %.1f%%", 100 * stat(r, "link.down_utilization")));
  if (r.run.contains("timeline")) {
    const auto& t = r.run["timeline"];
    const double dropped = t["dropped_events"].get<double>();
    row(os, "timeline",
        format("%.0f events in ", t["events"].get<double>()) + t["file"].get<std::string>() +
            (dropped > 0 ? format("  (truncated: %.0f dropped)", dropped) : std::string()));
  }
  row(os, "simulated time", platforms::human_time_ns(r.run["sim_time_ns"].get<double>()));
  const double wall = r.run["wall_s"].get<double>();
  row(os, "wall time",
      format("%.3f s", wall) +
          format("  (%.2f M requests/s)", r.run["requests_per_wall_s"].get<double>() / 1e6));
}

namespace {
std::string constraint_text(const core::ParamInfo& p) {
  std::string s;
  if (!p.choices.empty()) {
    for (std::size_t i = 0; i < p.choices.size(); ++i) s += (i ? "|" : "") + p.choices[i];
  } else if (!p.allowed_ints.empty()) {
    for (std::size_t i = 0; i < p.allowed_ints.size(); ++i)
      s += (i ? "|" : "") + std::to_string(p.allowed_ints[i]);
  } else if (p.range.min || p.range.max) {
    s = (p.range.min ? core::format_value(*p.range.min) : std::string("")) + ".." +
        (p.range.max ? core::format_value(*p.range.max) : std::string(""));
  }
  return s;
}
}  // namespace

void print_params(std::ostream& os, const core::Config& config) {
  std::size_t width = 4;
  for (const core::ParamInfo* p : config.registry().all()) width = std::max(width, p->name.size());
  for (const core::ParamInfo* p : config.registry().all()) {
    std::string name = p->name;
    name.resize(width + 2, ' ');
    std::string type = core::to_string(p->type);
    std::string c = constraint_text(*p);
    if (!c.empty()) type += " " + c;
    os << name << type << "\n";
    std::string value = core::format_value(config.value(p->name));
    os << std::string(width + 2, ' ') << "= " << value;
    if (config.is_set(p->name)) os << "   (default " << core::format_value(p->default_value) << ")";
    os << "\n" << std::string(width + 2, ' ') << p->description << "\n";
  }
}

void print_params_markdown(std::ostream& os, const core::Config& config) {
  os << "# Parameter reference\n\n"
     << "Generated by `iovsim params --markdown` from the declarations in the code; do not edit by "
        "hand.\n"
     << "Set them in a JSON configuration file (nested or dotted keys) or with `--set "
        "NAME=VALUE`.\n"
     << "Integers accept `4096`, `0x1000`, `4K`, `2M`, `1G`; booleans `true/false/1/0`.\n\n"
     << "| name | type | default | accepted | description |\n|---|---|---|---|---|\n";
  for (const core::ParamInfo* p : config.registry().all()) {
    std::string c = constraint_text(*p);
    for (auto& ch : c)
      if (ch == '|') ch = ',';
    std::string def = core::format_value(p->default_value);
    os << "| `" << p->name << "` | " << core::to_string(p->type) << " | `"
       << (def.empty() ? "\"\"" : def) << "` | " << c << " | " << p->description << " |\n";
  }
}

}  // namespace iovsim::cli

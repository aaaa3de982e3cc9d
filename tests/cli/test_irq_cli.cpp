// End-to-end interrupts: the endpoint raises MSI-X every N requests; the driver programs the vector
// (remappable through an IRTE with interrupt remapping, compatibility format without); the latency
// splits into stages that add up to the hand-computed sum of the configured latencies.
#include <cmath>

#include <catch2/catch.hpp>

#include "run_command.hpp"

using iovsim::test::read_json;
using iovsim::test::run_iovsim;
using iovsim::test::scratch_dir;
using nlohmann::json;

namespace {
json run_stats(const std::string& args, const std::string& tag) {
  return iovsim::test::run_for_stats(args, "irq_" + tag)["stats"];
}
double d(const json& s, const std::string& k) {
  return s[k].get<double>();
}

// An MSI is a 4-byte MWr to 0xFEEx_xxxx: 32-bit address, 20 B + 4 B on the Gen3 x8 MPS 256 link.
const double kTlpGbps = 8.0 * 128.0 / 130.0 * 8.0 * (1.0 - 16.0 / 203 - 4.0 / 1538);
double ser_ns(double bytes) {
  return std::llround(bytes * 8000.0 / kTlpGbps) / 1000.0;
}
const std::string kFixed =
    "--set workload.msi_every=100 --set workload.requests=10000 --set workload.outstanding=1 "
    "--set pcie.latency_ns=100 --set rc.latency_ns=20 --set cpu.irq_dispatch_ns=100 "
    "--set iommu.clock_mhz=1000 --set iommu.ir.decode_cycles=2 --set iommu.ir.iec.hit_cycles=2 ";
}  // namespace

TEST_CASE("interrupt latency with remapping: fabric + remap + dispatch, stage by stage") {
  json s = run_stats(kFixed + "--set iommu.enabled=true --set iommu.ir.enabled=true", "ir");
  const double fabric = ser_ns(24) + 100 + 20;  // link serialization + traversal, root complex
  const double remap = 2 + 2;  // decode + IEC hit cycles at 1 GHz (the first one misses)
  CHECK(s["irq.delivered"].get<uint64_t>() == 100);
  CHECK(s["workload.interrupts"].get<uint64_t>() == 100);
  CHECK(s["iommu.ir.remapped"].get<uint64_t>() == 100);
  CHECK(s["iommu.ir.iec.misses"].get<uint64_t>() == 1);
  CHECK(d(s, "irq.stage.fabric_ns.p50") == Approx(fabric).margin(0.5));
  CHECK(d(s, "irq.stage.remap_ns.p50") == Approx(remap).margin(0.5));
  CHECK(d(s, "irq.stage.dispatch_ns.p50") == Approx(100).margin(0.5));
  CHECK(d(s, "irq.latency_ns.p50") == Approx(fabric + remap + 100).margin(1));
  CHECK(d(s, "irq.latency_ns.min") == Approx(fabric + remap + 100).epsilon(1e-6));
  CHECK(s["irq.vector.0x41.count"].get<uint64_t>() == 100);
  CHECK(s["irq.unexpected"].get<uint64_t>() == 0);
}

TEST_CASE("interrupt latency without remapping has no remap stage") {
  json s = run_stats(kFixed, "noir");
  const double fabric = ser_ns(24) + 100 + 20;
  CHECK(s["irq.delivered"].get<uint64_t>() == 100);
  CHECK(d(s, "irq.latency_ns.min") == Approx(fabric + 100).epsilon(1e-6));
  CHECK(d(s, "irq.stage.remap_ns.max") == 0);
}

TEST_CASE("interrupt remapping needs the IOMMU and queued invalidation") {
  CHECK(run_iovsim("--set iommu.ir.enabled=true", "ir_noiommu").status == 2);
  CHECK(
      run_iovsim(
          "--set iommu.enabled=true --set iommu.ir.enabled=true --set driver.invalidation=register",
          "ir_reg")
          .status == 2);
}

TEST_CASE("interrupts at a rate: one per interval of device time") {
  // 10000 back-to-back requests of ~315 ns each (one outstanding) take ~3.15 ms: with an interval
  // of 100 us, 31 interrupts (the first at the first completion after 100 us).
  json s = run_stats(
      "--set workload.msi_interval_ns=100000 --set workload.requests=10000 "
      "--set workload.outstanding=1",
      "rate");
  const double span_ns = d(s, "workload.measured_ns");
  const uint64_t expected = static_cast<uint64_t>(span_ns / 100000);
  CHECK(s["irq.delivered"].get<uint64_t>() >= expected - 1);
  CHECK(s["irq.delivered"].get<uint64_t>() <= expected);
}

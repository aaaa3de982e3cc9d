// DMA-mapping policies on the PF's host queue (nic.host_queue): strict invalidates once per unmap,
// deferred batches, and strict costs the driver more for the same traffic, measured end to end
// through the iovsim command (one process per configuration).
#include <catch2/catch.hpp>

#include "../support/run_command.hpp"

using iovsim::test::run_for_stats;

namespace {
const std::string kHostQueue =
    "--set workload.kind=nic --set nic.vfs=0 --set nic.host_queue=true --set iommu.enabled=true "
    "--set nic.packets=3000 --set nic.packet_bytes=64 ";

double s(const nlohmann::json& j, const std::string& name) {
  REQUIRE(j["stats"].contains(name));
  return j["stats"][name].get<double>();
}
}  // namespace

TEST_CASE("Strict issues one invalidation per unmap and deferred batches them by 256") {
  const auto strict =
      run_for_stats(kHostQueue + "--set nic.rx_pps=200000 --set dma_map.policy=strict", "strict");
  const auto deferred = run_for_stats(
      kHostQueue + "--set nic.rx_pps=200000 --set dma_map.policy=deferred", "deferred");
  // Every packet received and its buffer unmapped once; the ring's own mapping stays.
  CHECK(s(strict, "host.pf.rx_packets") == 3000);
  CHECK(s(strict, "host.dma_map.unmaps") == 3000);
  CHECK(s(strict, "host.dma_map.invalidations") == 3000);
  CHECK(s(deferred, "host.pf.rx_packets") == 3000);
  CHECK(s(deferred, "host.dma_map.unmaps") == 3000);
  // 3000 unmaps: 11 full flush queues of 256; the last 184 wait for the 10 ms timeout (flushed if
  // the run lasts that long, counted either way).
  CHECK(s(deferred, "host.dma_map.flushes_full") == 3000 / 256);
  CHECK(s(deferred, "host.dma_map.invalidations") == s(deferred, "host.dma_map.flushes"));
  CHECK(s(deferred, "host.dma_map.flushed_entries") ==
        256 * s(deferred, "host.dma_map.flushes_full") +
            (s(deferred, "host.dma_map.flushes") - s(deferred, "host.dma_map.flushes_full")) *
                (3000 % 256));
  // Here the run ends before that timeout: 3000 packets at 0.2 Mpps arrive over 15 ms and the run
  // stops workload.idle_us (1 ms) after the last, when the last 184 unmaps have waited less than
  // dma_map.flush_timeout_us (10 ms). So only the 11 full queues are flushed.
  CHECK(s(deferred, "host.dma_map.flushes_timeout") == 0);
  CHECK(s(deferred, "host.dma_map.flushes") == 3000 / 256);
  // The IOMMU saw them: strict's invalidations are page-selective, one per unmap; deferred's
  // flushes domain-selective, one each.
  CHECK(s(strict, "iommu.invalidations.iotlb_page") == 3000);
  CHECK(s(deferred, "iommu.invalidations.iotlb_domain") == 3000 / 256);
  CHECK(s(strict, "iommu.faults") == 0);
  CHECK(s(deferred, "iommu.faults") == 0);
}

TEST_CASE("Strict is slower than deferred for the same traffic") {
  // 2 Mpps of 64 B packets: more than a strict driver can repost (each unmap waits for an IOTLB
  // invalidation), within what a deferred one can.
  const auto strict =
      run_for_stats(kHostQueue + "--set nic.rx_pps=2000000 --set dma_map.policy=strict", "strict2");
  const auto deferred = run_for_stats(
      kHostQueue + "--set nic.rx_pps=2000000 --set dma_map.policy=deferred", "deferred2");
  const double strict_cpu = s(strict, "host.pf.cpu_ns") / s(strict, "host.pf.rx_packets");
  const double deferred_cpu = s(deferred, "host.pf.cpu_ns") / s(deferred, "host.pf.rx_packets");
  INFO("CPU ns per packet: strict " << strict_cpu << ", deferred " << deferred_cpu);
  // Per packet, strict pays dma_map.invalidation_ns (500) that deferred pays once per 256 unmaps;
  // boot's mapping of the ring's buffers, shared by fewer packets in strict (it drops some), makes
  // up the difference to at least 500.
  CHECK(strict_cpu - deferred_cpu >= 500);
  // And it loses packets the deferred driver keeps up with.
  CHECK(s(strict, "nic.pf.rx_drops") > 0);
  CHECK(s(deferred, "nic.pf.rx_drops") < s(strict, "nic.pf.rx_drops"));
  CHECK(s(strict, "workload.throughput_gbps") < s(deferred, "workload.throughput_gbps"));
}

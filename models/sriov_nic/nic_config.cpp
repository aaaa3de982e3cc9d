#include "nic_config.hpp"

#include <sstream>

#include <iovsim/pcie/link.hpp>

namespace iovsim::sriov_nic {

namespace {
const core::IntParam kVfs{"nic.vfs", 4, "SR-IOV virtual functions enabled (nic workload)",
                          core::Range{0, 256}};
const core::IntParam kTotalVfs{"nic.total_vfs", 64,
                               "The PF's SR-IOV TotalVFs (VFs the device can provide)",
                               core::Range{1, 256}};
const core::IntParam kFirstVfOffset{
    "nic.first_vf_offset", 0x80,
    "SR-IOV First VF Offset: VF 0's routing id = PF's + this (Intel 82599: 0x80)",
    core::Range{1, 0xFFFF}};
const core::IntParam kVfStride{"nic.vf_stride", 2,
                               "SR-IOV VF Stride between VF routing ids (Intel 82599: 2)",
                               core::Range{1, 0xFFFF}};
const core::IntParam kRing{"nic.ring_entries", 256, "Descriptors per RX and per TX ring",
                           core::Range{8, 65536}};
const core::IntParam kBuffer{"nic.buffer_bytes", 2048, "Bytes per RX buffer",
                             core::Range{64, 65535}};
const core::IntParam kBatch{"nic.desc_batch", 8, "Descriptors fetched by one DMA read",
                            core::Range{1, 256}};
const core::IntParam kOutstanding{"nic.dma_outstanding", 64,
                                  "DMA requests the NIC's engine keeps in flight (all functions)",
                                  core::Range{1, 4096}};
const core::StringParam kWeights{
    "nic.weights", "",
    "Arbitration weights, comma-separated: PF, then VF 0, VF 1, ... (missing ones weigh 1; "
    "empty = plain round-robin)"};
const core::RealParam kProcessing{"nic.processing_ns", 20,
                                  "The engine's own time per descriptor (parse, schedule) (ns)",
                                  core::Range{0, 1e6}};
const core::RealParam kRxGbps{"nic.rx_gbps", 1,
                              "Offered RX load per VF (Gb/s of packet bytes; ignored when "
                              "nic.rx_pps > 0)",
                              core::Range{0, 1000}};
const core::RealParam kRxPps{
    "nic.rx_pps", 0, "Offered RX packets per second per VF (0: use rx_gbps)", core::Range{0, 1e10}};
const core::IntParam kPacket{"nic.packet_bytes", 1500,
                             "Packet size (fixed), or the largest (uniform, imix)",
                             core::Range{64, 65535}};
const core::EnumParam kSizes{"nic.packet_sizes",
                             "fixed",
                             "Packet size distribution: fixed, uniform (64..packet_bytes), imix "
                             "(7:4:1 of 64, 576 and packet_bytes)",
                             {"fixed", "uniform", "imix"}};
const core::EnumParam kArrivals{
    "nic.arrivals", "poisson", "RX arrival process: poisson or constant", {"poisson", "constant"}};
const core::RealParam kLine{"nic.line_gbps", 100, "The port's line rate (Gb/s): paces TX",
                            core::Range{0.001, 10000}};
const core::EnumParam kDirection{"nic.direction",
                                 "rx",
                                 "Traffic direction: rx (wire to guests), tx, or both",
                                 {"rx", "tx", "both"}};
const core::IntParam kPackets{"nic.packets", 2000, "Packets per VF and direction",
                              core::Range{1, 1e12}};
const core::RealParam kItr{"nic.irq_interval_ns", 10000,
                           "Interrupt moderation: minimum interval between a queue's interrupts "
                           "(ns; 0 = none)",
                           core::Range{0, 1e9}};
const core::IntParam kItrPackets{"nic.irq_packets", 32,
                                 "Interrupt moderation: completed packets that raise an "
                                 "interrupt at once",
                                 core::Range{1, 65536}};
const core::BoolParam kAts{"nic.ats", false,
                           "Address Translation Services: the NIC caches translations and sends "
                           "translated requests (needs iommu.ecap.dt)"};
const core::IntParam kAtcEntries{"nic.atc.entries", 64,
                                 "Device-side translation cache entries per function",
                                 core::Range{1, 65536}};
const core::EnumParam kAtcPolicy{
    "nic.atc.policy", "lru", "Device-side translation cache replacement", {"lru", "fifo"}};
}  // namespace

NicConfig NicConfig::from(const core::Config& c) {
  NicConfig n;
  n.vfs = static_cast<unsigned>(kVfs.get(c));
  n.total_vfs = static_cast<unsigned>(kTotalVfs.get(c));
  n.first_vf_offset = static_cast<uint16_t>(kFirstVfOffset.get(c));
  n.vf_stride = static_cast<uint16_t>(kVfStride.get(c));
  n.ring_entries = static_cast<unsigned>(kRing.get(c));
  n.buffer_bytes = static_cast<uint32_t>(kBuffer.get(c));
  n.desc_batch = static_cast<unsigned>(kBatch.get(c));
  n.dma_outstanding = static_cast<unsigned>(kOutstanding.get(c));
  n.tags = pcie::tags(c);
  n.processing_ns = kProcessing.get(c);
  n.rx_gbps = kRxGbps.get(c);
  n.rx_pps = kRxPps.get(c);
  n.packet_bytes = static_cast<uint32_t>(kPacket.get(c));
  n.sizes = static_cast<SizeDistribution>(kSizes.index(c));
  n.arrivals = static_cast<Arrivals>(kArrivals.index(c));
  n.line_gbps = kLine.get(c);
  n.direction = static_cast<Direction>(kDirection.index(c));
  n.packets = static_cast<uint64_t>(kPackets.get(c));
  n.irq_interval_ns = kItr.get(c);
  n.irq_packets = static_cast<unsigned>(kItrPackets.get(c));
  n.ats = kAts.get(c);
  n.atc_entries = static_cast<unsigned>(kAtcEntries.get(c));
  n.atc_policy = kAtcPolicy.get(c);

  std::istringstream ws(kWeights.get(c));
  for (std::string item; std::getline(ws, item, ',');) {
    try {
      std::size_t used = 0;
      const long w = std::stol(item, &used);
      if (used != item.size() || w < 1 || w > 1000) throw std::invalid_argument(item);
      n.weights.push_back(static_cast<unsigned>(w));
    } catch (const std::exception&) {
      throw core::ConfigError("nic.weights: '" + item +
                              "' is not a weight (an integer 1..1000; the list is PF, VF 0, ...)");
    }
  }
  if (n.vfs > n.total_vfs)
    throw core::ConfigError("nic.vfs = " + std::to_string(n.vfs) +
                            " exceeds nic.total_vfs = " + std::to_string(n.total_vfs));
  if (uint32_t{n.first_vf_offset} + uint32_t{n.vf_stride} * (n.total_vfs - 1) > 0xFF00)
    throw core::ConfigError(
        "nic.first_vf_offset + nic.vf_stride * (nic.total_vfs - 1) leaves the bus range a root "
        "port can give the VFs");
  if (n.packet_bytes > n.buffer_bytes && n.rx())
    throw core::ConfigError(
        "nic.packet_bytes = " + std::to_string(n.packet_bytes) +
        " does not fit an RX buffer (nic.buffer_bytes = " + std::to_string(n.buffer_bytes) + ")");
  if (n.rx() && n.rx_gbps <= 0 && n.rx_pps <= 0)
    throw core::ConfigError("nic.rx_gbps and nic.rx_pps are both 0: no RX traffic");
  return n;
}

double NicConfig::mean_packet_bytes() const {
  switch (sizes) {
    case SizeDistribution::kFixed:
      return packet_bytes;
    case SizeDistribution::kUniform:
      return (64.0 + packet_bytes) / 2;
    case SizeDistribution::kImix:
      return (7 * 64.0 + 4 * 576.0 + packet_bytes) / 12;
  }
  return packet_bytes;
}

}  // namespace iovsim::sriov_nic

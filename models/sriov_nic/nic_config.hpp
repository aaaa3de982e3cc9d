// The SR-IOV NIC's configuration (parameters nic.*), read once at elaboration.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <iovsim/core/params.hpp>

namespace iovsim::sriov_nic {

enum class Direction { kRx, kTx, kBoth };
enum class SizeDistribution { kFixed, kUniform, kImix };
enum class Arrivals { kConstant, kPoisson };

struct NicConfig {
  uint16_t pf_rid = 0x0100;  // set by the platform: where the PF sits
  unsigned vfs = 4;          // VFs the driver enables (nic.vfs)
  unsigned total_vfs = 64;   // the SR-IOV capability's TotalVFs
  uint16_t first_vf_offset = 0x80, vf_stride = 2;
  unsigned ring_entries = 256;
  uint32_t buffer_bytes = 2048;
  unsigned desc_batch = 8;        // descriptors fetched per read
  unsigned dma_outstanding = 64;  // DMA requests the engine keeps in flight
  unsigned tags = 32;             // of which reads (non-posted; pcie.tags)
  // Arbitration weights by function: [0] PF, [1 + i] VF i; missing entries weigh 1.
  std::vector<unsigned> weights;
  double processing_ns = 20;  // the engine's own time per descriptor (parse, schedule)
  // RX traffic per VF from the wire.
  double rx_gbps = 1;  // offered load per VF (Gb/s of packet bytes); ignored when rx_pps > 0
  double rx_pps = 0;
  uint32_t packet_bytes = 1500;
  SizeDistribution sizes = SizeDistribution::kFixed;
  Arrivals arrivals = Arrivals::kPoisson;
  double line_gbps = 100;  // the port's line rate: paces TX, bounds RX
  Direction direction = Direction::kRx;
  uint64_t packets = 2000;  // per VF and direction
  // Interrupt moderation defaults (drivers may reprogram them per function).
  double irq_interval_ns = 10000;
  unsigned irq_packets = 32;
  // ATS.
  bool ats = false;
  unsigned atc_entries = 64;
  std::string atc_policy = "lru";
  uint64_t seed = 1;

  // Reads nic.* and pcie.tags (not seed, not pf_rid). Throws core::ConfigError for an impossible
  // combination.
  static NicConfig from(const core::Config& config);
  unsigned weight(unsigned function) const {
    return function < weights.size() ? weights[function] : 1;
  }
  // Mean packet size of the size distribution (bytes).
  double mean_packet_bytes() const;
  bool rx() const { return direction != Direction::kTx; }
  bool tx() const { return direction != Direction::kRx; }
};

}  // namespace iovsim::sriov_nic

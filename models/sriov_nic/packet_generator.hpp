// The wire side of one VF's RX traffic: packet arrival times and sizes, deterministic for a seed.
// Constant arrivals are evenly spaced at the offered rate; Poisson arrivals have exponential gaps
// with the same mean. Plain C++.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "nic_config.hpp"

namespace iovsim::sriov_nic {

class PacketGenerator {
 public:
  PacketGenerator(const NicConfig& config, unsigned stream);

  struct Packet {
    uint64_t seq = 0;
    uint64_t time_ps = 0;  // arrival, from the generator's start
    uint32_t bytes = 0;
  };
  // The next packet (arrival times never decrease).
  Packet next();
  // Mean gap between arrivals (ps).
  double mean_gap_ps() const { return mean_gap_ps_; }

 private:
  uint32_t next_size();
  double uniform();  // [0, 1), 53 bits: the same on every standard library

  const NicConfig& config_;
  std::mt19937_64 rng_;
  double mean_gap_ps_ = 0;
  double t_ps_ = 0;
  uint64_t seq_ = 0;
};

// The payload of packet `seq` of `stream`: a 24-byte header (little-endian: stream 4 bytes, seq 8,
// length 4, the sender's timestamp in ps 8, as pktgen-style generators stamp packets) then bytes
// derived from (stream, seq), so a receiver can check that every packet arrived exactly once and
// intact and measure its latency. Packets are at least 64 bytes.
constexpr uint32_t kPayloadHeaderBytes = 24;
void fill_payload(uint8_t* data, uint32_t bytes, uint32_t stream, uint64_t seq, uint64_t time_ps);

struct PayloadHeader {
  uint32_t stream = 0;
  uint64_t seq = 0;
  uint32_t bytes = 0;
  uint64_t time_ps = 0;
};
// The header of a `len`-byte packet that is exactly what fill_payload makes of its own header
// (the header's length equal to len); nothing for anything else. Receivers and the wire check use
// it; `scratch` holds the regenerated payload and grows as needed.
// A receiver's in-order check of one stream: `next` is the sequence number it expects, every
// `step`-th packet being its own. Nothing for a duplicate (behind `next`); otherwise the packets
// skipped before `seq`, and `next` moves past it.
inline std::optional<uint64_t> advance_sequence(uint64_t& next, uint64_t seq, uint64_t step = 1) {
  if (seq < next) return std::nullopt;
  const uint64_t skipped = (seq - next) / step;
  next = seq + step;
  return skipped;
}

std::optional<PayloadHeader> check_payload(const uint8_t* data, uint32_t len,
                                           std::vector<uint8_t>& scratch);

}  // namespace iovsim::sriov_nic

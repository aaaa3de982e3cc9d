#include "packet_generator.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::sriov_nic {

PacketGenerator::PacketGenerator(const NicConfig& config, unsigned stream)
    : config_(config), rng_(config.seed * 0x9E3779B97F4A7C15ull + stream + 1) {
  const double pps =
      config.rx_pps > 0 ? config.rx_pps : config.rx_gbps * 1e9 / (8 * config.mean_packet_bytes());
  mean_gap_ps_ = 1e12 / pps;
}

double PacketGenerator::uniform() {
  return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
}

uint32_t PacketGenerator::next_size() {
  const uint32_t max = config_.packet_bytes;
  switch (config_.sizes) {
    case SizeDistribution::kFixed:
      return max;
    case SizeDistribution::kUniform:
      return 64 + static_cast<uint32_t>(rng_() % (max - 64 + 1));
    case SizeDistribution::kImix: {
      const uint64_t r = rng_() % 12;  // 7 : 4 : 1
      return r < 7 ? 64 : r < 11 ? std::min<uint32_t>(576, max) : max;
    }
  }
  return max;
}

PacketGenerator::Packet PacketGenerator::next() {
  Packet p;
  p.seq = seq_++;
  p.bytes = next_size();
  const double gap = config_.arrivals == Arrivals::kConstant
                         ? mean_gap_ps_
                         : -std::log(1 - uniform()) * mean_gap_ps_;
  p.time_ps = static_cast<uint64_t>(std::llround(t_ps_));
  t_ps_ += gap;
  return p;
}

void fill_payload(uint8_t* data, uint32_t bytes, uint32_t stream, uint64_t seq, uint64_t time_ps) {
  uint8_t header[kPayloadHeaderBytes];
  core::store_le(header, stream);
  core::store_le(header + 4, seq);
  core::store_le(header + 12, bytes);
  core::store_le(header + 16, time_ps);
  std::memcpy(data, header, std::min<uint32_t>(bytes, kPayloadHeaderBytes));
  // The body: a xorshift64 stream seeded by (stream, seq), eight bytes per step.
  uint64_t x = (uint64_t{stream} << 40) ^ (seq * 0x2545F4914F6CDD1Dull) ^ 0x5DEECE66Dull;
  uint8_t word[8];
  for (uint32_t i = kPayloadHeaderBytes; i < bytes; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    core::store_le(word, x);
    std::memcpy(data + i, word, std::min<uint32_t>(8, bytes - i));
  }
}

std::optional<PayloadHeader> check_payload(const uint8_t* data, uint32_t len,
                                           std::vector<uint8_t>& scratch) {
  if (len < kPayloadHeaderBytes) return std::nullopt;
  PayloadHeader h;
  h.stream = core::load_le<uint32_t>(data);
  h.seq = core::load_le<uint64_t>(data + 4);
  h.bytes = core::load_le<uint32_t>(data + 12);
  h.time_ps = core::load_le<uint64_t>(data + 16);
  if (h.bytes != len) return std::nullopt;
  if (scratch.size() < len) scratch.resize(len);
  fill_payload(scratch.data(), len, h.stream, h.seq, h.time_ps);
  if (std::memcmp(scratch.data(), data, len) != 0) return std::nullopt;
  return h;
}

}  // namespace iovsim::sriov_nic

// The TX side's check of what leaves on the wire: each packet's payload must be the one its own
// header describes (fill_payload), and per stream the packets must leave once each, in sequence.
// Keyed by the payload's stream, not by the function: a function may transmit for several guests,
// each with its own stream (the PF in the non-SR-IOV I/O modes). Plain C++.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include <iovsim/core/stats.hpp>

namespace iovsim::sriov_nic {

class WireCheck {
 public:
  struct Stream {
    uint64_t packets = 0, bytes = 0, missing = 0, duplicates = 0, next_seq = 0;
  };

  // Statistics in the group "wire" under `parent`.
  explicit WireCheck(core::StatGroup* parent);

  // A packet of `len` bytes whose last bit left at t_ps.
  void transmit(const uint8_t* data, uint32_t len, uint64_t t_ps);

  // Intact packets, per stream.
  const std::map<uint32_t, Stream>& streams() const { return streams_; }
  // Packets whose payload did not match its own header.
  uint64_t corrupt() const { return corrupt_.value; }

 private:
  std::map<uint32_t, Stream> streams_;
  std::vector<uint8_t> expect_;  // the regenerated payload; grows to the largest packet only
  core::StatGroup stats_;
  core::Counter& packets_;
  core::Counter& bytes_;
  core::Counter& corrupt_;
  core::Counter& missing_;
  core::Counter& duplicates_;
  core::Histogram& latency_;
};

}  // namespace iovsim::sriov_nic

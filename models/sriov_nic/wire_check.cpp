#include "wire_check.hpp"

#include <cstring>

#include <iovsim/core/bitfield.hpp>

#include "packet_generator.hpp"

namespace iovsim::sriov_nic {

WireCheck::WireCheck(core::StatGroup* parent)
    : stats_("wire", parent),
      packets_(
          stats_.add_counter("tx_packets", "TX packets that left on the wire intact, in sequence")),
      bytes_(stats_.add_counter("tx_bytes", "Bytes of the TX packets in tx_packets")),
      corrupt_(stats_.add_counter("tx_corrupt",
                                  "TX packets whose payload did not match its own header")),
      missing_(stats_.add_counter("tx_missing", "Sequence numbers skipped in the TX streams")),
      duplicates_(stats_.add_counter(
          "tx_duplicates", "TX packets with a sequence number their stream had already passed")),
      latency_(stats_.add_histogram(
          "tx_latency_ns", "Sender's timestamp in the payload -> last bit on the wire (ns)")) {}

void WireCheck::transmit(const uint8_t* data, uint32_t len, uint64_t t_ps) {
  const auto header = check_payload(data, len, expect_);
  if (!header) {
    ++corrupt_;
    return;
  }
  const uint32_t stream = header->stream;
  const uint64_t seq = header->seq;
  const uint64_t sent_ps = header->time_ps;
  Stream& s = streams_[stream];
  const auto skipped = advance_sequence(s.next_seq, seq);
  if (!skipped) {
    ++s.duplicates;
    ++duplicates_;
    return;
  }
  s.missing += *skipped;
  missing_ += *skipped;
  ++s.packets;
  s.bytes += len;
  ++packets_;
  bytes_ += len;
  latency_.record(double(t_ps > sent_ps ? t_ps - sent_ps : 0) / 1000.0);
}

}  // namespace iovsim::sriov_nic

// The NIC's descriptor format (our own, documented in docs/models/sriov_nic.md): 16 bytes,
// little-endian, the same layout for RX and TX rings.
//
//   bytes 0..7   buffer address (IOVA the device DMAs to or from)
//   bytes 8..9   length: RX, the buffer's size as posted, the packet's length when written back;
//                TX, the packet's length
//   bytes 10..11 flags, set by software: bit 0 EOP (end of packet, always 1 here), bit 1 RS (report
//                status: write this descriptor back when done; the model always writes back)
//   bytes 12..13 status, written back by the device: bit 0 DD (descriptor done), bit 1 ERR (the
//                DMA for this descriptor failed), bit 2 TOOLONG (RX packet larger than the buffer,
//                truncated)
//   bytes 14..15 checksum, written back on RX: the 16-bit ones'-complement sum of the packet
//
// The device consumes descriptors from head to tail (tail is the doorbell software writes, head
// is the device's register); a ring with head == tail is empty, so one slot always stays unused.
#pragma once

#include <cstddef>
#include <cstdint>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::sriov_nic {

constexpr unsigned kDescriptorBytes = 16;
constexpr uint16_t kFlagEop = 1u << 0, kFlagRs = 1u << 1;
constexpr uint16_t kStatusDd = 1u << 0, kStatusErr = 1u << 1, kStatusTooLong = 1u << 2;

struct Descriptor {
  uint64_t addr = 0;
  uint16_t length = 0;
  uint16_t flags = 0;
  uint16_t status = 0;
  uint16_t checksum = 0;

  static Descriptor decode(const uint8_t* b) {
    Descriptor d;
    d.addr = core::load_le<uint64_t>(b);
    d.length = core::load_le<uint16_t>(b + 8);
    d.flags = core::load_le<uint16_t>(b + 10);
    d.status = core::load_le<uint16_t>(b + 12);
    d.checksum = core::load_le<uint16_t>(b + 14);
    return d;
  }
  void encode(uint8_t* b) const {
    core::store_le(b, addr);
    core::store_le(b + 8, length);
    core::store_le(b + 10, flags);
    core::store_le(b + 12, status);
    core::store_le(b + 14, checksum);
  }
};

// The Internet checksum's ones'-complement sum (RFC 1071), folded to 16 bits, not inverted.
inline uint16_t ones_complement_sum(const uint8_t* data, std::size_t len) {
  uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < len; i += 2) sum += uint32_t(data[i]) << 8 | data[i + 1];
  if (len & 1) sum += uint32_t(data[len - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

}  // namespace iovsim::sriov_nic

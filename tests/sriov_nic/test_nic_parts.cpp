// The NIC's plain C++ parts: the descriptor layout byte by byte, the ones'-complement checksum,
// the packet generator's arrival process and sizes, the payload format, and the TX wire check.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include <iovsim/sriov_nic/descriptor.hpp>
#include <iovsim/sriov_nic/packet_generator.hpp>
#include <iovsim/sriov_nic/wire_check.hpp>

using namespace iovsim::sriov_nic;

TEST_CASE("Descriptor fields sit at their documented byte offsets - little-endian") {
  Descriptor d;
  d.addr = 0x1122334455667788ull;
  d.length = 0x99AA;
  d.flags = kFlagEop | kFlagRs;
  d.status = kStatusDd | kStatusTooLong;
  d.checksum = 0xBEEF;
  uint8_t b[kDescriptorBytes];
  d.encode(b);
  const uint8_t expect[16] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                              0xAA, 0x99, 0x03, 0x00, 0x05, 0x00, 0xEF, 0xBE};
  for (int i = 0; i < 16; ++i) CHECK(int(b[i]) == int(expect[i]));
  const Descriptor back = Descriptor::decode(b);
  CHECK(back.addr == d.addr);
  CHECK(back.length == d.length);
  CHECK(back.flags == d.flags);
  CHECK(back.status == d.status);
  CHECK(back.checksum == d.checksum);
}

TEST_CASE("The checksum is RFC 1071's ones-complement sum") {
  // RFC 1071 section 3's example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
  const uint8_t data[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  CHECK(ones_complement_sum(data, 8) == 0xddf2);
  // An odd trailing byte is the high byte of a last word.
  const uint8_t odd[3] = {0x12, 0x34, 0x56};
  CHECK(ones_complement_sum(odd, 3) == 0x1234 + 0x5600);
}

TEST_CASE("Constant arrivals are evenly spaced at the offered rate") {
  NicConfig c;
  c.arrivals = Arrivals::kConstant;
  c.rx_gbps = 10;
  c.packet_bytes = 1250;  // 10 000 bits: one packet per microsecond
  PacketGenerator g(c, 1);
  for (uint64_t i = 0; i < 100; ++i) {
    const auto p = g.next();
    CHECK(p.seq == i);
    CHECK(p.bytes == 1250);
    CHECK(p.time_ps == i * 1000000);
  }
  c.rx_pps = 2e6;  // packets per second take precedence
  PacketGenerator pps(c, 1);
  pps.next();
  CHECK(pps.next().time_ps == 500000);
}

TEST_CASE("Poisson arrivals have the offered mean and are reproducible") {
  NicConfig c;
  c.rx_gbps = 8;
  c.packet_bytes = 1000;  // 1 Mpps: mean gap 1 us
  PacketGenerator a(c, 3), b(c, 3), other(c, 4);
  uint64_t last = 0, small_gaps = 0;
  const int n = 20000;
  bool differs = false;
  for (int i = 0; i < n; ++i) {
    const auto p = a.next();
    CHECK(p.time_ps == b.next().time_ps);
    if (other.next().time_ps != p.time_ps) differs = true;
    if (i > 0 && p.time_ps - last < 1000000 * std::log(2.0)) ++small_gaps;
    last = p.time_ps;
  }
  CHECK(differs);
  // Mean gap within 2 % of 1 us (standard error ~0.7 %).
  CHECK(double(last) / (n - 1) == Approx(1e6).epsilon(0.02));
  // Exponential gaps: half of them below the median, ln 2 times the mean (within 2 %).
  CHECK(double(small_gaps) / (n - 1) == Approx(0.5).margin(0.02));
}

TEST_CASE("Packet sizes follow the configured distribution") {
  NicConfig c;
  c.packet_bytes = 1500;
  c.sizes = SizeDistribution::kImix;
  PacketGenerator g(c, 1);
  std::map<uint32_t, int> count;
  for (int i = 0; i < 12000; ++i) ++count[g.next().bytes];
  REQUIRE(count.size() == 3);
  CHECK(count[64] / 12000.0 == Approx(7.0 / 12).margin(0.02));
  CHECK(count[576] / 12000.0 == Approx(4.0 / 12).margin(0.02));
  CHECK(count[1500] / 12000.0 == Approx(1.0 / 12).margin(0.01));
  CHECK(c.mean_packet_bytes() == Approx((7 * 64 + 4 * 576 + 1500) / 12.0));
  c.sizes = SizeDistribution::kUniform;
  PacketGenerator u(c, 1);
  for (int i = 0; i < 1000; ++i) {
    const uint32_t s = u.next().bytes;
    CHECK(s >= 64);
    CHECK(s <= 1500);
  }
}

TEST_CASE("The payload carries its header and depends only on stream and sequence") {
  uint8_t a[100], b[100];
  fill_payload(a, 100, 7, 42, 123456);
  CHECK(iovsim::core::load_le<uint32_t>(a) == 7);
  CHECK(iovsim::core::load_le<uint64_t>(a + 4) == 42);
  CHECK(iovsim::core::load_le<uint32_t>(a + 12) == 100);
  CHECK(iovsim::core::load_le<uint64_t>(a + 16) == 123456);
  fill_payload(b, 100, 7, 42, 123456);
  CHECK(std::equal(a, a + 100, b));
  fill_payload(b, 100, 7, 43, 123456);
  CHECK(!std::equal(a + kPayloadHeaderBytes, a + 100, b + kPayloadHeaderBytes));
}

TEST_CASE("The wire check finds corrupt packets and counts duplicates and gaps per stream") {
  iovsim::core::StatGroup root;
  WireCheck wire(&root);
  auto packet = [](uint32_t stream, uint64_t seq, uint32_t bytes, uint64_t sent_ps) {
    std::vector<uint8_t> p(bytes);
    fill_payload(p.data(), bytes, stream, seq, sent_ps);
    return p;
  };
  auto send = [&](const std::vector<uint8_t>& p, uint64_t t_ps) {
    wire.transmit(p.data(), static_cast<uint32_t>(p.size()), t_ps);
  };
  // Stream 1, 64-byte packets: seq 0, 1, 1 (one duplicate).
  send(packet(1, 0, 64, 1000), 3000);  // 2 ns
  send(packet(1, 1, 64, 2000), 5500);  // 3.5 ns
  send(packet(1, 1, 64, 2000), 6000);
  // Stream 2, 100-byte packets: seq 0, 3 (1 and 2 missing).
  send(packet(2, 0, 100, 0), 10000);    // 10 ns
  send(packet(2, 3, 100, 9000), 8000);  // sent after it left: clamped to 0 ns
  // Corrupt, none of them counted in a stream: one flipped payload byte (stream 1, seq 2), a
  // header length that is not the packet's (made for 100 bytes, 64 sent), shorter than a header.
  auto flipped = packet(1, 2, 64, 3000);
  flipped[40] ^= 0x01;
  send(flipped, 7000);
  const auto longer = packet(1, 2, 100, 3000);
  wire.transmit(longer.data(), 64, 7000);
  const auto short_one = packet(1, 2, 64, 3000);
  wire.transmit(short_one.data(), kPayloadHeaderBytes - 1, 7000);

  CHECK(wire.corrupt() == 3);
  REQUIRE(wire.streams().size() == 2);
  const auto& s1 = wire.streams().at(1);
  CHECK(s1.packets == 2);
  CHECK(s1.bytes == 128);
  CHECK(s1.duplicates == 1);
  CHECK(s1.missing == 0);
  CHECK(s1.next_seq == 2);  // the corrupt seq-2 packets did not advance it
  const auto& s2 = wire.streams().at(2);
  CHECK(s2.packets == 2);
  CHECK(s2.bytes == 200);
  CHECK(s2.duplicates == 0);
  CHECK(s2.missing == 2);
  CHECK(s2.next_seq == 4);

  iovsim::core::StatMap m;
  root.collect(m);
  auto stat = [&](const std::string& name) {
    INFO(name);
    REQUIRE(m.count(name));
    return std::visit([](auto v) { return static_cast<double>(v); }, m.at(name));
  };
  CHECK(stat("wire.tx_packets") == 4);
  CHECK(stat("wire.tx_bytes") == 328);
  CHECK(stat("wire.tx_corrupt") == 3);
  CHECK(stat("wire.tx_missing") == 2);
  CHECK(stat("wire.tx_duplicates") == 1);
  CHECK(stat("wire.tx_latency_ns.count") == 4);
  CHECK(stat("wire.tx_latency_ns.min") == 0);
  CHECK(stat("wire.tx_latency_ns.max") == 10);
  CHECK(stat("wire.tx_latency_ns.mean") == Approx((2 + 3.5 + 10 + 0) / 4));
}

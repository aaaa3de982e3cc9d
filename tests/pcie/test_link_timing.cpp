// Link bandwidth arithmetic against calibration.md §1. Plain C++: no SystemC elaboration.
#include <cmath>
#include <stdexcept>

#include <catch2/catch.hpp>

#include <iovsim/pcie/link_timing.hpp>

using namespace iovsim::pcie;

namespace {

LinkParams params(unsigned gen, unsigned lanes, unsigned mps = 256, unsigned mrrs = 512) {
  LinkParams p;
  p.gen = gen;
  p.lanes = lanes;
  p.mps = mps;
  p.mrrs = mrrs;
  return p;
}

constexpr uint64_t k4G = uint64_t{1} << 32;  // first address that needs a 64-bit (4DW) header

}  // namespace

TEST_CASE("raw_gbps: per-lane rate x encoding x lanes for every generation", "[link_timing]") {
  // calibration.md §1: Gen1 2.5, Gen2 5 GT/s with 8b/10b; Gen3 8, Gen4 16, Gen5 32 GT/s with
  // 128b/130b.
  CHECK(raw_gbps(params(1, 1)) == Approx(2.5 * 0.8));         // 2.0
  CHECK(raw_gbps(params(2, 1)) == Approx(5.0 * 0.8));         // 4.0
  CHECK(raw_gbps(params(3, 1)) == Approx(8.0 * 128 / 130));   // 7.8769
  CHECK(raw_gbps(params(4, 1)) == Approx(16.0 * 128 / 130));  // 15.754
  CHECK(raw_gbps(params(5, 1)) == Approx(32.0 * 128 / 130));  // 31.508
  CHECK(raw_gbps(params(1, 16)) == Approx(32.0));             // 2.0 x 16
  CHECK(raw_gbps(params(2, 4)) == Approx(16.0));              // 4.0 x 4
  CHECK(raw_gbps(params(4, 16)) == Approx(16.0 * 128 / 130 * 16));
  CHECK(raw_gbps(params(5, 2)) == Approx(32.0 * 128 / 130 * 2));
  // The figure calibration.md quotes: Gen3 x8 = 63.015 Gb/s.
  CHECK(raw_gbps(params(3, 8)) == Approx(63.015).margin(0.001));
}

TEST_CASE("ack_limit follows the spec table of calibration.md §1", "[link_timing]") {
  CHECK(ack_limit(1, 128) == 333);
  CHECK(ack_limit(1, 4096) == 4239);
  CHECK(ack_limit(2, 512) == 385);
  CHECK(ack_limit(4, 1024) == 378);
  CHECK(ack_limit(8, 256) == 203);
  CHECK(ack_limit(8, 512) == 182);
  CHECK(ack_limit(16, 128) == 144);
  CHECK(ack_limit(16, 2048) == 374);
}

TEST_CASE("tlp_gbps: raw rate minus ACK, flow-control and SKIP overheads", "[link_timing]") {
  // Gen3 x8 MPS 256: AckLimit = FCLimit = 203, so 63.015 x (1 - 8/203 - 8/203 - 4/1538) = 57.885.
  CHECK(tlp_gbps(params(3, 8, 256)) == Approx(57.885).margin(0.01));
  // Gen3 x4 MPS 128: limit 169 -> 31.508 x (1 - 16/169 - 4/1538) = 28.443.
  const double x4 = 8.0 * 128 / 130 * 4;
  CHECK(tlp_gbps(params(3, 4, 128)) == Approx(x4 * (1 - 16.0 / 169 - 4.0 / 1538)));
  CHECK(tlp_gbps(params(3, 4, 128)) == Approx(28.443).margin(0.01));
  // Gen4 x16 MPS 512: limit 182.
  const double g4 = 16.0 * 128 / 130 * 16;
  CHECK(tlp_gbps(params(4, 16, 512)) == Approx(g4 * (1 - 16.0 / 182 - 4.0 / 1538)));
}

TEST_CASE("effective throughput matches the table of calibration.md §1 within 0.5 %",
          "[link_timing]") {
  // Gen3 x8, MPS 256, MRRS 512, 64-bit addresses. Back-to-back, the busy direction carries
  // wire_bytes per `size` payload bytes, so throughput = size x tlp_rate / wire_bytes: upstream MWr
  // for writes, downstream CplD for reads (the MRd requests travel the other way).
  const LinkParams p = params(3, 8, 256, 512);
  const double tlp = tlp_gbps(p);
  struct Row {
    uint64_t size;
    double write_gbps, read_gbps;
  };
  const Row table[] = {{64, 42.10, 44.10},  {128, 48.75, 50.06},  {256, 52.92, 53.69},
                       {512, 52.92, 53.69}, {1024, 52.92, 53.69}, {2048, 52.92, 53.69},
                       {4096, 52.92, 53.69}};
  for (const Row& r : table) {
    INFO("size " << r.size);
    const double write = double(r.size) * tlp / double(write_wire_bytes(p, k4G, r.size));
    const double read = double(r.size) * tlp / double(read_completion_wire_bytes(p, r.size));
    CHECK(write == Approx(r.write_gbps).epsilon(0.005));
    CHECK(read == Approx(r.read_gbps).epsilon(0.005));
  }
}

TEST_CASE("wire bytes: 24 B per request TLP with a 64-bit address, 20 B with a 32-bit one",
          "[link_timing]") {
  const LinkParams p = params(3, 8, 256, 512);
  CHECK(request_overhead(p, k4G, 64) == 24);
  CHECK(request_overhead(p, 0x1000, 64) == 20);
  // The last byte decides: ending exactly at 4 GiB still fits 32 bits, one byte more does not.
  CHECK(request_overhead(p, k4G - 64, 64) == 20);
  CHECK(request_overhead(p, k4G - 63, 64) == 24);
  CHECK(completion_overhead(p) == 20);

  CHECK(write_wire_bytes(p, k4G, 64) == 64 + 24);
  CHECK(write_wire_bytes(p, 0x1000, 64) == 64 + 20);
  CHECK(read_request_wire_bytes(p, k4G, 64) == 24);
  CHECK(read_request_wire_bytes(p, 0x1000, 64) == 20);
  CHECK(read_completion_wire_bytes(p, 64) == 64 + 20);
}

TEST_CASE("wire bytes: ECRC adds 4 B to every TLP", "[link_timing]") {
  LinkParams p = params(3, 8, 256, 512);
  p.ecrc = true;
  CHECK(request_overhead(p, k4G, 64) == 28);
  CHECK(request_overhead(p, 0x1000, 64) == 24);
  CHECK(completion_overhead(p) == 24);
  // 1024 B write: 4 MWr of 256 B, each 24 + 4.
  CHECK(write_wire_bytes(p, k4G, 1024) == 4 * 28 + 1024);
  // 1024 B read: 2 MRd (MRRS 512) of 28 B; 4 CplD (MPS 256) of 24 B + payload.
  CHECK(read_request_wire_bytes(p, k4G, 1024) == 2 * 28);
  CHECK(read_completion_wire_bytes(p, 1024) == 4 * 24 + 1024);
}

TEST_CASE("wire bytes: requests split at MPS (writes, completions) and MRRS (read requests)",
          "[link_timing]") {
  const LinkParams p = params(3, 8, 256, 512);
  // Write of sz: ceil(sz/MPS) x 24 + sz.
  CHECK(write_wire_bytes(p, k4G, 256) == 1 * 24 + 256);
  CHECK(write_wire_bytes(p, k4G, 257) == 2 * 24 + 257);
  CHECK(write_wire_bytes(p, k4G, 1000) == 4 * 24 + 1000);
  CHECK(write_wire_bytes(p, k4G, 4096) == 16 * 24 + 4096);
  // Read of sz: ceil(sz/MRRS) MRd of 24 B up, ceil(sz/MPS) CplD of 20 B + sz down.
  CHECK(read_request_wire_bytes(p, k4G, 512) == 1 * 24);
  CHECK(read_request_wire_bytes(p, k4G, 513) == 2 * 24);
  CHECK(read_request_wire_bytes(p, k4G, 4096) == 8 * 24);
  CHECK(read_completion_wire_bytes(p, 1000) == 4 * 20 + 1000);
  CHECK(read_completion_wire_bytes(p, 4096) == 16 * 20 + 4096);
  // Other MPS/MRRS: MPS 128 doubles the write TLPs; MRRS 4096 makes one MRd.
  const LinkParams q = params(3, 8, 128, 4096);
  CHECK(write_wire_bytes(q, k4G, 1024) == 8 * 24 + 1024);
  CHECK(read_request_wire_bytes(q, k4G, 4096) == 1 * 24);
  CHECK(read_completion_wire_bytes(q, 4096) == 32 * 20 + 4096);
}

TEST_CASE("invalid generation, lane count or MPS throws", "[link_timing]") {
  CHECK_THROWS_AS(raw_gbps(params(0, 8)), std::invalid_argument);
  CHECK_THROWS_AS(raw_gbps(params(6, 8)), std::invalid_argument);
  CHECK_THROWS_AS(tlp_gbps(params(0, 8)), std::invalid_argument);
  CHECK_THROWS_AS(tlp_gbps(params(6, 8)), std::invalid_argument);
  for (unsigned lanes : {0u, 3u, 12u, 32u}) {
    INFO("lanes " << lanes);
    CHECK_THROWS_AS(ack_limit(lanes, 256), std::invalid_argument);
    CHECK_THROWS_AS(tlp_gbps(params(3, lanes)), std::invalid_argument);
  }
  for (unsigned mps : {0u, 64u, 100u, 384u, 8192u}) {
    INFO("mps " << mps);
    CHECK_THROWS_AS(ack_limit(8, mps), std::invalid_argument);
    CHECK_THROWS_AS(tlp_gbps(params(3, 8, mps)), std::invalid_argument);
  }
}

TEST_CASE("per-TLP split: MWr at MPS, MRd at MRRS, CplD at MPS or RCB within each MRd",
          "[link_timing]") {
  LinkParams p = params(3, 8, 256, 512);
  CHECK(write_tlps(p, 1) == 1);
  CHECK(write_tlps(p, 256) == 1);
  CHECK(write_tlps(p, 257) == 2);
  CHECK(read_request_tlps(p, 4096) == 8);
  CHECK(completion_unit(p) == 256);           // RCB 0: completions at MPS
  CHECK(read_completion_tlps(p, 1000) == 4);  // MRd of 512 (2 CplD) and 488 (2 CplD)
  // RCB 64: a 512 B MRd comes back as 8 CplD of 64 B.
  p.rcb = 64;
  CHECK(completion_unit(p) == 64);
  CHECK(read_completion_tlps(p, 512) == 8);
  CHECK(read_completion_tlps(p, 100) == 2);  // 64 + 36
  CHECK(read_completion_wire_bytes(p, 1024) == 16 * 20 + 1024);
  // MRRS 128 below MPS 512: each 128 B MRd gets one CplD, so 8 for 1024 B, not ceil(1024/512).
  LinkParams q = params(3, 16, 512, 128);
  CHECK(read_completion_tlps(q, 1024) == 8);
  CHECK(read_completion_wire_bytes(q, 1024) == 8 * 20 + 1024);
  // Partial last MRd: 600 B at MRRS 512, MPS 256: MRd 512 (2 CplD) + MRd 88 (1 CplD).
  CHECK(read_completion_tlps(params(3, 8, 256, 512), 600) == 3);
  // Chunks: all full-sized but the last.
  CHECK(chunk_bytes(1000, 256, 0) == 256);
  CHECK(chunk_bytes(1000, 256, 3) == 232);
  CHECK(chunk_bytes(64, 256, 0) == 64);
}

TEST_CASE("configuration requests have a 3 DW header: 20 B, 24 B with ECRC", "[link_timing]") {
  LinkParams p = params(3, 8);
  CHECK(config_overhead(p) == 20);
  p.ecrc = true;
  CHECK(config_overhead(p) == 24);
}

TEST_CASE("messages have a 4 DW header: 24 B, 28 B with ECRC", "[link_timing]") {
  LinkParams p = params(3, 8);
  CHECK(message_overhead(p) == 24);
  p.ecrc = true;
  CHECK(message_overhead(p) == 28);
}

// The link's back-to-back effective throughput against calibration.md §1, across generations,
// widths, MPS, MRRS and RCB. The expected values are computed here, independently of
// link_timing.cpp, from the formula: raw rate (GT/s x encoding x lanes), less an ACK and an FC
// DLLP (8 B each) every AckLimit bytes (the spec table) and 4 B of SKIP every 1538 B, times the
// share of payload in the wire bytes of the busy direction (upstream MWr for writes, downstream
// CplD for reads). The Link is driven with many requests outstanding through a zero-latency
// target, so nothing but the link limits; the measured rate must match within 0.5 %.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/core/stats.hpp>
#include <iovsim/pcie/link.hpp>

#include "tlm_test_modules.hpp"

using namespace iovsim;

namespace {

constexpr uint64_t k4G = uint64_t{1} << 32;

// AckLimit = FCLimit (bytes), rows x1 x2 x4 x8 x16, columns MPS 128..4096 (calibration.md §1).
const unsigned kAckLimit[5][6] = {
    {333, 512, 655, 1167, 2191, 4239}, {224, 313, 385, 641, 1153, 2177},
    {169, 214, 250, 378, 634, 1146},   {163, 203, 182, 246, 374, 630},
    {144, 168, 182, 246, 374, 630},
};

unsigned log2u(unsigned v) {
  unsigned l = 0;
  while (v > 1) v >>= 1, ++l;
  return l;
}

uint64_t ceil_div(uint64_t a, uint64_t b) {
  return (a + b - 1) / b;
}

struct LinkCase {
  unsigned gen, lanes, mps, mrrs, rcb;
  bool ecrc;
  uint64_t base;  // addresses from here: at or above 4 GiB, 4 DW headers

  double tlp_gbps() const {
    const double gts[] = {0, 2.5, 5.0, 8.0, 16.0, 32.0};
    const double encoding = gen <= 2 ? 8.0 / 10.0 : 128.0 / 130.0;
    const double raw = gts[gen] * encoding * lanes;
    const double limit = kAckLimit[log2u(lanes)][log2u(mps) - 7];
    return raw * (1.0 - 8.0 / limit - 8.0 / limit - 4.0 / 1538.0);
  }
  // Writes: ceil(sz / MPS) MWr, 24 B each (20 below 4 GiB), +4 with ECRC.
  double write_gbps(uint64_t size) const {
    const uint64_t overhead = (base >= k4G ? 24 : 20) + (ecrc ? 4 : 0);
    return double(size) * tlp_gbps() / double(ceil_div(size, mps) * overhead + size);
  }
  // Reads: CplD of 20 B (+4 ECRC) each, at MPS or at the RCB, and never larger than the MRd
  // (MRRS) they answer; all sizes here are powers of two, so ceil(sz / smallest) of them.
  double read_gbps(uint64_t size) const {
    const uint64_t unit = std::min<uint64_t>(rcb ? rcb : mps, mrrs);
    const uint64_t overhead = 20 + (ecrc ? 4 : 0);
    return double(size) * tlp_gbps() / double(ceil_div(size, unit) * overhead + size);
  }
};

class ZeroTarget : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<ZeroTarget> socket{"socket"};
  explicit ZeroTarget(sc_core::sc_module_name name) : sc_module(name) {
    socket.register_b_transport(this, &ZeroTarget::b_transport);
  }

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time&) {
    p.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};

// Keeps `outstanding` requests in flight, each issued as soon as a slot frees (the DMA endpoint's
// scheme, without an engine limit), from `start_ps`. Returns the steady-state payload rate
// (Gb/s) over the last three quarters of the completions, and sets `end_ps` to the last.
class Pump : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<Pump> socket{"socket"};
  explicit Pump(sc_core::sc_module_name name) : sc_module(name) {}

  double run(bool write, uint64_t size, uint64_t base, unsigned requests, unsigned outstanding,
             uint64_t start_ps, uint64_t& end_ps) {
    test::Txn t(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND, base,
                static_cast<unsigned>(size));
    const uint64_t now = sc_core::sc_time_stamp().value();
    std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<uint64_t>> slots;
    for (unsigned s = 0; s < outstanding; ++s) slots.push(start_ps);
    std::vector<uint64_t> done;
    for (unsigned i = 0; i < requests; ++i) {
      const uint64_t issue = slots.top();
      slots.pop();
      t.p.set_address(base + (i * size) % (uint64_t{1} << 20));
      t.p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
      sc_core::sc_time delay = sc_core::sc_time::from_value(issue - now);
      socket->b_transport(t.p, delay);
      REQUIRE(t.p.is_response_ok());
      done.push_back(now + delay.value());
      slots.push(done.back());
    }
    std::sort(done.begin(), done.end());
    end_ps = done.back();
    const unsigned skip = requests / 4;  // pipeline fill
    const double bits = double(requests - skip) * double(size) * 8.0;
    return bits / double(done.back() - done[skip - 1]) * 1000.0;  // bits per ps -> Gb/s
  }
};

}  // namespace

TEST_CASE("link table: the formula here reproduces the published Gen3 x8 figures", "[link]") {
  // calibration.md §1: Gen3 x8, MPS 256, MRRS 512, 64-bit addresses; TLP rate 57.885 Gb/s.
  const LinkCase c{3, 8, 256, 512, 0, false, k4G};
  CHECK(c.tlp_gbps() == Approx(57.885).margin(0.001));
  CHECK(c.write_gbps(64) == Approx(42.10).epsilon(0.005));
  CHECK(c.read_gbps(64) == Approx(44.10).epsilon(0.005));
  CHECK(c.write_gbps(128) == Approx(48.75).epsilon(0.005));
  CHECK(c.read_gbps(128) == Approx(50.06).epsilon(0.005));
  for (uint64_t size = 256; size <= 4096; size *= 2) {
    CHECK(c.write_gbps(size) == Approx(52.92).epsilon(0.005));
    CHECK(c.read_gbps(size) == Approx(53.69).epsilon(0.005));
  }
}

TEST_CASE("link table: back-to-back read and write throughput across link configurations",
          "[link]") {
  const std::vector<LinkCase> cases = {
      {3, 8, 256, 512, 0, false, k4G},            // the calibrated point
      {1, 1, 128, 128, 0, false, k4G},            // Gen1 x1, smallest payloads
      {2, 4, 256, 1024, 64, false, k4G},          // Gen2, RCB 64
      {4, 16, 512, 512, 0, false, k4G},           // Gen4 x16
      {5, 2, 128, 256, 64, false, k4G},           // Gen5 x2, RCB 64
      {3, 16, 512, 128, 0, false, k4G},           // MRRS below MPS: completions at MRRS
      {4, 1, 256, 1024, 128, true, 0x1000'0000},  // RCB 128, ECRC, 32-bit addresses
  };
  core::StatGroup root;
  std::vector<std::unique_ptr<Pump>> pumps;
  std::vector<std::unique_ptr<pcie::Link>> links;
  std::vector<std::unique_ptr<ZeroTarget>> targets;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const LinkCase& c = cases[i];
    pcie::LinkConfig lc;
    lc.params.gen = c.gen;
    lc.params.lanes = c.lanes;
    lc.params.mps = c.mps;
    lc.params.mrrs = c.mrrs;
    lc.params.rcb = c.rcb;
    lc.params.ecrc = c.ecrc;
    lc.latency_ns = 100;  // with the default credits (32 non-posted, 64 posted)
    const std::string n = std::to_string(i);
    pumps.push_back(std::make_unique<Pump>(("pump" + n).c_str()));
    links.push_back(std::make_unique<pcie::Link>(("link" + n).c_str(), lc, &root));
    targets.push_back(std::make_unique<ZeroTarget>(("target" + n).c_str()));
    pumps.back()->socket.bind(links.back()->device_side);
    links.back()->host_side.bind(targets.back()->socket);
  }
  sc_core::sc_start(sc_core::SC_ZERO_TIME);

  for (std::size_t i = 0; i < cases.size(); ++i) {
    const LinkCase& c = cases[i];
    uint64_t start = 0;
    for (uint64_t size = 64; size <= 4096; size *= 2) {
      for (bool write : {false, true}) {
        INFO("Gen" << c.gen << " x" << c.lanes << " MPS " << c.mps << " MRRS " << c.mrrs << " RCB "
                   << c.rcb << (c.ecrc ? " ECRC" : "") << (write ? " write " : " read ") << size
                   << " B");
        uint64_t end = 0;
        const double got = pumps[i]->run(write, size, c.base, 400, 256, start, end);
        const double expected = write ? c.write_gbps(size) : c.read_gbps(size);
        CHECK(got == Approx(expected).epsilon(0.005));
        start = end + 1'000'000;  // the next run starts on an idle link
      }
    }
  }
}

// Link module: serialization on each direction's timeline, traversal latency, counters. A Driver
// sends requests into the link's device side; a StubTarget of fixed latency stands for the root
// complex.
#include <cmath>

#include <catch2/catch.hpp>

#include <iovsim/core/stats.hpp>
#include <iovsim/pcie/link.hpp>

#include "tlm_test_modules.hpp"

using namespace iovsim;
using iovsim::test::Driver;
using iovsim::test::near;
using iovsim::test::ns;
using iovsim::test::StubTarget;
using iovsim::test::Txn;
using sc_core::sc_time;

namespace {

constexpr uint64_t k4G = uint64_t{1} << 32;

// Gen3 x8, MPS 256: TLP rate by calibration.md §1 = 8 GT/s x 128/130 x 8 lanes x (1 - 2x8/203 -
// 4/1538) = 57.885 Gb/s, so one wire byte takes 8/57.885 ns = 138.2 ps.
const double kTlpGbps = 8.0 * 128.0 / 130.0 * 8.0 * (1.0 - 16.0 / 203.0 - 4.0 / 1538.0);
sc_time ser(uint64_t wire_bytes) {
  return sc_time::from_value(static_cast<uint64_t>(std::llround(wire_bytes * 8000.0 / kTlpGbps)));
}

const sc_time kLinkLatency = ns(100);  // one traversal
const sc_time kTarget = ns(50);        // the stub's latency

pcie::LinkConfig gen3_x8() {
  pcie::LinkConfig c;
  c.params.gen = 3;
  c.params.lanes = 8;
  c.params.mps = 256;
  c.params.mrrs = 512;
  c.latency_ns = 100;
  return c;
}

// Driver -> Link -> StubTarget, elaborated.
struct Bench {
  core::StatGroup root;
  Driver driver{"driver"};
  pcie::Link link;
  StubTarget target{"target", kTarget};

  explicit Bench(const pcie::LinkConfig& c = gen3_x8()) : link("link", c, &root) {
    driver.socket.bind(link.device_side);
    link.host_side.bind(target.socket);
    sc_core::sc_start(sc_core::SC_ZERO_TIME);  // completes binding
  }
  core::StatMap stats() const {
    core::StatMap m;
    root.collect(m);
    return m;
  }
};

uint64_t counter(const core::StatMap& m, const char* name) {
  return std::get<uint64_t>(m.at(name));
}

}  // namespace

TEST_CASE("link: a read adds request serialization, latency, target, completions, latency",
          "[link]") {
  Bench b;
  Txn t(tlm::TLM_READ_COMMAND, k4G, 1024);
  const sc_time d = b.driver.send(t);
  // 1024 B read, MRRS 512: 2 MRd x 24 B = 48 B up. MPS 256: 4 CplD x 20 B + 1024 = 1104 B down.
  const sc_time up_arrival = ser(48) + kLinkLatency;
  const sc_time expected = up_arrival + kTarget + ser(1104) + kLinkLatency;  // ~409.2 ns
  REQUIRE(b.target.seen.size() == 1);
  CHECK(near(b.target.seen[0].arrival, up_arrival));
  CHECK(near(d, expected));
  CHECK(d.to_seconds() * 1e9 == Approx(409.21).margin(0.01));
  CHECK(t.p.is_response_ok());
}

TEST_CASE("link: a write is charged upstream only, and the request starts at its annotated time",
          "[link]") {
  Bench b;
  Txn t(tlm::TLM_WRITE_COMMAND, k4G, 1024);
  const sc_time d = b.driver.send(t, ns(1000));
  // 1024 B write, MPS 256: 4 MWr x 24 B + 1024 = 1120 B up; the idle link starts it at 1000 ns.
  CHECK(near(d, ns(1000) + ser(1120) + kLinkLatency + kTarget));
  const auto m = b.stats();
  CHECK(counter(m, "link.up_bytes") == 1120);
  CHECK(counter(m, "link.up_tlps") == 4);
  CHECK(counter(m, "link.down_bytes") == 0);
  CHECK(counter(m, "link.down_tlps") == 0);
}

TEST_CASE("link: 32-bit addresses use 20 B request headers", "[link]") {
  Bench b;
  Txn t(tlm::TLM_READ_COMMAND, 0x10000, 64);
  const sc_time d = b.driver.send(t);
  // One MRd of 20 B (3DW header) up, one CplD of 20 + 64 B down.
  CHECK(near(d, ser(20) + kLinkLatency + kTarget + ser(84) + kLinkLatency));
  const auto m = b.stats();
  CHECK(counter(m, "link.up_bytes") == 20);
  CHECK(counter(m, "link.down_bytes") == 84);
}

TEST_CASE("link: back-to-back reads queue on both directions", "[link]") {
  Bench b;
  Txn r1(tlm::TLM_READ_COMMAND, k4G, 1024);
  Txn r2(tlm::TLM_READ_COMMAND, k4G + 1024, 1024);
  const sc_time d1 = b.driver.send(r1);
  const sc_time d2 = b.driver.send(r2);
  // r2's requests wait for r1's on the upstream timeline: they reach the target ser(48) later.
  REQUIRE(b.target.seen.size() == 2);
  CHECK(near(b.target.seen[1].arrival, ser(48) + ser(48) + kLinkLatency));
  // r2's completions (ready at 2 ser(48) + 150 ns) wait for r1's, which occupy the downstream
  // direction until ser(48) + 150 ns + ser(1104): r2 finishes exactly one completion train after
  // r1.
  CHECK(near(d1, ser(48) + kLinkLatency + kTarget + ser(1104) + kLinkLatency));
  CHECK(near(d2, d1 + ser(1104)));
}

TEST_CASE("link: back-to-back writes queue upstream", "[link]") {
  Bench b;
  Txn w1(tlm::TLM_WRITE_COMMAND, k4G, 1024);
  Txn w2(tlm::TLM_WRITE_COMMAND, k4G + 1024, 1024);
  Txn w3(tlm::TLM_WRITE_COMMAND, k4G + 2048, 1024);
  const sc_time d1 = b.driver.send(w1);
  const sc_time d2 = b.driver.send(w2);
  // w3 arrives after the upstream direction has drained: no wait.
  const sc_time d3 = b.driver.send(w3, ns(1000));
  CHECK(near(d1, ser(1120) + kLinkLatency + kTarget));
  CHECK(near(d2, ser(1120) + ser(1120) + kLinkLatency + kTarget));
  CHECK(near(d3, ns(1000) + ser(1120) + kLinkLatency + kTarget));
}

TEST_CASE("link: byte and TLP counters per direction", "[link]") {
  Bench b;
  Txn r1(tlm::TLM_READ_COMMAND, k4G, 1024), r2(tlm::TLM_READ_COMMAND, k4G, 4096);
  Txn w1(tlm::TLM_WRITE_COMMAND, k4G, 1024), w2(tlm::TLM_WRITE_COMMAND, k4G, 100);
  for (Txn* t : {&r1, &r2, &w1, &w2}) b.driver.send(*t);
  const auto m = b.stats();
  // Up: MRd 2 x 24 (1024 B) + 8 x 24 (4096 B); MWr 4 x 24 + 1024 and 1 x 24 + 100.
  CHECK(counter(m, "link.up_bytes") == 48 + 192 + 1120 + 124);
  CHECK(counter(m, "link.up_tlps") == 2 + 8 + 4 + 1);
  // Down: CplD 4 x 20 + 1024 and 16 x 20 + 4096.
  CHECK(counter(m, "link.down_bytes") == 1104 + 4416);
  CHECK(counter(m, "link.down_tlps") == 4 + 16);
  CHECK(std::get<double>(m.at("link.tlp_gbps")) == Approx(57.885).margin(0.01));
}

TEST_CASE("link: a target error comes back as one completion without data", "[link]") {
  Bench b;
  b.target.response = tlm::TLM_ADDRESS_ERROR_RESPONSE;
  Txn t(tlm::TLM_READ_COMMAND, k4G, 1024);
  const sc_time d = b.driver.send(t);
  // Upstream as usual (2 MRd, 48 B); downstream a single 20 B Cpl instead of 1104 B of CplD.
  CHECK(near(d, ser(48) + kLinkLatency + kTarget + ser(20) + kLinkLatency));
  CHECK(t.p.get_response_status() == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  const auto m = b.stats();
  CHECK(counter(m, "link.down_bytes") == 20);
  CHECK(counter(m, "link.down_tlps") == 1);
}

TEST_CASE("link: saturated by back-to-back writes it delivers the calibrated throughput",
          "[link]") {
  Bench b;
  // 1000 writes of 256 B all offered at time 0: the upstream direction serializes them back to
  // back, so the last completes at 1000 x ser(256 + 24) + latency + target. Payload rate must be
  // 256 x 57.885 / 280 = 52.92 Gb/s (calibration.md §1) within 0.5 %.
  sc_time last;
  for (int i = 0; i < 1000; ++i) {
    Txn t(tlm::TLM_WRITE_COMMAND, k4G + 256 * uint64_t(i), 256);
    last = b.driver.send(t);
  }
  const sc_time busy = last - kLinkLatency - kTarget;
  CHECK(near(busy, ser(280) * 1000.0, 1000));
  const double gbps = 1000 * 256 * 8 / (busy.to_seconds() * 1e9);
  CHECK(gbps == Approx(52.92).epsilon(0.005));
}

TEST_CASE("link: LinkConfig::from reads pcie.* and the module rejects an invalid width", "[link]") {
  core::Config config;
  config.set("pcie.gen", "4");
  config.set("pcie.lanes", "16");
  config.set("pcie.mps", "512");
  config.set("pcie.mrrs", "1024");
  config.set("pcie.ecrc", "true");
  config.set("pcie.latency_ns", "250");
  const pcie::LinkConfig c = pcie::LinkConfig::from(config);
  CHECK(c.params.gen == 4);
  CHECK(c.params.lanes == 16);
  CHECK(c.params.mps == 512);
  CHECK(c.params.mrrs == 1024);
  CHECK(c.params.ecrc);
  CHECK(c.latency_ns == 250);
  CHECK_THROWS_AS(config.set("pcie.lanes", "3"), core::ConfigError);

  core::StatGroup root;
  pcie::LinkConfig bad = gen3_x8();
  bad.params.lanes = 3;
  CHECK_THROWS_AS(pcie::Link("bad_link", bad, &root), std::invalid_argument);
}

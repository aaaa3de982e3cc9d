// Link module: serialization on each direction's timeline, traversal latency, counters. A Driver
// sends requests into the link's device side; a StubTarget of fixed latency stands for the root
// complex.
#include <cmath>
#include <memory>
#include <string>

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
using sc_core::SC_ZERO_TIME;

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

// Driver -> Link -> StubTarget, elaborated; optionally a CPU driver on host_down and a device
// stub on device_down. `prefix` keeps module names unique when a test builds several.
struct Bench {
  core::StatGroup root;
  Driver driver;
  pcie::Link link;
  StubTarget target;
  std::unique_ptr<Driver> cpu;
  std::unique_ptr<StubTarget> device;

  explicit Bench(const pcie::LinkConfig& c = gen3_x8(), sc_time target_latency = kTarget,
                 const std::string& prefix = "", bool downstream = false,
                 sc_time device_latency = SC_ZERO_TIME, unsigned target_servers = 0)
      : driver((prefix + "driver").c_str()),
        link((prefix + "link").c_str(), c, &root),
        target((prefix + "target").c_str(), target_latency, target_servers) {
    driver.socket.bind(link.device_side);
    link.host_side.bind(target.socket);
    if (downstream) {
      cpu = std::make_unique<Driver>((prefix + "cpu").c_str());
      device = std::make_unique<StubTarget>((prefix + "device").c_str(), device_latency);
      cpu->socket.bind(link.host_down);
      link.device_down.bind(device->socket);
    }
  }
  core::StatMap stats() const {
    core::StatMap m;
    root.collect(m);
    return m;
  }
};

// Completes binding; call once every Bench of the test case is built.
void elaborate() {
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
}

uint64_t counter(const core::StatMap& m, const char* name) {
  return std::get<uint64_t>(m.at(name));
}

}  // namespace

TEST_CASE("link: a read adds request serialization, latency, target, completions, latency",
          "[link]") {
  Bench b;
  elaborate();
  Txn t(tlm::TLM_READ_COMMAND, k4G, 1024);
  const sc_time d = b.driver.send(t);
  // 1024 B read, MRRS 512: 2 MRd of 24 B up; the request reaches the target with the first. MPS
  // 256: each MRd is answered by 2 CplD of 20 + 256 B. MRd 1's completions are ready ser(24) after
  // MRd 0's, which still occupy the downstream direction: the 4 CplD go back to back.
  const sc_time up_arrival = ser(24) + kLinkLatency;
  const sc_time expected = up_arrival + kTarget + ser(276) * 4.0 + kLinkLatency;  // ~405.9 ns
  REQUIRE(b.target.seen.size() == 1);
  CHECK(b.target.seen[0].arrival == up_arrival);
  CHECK(near(d, expected));
  CHECK(d.to_seconds() * 1e9 == Approx(405.89).margin(0.01));
  CHECK(t.p.is_response_ok());
}

TEST_CASE("link: a write is charged upstream only, and the request starts at its annotated time",
          "[link]") {
  Bench b;
  elaborate();
  Txn t(tlm::TLM_WRITE_COMMAND, k4G, 1024);
  const sc_time d = b.driver.send(t, ns(1000));
  // 1024 B write, MPS 256: 4 MWr x 24 B + 1024 = 1120 B up; the idle link starts it at 1000 ns.
  CHECK(near(d, ns(1000) + ser(280) * 4.0 + kLinkLatency + kTarget));
  const auto m = b.stats();
  CHECK(counter(m, "link.up_bytes") == 1120);
  CHECK(counter(m, "link.up_tlps") == 4);
  CHECK(counter(m, "link.down_bytes") == 0);
  CHECK(counter(m, "link.down_tlps") == 0);
}

TEST_CASE("link: 32-bit addresses use 20 B request headers", "[link]") {
  Bench b;
  elaborate();
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
  elaborate();
  Txn r1(tlm::TLM_READ_COMMAND, k4G, 1024);
  Txn r2(tlm::TLM_READ_COMMAND, k4G + 1024, 1024);
  const sc_time d1 = b.driver.send(r1);
  const sc_time d2 = b.driver.send(r2);
  // r2's two MRd follow r1's two on the upstream direction: its first reaches the target after
  // three MRd times.
  REQUIRE(b.target.seen.size() == 2);
  CHECK(b.target.seen[1].arrival == ser(24) * 3.0 + kLinkLatency);
  // r2's completions (ready from 3 ser(24) + 150 ns) wait for r1's four, which occupy the
  // downstream direction until ser(24) + 150 ns + 4 ser(276): r2 finishes exactly one completion
  // train after r1.
  CHECK(d1 == ser(24) + kLinkLatency + kTarget + ser(276) * 4.0 + kLinkLatency);
  CHECK(d2 == d1 + ser(276) * 4.0);
}

TEST_CASE("link: back-to-back writes queue upstream", "[link]") {
  Bench b;
  elaborate();
  Txn w1(tlm::TLM_WRITE_COMMAND, k4G, 1024);
  Txn w2(tlm::TLM_WRITE_COMMAND, k4G + 1024, 1024);
  Txn w3(tlm::TLM_WRITE_COMMAND, k4G + 2048, 1024);
  const sc_time d1 = b.driver.send(w1);
  const sc_time d2 = b.driver.send(w2);
  // w3 arrives after the upstream direction has drained: no wait.
  const sc_time d3 = b.driver.send(w3, ns(1000));
  // Each 1024 B write is 4 MWr of 24 + 256 B, each charged (and rounded) on its own.
  CHECK(d1 == ser(280) * 4.0 + kLinkLatency + kTarget);
  CHECK(d2 == ser(280) * 8.0 + kLinkLatency + kTarget);
  CHECK(d3 == ns(1000) + ser(280) * 4.0 + kLinkLatency + kTarget);
}

TEST_CASE("link: byte and TLP counters per direction", "[link]") {
  Bench b;
  elaborate();
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

TEST_CASE("link: a target error comes back as one completion without data per MRd", "[link]") {
  Bench b;
  elaborate();
  b.target.response = tlm::TLM_ADDRESS_ERROR_RESPONSE;
  Txn t(tlm::TLM_READ_COMMAND, k4G, 1024);
  const sc_time d = b.driver.send(t);
  // Upstream as usual (2 MRd of 24 B); downstream one 20 B Cpl per MRd instead of 1104 B of CplD.
  // MRd 1's Cpl is ready ser(24) after MRd 0's, which has left by then (ser(20) < ser(24)).
  CHECK(d == ser(24) * 2.0 + kLinkLatency + kTarget + ser(20) + kLinkLatency);
  CHECK(t.p.get_response_status() == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  const auto m = b.stats();
  CHECK(counter(m, "link.down_bytes") == 40);
  CHECK(counter(m, "link.down_tlps") == 2);
}

TEST_CASE("link: saturated by back-to-back writes it delivers the calibrated throughput",
          "[link]") {
  Bench b;
  elaborate();
  // 1000 writes of 256 B all offered at time 0: the upstream direction serializes them back to
  // back, so the last completes at 1000 x ser(256 + 24) + latency + target. Payload rate must be
  // 256 x 57.885 / 280 = 52.92 Gb/s (calibration.md §1) within 0.5 %.
  sc_time last;
  for (int i = 0; i < 1000; ++i) {
    Txn t(tlm::TLM_WRITE_COMMAND, k4G + 256 * uint64_t(i), 256);
    last = b.driver.send(t);
  }
  const sc_time busy = last - kLinkLatency - kTarget;
  CHECK(busy == ser(280) * 1000.0);
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
  config.set("pcie.rcb", "64");
  config.set("rc.np_credits", "4");
  config.set("rc.posted_credits", "8");
  const pcie::LinkConfig c = pcie::LinkConfig::from(config);
  CHECK(c.params.gen == 4);
  CHECK(c.params.lanes == 16);
  CHECK(c.params.mps == 512);
  CHECK(c.params.mrrs == 1024);
  CHECK(c.params.ecrc);
  CHECK(c.latency_ns == 250);
  CHECK(c.params.rcb == 64);
  CHECK(c.np_credits == 4);
  CHECK(c.posted_credits == 8);
  CHECK_THROWS_AS(config.set("pcie.lanes", "3"), core::ConfigError);
  CHECK_THROWS_AS(config.set("pcie.rcb", "256"), core::ConfigError);
  CHECK_THROWS_AS(config.set("rc.np_credits", "0"), core::ConfigError);
  // The declared defaults.
  const pcie::LinkConfig d = pcie::LinkConfig::from(core::Config{});
  CHECK(d.params.rcb == 0);
  CHECK(d.np_credits == 32);
  CHECK(d.posted_credits == 64);

  core::StatGroup root;
  pcie::LinkConfig bad = gen3_x8();
  bad.params.lanes = 3;
  CHECK_THROWS_AS(pcie::Link("bad_link", bad, &root), std::invalid_argument);
}

TEST_CASE("link: one 64 B read through a zero-latency target, exact to the picosecond", "[link]") {
  Bench b(gen3_x8(), SC_ZERO_TIME);
  elaborate();
  Txn t(tlm::TLM_READ_COMMAND, k4G, 64);
  const sc_time d = b.driver.send(t);
  // MRd 24 B up, one traversal, the target answers at once, CplD 20 + 64 B down, one traversal.
  // Each TLP is rounded to whole picoseconds on its own: 24 B = 3317 ps, 84 B = 11609 ps at
  // 57.885 Gb/s (8000 / 57.885 = 138.2 ps per byte).
  CHECK(d == ser(24) + kLinkLatency + ser(84) + kLinkLatency);
  CHECK(d.value() == 3317 + 100000 + 11609 + 100000);
}

TEST_CASE("link: TLP counts and wire bytes per request size, MPS, MRRS and RCB", "[link]") {
  pcie::LinkConfig rcb64 = gen3_x8();
  rcb64.params.rcb = 64;
  Bench a(gen3_x8(), kTarget, "a_");
  Bench b(rcb64, kTarget, "b_");
  elaborate();
  struct Row {
    unsigned mps, mrrs, rcb;
    bool write;
    uint64_t addr, size;
    uint64_t up_tlps, up_bytes, down_tlps, down_bytes;  // calibration.md §1 / vtd-pcie.md §7
  } rows[] = {
      // Read 1024, MRRS 512: 2 MRd x 24; MPS 256: 4 CplD x 20 + 1024.
      {256, 512, 0, false, k4G, 1024, 2, 48, 4, 4 * 20 + 1024},
      // Write 1000, MPS 256: 4 MWr (256, 256, 256, 232) x 24 + 1000.
      {256, 512, 0, true, k4G, 1000, 4, 4 * 24 + 1000, 0, 0},
      // MPS 128: completions at 128: 8 CplD.
      {128, 512, 0, false, k4G, 1024, 2, 48, 8, 8 * 20 + 1024},
      // MRRS 128 < MPS 512: 8 MRd, each answered by one 128 B CplD.
      {512, 128, 0, false, k4G, 1024, 8, 8 * 24, 8, 8 * 20 + 1024},
      // Write 1024 at MPS 512: 2 MWr.
      {512, 128, 0, true, k4G, 1024, 2, 2 * 24 + 1024, 0, 0},
      // RCB 64: completions at 64 B whatever the MPS: 16 CplD for 1024 B.
      {256, 512, 64, false, k4G, 1024, 2, 48, 16, 16 * 20 + 1024},
      // RCB 64, 100 B in one MRd: CplD of 64 and 36.
      {256, 4096, 64, false, k4G, 100, 1, 24, 2, 2 * 20 + 100},
      // Below 4 GiB: 3 DW header, 20 B MRd.
      {256, 512, 0, false, 0x1000, 100, 1, 20, 1, 20 + 100},
      // MPS 4096: a 4 KiB write is one MWr.
      {4096, 4096, 0, true, k4G, 4096, 1, 24 + 4096, 0, 0},
      // MRRS 128, RCB 64: 32 MRd, 64 CplD.
      {128, 128, 64, false, k4G, 4096, 32, 32 * 24, 64, 64 * 20 + 4096},
  };
  double at_ns = 0;
  for (const Row& r : rows) {
    INFO("MPS " << r.mps << " MRRS " << r.mrrs << " RCB " << r.rcb
                << (r.write ? " write " : " read ") << r.size << " B at 0x" << std::hex << r.addr);
    Bench& bench = r.rcb ? b : a;
    bench.link.set_payload_sizes(r.mps, r.mrrs);
    const auto before = bench.stats();
    Txn t(r.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND, r.addr,
          static_cast<unsigned>(r.size));
    at_ns += 100000;  // well apart: each on an idle link
    bench.driver.send(t, ns(at_ns));
    const auto after = bench.stats();
    auto delta = [&](const char* name) {
      const std::string key = std::string(r.rcb ? "b_" : "a_") + name;
      return counter(after, key.c_str()) - counter(before, key.c_str());
    };
    CHECK(delta("link.up_tlps") == r.up_tlps);
    CHECK(delta("link.up_bytes") == r.up_bytes);
    CHECK(delta("link.down_tlps") == r.down_tlps);
    CHECK(delta("link.down_bytes") == r.down_bytes);
  }
}

TEST_CASE("link: rc.np_credits limits reads in flight at the root port", "[link]") {
  pcie::LinkConfig c = gen3_x8();
  c.np_credits = 2;
  const sc_time slow = ns(1000);
  Bench b(c, slow);
  elaborate();
  Txn r0(tlm::TLM_READ_COMMAND, k4G, 64), r1(tlm::TLM_READ_COMMAND, k4G + 64, 64),
      r2(tlm::TLM_READ_COMMAND, k4G + 128, 64);
  const sc_time d0 = b.driver.send(r0);
  const sc_time d1 = b.driver.send(r1);
  const sc_time d2 = b.driver.send(r2);
  // The MRds arrive one MRd time apart: a_i = (i + 1) ser(24) + 100 ns. Read 0 holds its credit
  // until its CplD has left: a_0 + 1000 ns + ser(84). Read 1's CplD waits for read 0's.
  const sc_time a0 = ser(24) + kLinkLatency, a2 = ser(24) * 3.0 + kLinkLatency;
  const sc_time e0 = a0 + slow + ser(84);
  CHECK(d0 == e0 + kLinkLatency);
  CHECK(d1 == e0 + ser(84) + kLinkLatency);
  // Both credits are taken when read 2's MRd arrives: it waits exactly until read 0's completion
  // has been sent, then goes to the target.
  REQUIRE(b.target.seen.size() == 3);
  CHECK(b.target.seen[1].arrival == ser(24) * 2.0 + kLinkLatency);
  CHECK(b.target.seen[2].arrival == e0);
  CHECK(d2 == e0 + slow + ser(84) + kLinkLatency);
  const auto m = b.stats();
  CHECK(std::get<double>(m.at("link.np_credit_wait_ns")) ==
        Approx((e0 - a2).to_seconds() * 1e9).epsilon(1e-12));
  CHECK(std::get<double>(m.at("link.posted_credit_wait_ns")) == 0);
}

TEST_CASE("link: rc.posted_credits limits writes in flight at the root port", "[link]") {
  pcie::LinkConfig c = gen3_x8();
  c.posted_credits = 1;
  const sc_time slow = ns(500);
  Bench b(c, slow);
  elaborate();
  Txn w0(tlm::TLM_WRITE_COMMAND, k4G, 64), w1(tlm::TLM_WRITE_COMMAND, k4G + 64, 64);
  const sc_time d0 = b.driver.send(w0);
  const sc_time d1 = b.driver.send(w1);
  // MWr of 24 + 64 B. w0 arrives at ser(88) + 100 ns and holds the only credit until the target
  // accepted it 500 ns later; w1, arrived at 2 ser(88) + 100 ns, waits for it.
  const sc_time f0 = ser(88) + kLinkLatency;
  CHECK(d0 == f0 + slow);
  REQUIRE(b.target.seen.size() == 2);
  CHECK(b.target.seen[1].arrival == f0 + slow);
  CHECK(d1 == f0 + slow + slow);
  const auto m = b.stats();
  CHECK(std::get<double>(m.at("link.posted_credit_wait_ns")) ==
        Approx((f0 + slow - ser(88) * 2.0 - kLinkLatency).to_seconds() * 1e9).epsilon(1e-12));
  CHECK(std::get<double>(m.at("link.np_credit_wait_ns")) == 0);
}

TEST_CASE("link: set_payload_sizes changes the split and the TLP rate", "[link]") {
  Bench b;
  elaborate();
  Txn w(tlm::TLM_WRITE_COMMAND, k4G, 1024);
  b.driver.send(w);
  CHECK(counter(b.stats(), "link.up_tlps") == 4);  // MPS 256
  // Enumeration programs MPS 128, MRRS 128.
  b.link.set_payload_sizes(128, 128);
  CHECK(b.link.config().params.mps == 128);
  CHECK(b.link.config().params.mrrs == 128);
  // x8 MPS 128: AckLimit = FCLimit = 163 (calibration.md §1).
  const double tlp128 = 8.0 * 128.0 / 130.0 * 8.0 * (1.0 - 16.0 / 163.0 - 4.0 / 1538.0);
  CHECK(b.link.tlp_gbps() == Approx(tlp128).epsilon(1e-12));
  auto ser128 = [&](uint64_t bytes) {
    return sc_time::from_value(static_cast<uint64_t>(std::llround(bytes * 8000.0 / tlp128)));
  };
  Txn w2(tlm::TLM_WRITE_COMMAND, k4G, 1024);
  const sc_time d = b.driver.send(w2, ns(10000));
  // 8 MWr of 24 + 128 B.
  CHECK(d == ns(10000) + ser128(152) * 8.0 + kLinkLatency + kTarget);
  Txn r(tlm::TLM_READ_COMMAND, k4G, 1024);
  b.driver.send(r, ns(20000));
  const auto m = b.stats();
  CHECK(counter(m, "link.up_tlps") == 4 + 8 + 8);  // + 8 MWr + 8 MRd
  CHECK(counter(m, "link.down_tlps") == 8);        // 8 CplD of 128 B
  CHECK(counter(m, "link.down_bytes") == 8 * 20 + 1024);

  for (auto [mps, mrrs] : {std::pair{64u, 256u}, {256u, 8192u}, {384u, 512u}, {0u, 128u}}) {
    INFO("MPS " << mps << " MRRS " << mrrs);
    CHECK_THROWS_AS(b.link.set_payload_sizes(mps, mrrs), std::invalid_argument);
  }
  CHECK(b.link.config().params.mps == 128);  // unchanged by the rejected calls
  CHECK(b.link.config().params.mrrs == 128);
}

TEST_CASE("link: downstream configuration requests are CfgRd/CfgWr with a completion upstream",
          "[link]") {
  const sc_time dev = ns(30);
  Bench b(gen3_x8(), kTarget, "", true, dev);
  elaborate();
  Txn rd(tlm::TLM_READ_COMMAND, 0x0010'0000, 4);  // ECAM offset of 01:00.0, register 0
  rd.ext->config = true;
  // CfgRd: 3 DW header, 20 B down; CplD 20 + 4 B up; a traversal each way.
  CHECK(b.cpu->send(rd) == ser(20) + kLinkLatency + dev + ser(24) + kLinkLatency);
  CHECK(rd.p.is_response_ok());
  Txn wr(tlm::TLM_WRITE_COMMAND, 0x0010'0004, 2);  // a 16-bit write still carries one DW
  wr.ext->config = true;
  wr.ext->posted = false;
  // CfgWr: 20 + 4 B down; its completion carries no data: 20 B up.
  CHECK(b.cpu->send(wr, ns(10000)) ==
        ns(10000) + ser(24) + kLinkLatency + dev + ser(20) + kLinkLatency);
  REQUIRE(b.device->seen.size() == 2);
  CHECK(b.device->seen[0].arrival == ser(20) + kLinkLatency);
  CHECK(b.target.seen.empty());
  const auto m = b.stats();
  CHECK(counter(m, "link.down_tlps") == 2);
  CHECK(counter(m, "link.down_bytes") == 20 + 24);
  CHECK(counter(m, "link.up_tlps") == 2);
  CHECK(counter(m, "link.up_bytes") == 24 + 20);
}

TEST_CASE("link: downstream MMIO reads are MRd + CplD, MMIO writes posted MWr", "[link]") {
  const sc_time dev = ns(30);
  Bench b(gen3_x8(), kTarget, "", true, dev);
  elaborate();
  Txn rd(tlm::TLM_READ_COMMAND, 0xfe00'0000, 8);  // a BAR below 4 GiB: 3 DW header
  // MRd 20 B down; CplD 20 + 8 B up.
  CHECK(b.cpu->send(rd) == ser(20) + kLinkLatency + dev + ser(28) + kLinkLatency);
  Txn wr(tlm::TLM_WRITE_COMMAND, 2 * k4G, 64);  // a 64-bit BAR: 4 DW header
  // MWr 24 + 64 B down; posted: no completion, done when the device took it.
  CHECK(b.cpu->send(wr, ns(10000)) == ns(10000) + ser(88) + kLinkLatency + dev);
  REQUIRE(b.device->seen.size() == 2);
  CHECK(b.device->seen[1].address == 2 * k4G);
  CHECK(b.device->seen[1].write);
  const auto m = b.stats();
  CHECK(counter(m, "link.down_tlps") == 2);
  CHECK(counter(m, "link.down_bytes") == 20 + 88);
  CHECK(counter(m, "link.up_tlps") == 1);
  CHECK(counter(m, "link.up_bytes") == 28);
  // The root port's requests take no DMA credits.
  CHECK(std::get<double>(m.at("link.np_credit_wait_ns")) == 0);
}

TEST_CASE("link: a downstream request with no device bound fails with an address error", "[link]") {
  Bench b;
  Driver cpu{"cpu"};
  cpu.socket.bind(b.link.host_down);
  elaborate();
  Txn rd(tlm::TLM_READ_COMMAND, 0x0010'0000, 4);
  rd.ext->config = true;
  CHECK(cpu.send(rd, ns(5)) == ns(5));
  CHECK(rd.p.get_response_status() == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  const auto m = b.stats();
  CHECK(counter(m, "link.down_tlps") == 0);
  CHECK(counter(m, "link.up_tlps") == 0);
}

TEST_CASE("link: a TLP charged later goes in an idle gap before TLPs already booked", "[link]") {
  const sc_time dev = ns(30);
  Bench b(gen3_x8(), kTarget, "", true, dev);
  elaborate();
  // A DMA write offered at 1000 ns books the upstream direction from 1000 ns.
  Txn w(tlm::TLM_WRITE_COMMAND, k4G, 64);
  CHECK(b.driver.send(w, ns(1000)) == ns(1000) + ser(88) + kLinkLatency + kTarget);
  // A config read at 0: its CplD is ready upstream at ser(20) + 130 ns, long before 1000 ns, and
  // goes out then, ahead of the write charged before it.
  Txn rd(tlm::TLM_READ_COMMAND, 0x0010'0000, 4);
  rd.ext->config = true;
  CHECK(b.cpu->send(rd) == ser(20) + kLinkLatency + dev + ser(24) + kLinkLatency);
  // The gap before the write is used, the write itself is not moved: a second write at 1000 ns
  // follows the first.
  Txn w2(tlm::TLM_WRITE_COMMAND, k4G + 64, 64);
  CHECK(b.driver.send(w2, ns(1000)) == ns(1000) + ser(88) * 2.0 + kLinkLatency + kTarget);
}

TEST_CASE("link: messages have a 4 DW header whatever their address, with or without data",
          "[link]") {
  const sc_time dev = ns(30);
  Bench b(gen3_x8(), kTarget, "", true, dev);
  elaborate();
  // An ATS Invalidate Request (MsgD, 8 B body) down, routed by ID: address 0 would be a 3 DW MWr.
  Txn req(tlm::TLM_WRITE_COMMAND, 0, 8);
  req.ext->message = core::MessageCode::kAtsInvalidateRequest;
  req.ext->target_id = 0x0100;
  CHECK(b.cpu->send(req) == ser(24 + 8) + kLinkLatency + dev);
  // The Invalidate Completion (Msg, no data) up.
  Txn cpl(tlm::TLM_WRITE_COMMAND, 0, 0);
  cpl.ext->message = core::MessageCode::kAtsInvalidateCompletion;
  CHECK(b.driver.send(cpl, ns(10000)) == ns(10000) + ser(24) + kLinkLatency + kTarget);
  const auto m = b.stats();
  CHECK(counter(m, "link.down_bytes") == 32);
  CHECK(counter(m, "link.up_bytes") == 24);
}

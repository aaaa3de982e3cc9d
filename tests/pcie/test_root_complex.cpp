// Root complex: processing latency, Unsupported Request on a rejected request; and the whole
// upstream path (link -> root complex -> host memory) with its latency summed by hand.
#include <cmath>
#include <sstream>

#include <catch2/catch.hpp>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/memory/host_memory.hpp>
#include <iovsim/pcie/link.hpp>
#include <iovsim/pcie/root_complex.hpp>

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

uint64_t counter(const core::StatGroup& root, const char* name) {
  core::StatMap m;
  root.collect(m);
  return std::get<uint64_t>(m.at(name));
}

// Driver -> RootComplex (latency 20 ns) -> StubTarget (latency 50 ns), elaborated.
struct Bench {
  core::StatGroup root;
  Driver driver{"driver"};
  pcie::RootComplex rc{"rc", pcie::RootComplexConfig{20}, &root};
  StubTarget target{"target", ns(50)};

  Bench() {
    driver.socket.bind(rc.upstream);
    rc.dma_out.bind(target.socket);
    sc_core::sc_start(sc_core::SC_ZERO_TIME);
    // Enumeration would set bus mastering on the root port; without it nothing goes upstream.
    rc.root_port(0).write(pcie::kCfgCommand, 2, pcie::kCmdBusMaster | pcie::kCmdMemorySpace);
  }
};

}  // namespace

TEST_CASE("root complex: adds its latency before the DMA target", "[root_complex]") {
  Bench b;
  Txn t(tlm::TLM_READ_COMMAND, k4G, 64);
  const sc_time d = b.driver.send(t, ns(5));
  // The target sees the request 5 + 20 ns after now; the answer adds the target's 50 ns.
  REQUIRE(b.target.seen.size() == 1);
  CHECK(b.target.seen[0].arrival == ns(25));
  CHECK(d == ns(5 + 20 + 50));
  CHECK(t.ext->status == core::CompletionStatus::kSC);
  CHECK(counter(b.root, "rc.requests") == 1);
  CHECK(counter(b.root, "rc.unsupported_requests") == 0);
}

TEST_CASE("root complex: a rejected request completes with UR", "[root_complex]") {
  Bench b;
  b.target.response = tlm::TLM_ADDRESS_ERROR_RESPONSE;
  Txn r(tlm::TLM_READ_COMMAND, k4G, 64);
  Txn w(tlm::TLM_WRITE_COMMAND, k4G, 64);
  Txn bare(tlm::TLM_READ_COMMAND, k4G, 64, /*with_extension=*/false);
  b.driver.send(r);
  b.driver.send(w);
  b.driver.send(bare);  // no extension to mark: still counted, and no crash
  CHECK(r.ext->status == core::CompletionStatus::kUR);
  CHECK(w.ext->status == core::CompletionStatus::kUR);
  CHECK(r.p.get_response_status() == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  CHECK(counter(b.root, "rc.requests") == 3);
  CHECK(counter(b.root, "rc.unsupported_requests") == 3);
}

TEST_CASE("root complex: RootComplexConfig::from reads rc.latency_ns", "[root_complex]") {
  core::Config config;
  CHECK(pcie::RootComplexConfig::from(config).latency_ns == 20);  // the declared default
  config.set("rc.latency_ns", "35");
  CHECK(pcie::RootComplexConfig::from(config).latency_ns == 35);
}

TEST_CASE("upstream path: link + root complex + memory latencies add up exactly",
          "[root_complex]") {
  core::StatGroup root;
  Driver driver{"driver"};
  pcie::LinkConfig lc;  // Gen3 x8, MPS 256, MRRS 512, 100 ns per traversal
  pcie::Link link{"link", lc, &root};
  pcie::RootComplex rc{"rc", pcie::RootComplexConfig{20}, &root};
  memory::HostMemoryConfig mc;
  mc.size_bytes = uint64_t{1} << 36;
  mc.latency_ns = 80;
  memory::HostMemory mem{"memory", mc, &root};
  driver.socket.bind(link.device_side);
  link.host_side.bind(rc.upstream);
  rc.dma_out.bind(mem.in);
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
  rc.root_port(0).write(pcie::kCfgCommand, 2, pcie::kCmdBusMaster | pcie::kCmdMemorySpace);

  // Gen3 x8 MPS 256: 57.885 Gb/s TLP rate (calibration.md §1).
  const double tlp = 8.0 * 128.0 / 130.0 * 8.0 * (1.0 - 16.0 / 203.0 - 4.0 / 1538.0);
  auto ser = [tlp](uint64_t b) { return sc_time::from_value(std::llround(b * 8000.0 / tlp)); };

  Txn w(tlm::TLM_WRITE_COMMAND, k4G, 64);
  for (unsigned i = 0; i < 64; ++i) w.data[i] = static_cast<uint8_t>(i + 1);
  // Write: MWr 24 + 64 B up, 100 ns link, 20 ns root complex, 80 ns DRAM.
  CHECK(near(driver.send(w), ser(88) + ns(100 + 20 + 80)));

  Txn r(tlm::TLM_READ_COMMAND, k4G, 64);
  // Read, offered at 1 us on an idle link: MRd 24 B up, 100 + 20 + 80 ns, CplD 20 + 64 B down, 100
  // ns.
  CHECK(near(driver.send(r, ns(1000)), ns(1000) + ser(24) + ns(200) + ser(84) + ns(100)));
  CHECK(r.data == w.data);
  CHECK(r.ext->status == core::CompletionStatus::kSC);

  // Beyond memory: the memory rejects it, the root complex marks UR, the link returns a bare Cpl.
  std::ostringstream log;
  core::set_log_stream(&log);  // the memory warns about the access
  Txn bad(tlm::TLM_READ_COMMAND, mc.size_bytes, 64);
  CHECK(near(driver.send(bad, ns(2000)), ns(2000) + ser(24) + ns(100 + 20) + ser(20) + ns(100)));
  core::set_log_stream(nullptr);
  CHECK(bad.ext->status == core::CompletionStatus::kUR);
  CHECK(counter(root, "rc.unsupported_requests") == 1);
  CHECK(counter(root, "memory.errors") == 1);
  CHECK(log.str().find("rejected") != std::string::npos);
}

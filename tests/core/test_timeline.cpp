// Contention timelines: start times for hand-computed queueing scenarios with 1 and k servers.
#include <catch2/catch.hpp>

#include <iovsim/core/timeline.hpp>

#include <vector>

namespace core = iovsim::core;
using sc_core::SC_NS;
using sc_core::sc_time;

namespace {
sc_time ns(double v) {
  return sc_time(v, SC_NS);
}
}  // namespace

TEST_CASE("one server: requests queue behind each other", "[timeline]") {
  core::Timeline t;
  CHECK(t.servers() == 1);
  // arrival, service -> start (previous finish in brackets)
  CHECK(t.acquire(ns(0), ns(10)) == ns(0));   // busy until 10
  CHECK(t.acquire(ns(5), ns(10)) == ns(10));  // waits 5, busy until 20
  CHECK(t.acquire(ns(8), ns(4)) == ns(20));   // waits 12, busy until 24
  CHECK(t.acquire(ns(30), ns(5)) == ns(30));  // idle gap, busy until 35
  CHECK(t.acquire(ns(35), ns(1)) == ns(35));  // arrives exactly when free
  CHECK(t.acquisitions() == 5);
  CHECK(t.busy() == ns(30));    // 10 + 10 + 4 + 5 + 1
  CHECK(t.waited() == ns(17));  // 0 + 5 + 12 + 0 + 0
  CHECK(t.horizon() == ns(36));
  CHECK(t.occupancy(ns(60)) == 0.5);
  CHECK(t.occupancy(sc_core::SC_ZERO_TIME) == 0.0);
}

TEST_CASE("one server: bandwidth limit of back-to-back arrivals", "[timeline]") {
  core::Timeline link;
  // 8 packets all ready at t=0, 2.5 ns each: serialized one after another.
  for (int i = 0; i < 8; ++i) CHECK(link.acquire(ns(0), ns(2.5)) == ns(2.5 * i));
  CHECK(link.horizon() == ns(20));
  CHECK(link.waited() == ns(2.5 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7)));
  CHECK(link.occupancy(ns(20)) == 1.0);
}

TEST_CASE("k servers: requests start on the earliest free server", "[timeline]") {
  core::Timeline t(3);
  CHECK(t.servers() == 3);
  // Three arrive at 0 and run in parallel; free at 10, 20, 30.
  CHECK(t.acquire(ns(0), ns(10)) == ns(0));
  CHECK(t.acquire(ns(0), ns(20)) == ns(0));
  CHECK(t.acquire(ns(0), ns(30)) == ns(0));
  // The 4th takes the server free at 10 (-> 15), the 5th the one free at 15 (-> 17).
  CHECK(t.acquire(ns(1), ns(5)) == ns(10));
  CHECK(t.acquire(ns(2), ns(2)) == ns(15));
  // Servers now free at 17, 20, 30; one arriving at 25 starts at once.
  CHECK(t.acquire(ns(25), ns(1)) == ns(25));
  // Free at 20, 26, 30: one arriving at 18 waits for 20.
  CHECK(t.acquire(ns(18), ns(1)) == ns(20));
  CHECK(t.acquisitions() == 7);
  CHECK(t.busy() == ns(10 + 20 + 30 + 5 + 2 + 1 + 1));
  CHECK(t.waited() == ns(9 + 13 + 0 + 2));
  CHECK(t.horizon() == ns(30));
  CHECK(t.occupancy(ns(23)) == Approx(69.0 / (3 * 23)));
}

TEST_CASE("k servers pipeline: throughput scales with servers", "[timeline]") {
  core::Timeline slots(4);
  std::vector<sc_time> starts;
  for (int i = 0; i < 10; ++i) starts.push_back(slots.acquire(ns(0), ns(100)));
  // Ten 100 ns walks on 4 slots: waves at 0, 100, 200 (4 + 4 + 2).
  const std::vector<sc_time> expected{ns(0),   ns(0),   ns(0),   ns(0),   ns(100),
                                      ns(100), ns(100), ns(100), ns(200), ns(200)};
  CHECK(starts == expected);
  CHECK(slots.horizon() == ns(300));
  CHECK(slots.busy() == ns(1000));
  CHECK(slots.occupancy(ns(300)) == Approx(1000.0 / 1200.0));
}

TEST_CASE("reset frees every server and clears the totals", "[timeline]") {
  core::Timeline t(2);
  t.acquire(ns(0), ns(50));
  t.acquire(ns(0), ns(50));
  t.acquire(ns(0), ns(50));
  REQUIRE(t.horizon() == ns(100));
  t.reset();
  CHECK(t.servers() == 2);
  CHECK(t.acquisitions() == 0);
  CHECK(t.busy() == sc_core::SC_ZERO_TIME);
  CHECK(t.waited() == sc_core::SC_ZERO_TIME);
  CHECK(t.horizon() == sc_core::SC_ZERO_TIME);
  CHECK(t.acquire(ns(1), ns(3)) == ns(1));
  CHECK(t.acquire(ns(1), ns(3)) == ns(1));
  CHECK(t.acquire(ns(1), ns(3)) == ns(4));
}

TEST_CASE("a timeline needs at least one server", "[timeline]") {
  CHECK_THROWS_AS(core::Timeline(0), std::invalid_argument);
}

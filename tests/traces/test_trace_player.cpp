// The trace player as a module: driven against a target with a fixed latency that records what it
// receives, so issue times, requester ids and PASIDs can be checked exactly.
#include <memory>
#include <vector>

#include <tlm_utils/simple_target_socket.h>
#include <catch2/catch.hpp>
#include <systemc>

#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/pcie/config_space.hpp>
#include <iovsim/traces/trace_player.hpp>

using iovsim::traces::TracePlayer;
using iovsim::traces::TracePlayerConfig;
using iovsim::traces::TraceRecord;

namespace {

struct Seen {
  uint64_t arrival_ps;
  uint16_t rid;
  bool has_pasid;
  uint32_t pasid;
  uint64_t address;
  unsigned size;
  bool write;
};

// Completes every request `latency` after it arrives.
class Recorder : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<Recorder> socket{"socket"};
  std::vector<Seen> seen;

  explicit Recorder(sc_core::sc_module_name name) : sc_module(name) {
    socket.register_b_transport(this, &Recorder::b_transport);
  }

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay) {
    const auto* ext = p.get_extension<iovsim::core::PcieExtension>();
    REQUIRE(ext);
    seen.push_back({(sc_core::sc_time_stamp() + delay).value(), ext->requester_id, ext->has_pasid,
                    ext->pasid, p.get_address(), p.get_data_length(), p.is_write()});
    delay += sc_core::sc_time(100, sc_core::SC_NS);
    p.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};

TraceRecord rec(uint64_t time_ns, uint16_t rid, uint64_t iova, bool write = false) {
  TraceRecord r;
  r.time_ps = time_ns * 1000;
  r.rid = rid;
  r.iova = iova;
  r.size = 64;
  r.write = write;
  return r;
}

struct Bench {
  iovsim::core::StatGroup root;
  std::unique_ptr<TracePlayer> player;
  Recorder target{"target"};
  iovsim::core::StatMap stats;

  Bench(const TracePlayerConfig& cfg, std::vector<TraceRecord> records, bool bus_master = true) {
    tlm::tlm_global_quantum::instance().set(sc_core::sc_time(1, sc_core::SC_US));
    player = std::make_unique<TracePlayer>("player", cfg, std::move(records), &root);
    player->dma.bind(target.socket);
    if (bus_master)
      player->config_space().write(iovsim::pcie::kCfgCommand, 2, iovsim::pcie::kCmdBusMaster);
  }
  void run() {
    sc_core::sc_start();
    root.collect(stats);
  }
  uint64_t stat(const std::string& name) { return std::get<uint64_t>(stats.at(name)); }
};

}  // namespace

TEST_CASE("player: requests leave at their trace times from their requester ids and PASIDs") {
  TracePlayerConfig cfg;
  cfg.outstanding = 4;
  std::vector<TraceRecord> rs = {rec(0, 0x0100, 0x1000), rec(0, 0x0101, 0x2000, true),
                                 rec(250, 0x0208, 0x3000), rec(5000, 0x0100, 0x4000)};
  rs[2].has_pasid = true;
  rs[2].pasid = 0x1234;
  Bench b(cfg, rs);
  b.player->start_at(sc_core::sc_time(1, sc_core::SC_US));
  b.run();
  REQUIRE(b.target.seen.size() == 4);
  const uint64_t start = 1000000;
  const uint64_t expect_ps[] = {start, start, start + 250000, start + 5000000};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(b.target.seen[i].arrival_ps == expect_ps[i]);
    CHECK(b.target.seen[i].rid == rs[i].rid);
    CHECK(b.target.seen[i].address == rs[i].iova);
    CHECK(b.target.seen[i].write == rs[i].write);
    CHECK(b.target.seen[i].size == 64);
  }
  CHECK_FALSE(b.target.seen[0].has_pasid);
  CHECK(b.target.seen[2].has_pasid);
  CHECK(b.target.seen[2].pasid == 0x1234);
  CHECK(b.player->finished());
  CHECK(b.stat("workload.transactions") == 4);
  CHECK(b.stat("workload.bytes") == 256);
  CHECK(b.stat("workload.late") == 0);
  CHECK(b.stat("workload.by_rid.0100.transactions") == 2);
  CHECK(b.stat("workload.by_rid.0101.transactions") == 1);
  CHECK(b.stat("workload.by_rid.0208.transactions") == 1);
  CHECK(std::get<double>(b.stats.at("workload.latency_ns.p50")) == 100);
  // First issue to last completion: 5 us + 100 ns.
  CHECK(std::get<double>(b.stats.at("workload.measured_ns")) == Approx(5100));
  CHECK(sc_core::sc_time_stamp() == sc_core::sc_time(6100, sc_core::SC_NS));
}

TEST_CASE("player: with no free slot a request waits, in trace order, and counts as late") {
  TracePlayerConfig cfg;
  cfg.outstanding = 1;
  // 100 ns per request, one at a time: the second waits until 100, the third until 200; the
  // fourth is on time.
  Bench b(cfg, {rec(0, 0x0100, 0), rec(10, 0x0100, 0x40, true), rec(20, 0x0100, 0x80),
                rec(400, 0x0100, 0xc0)});
  b.run();
  REQUIRE(b.target.seen.size() == 4);
  CHECK(b.target.seen[0].arrival_ps == 0);
  CHECK(b.target.seen[1].arrival_ps == 100000);
  CHECK(b.target.seen[2].arrival_ps == 200000);
  CHECK(b.target.seen[3].arrival_ps == 400000);
  CHECK(b.stat("workload.late") == 2);
  CHECK(std::get<double>(b.stats.at("workload.issue_delay_ns.max")) == 180);
}

TEST_CASE("player: reads also wait for a tag, writes do not need one") {
  TracePlayerConfig cfg;
  cfg.outstanding = 8;
  cfg.tags = 2;
  Bench b(cfg, {rec(0, 0x0100, 0), rec(0, 0x0100, 0x40), rec(0, 0x0100, 0x80),
                rec(0, 0x0100, 0xc0, true)});
  b.run();
  REQUIRE(b.target.seen.size() == 4);
  CHECK(b.target.seen[0].arrival_ps == 0);
  CHECK(b.target.seen[1].arrival_ps == 0);
  CHECK(b.target.seen[2].arrival_ps == 100000);  // a tag frees at 100 ns
  CHECK(b.target.seen[3].arrival_ps == 100000);  // the write keeps trace order
  CHECK(b.stat("workload.late") == 2);
}

TEST_CASE("player: nothing is issued while Bus Master Enable is clear") {
  TracePlayerConfig cfg;
  Bench b(cfg, {rec(0, 0x0100, 0), rec(5, 0x0100, 0x40)}, /*bus_master=*/false);
  b.run();
  CHECK(b.target.seen.empty());
  CHECK(b.stat("workload.bme_blocked") == 2);
  CHECK(b.stat("workload.transactions") == 0);
  CHECK(b.player->finished());
}

TEST_CASE("player: an empty trace or zero slots is a configuration error") {
  iovsim::core::StatGroup root;
  TracePlayerConfig cfg;
  CHECK_THROWS_AS(TracePlayer("p0", cfg, {}, &root), iovsim::core::ConfigError);
  cfg.tags = 0;
  CHECK_THROWS_AS(TracePlayer("p1", cfg, {rec(0, 0x0100, 0)}, &root), iovsim::core::ConfigError);
}

// Host memory: data through b_transport, DRAM and last-level-cache latencies, channel bandwidth as
// contention timelines, error responses, DMI, debug transport and statistics. A small initiator
// module calls the memory's socket directly after elaboration (sc_start(SC_ZERO_TIME)), at
// simulated time 0.
#include <cstring>
#include <sstream>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <catch2/catch.hpp>
#include <systemc>
#include <tlm>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/memory/host_memory.hpp>

using namespace iovsim;
using sc_core::SC_NS;
using sc_core::sc_time;

namespace {

sc_time ns(double v) {
  return sc_time(v, SC_NS);
}

class Driver : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<Driver> socket{"socket"};

  explicit Driver(sc_core::sc_module_name name) : sc_module(name) {}

  // One access of data.size() bytes; `delay` in: offset from now, out: plus the memory's delay.
  tlm::tlm_response_status access(tlm::tlm_command cmd, uint64_t addr, std::vector<uint8_t>& data,
                                  sc_time& delay) {
    tlm::tlm_generic_payload p;
    setup(p, cmd, addr, data);
    socket->b_transport(p, delay);
    return p.get_response_status();
  }
  // The delay the memory adds to an access offered at now + offset.
  sc_time timed(tlm::tlm_command cmd, uint64_t addr, unsigned len,
                sc_time offset = sc_core::SC_ZERO_TIME) {
    std::vector<uint8_t> data(len);
    sc_time delay = offset;
    access(cmd, addr, data, delay);
    return delay - offset;
  }
  unsigned debug(tlm::tlm_command cmd, uint64_t addr, std::vector<uint8_t>& data) {
    tlm::tlm_generic_payload p;
    setup(p, cmd, addr, data);
    return socket->transport_dbg(p);
  }

  static void setup(tlm::tlm_generic_payload& p, tlm::tlm_command cmd, uint64_t addr,
                    std::vector<uint8_t>& data) {
    p.set_command(cmd);
    p.set_address(addr);
    p.set_data_ptr(data.data());
    p.set_data_length(static_cast<unsigned>(data.size()));
    p.set_streaming_width(static_cast<unsigned>(data.size()));
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  }
};

// Driver -> HostMemory, elaborated.
struct Bench {
  core::StatGroup root;
  Driver driver{"driver"};
  memory::HostMemory mem;

  explicit Bench(const memory::HostMemoryConfig& c) : mem("memory", c, &root) {
    driver.socket.bind(mem.in);
    sc_core::sc_start(sc_core::SC_ZERO_TIME);
  }
  core::StatMap stats() const {
    core::StatMap m;
    root.collect(m);
    return m;
  }
  uint64_t counter(const char* name) const { return std::get<uint64_t>(stats().at(name)); }
  double scalar(const char* name) const { return std::get<double>(stats().at(name)); }
};

memory::HostMemoryConfig cold_80ns() {
  memory::HostMemoryConfig c;
  c.latency_ns = 80;
  c.llc_latency_ns = 30;
  c.bandwidth_gbps = 0;  // unlimited: latency only
  return c;
}

std::vector<uint8_t> pattern(unsigned len, uint8_t seed) {
  std::vector<uint8_t> v(len);
  for (unsigned i = 0; i < len; ++i) v[i] = static_cast<uint8_t>(seed + 3 * i);
  return v;
}

}  // namespace

TEST_CASE("memory: read after write returns the data, each access adds the DRAM latency",
          "[memory]") {
  Bench b(cold_80ns());
  auto data = pattern(100, 7);
  sc_time delay = ns(10);
  CHECK(b.driver.access(tlm::TLM_WRITE_COMMAND, 0x12345f80, data, delay) == tlm::TLM_OK_RESPONSE);
  CHECK(delay == ns(10 + 80));  // the offered offset plus latency_ns

  std::vector<uint8_t> back(100, 0xee);
  delay = sc_core::SC_ZERO_TIME;
  CHECK(b.driver.access(tlm::TLM_READ_COMMAND, 0x12345f80, back, delay) == tlm::TLM_OK_RESPONSE);
  CHECK(back == data);  // the range crosses a 4 KiB page of the sparse store
  CHECK(delay == ns(80));

  // Never-written memory reads as zero.
  std::vector<uint8_t> fresh(16, 0xee);
  delay = sc_core::SC_ZERO_TIME;
  b.driver.access(tlm::TLM_READ_COMMAND, 0x40000000, fresh, delay);
  CHECK(fresh == std::vector<uint8_t>(16, 0));
}

TEST_CASE("memory: accesses inside a warm range take llc_latency_ns", "[memory]") {
  Bench b(cold_80ns());
  b.mem.add_warm_range(0x100000, 0x2000);                                 // [1 MiB, 1 MiB + 8 KiB)
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x100000, 64) == ns(30));   // first byte of the range
  CHECK(b.driver.timed(tlm::TLM_WRITE_COMMAND, 0x101fc0, 64) == ns(30));  // last line of the range
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x102000, 64) == ns(80));   // just past it: DRAM
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0xff000, 64) == ns(80));    // below it: DRAM
  CHECK(b.mem.is_warm(0x101fff));
  CHECK_FALSE(b.mem.is_warm(0x102000));
  CHECK(b.counter("memory.llc_hits") == 2);
}

TEST_CASE("memory: one channel serializes accesses at the configured bandwidth", "[memory]") {
  memory::HostMemoryConfig c = cold_80ns();
  c.bandwidth_gbps = 8;  // 8 Gb/s = 1 B/ns on the single channel: 64 B occupy it for 64 ns
  c.channels = 1;
  Bench b(c);
  CHECK(b.mem.transfer_time(64) == ns(64));
  CHECK(b.mem.transfer_time(4096) == ns(4096));
  // Both offered at time 0: the first holds the channel [0, 64), the second waits until 64.
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x1000, 64) == ns(64 + 80));
  CHECK(b.driver.timed(tlm::TLM_WRITE_COMMAND, 0x8000, 64) == ns(64 + 64 + 80));
  // A 128 B access offered at 100 ns waits for the channel until 128 ns, then holds it 128 ns.
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x2000, 128, ns(100)) == ns(28 + 128 + 80));
  // Offered at 1000 ns the channel is idle again: no wait.
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x3000, 64, ns(1000)) == ns(64 + 80));
  CHECK(b.scalar("memory.channel_wait_ns") == Approx(64 + 28));
}

TEST_CASE("memory: two interleaved channels serve two accesses at once, the third queues",
          "[memory]") {
  memory::HostMemoryConfig c = cold_80ns();
  c.bandwidth_gbps = 16;  // over 2 channels: 8 Gb/s = 1 B/ns each, 64 ns per 64 B access
  c.channels = 2;
  c.interleave_bytes = 256;  // channel = (address / 256) mod 2
  Bench b(c);
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x000, 64) == ns(64 + 80));  // channel 0
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x100, 64) == ns(64 + 80));  // channel 1, in parallel
  // Both channels are busy until 64 ns: the third and fourth start then.
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x200, 64) == ns(64 + 64 + 80));  // channel 0
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x300, 64) == ns(64 + 64 + 80));  // channel 1
  CHECK(b.scalar("memory.channel_wait_ns") == Approx(128));
}

TEST_CASE("memory: accesses mapped to one channel queue even when another is idle", "[memory]") {
  memory::HostMemoryConfig c = cold_80ns();
  c.bandwidth_gbps = 16;  // 1 B/ns per channel, as above
  c.channels = 2;
  c.interleave_bytes = 256;
  Bench b(c);
  // 0x000, 0x0c0 and 0x200 all map to channel 0: served back to back at 0, 64 and 128 ns.
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x000, 64) == ns(64 + 80));
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x0c0, 64) == ns(64 + 64 + 80));
  CHECK(b.driver.timed(tlm::TLM_WRITE_COMMAND, 0x200, 64) == ns(128 + 64 + 80));
  // Channel 1 has been idle all along.
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x100, 64) == ns(64 + 80));
  CHECK(b.scalar("memory.channel_wait_ns") == Approx(64 + 128));
}

TEST_CASE("memory: an interleave granule that is not a power of two is rejected", "[memory]") {
  memory::HostMemoryConfig c = cold_80ns();
  c.interleave_bytes = 384;
  core::StatGroup root;
  CHECK_THROWS_AS(memory::HostMemory("memory", c, &root), core::ConfigError);
}

TEST_CASE("memory: out-of-range and malformed accesses are rejected and counted", "[memory]") {
  memory::HostMemoryConfig c = cold_80ns();
  c.size_bytes = 1 << 20;
  Bench b(c);
  std::ostringstream log;
  core::set_log_stream(&log);  // rejected accesses are logged as warnings

  std::vector<uint8_t> data(64, 0x5a);
  sc_time delay = sc_core::SC_ZERO_TIME;
  // The last 32 B of memory hold only half of it.
  CHECK(b.driver.access(tlm::TLM_READ_COMMAND, (1 << 20) - 32, data, delay) ==
        tlm::TLM_ADDRESS_ERROR_RESPONSE);
  CHECK(delay == sc_core::SC_ZERO_TIME);
  CHECK(b.driver.access(tlm::TLM_WRITE_COMMAND, 1 << 20, data, delay) ==
        tlm::TLM_ADDRESS_ERROR_RESPONSE);
  // ... while the last 64 B are fine.
  CHECK(b.driver.access(tlm::TLM_READ_COMMAND, (1 << 20) - 64, data, delay) ==
        tlm::TLM_OK_RESPONSE);

  tlm::tlm_generic_payload p;
  Driver::setup(p, tlm::TLM_READ_COMMAND, 0x1000, data);
  unsigned char enables[64];
  std::memset(enables, 0xff, sizeof enables);
  p.set_byte_enable_ptr(enables);
  p.set_byte_enable_length(64);
  delay = sc_core::SC_ZERO_TIME;
  b.driver.socket->b_transport(p, delay);
  CHECK(p.get_response_status() == tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);

  tlm::tlm_generic_payload q;
  Driver::setup(q, tlm::TLM_WRITE_COMMAND, 0x1000, data);
  q.set_streaming_width(4);  // a FIFO-style access the memory does not support
  b.driver.socket->b_transport(q, delay);
  CHECK(q.get_response_status() == tlm::TLM_BURST_ERROR_RESPONSE);
  core::set_log_stream(nullptr);

  CHECK(b.counter("memory.errors") == 4);
  CHECK(b.counter("memory.reads") == 1);  // only the valid one
  CHECK(b.counter("memory.writes") == 0);
  CHECK(log.str().find("rejected") != std::string::npos);
}

TEST_CASE("memory: DMI grants exactly the page holding the address", "[memory]") {
  Bench b(cold_80ns());
  const uint64_t addr = 0x12345678;
  std::vector<uint8_t> none;
  tlm::tlm_generic_payload p;
  Driver::setup(p, tlm::TLM_READ_COMMAND, addr, none);
  tlm::tlm_dmi dmi;
  REQUIRE(b.driver.socket->get_direct_mem_ptr(p, dmi));
  // 4 KiB pages of the sparse store: [0x12345000, 0x12345fff].
  CHECK(dmi.get_start_address() == 0x12345000);
  CHECK(dmi.get_end_address() == 0x12345fff);
  CHECK(dmi.is_read_write_allowed());
  CHECK(dmi.get_read_latency() == ns(80));
  CHECK(dmi.get_write_latency() == ns(80));
  REQUIRE(dmi.get_dmi_ptr() != nullptr);

  // Writes through the pointer are visible to b_transport, and the other way round.
  unsigned char* host = dmi.get_dmi_ptr() + (addr - dmi.get_start_address());
  const uint32_t magic = 0xcafef00d;
  std::memcpy(host, &magic, 4);
  std::vector<uint8_t> word(4);
  sc_time delay = sc_core::SC_ZERO_TIME;
  b.driver.access(tlm::TLM_READ_COMMAND, addr, word, delay);
  uint32_t seen = 0;
  std::memcpy(&seen, word.data(), 4);
  CHECK(seen == magic);

  auto data = pattern(8, 1);
  b.driver.access(tlm::TLM_WRITE_COMMAND, 0x12345ff8, data, delay);  // last 8 B of the page
  CHECK(std::memcmp(dmi.get_dmi_ptr() + 0xff8, data.data(), 8) == 0);

  // Outside memory: no DMI.
  tlm::tlm_generic_payload out;
  Driver::setup(out, tlm::TLM_READ_COMMAND, b.mem.config().size_bytes, none);
  tlm::tlm_dmi refused;
  CHECK_FALSE(b.driver.socket->get_direct_mem_ptr(out, refused));
}

TEST_CASE("memory: transport_dbg copies data without timing or statistics", "[memory]") {
  memory::HostMemoryConfig c = cold_80ns();
  c.bandwidth_gbps = 8;  // 1 B/ns on one channel
  c.channels = 1;
  c.size_bytes = 1 << 20;
  Bench b(c);
  auto data = pattern(4096, 9);
  CHECK(b.driver.debug(tlm::TLM_WRITE_COMMAND, 0x3000, data) == 4096);
  std::vector<uint8_t> back(4096);
  CHECK(b.driver.debug(tlm::TLM_READ_COMMAND, 0x3000, back) == 4096);
  CHECK(back == data);
  std::vector<uint8_t> beyond(64);
  CHECK(b.driver.debug(tlm::TLM_READ_COMMAND, (1 << 20) - 32, beyond) == 0);

  // The 4 KiB debug write did not occupy the channel: a timed access at 0 starts at once.
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x3000, 64) == ns(64 + 80));
  CHECK(b.counter("memory.reads") == 1);
  CHECK(b.counter("memory.writes") == 0);
  CHECK(b.counter("memory.write_bytes") == 0);
  CHECK(b.counter("memory.errors") == 0);
}

TEST_CASE("memory: statistics count accesses, bytes and LLC hits", "[memory]") {
  Bench b(cold_80ns());
  b.mem.add_warm_range(0x10000, 0x1000);
  b.driver.timed(tlm::TLM_READ_COMMAND, 0x10000, 64);    // warm
  b.driver.timed(tlm::TLM_READ_COMMAND, 0x10040, 64);    // warm
  b.driver.timed(tlm::TLM_READ_COMMAND, 0x20000, 64);    // cold
  b.driver.timed(tlm::TLM_WRITE_COMMAND, 0x10080, 128);  // warm
  b.driver.timed(tlm::TLM_WRITE_COMMAND, 0x30000, 128);  // cold
  CHECK(b.counter("memory.reads") == 3);
  CHECK(b.counter("memory.read_bytes") == 3 * 64);
  CHECK(b.counter("memory.writes") == 2);
  CHECK(b.counter("memory.write_bytes") == 2 * 128);
  CHECK(b.counter("memory.llc_hits") == 3);
  CHECK(b.counter("memory.errors") == 0);
  CHECK(b.scalar("memory.channel_wait_ns") == 0);  // unlimited bandwidth: no channel
}

TEST_CASE("memory: HostMemoryConfig::from reads memory.*", "[memory]") {
  core::Config config;
  config.set("memory.latency_ns", "120");
  config.set("memory.llc_latency_ns", "25");
  config.set("memory.bandwidth_gbps", "76.8");
  config.set("memory.channels", "3");
  config.set("memory.size_bytes", "1G");
  config.set("memory.interleave_bytes", "4K");
  CHECK_FALSE(memory::HostMemoryConfig::from(config).reads_wait_for_writes);
  config.set("memory.reads_wait_for_writes", "true");
  const auto c = memory::HostMemoryConfig::from(config);
  CHECK(c.reads_wait_for_writes);
  CHECK(c.latency_ns == 120);
  CHECK(c.llc_latency_ns == 25);
  CHECK(c.bandwidth_gbps == Approx(76.8));
  CHECK(c.channels == 3);
  CHECK(c.size_bytes == (uint64_t{1} << 30));
  CHECK(c.interleave_bytes == 4096);
  CHECK_THROWS_AS(config.set("memory.channels", "0"), core::ConfigError);
}

TEST_CASE("memory: with reads_wait_for_writes, a read of a line still being written waits for it",
          "[memory]") {
  auto c = cold_80ns();
  c.reads_wait_for_writes = true;
  Bench b(c);
  // A write arriving at 0 commits at 80 ns; a read of the same line arriving at 10 ns starts then.
  CHECK(b.driver.timed(tlm::TLM_WRITE_COMMAND, 0x1000, 64) == ns(80));
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x1020, 8, ns(10)) == ns(70 + 80));
  // Another line, or a read after the commit, does not wait.
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x1040, 64, ns(10)) == ns(80));
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x1000, 64, ns(80)) == ns(80));
  // A read that arrived before the write (processed later by temporal decoupling) does not wait.
  CHECK(b.driver.timed(tlm::TLM_WRITE_COMMAND, 0x2000, 64, ns(100)) == ns(80));
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x2000, 64, ns(50)) == ns(80));
  // A read spanning two lines waits for the later of their writes.
  CHECK(b.driver.timed(tlm::TLM_WRITE_COMMAND, 0x3000, 64) == ns(80));
  CHECK(b.driver.timed(tlm::TLM_WRITE_COMMAND, 0x3040, 64, ns(10)) == ns(80));
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x3000, 128, ns(20)) == ns(70 + 80));
  CHECK(b.counter("memory.ordered_reads") == 2);
}

TEST_CASE("memory: without reads_wait_for_writes, reads never wait for writes", "[memory]") {
  Bench b(cold_80ns());
  CHECK(b.driver.timed(tlm::TLM_WRITE_COMMAND, 0x1000, 64) == ns(80));
  CHECK(b.driver.timed(tlm::TLM_READ_COMMAND, 0x1000, 64, ns(10)) == ns(80));
  CHECK(b.counter("memory.ordered_reads") == 0);
}

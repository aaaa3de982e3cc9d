// Out-of-tree consumer of the iovsim package: its own sc_main, its own initiator, iovsim's host
// memory. Writes a pattern through b_transport, reads it back, and checks the data, the latency the
// memory added (cold DRAM and warm LLC) and the memory's statistics. Exit status 0 only when every
// check passes.
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/stats.hpp>
#include <iovsim/memory/host_memory.hpp>
#include <iovsim/traces/trace_reader.hpp>
#include <iovsim/version.hpp>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::fprintf(stderr, "consumer: FAILED: %s\n", what.c_str());
  }
}

struct Initiator : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Initiator> out{"out"};
  bool done = false;

  SC_CTOR(Initiator) { SC_THREAD(run); }

  // One access; returns the delay the target annotated.
  sc_core::sc_time access(tlm::tlm_command cmd, uint64_t addr, std::vector<uint8_t>& data) {
    tlm::tlm_generic_payload p;
    p.set_command(cmd);
    p.set_address(addr);
    p.set_data_ptr(data.data());
    p.set_data_length(static_cast<unsigned>(data.size()));
    p.set_streaming_width(static_cast<unsigned>(data.size()));
    p.set_byte_enable_ptr(nullptr);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
    out->b_transport(p, delay);
    check(p.is_response_ok(),
          "response to access at " + std::to_string(addr) + ": " + p.get_response_string());
    return delay;
  }

  void run() {
    const sc_core::sc_time dram(50, sc_core::SC_NS), llc(20, sc_core::SC_NS);
    const uint64_t cold = 0x12345000, warm = 0x80000040;

    std::vector<uint8_t> pattern(256);
    for (std::size_t i = 0; i < pattern.size(); ++i) pattern[i] = static_cast<uint8_t>(i * 7 + 3);

    for (uint64_t addr : {cold, warm}) {
      const sc_core::sc_time expected = addr == warm ? llc : dram;
      std::vector<uint8_t> w = pattern;
      const sc_core::sc_time wd = access(tlm::TLM_WRITE_COMMAND, addr, w);
      std::vector<uint8_t> r(pattern.size(), 0);
      const sc_core::sc_time rd = access(tlm::TLM_READ_COMMAND, addr, r);
      const std::string where = addr == warm ? "warm" : "cold";
      check(r == pattern, where + " read-back differs from what was written");
      check(wd == expected,
            where + " write latency " + wd.to_string() + ", expected " + expected.to_string());
      check(rd == expected,
            where + " read latency " + rd.to_string() + ", expected " + expected.to_string());
      wait(rd);
    }
    done = true;
  }
};

}  // namespace

int sc_main(int, char*[]) {
  sc_core::sc_report_handler::set_actions("/IEEE_Std_1666/deprecated", sc_core::SC_DO_NOTHING);

  iovsim::memory::HostMemoryConfig config;
  config.size_bytes = uint64_t{1} << 32;
  config.latency_ns = 50;
  config.llc_latency_ns = 20;
  iovsim::core::StatGroup stats;
  iovsim::memory::HostMemory memory("memory", config, &stats);
  memory.add_warm_range(0x80000000, 0x1000);

  Initiator initiator("initiator");
  initiator.out.bind(memory.in);
  sc_core::sc_start();

  check(initiator.done, "the initiator did not finish");
  iovsim::core::StatMap values;
  stats.collect(values);
  auto counter = [&](const std::string& name) -> uint64_t {
    auto it = values.find(name);
    if (it == values.end() || !std::holds_alternative<uint64_t>(it->second)) {
      check(false, "no counter " + name);
      return 0;
    }
    return std::get<uint64_t>(it->second);
  };
  check(counter("memory.writes") == 2, "memory.writes != 2");
  check(counter("memory.reads") == 2, "memory.reads != 2");
  check(counter("memory.read_bytes") == 512, "memory.read_bytes != 512");
  check(counter("memory.llc_hits") == 2, "memory.llc_hits != 2");

  // The trace headers are installed beside the models'.
  std::istringstream trace("time_ns,rid,iova,size,dir\n5,01:00.0,0x1000,64,W\n");
  const auto records = iovsim::traces::TraceReader().read(trace, "inline").records;
  check(records.size() == 1 && records[0].write && records[0].iova == 0x1000,
        "trace reader: one write at 0x1000");

  if (failures) {
    std::printf("iovsim consumer: %d check(s) FAILED (iovsim %s)\n", failures, IOVSIM_VERSION);
    return 1;
  }
  std::printf("iovsim consumer: OK (iovsim %s, HostMemory round trip, %s simulated)\n",
              IOVSIM_VERSION, sc_core::sc_time_stamp().to_string().c_str());
  return 0;
}

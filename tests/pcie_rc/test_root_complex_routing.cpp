// The root complex with two root ports at module level: ECAM routing by bus/device/function, MMIO
// routing by the root ports' memory windows, UR (all ones) for unclaimed addresses, requester-id
// checks on upstream TLPs, root-port bus mastering, and the interrupt window.
#include <cstring>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <catch2/catch.hpp>
#include <systemc>
#include <tlm>

#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/pcie/config_space.hpp>
#include <iovsim/pcie/root_complex.hpp>

using namespace iovsim;

namespace {

// A function below a root port: config space with one 4 KiB BAR holding a 32-bit value at +0.
struct Function : sc_core::sc_module {
  tlm_utils::simple_target_socket<Function> in{"in"};
  tlm_utils::simple_initiator_socket<Function> up{"up"};
  pcie::ConfigSpace cs;
  uint32_t reg = 0;
  Function(sc_core::sc_module_name n, uint16_t device)
      : sc_module(n), cs(0x1234, device, 0x020000) {
    cs.define_bar(0, 4096, false);
    in.register_b_transport(this, &Function::transport);
  }
  void transport(tlm::tlm_generic_payload& p, sc_core::sc_time&) {
    auto* ext = p.get_extension<core::PcieExtension>();
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    uint32_t v = 0;
    if (ext && ext->config) {
      if (((p.get_address() >> 12) & 0xff) != 0) return;  // device 0, function 0 only
      const uint16_t off = static_cast<uint16_t>(p.get_address() & 0xfff);
      if (p.is_read()) {
        v = cs.read(off, p.get_data_length());
        std::memcpy(p.get_data_ptr(), &v, p.get_data_length());
      } else {
        std::memcpy(&v, p.get_data_ptr(), p.get_data_length());
        cs.write(off, p.get_data_length(), v);
      }
    } else {
      if (!cs.bar_hit(p.get_address(), p.get_data_length())) return;
      if (p.is_read())
        std::memcpy(p.get_data_ptr(), &reg, 4);
      else
        std::memcpy(&reg, p.get_data_ptr(), 4);
    }
    p.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};

// Memory and interrupt sinks, and a CPU initiator.
struct Sink : sc_core::sc_module {
  tlm_utils::simple_target_socket<Sink> in{"in"};
  int hits = 0;
  explicit Sink(sc_core::sc_module_name n) : sc_module(n) {
    in.register_b_transport(this, &Sink::transport);
  }
  void transport(tlm::tlm_generic_payload& p, sc_core::sc_time&) {
    ++hits;
    p.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};

struct Cpu : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Cpu> out{"out"};
  explicit Cpu(sc_core::sc_module_name n) : sc_module(n) {}
  bool access(bool write, uint64_t addr, uint32_t* v, unsigned len = 4) {
    tlm::tlm_generic_payload p;
    p.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    p.set_address(addr);
    p.set_data_ptr(reinterpret_cast<unsigned char*>(v));
    p.set_data_length(len);
    p.set_streaming_width(len);
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    out->b_transport(p, d);
    return p.is_response_ok();
  }
};

struct Bench {
  core::StatGroup stats;
  pcie::RootComplex rc;
  Function f0{"f0", 0xA0}, f1{"f1", 0xA1};
  Sink mem{"mem"}, irq{"irq"};
  Cpu cpu{"cpu"};
  static pcie::RootComplexConfig cfg() {
    pcie::RootComplexConfig c;
    c.ports = 2;
    c.buses_per_port = 8;
    c.ecam_base = 0xE0000000;
    return c;
  }
  Bench() : rc("rc", cfg(), &stats) {
    f0.up.bind(rc.upstream);
    f1.up.bind(rc.upstream);
    rc.downstream.bind(f0.in);
    rc.downstream.bind(f1.in);
    rc.dma_out.bind(mem.in);
    rc.msi_out.bind(irq.in);
    cpu.out.bind(rc.cpu);
    sc_core::sc_start(sc_core::SC_ZERO_TIME);  // complete the multi-socket bindings
  }
  uint64_t ecam(unsigned bus, unsigned dev, unsigned fn, unsigned off) {
    return 0xE0000000 + (uint64_t{bus} << 20) + (dev << 15) + (fn << 12) + off;
  }
  uint32_t cfg_read(unsigned bus, unsigned dev, unsigned fn, unsigned off) {
    uint32_t v = 0;
    cpu.access(false, ecam(bus, dev, fn, off), &v);
    return v;
  }
  void cfg_write(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v) {
    cpu.access(true, ecam(bus, dev, fn, off), &v);
  }
  uint64_t counter(const char* name) {
    core::StatMap m;
    stats.collect(m);
    return std::get<uint64_t>(m.at(name));
  }
  bool upstream(Function& f, uint16_t rid, bool write, uint64_t addr) {
    uint32_t data = 0;
    tlm::tlm_generic_payload p;
    core::PcieExtension ext;
    ext.requester_id = rid;
    p.set_extension(&ext);
    p.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    p.set_address(addr);
    p.set_data_ptr(reinterpret_cast<unsigned char*>(&data));
    p.set_data_length(4);
    p.set_streaming_width(4);
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    f.up->b_transport(p, d);
    p.clear_extension(&ext);
    return p.is_response_ok() && ext.status == core::CompletionStatus::kSC;
  }
};

}  // namespace

TEST_CASE(
    "ECAM: root ports on bus 0, functions below them on their secondary buses, absent ones all "
    "ones") {
  Bench b;
  // Root port i is device i+1 on bus 0: Intel 8086:6f08, header type 1, buses [1..8] and [9..16].
  CHECK(b.cfg_read(0, 1, 0, 0x00) == 0x6F088086);
  CHECK((b.cfg_read(0, 1, 0, 0x0C) >> 16 & 0x7f) == 1);
  CHECK(b.cfg_read(0, 1, 0, 0x18) == 0x00080100);  // primary 0, secondary 1, subordinate 8
  CHECK(b.cfg_read(0, 2, 0, 0x18) == 0x00100900);  // port 1: 9..16
  CHECK(b.cfg_read(0, 3, 0, 0x00) == 0xFFFFFFFF);  // no third port
  // Bus 1 device 0 is f0; bus 9 device 0 is f1; other devices/functions and buses are absent.
  CHECK(b.cfg_read(1, 0, 0, 0x00) == 0x00A01234);
  CHECK(b.cfg_read(9, 0, 0, 0x00) == 0x00A11234);
  CHECK(b.cfg_read(1, 1, 0, 0x00) == 0xFFFFFFFF);
  CHECK(b.cfg_read(1, 0, 1, 0x00) == 0xFFFFFFFF);
  CHECK(b.cfg_read(20, 0, 0, 0x00) == 0xFFFFFFFF);
  // Config writes reach the function: BAR sizing through ECAM.
  b.cfg_write(1, 0, 0, 0x10, 0xFFFFFFFF);
  CHECK(b.cfg_read(1, 0, 0, 0x10) == 0xFFFFF000);
  CHECK(b.counter("rc.config_accesses") == 12);
}

TEST_CASE(
    "MMIO routes by the root ports' memory windows to the function whose BAR holds the address") {
  Bench b;
  // f0's BAR at 0xC0000000, f1's at 0xC0100000, memory space on; port windows 1 MiB each.
  b.cfg_write(1, 0, 0, 0x10, 0xC0000000);
  b.cfg_write(1, 0, 0, 0x04, 0x2);
  b.cfg_write(9, 0, 0, 0x10, 0xC0100000);
  b.cfg_write(9, 0, 0, 0x04, 0x2);
  uint32_t v = 0x55;
  // Windows not programmed yet: unclaimed, UR, reads all ones.
  CHECK_FALSE(b.cpu.access(false, 0xC0000000, &v));
  CHECK(v == 0xFFFFFFFF);
  b.cfg_write(0, 1, 0, 0x20, 0xC000C000);  // memory base = limit = 0xC00 (MiB)
  b.cfg_write(0, 1, 0, 0x04, 0x6);
  b.cfg_write(0, 2, 0, 0x20, 0xC010C010);
  b.cfg_write(0, 2, 0, 0x04, 0x6);
  v = 0x1111;
  REQUIRE(b.cpu.access(true, 0xC0000000, &v));
  v = 0x2222;
  REQUIRE(b.cpu.access(true, 0xC0100000, &v));
  CHECK(b.f0.reg == 0x1111);
  CHECK(b.f1.reg == 0x2222);
  // Inside port 0's window but beyond f0's BAR: nobody claims it.
  CHECK_FALSE(b.cpu.access(false, 0xC0080000, &v));
  CHECK(v == 0xFFFFFFFF);
  CHECK(b.counter("rc.mmio_accesses") == 3);
  CHECK(b.counter("rc.unclaimed") == 2);
}

TEST_CASE(
    "upstream: requester ids outside the port's buses are counted and blocked, bus mastering "
    "gates") {
  Bench b;
  // Root ports start with bus mastering off: nothing goes upstream.
  CHECK_FALSE(b.upstream(b.f0, 0x0100, false, 0x1000));
  CHECK(b.counter("rc.bme_blocked") == 1);
  b.cfg_write(0, 1, 0, 0x04, 0x6);
  b.cfg_write(0, 2, 0, 0x04, 0x6);
  CHECK(b.upstream(b.f0, 0x0100, false, 0x1000));  // 01:00.0 below port 0
  CHECK(b.upstream(b.f1, 0x0900, true, 0x2000));   // 09:00.0 below port 1
  // f1 pretending to be 01:00.0: spoofed, blocked with UR.
  CHECK_FALSE(b.upstream(b.f1, 0x0100, false, 0x1000));
  CHECK(b.counter("rc.rid_violations") == 1);
  CHECK(b.mem.hits == 2);
  // A write to the interrupt window goes to the interrupt path, not memory.
  CHECK(b.upstream(b.f0, 0x0100, true, 0xFEE00000));
  CHECK(b.irq.hits == 1);
  CHECK(b.mem.hits == 2);
  CHECK(b.counter("rc.msi_writes") == 1);
}

// The CPU stub's interrupt controller, driven directly (b_transport before sc_start: each write's
// arrival is its annotated delay). The bench's parameters make the arithmetic easy: a 1000 MHz
// clock, 500 handler cycles (= 500 ns) and 100 ns interrupt entry.
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <catch2/catch.hpp>
#include <systemc>
#include <tlm>

#include <iovsim/core/irq_timing.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/cpu_stub/interrupt_controller.hpp>

using namespace iovsim;
using cpu_stub::InterruptController;
using cpu_stub::InterruptControllerConfig;
using cpu_stub::InterruptMessage;

namespace {

constexpr uint64_t kNs = 1000;  // picoseconds

struct Port : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Port> out{"out"};
  explicit Port(sc_core::sc_module_name n) : sc_module(n) {}
};

InterruptControllerConfig bench_config() {
  InterruptControllerConfig c;
  c.cpus = 2;
  c.clock_mhz = 1000;
  c.dispatch_ns = 100;
  c.handler_cycles = 500;
  return c;
}

uint64_t msi_address(unsigned apic, bool logical = false, bool rh = false) {
  return 0xFEE00000ull | (uint64_t{apic & 0xff} << 12) | (uint64_t{rh} << 3) |
         (uint64_t{logical} << 2);
}

struct Send {
  uint64_t address = 0;
  uint32_t data = 0;
  unsigned size = 4;
  bool write = true;
  double at_ns = 0;
  std::optional<core::IrqTiming> timing;
  std::optional<uint16_t> pcie_rid;
};

class Bench {
 public:
  explicit Bench(InterruptControllerConfig c = bench_config())
      : irq_("irq", &root_, c), port_("port") {
    port_.out.bind(irq_.msi_in);
    irq_.on_interrupt([this](const InterruptMessage& m) { seen_.push_back(m); });
  }

  tlm::tlm_response_status send(const Send& s) {
    tlm::tlm_generic_payload p;
    uint64_t buf = s.data;
    p.set_command(s.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    p.set_address(s.address);
    p.set_data_ptr(reinterpret_cast<unsigned char*>(&buf));
    p.set_data_length(s.size);
    p.set_streaming_width(s.size);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    if (s.timing) p.set_extension(new core::IrqTiming(*s.timing));
    if (s.pcie_rid) {
      auto* ext = new core::PcieExtension;
      ext->requester_id = *s.pcie_rid;
      ext->posted = true;
      p.set_extension(ext);
    }
    sc_core::sc_time delay(s.at_ns, sc_core::SC_NS);
    port_.out->b_transport(p, delay);
    return p.get_response_status();
  }
  // A fixed-mode, edge-triggered MSI.
  tlm::tlm_response_status msi(unsigned apic, unsigned vector, double at_ns,
                               std::optional<core::IrqTiming> timing = std::nullopt) {
    Send s;
    s.address = msi_address(apic);
    s.data = vector;
    s.at_ns = at_ns;
    s.timing = timing;
    return send(s);
  }

  InterruptController& irq() { return irq_; }
  const std::vector<InterruptMessage>& seen() const { return seen_; }
  core::StatMap stats() const {
    core::StatMap m;
    root_.collect(m);
    return m;
  }
  bool has(const std::string& name) const { return stats().count(name) != 0; }
  uint64_t counter(const std::string& name) const { return std::get<uint64_t>(stats().at(name)); }
  double real(const std::string& name) const {
    const core::StatValue v = stats().at(name);
    if (auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
    return std::get<double>(v);
  }
  // count, min, max, mean of a histogram.
  void check_hist(const std::string& name, uint64_t count, double min, double max,
                  double mean) const {
    INFO(name);
    CHECK(real(name + ".count") == Approx(static_cast<double>(count)));
    CHECK(real(name + ".min") == Approx(min));
    CHECK(real(name + ".max") == Approx(max));
    CHECK(real(name + ".mean") == Approx(mean));
  }
  void check_empty(const std::string& name) const {
    INFO(name);
    CHECK(real(name + ".count") == 0);
  }

 private:
  core::StatGroup root_;
  InterruptController irq_;
  Port port_;
  std::vector<InterruptMessage> seen_;
};

core::IrqTiming timing(double decide_ns, double send_ns, double remap_in_ns = 0,
                       double remap_done_ns = 0, uint16_t rid = 0) {
  core::IrqTiming t;
  t.decide_ps = static_cast<uint64_t>(decide_ns * 1000);
  t.send_ps = static_cast<uint64_t>(send_ns * 1000);
  t.remap_in_ps = static_cast<uint64_t>(remap_in_ns * 1000);
  t.remap_done_ps = static_cast<uint64_t>(remap_done_ns * 1000);
  t.source_rid = rid;
  return t;
}

}  // namespace

TEST_CASE("InterruptControllerConfig comes from the cpu.* parameters", "[irq]") {
  core::Config config;
  InterruptControllerConfig d = InterruptControllerConfig::from(config);
  CHECK(d.cpus == 1);
  CHECK(d.clock_mhz == 2200);
  CHECK(d.dispatch_ns == 100);
  CHECK(d.handler_cycles == 2000);
  CHECK(d.handler_ps() == 909091);  // 2000 cycles at 2.2 GHz, rounded to the picosecond
  CHECK(d.dispatch_ps() == 100000);

  config.set("cpu.count", "4");
  config.set("cpu.clock_mhz", "1000");
  config.set("cpu.irq_dispatch_ns", "250");
  config.set("cpu.irq_handler_cycles", "3000");
  InterruptControllerConfig c = InterruptControllerConfig::from(config);
  CHECK(c.cpus == 4);
  CHECK(c.handler_ps() == 3000 * kNs);
  CHECK(c.dispatch_ps() == 250 * kNs);

  CHECK_THROWS_AS(config.set("cpu.count", "0"), core::ConfigError);
  CHECK_THROWS_AS(config.set("cpu.count", "257"), core::ConfigError);

  core::StatGroup root;
  InterruptController irq("irq", &root, c);
  CHECK(irq.cpus() == 4);
  InterruptControllerConfig bad = c;
  bad.cpus = 0;
  CHECK_THROWS_AS(InterruptController("bad", &root, bad), std::invalid_argument);
}

TEST_CASE("The two-argument constructor still builds one APIC", "[irq]") {
  core::StatGroup root;
  InterruptController irq("irq", &root);
  CHECK(irq.cpus() == 1);
  CHECK(irq.config().handler_cycles == 2000);
  core::StatMap m;
  root.collect(m);
  CHECK(m.count("irq.delivered") == 1);
  CHECK(m.count("irq.apic.0.delivered") == 1);
  CHECK(m.count("irq.apic.1.delivered") == 0);
}

TEST_CASE("An MSI without timing: arrival, interrupt entry, handler cost", "[irq]") {
  Bench b;
  CHECK(b.msi(0, 0x41, 1000) == tlm::TLM_OK_RESPONSE);
  REQUIRE(b.irq().delivered() == 1);
  REQUIRE(b.seen().size() == 1);
  const InterruptMessage& m = b.seen()[0];
  CHECK(m.apic_id == 0);
  CHECK(m.vector == 0x41);
  CHECK(m.time_ps == 1000 * kNs);
  CHECK(m.handler_start_ps == 1100 * kNs);
  CHECK(m.handler_end_ps == 1600 * kNs);
  CHECK_FALSE(m.has_timing);
  CHECK_FALSE(m.has_rid);
  CHECK_FALSE(m.unexpected);
  REQUIRE(b.irq().received().size() == 1);
  CHECK(b.irq().received()[0].handler_start_ps == 1100 * kNs);

  b.check_hist("irq.latency_ns", 1, 100, 100, 100);  // arrival -> handler start
  b.check_hist("irq.stage.dispatch_ns", 1, 100, 100, 100);
  b.check_empty("irq.stage.pending_ns");
  b.check_empty("irq.stage.fabric_ns");
  b.check_empty("irq.stage.remap_ns");
  b.check_empty("irq.stage.delivery_ns");
  CHECK(b.counter("irq.delivered") == 1);
  CHECK(b.counter("irq.apic.0.delivered") == 1);
  CHECK(b.counter("irq.apic.1.delivered") == 0);
  CHECK(b.real("irq.apic.0.busy_ns") == Approx(500));
  CHECK(b.irq().busy_until(0) == sc_core::sc_time(1600, sc_core::SC_NS));
  CHECK(b.counter("irq.spurious") == 0);
  CHECK(b.counter("irq.unexpected") == 0);
  CHECK(b.counter("irq.malformed") == 0);
}

TEST_CASE("IrqTiming without remapping: pending, fabric, dispatch", "[irq]") {
  Bench b;
  // Decided at 200 ns, masked until 500 ns, at the APIC at 800 ns.
  b.msi(1, 0x50, 800, timing(200, 500, 0, 0, 0x0108));
  REQUIRE(b.seen().size() == 1);
  const InterruptMessage& m = b.seen()[0];
  CHECK(m.apic_id == 1);
  CHECK(m.has_timing);
  CHECK(m.send_ps == 500 * kNs);
  CHECK(m.has_rid);
  CHECK(m.source_rid == 0x0108);
  CHECK(m.handler_start_ps == 900 * kNs);

  b.check_hist("irq.stage.pending_ns", 1, 300, 300, 300);
  b.check_hist("irq.stage.fabric_ns", 1, 300, 300, 300);
  b.check_empty("irq.stage.remap_ns");
  b.check_empty("irq.stage.delivery_ns");
  b.check_hist("irq.stage.dispatch_ns", 1, 100, 100, 100);
  b.check_hist("irq.latency_ns", 1, 400, 400, 400);  // send -> handler start
  b.check_hist("irq.rid.0108.latency_ns", 1, 400, 400, 400);
  b.check_hist("irq.vector.0x50.latency_ns", 1, 400, 400, 400);
  CHECK(b.counter("irq.vector.0x50.count") == 1);
  CHECK(b.counter("irq.apic.1.delivered") == 1);
  CHECK(b.counter("irq.apic.0.delivered") == 0);
}

TEST_CASE("IrqTiming with remapping: every stage", "[irq]") {
  Bench b;
  // Sent at once (100 ns), at the remapping unit at 350, resolved at 600, at the APIC at 700.
  b.msi(0, 0x61, 700, timing(100, 100, 350, 600, 0x2a10));
  b.check_hist("irq.stage.pending_ns", 1, 0, 0, 0);
  b.check_hist("irq.stage.fabric_ns", 1, 250, 250, 250);
  b.check_hist("irq.stage.remap_ns", 1, 250, 250, 250);
  b.check_hist("irq.stage.delivery_ns", 1, 100, 100, 100);
  b.check_hist("irq.stage.dispatch_ns", 1, 100, 100, 100);
  b.check_hist("irq.latency_ns", 1, 700, 700, 700);
  b.check_hist("irq.rid.2a10.latency_ns", 1, 700, 700, 700);

  // A second one with queueing behind the first handler (busy until 1300 ns): arrival 750,
  // entry done 850, handler at 1300.
  b.msi(0, 0x61, 750, timing(120, 150, 400, 700, 0x2a10));
  b.check_hist("irq.stage.pending_ns", 2, 0, 30, 15);
  b.check_hist("irq.stage.fabric_ns", 2, 250, 250, 250);
  b.check_hist("irq.stage.remap_ns", 2, 250, 300, 275);
  b.check_hist("irq.stage.delivery_ns", 2, 50, 100, 75);
  b.check_hist("irq.stage.dispatch_ns", 2, 100, 550, 325);
  b.check_hist("irq.latency_ns", 2, 700, 1150, 925);
  b.check_hist("irq.rid.2a10.latency_ns", 2, 700, 1150, 925);
  b.check_hist("irq.vector.0x61.latency_ns", 2, 700, 1150, 925);
  CHECK(b.counter("irq.vector.0x61.count") == 2);
}

TEST_CASE("Handlers queue back to back on one APIC, independently across APICs", "[irq]") {
  Bench b;
  b.msi(0, 0x41, 0);    // entry done 100, handler 100..600
  b.msi(0, 0x42, 10);   // entry done 110, waits: 600..1100
  b.msi(1, 0x43, 10);   // the other CPU: 110..610
  b.msi(0, 0x44, 700);  // entry done 800, waits: 1100..1600
  b.msi(1, 0x45, 900);  // CPU 1 idle again: 1000..1500
  REQUIRE(b.seen().size() == 5);
  CHECK(b.seen()[0].handler_start_ps == 100 * kNs);
  CHECK(b.seen()[1].handler_start_ps == 600 * kNs);
  CHECK(b.seen()[2].handler_start_ps == 110 * kNs);
  CHECK(b.seen()[3].handler_start_ps == 1100 * kNs);
  CHECK(b.seen()[3].handler_end_ps == 1600 * kNs);
  CHECK(b.seen()[4].handler_start_ps == 1000 * kNs);
  // dispatch: 100, 590, 100, 400, 100
  b.check_hist("irq.stage.dispatch_ns", 5, 100, 590, 258);
  b.check_hist("irq.latency_ns", 5, 100, 590, 258);
  CHECK(b.counter("irq.apic.0.delivered") == 3);
  CHECK(b.counter("irq.apic.1.delivered") == 2);
  CHECK(b.irq().delivered_to(0) == 3);
  CHECK(b.real("irq.apic.0.busy_ns") == Approx(1500));
  CHECK(b.real("irq.apic.1.busy_ns") == Approx(1000));
  CHECK(b.irq().busy_until(0) == sc_core::sc_time(1600, sc_core::SC_NS));
  CHECK(b.irq().busy_until(1) == sc_core::sc_time(1500, sc_core::SC_NS));
  CHECK(b.counter("irq.delivered") == 5);
  for (unsigned v : {0x41u, 0x42u, 0x43u, 0x44u, 0x45u}) {
    char name[32];
    std::snprintf(name, sizeof name, "irq.vector.0x%02x.count", v);
    CHECK(b.counter(name) == 1);
  }
}

TEST_CASE("Spurious interrupts: absent APIC, exception vectors", "[irq]") {
  Bench b;
  CHECK(b.msi(2, 0x41, 0) == tlm::TLM_OK_RESPONSE);    // only APICs 0 and 1
  CHECK(b.msi(255, 0x41, 0) == tlm::TLM_OK_RESPONSE);  // broadcast id: not modelled
  CHECK(b.msi(0, 0x1f, 0) == tlm::TLM_OK_RESPONSE);    // an exception vector
  CHECK(b.msi(1, 0x00, 0) == tlm::TLM_OK_RESPONSE);
  CHECK(b.counter("irq.spurious") == 4);
  CHECK(b.irq().spurious() == 4);
  CHECK(b.irq().delivered() == 0);
  CHECK(b.seen().empty());
  CHECK(b.irq().received().empty());
  CHECK_FALSE(b.has("irq.vector.0x1f.count"));
  CHECK_FALSE(b.has("irq.vector.0x41.count"));
  b.check_empty("irq.latency_ns");
  CHECK(b.irq().busy_until(0) == sc_core::SC_ZERO_TIME);

  b.msi(0, 0x20, 0);  // the first non-exception vector is fine
  CHECK(b.irq().delivered() == 1);
  CHECK(b.counter("irq.vector.0x20.count") == 1);
  CHECK(b.counter("irq.spurious") == 4);
  CHECK(b.counter("irq.malformed") == 0);
}

TEST_CASE("Unexpected vectors are counted and still delivered", "[irq]") {
  Bench b;
  b.irq().expect_vector(0, 0x41);
  b.irq().expect_vector(0, 0x42);
  b.msi(0, 0x41, 0);
  b.msi(0, 0x42, 0);
  CHECK(b.counter("irq.unexpected") == 0);
  b.msi(0, 0x43, 0);  // APIC 0 expects 0x41 and 0x42 only
  CHECK(b.counter("irq.unexpected") == 1);
  CHECK(b.irq().unexpected() == 1);
  b.msi(1, 0x43, 0);  // APIC 1 has no expectations: anything goes
  CHECK(b.counter("irq.unexpected") == 1);
  CHECK(b.irq().delivered() == 4);
  REQUIRE(b.seen().size() == 4);
  CHECK_FALSE(b.seen()[1].unexpected);
  CHECK(b.seen()[2].unexpected);
  CHECK_FALSE(b.seen()[3].unexpected);
  CHECK(b.counter("irq.vector.0x43.count") == 2);
  CHECK(b.counter("irq.spurious") == 0);
  CHECK_THROWS_AS(b.irq().expect_vector(2, 0x41), std::out_of_range);
  CHECK_THROWS_AS(b.irq().expect_vector(0, 0x100), std::out_of_range);
}

TEST_CASE("Per-vector and per-requester statistics", "[irq]") {
  Bench b;
  b.msi(0, 0xef, 0, timing(0, 0, 0, 0, 0x0300));           // latency 100
  b.msi(1, 0xef, 1000, timing(900, 900, 0, 0, 0x0301));    // latency 200
  b.msi(0, 0x41, 2000, timing(1500, 1600, 0, 0, 0x0300));  // latency 500
  CHECK(b.counter("irq.vector.0xef.count") == 2);
  CHECK(b.counter("irq.vector.0x41.count") == 1);
  b.check_hist("irq.vector.0xef.latency_ns", 2, 100, 200, 150);
  b.check_hist("irq.vector.0x41.latency_ns", 1, 500, 500, 500);
  b.check_hist("irq.rid.0300.latency_ns", 2, 100, 500, 300);
  b.check_hist("irq.rid.0301.latency_ns", 1, 200, 200, 200);
  b.check_hist("irq.latency_ns", 3, 100, 500, 800.0 / 3);
  CHECK_FALSE(b.has("irq.rid.0302.latency_ns.count"));

  // Without IrqTiming the requester comes from the PCIe extension, if any.
  Send s;
  s.address = msi_address(1);
  s.data = 0x41;
  s.at_ns = 3000;
  s.pcie_rid = 0x0302;
  b.send(s);
  b.check_hist("irq.rid.0302.latency_ns", 1, 100, 100, 100);
  CHECK(b.counter("irq.vector.0x41.count") == 2);
}

TEST_CASE("Message fields: destination mode, redirection hint, delivery mode, trigger", "[irq]") {
  Bench b;
  Send s;
  s.address = msi_address(1, true, true);
  s.data = 0x8000u | (1u << 8) | 0x7b;  // level, lowest priority, vector 0x7b
  s.at_ns = 5;
  CHECK(b.send(s) == tlm::TLM_OK_RESPONSE);
  REQUIRE(b.seen().size() == 1);
  const InterruptMessage& m = b.seen()[0];
  CHECK(m.address == s.address);
  CHECK(m.data == s.data);
  CHECK(m.apic_id == 1);
  CHECK(m.dest_logical);
  CHECK(m.redirection_hint);
  CHECK(m.delivery_mode == 1);
  CHECK(m.level);
  CHECK(m.vector == 0x7b);
  CHECK(m.time_ps == 5 * kNs);
}

TEST_CASE("Malformed writes are rejected and counted as before", "[irq]") {
  Bench b;
  Send s;
  s.address = 0xFED00000;  // not the interrupt window
  s.data = 0x41;
  CHECK(b.send(s) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  s.address = msi_address(0);
  s.size = 8;  // wrong size
  CHECK(b.send(s) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  s.size = 2;
  CHECK(b.send(s) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  s.size = 4;
  s.write = false;  // a read
  CHECK(b.send(s) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  s.write = true;
  s.address = (uint64_t{1} << 32) | msi_address(0);  // above 4 GiB
  CHECK(b.send(s) == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  CHECK(b.counter("irq.malformed") == 5);
  CHECK(b.irq().malformed() == 5);
  CHECK(b.irq().delivered() == 0);
  CHECK(b.counter("irq.spurious") == 0);
  CHECK(b.seen().empty());
  b.check_empty("irq.latency_ns");
}

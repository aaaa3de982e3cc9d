// The root complex routing message TLPs (ATS invalidation, vtd-pcie.md §6) at module level: from
// msg_in by ID down the root port whose buses hold the target, and from devices to msg_out,
// whatever their address and with bus mastering off, but with the requester-id check.
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <catch2/catch.hpp>
#include <systemc>
#include <tlm>

#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/pcie/root_complex.hpp>

using namespace iovsim;
using core::MessageCode;

namespace {

// Records what reaches it; optionally refuses.
struct Sink : sc_core::sc_module {
  tlm_utils::simple_target_socket_optional<Sink> in{"in"};
  std::vector<core::PcieExtension> got;
  std::vector<double> at_ns;
  bool accept = true;
  explicit Sink(sc_core::sc_module_name n) : sc_module(n) {
    in.register_b_transport(this, &Sink::transport);
  }
  void transport(tlm::tlm_generic_payload& p, sc_core::sc_time& d) {
    const auto* ext = p.get_extension<core::PcieExtension>();
    got.push_back(ext ? *ext : core::PcieExtension{});
    at_ns.push_back((sc_core::sc_time_stamp() + d).to_seconds() * 1e9);
    p.set_response_status(accept ? tlm::TLM_OK_RESPONSE : tlm::TLM_ADDRESS_ERROR_RESPONSE);
  }
};

struct Sender : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Sender> out{"out"};
  explicit Sender(sc_core::sc_module_name n) : sc_module(n) {}
  // A message from `from` to `to`; true when the receiver accepted it.
  bool send(MessageCode code, uint16_t from, uint16_t to) {
    uint8_t body[8] = {};
    tlm::tlm_generic_payload p;
    core::PcieExtension ext;
    ext.requester_id = from;
    ext.target_id = to;
    ext.posted = true;
    ext.message = code;
    ext.itag = 4;
    p.set_extension(&ext);
    p.set_command(tlm::TLM_WRITE_COMMAND);
    p.set_address(0xFEE00000);  // ignored: messages are routed by ID, never as MSIs or DMA
    p.set_data_ptr(body);
    p.set_data_length(8);
    p.set_streaming_width(8);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    out->b_transport(p, d);
    p.clear_extension(&ext);
    return p.is_response_ok();
  }
};

struct Bench {
  core::StatGroup stats;
  pcie::RootComplex rc;
  Sink port0{"port0"}, port1{"port1"}, mem{"mem"}, irq{"irq"}, iommu{"iommu"};
  Sender dev0{"dev0"}, host{"host"};
  static pcie::RootComplexConfig cfg() {
    pcie::RootComplexConfig c;
    c.ports = 2;
    c.buses_per_port = 8;
    return c;
  }
  explicit Bench(bool bind_msg_out = true) : rc("rc", cfg(), &stats) {
    dev0.out.bind(rc.upstream);
    rc.downstream.bind(port0.in);
    rc.downstream.bind(port1.in);
    rc.dma_out.bind(mem.in);
    rc.msi_out.bind(irq.in);
    host.out.bind(rc.msg_in);
    if (bind_msg_out) rc.msg_out.bind(iommu.in);
    sc_core::sc_start(sc_core::SC_ZERO_TIME);  // complete the multi-socket bindings
  }
  uint64_t counter(const char* name) {
    core::StatMap m;
    stats.collect(m);
    return std::get<uint64_t>(m.at(name));
  }
};

}  // namespace

TEST_CASE("messages from msg_in go down the root port whose buses hold the target id") {
  Bench b;
  // Port 0 owns buses 1..8, port 1 buses 9..16.
  CHECK(b.host.send(MessageCode::kAtsInvalidateRequest, 0x0000, 0x0903));
  REQUIRE(b.port1.got.size() == 1);
  CHECK(b.port0.got.empty());
  CHECK(b.port1.got[0].target_id == 0x0903);
  CHECK(b.port1.got[0].itag == 4);
  CHECK(b.port1.at_ns[0] == Approx(b.rc.config().latency_ns));
  CHECK(b.host.send(MessageCode::kAtsInvalidateRequest, 0x0000, 0x0800));
  CHECK(b.port0.got.size() == 1);
  // No port holds bus 0x40 (nor bus 0): not delivered.
  CHECK_FALSE(b.host.send(MessageCode::kAtsInvalidateRequest, 0x0000, 0x4000));
  CHECK_FALSE(b.host.send(MessageCode::kAtsInvalidateRequest, 0x0000, 0x0008));
  // A function that refuses the message: the sender learns it.
  b.port1.accept = false;
  CHECK_FALSE(b.host.send(MessageCode::kAtsInvalidateRequest, 0x0000, 0x0900));
  CHECK(b.counter("rc.messages_down") == 3);
  CHECK(b.counter("rc.messages_unrouted") == 2);
  CHECK(b.mem.got.empty());
  CHECK(b.irq.got.empty());
}

TEST_CASE("upstream messages go to msg_out with bus mastering off, but not with a spoofed id") {
  Bench b;
  // Bus Master Enable is clear at reset: memory requests are refused, messages are not.
  CHECK(b.dev0.send(MessageCode::kAtsInvalidateCompletion, 0x0100, 0x0000));
  REQUIRE(b.iommu.got.size() == 1);
  CHECK(b.iommu.got[0].message == MessageCode::kAtsInvalidateCompletion);
  CHECK(b.iommu.got[0].requester_id == 0x0100);
  CHECK(b.irq.got.empty());  // its address is not looked at
  CHECK(b.counter("rc.messages_up") == 1);
  CHECK(b.counter("rc.requests") == 0);  // not a memory request
  // A requester id below the other port: blocked by source validation.
  CHECK_FALSE(b.dev0.send(MessageCode::kAtsInvalidateCompletion, 0x0900, 0x0000));
  CHECK(b.iommu.got.size() == 1);
  CHECK(b.counter("rc.rid_violations") == 1);
}

TEST_CASE("upstream messages with msg_out unbound are dropped and counted") {
  Bench b(/*bind_msg_out=*/false);
  CHECK(b.dev0.send(MessageCode::kAtsInvalidateCompletion, 0x0100, 0x0000));  // posted
  CHECK(b.counter("rc.messages_unrouted") == 1);
  CHECK(b.counter("rc.messages_up") == 0);
  CHECK(b.mem.got.empty());
}

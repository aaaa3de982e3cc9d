// Test modules for the pcie tests: an initiator that issues single accesses (Driver) and a target
// with a fixed latency that records what it receives (StubTarget). Header-only, test code only.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/timeline.hpp>

namespace iovsim::test {

inline sc_core::sc_time ns(double v) {
  return sc_core::sc_time(v, sc_core::SC_NS);
}

// |a - b| <= tolerance picoseconds: serialization times are rounded to whole picoseconds, so an
// expected value computed with another operation order may differ by one per rounding.
inline bool near(const sc_core::sc_time& a, const sc_core::sc_time& b, uint64_t tolerance_ps = 2) {
  const uint64_t x = a.value(), y = b.value();
  return (x > y ? x - y : y - x) <= tolerance_ps;
}

// One generic payload with its data buffer and a PCIe extension it owns.
struct Txn {
  tlm::tlm_generic_payload p;
  std::vector<uint8_t> data;
  core::PcieExtension* ext = new core::PcieExtension;  // deleted by the payload's destructor

  Txn(tlm::tlm_command cmd, uint64_t addr, unsigned len, bool with_extension = true) : data(len) {
    p.set_command(cmd);
    p.set_address(addr);
    p.set_data_ptr(data.data());
    p.set_data_length(len);
    p.set_streaming_width(len);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    ext->posted = cmd == tlm::TLM_WRITE_COMMAND;
    ext->requester_id = 0x0100;  // 01:00.0: below root port 0
    if (with_extension) {
      p.set_extension(ext);
    } else {
      delete ext;
      ext = nullptr;
    }
  }
};

class Driver : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<Driver> socket{"socket"};

  explicit Driver(sc_core::sc_module_name name) : sc_module(name) {}

  // Sends t with annotated delay `delay` (from now) and returns the delay the targets annotated
  // back.
  sc_core::sc_time send(Txn& t, const sc_core::sc_time& delay = sc_core::SC_ZERO_TIME) {
    sc_core::sc_time d = delay;
    socket->b_transport(t.p, d);
    return d;
  }
};

class StubTarget : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<StubTarget> socket{"socket"};

  struct Seen {
    sc_core::sc_time arrival;  // simulated time the request reached the stub (now + delay)
    uint64_t address;
    unsigned length;
    bool write;
    bool has_extension;
    uint16_t requester_id;
    bool posted;
    std::vector<uint8_t> data;  // write payload
  };
  std::vector<Seen> seen;
  tlm::tlm_response_status response = tlm::TLM_OK_RESPONSE;

  // servers == 0: no contention, every request takes `latency`. servers == k: k servers of service
  // time `latency` (a core::Timeline), so requests beyond k in flight queue.
  StubTarget(sc_core::sc_module_name name, sc_core::sc_time latency, unsigned servers = 0)
      : sc_module(name), latency_(latency) {
    if (servers > 0) servers_ = std::make_unique<core::Timeline>(servers);
    socket.register_b_transport(this, &StubTarget::b_transport);
  }

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay) {
    const sc_core::sc_time now = sc_core::sc_time_stamp();
    const sc_core::sc_time arrival = now + delay;
    const auto* ext = p.get_extension<core::PcieExtension>();
    Seen s{arrival,
           p.get_address(),
           p.get_data_length(),
           p.is_write(),
           ext != nullptr,
           ext ? ext->requester_id : uint16_t{0},
           ext ? ext->posted : false,
           {}};
    if (p.is_write()) s.data.assign(p.get_data_ptr(), p.get_data_ptr() + p.get_data_length());
    seen.push_back(std::move(s));
    if (servers_) {
      const sc_core::sc_time start = servers_->acquire(arrival, latency_);
      delay = start + latency_ - now;
    } else {
      delay += latency_;
    }
    p.set_response_status(response);
  }

  sc_core::sc_time latency_;
  std::unique_ptr<core::Timeline> servers_;
};

}  // namespace iovsim::test

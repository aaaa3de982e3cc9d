// The CPU's view of the machine for driver code (HostAccess over TLM): host memory through the
// memory's CPU socket, device registers through an MMIO socket. Register accesses are b_transport
// calls; when made from a SystemC thread during simulation they take their time (the thread waits
// out the annotated delay), before simulation starts (bring-up at elaboration) they take none.
// Memory accesses by driver code are functional (debug transport): table writes are not timed.
#pragma once

#include <memory>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <systemc>
#include <tlm>

#include "host_access.hpp"

namespace iovsim::cpu_stub {

class CpuPort : public sc_core::sc_module, public HostAccess {
 public:
  tlm_utils::simple_initiator_socket<CpuPort> mem{"mem"};
  tlm_utils::simple_initiator_socket_optional<CpuPort> mmio{"mmio"};

  explicit CpuPort(sc_core::sc_module_name name);

  void mem_read(uint64_t hpa, void* dst, std::size_t len) override;
  void mem_write(uint64_t hpa, const void* src, std::size_t len) override;
  uint64_t mmio_read(uint64_t addr, unsigned size) override;
  void mmio_write(uint64_t addr, unsigned size, uint64_t value) override;
  void relax() override;
  // Latest completion of the register accesses made outside a thread (at boot, before time runs):
  // devices should not start before it.
  sc_core::sc_time boot_horizon() const { return boot_horizon_; }

 private:
  void debug(tlm::tlm_command cmd, uint64_t hpa, void* data, std::size_t len);
  uint64_t register_access(tlm::tlm_command cmd, uint64_t addr, unsigned size, uint64_t value);
  static bool in_thread();

  sc_core::sc_time boot_horizon_ = sc_core::SC_ZERO_TIME;
  // Register accesses' payloads, owned here rather than on the caller's stack: a thread still
  // waiting in an access when the simulation stops never unwinds, and a stack payload would leak.
  std::vector<std::unique_ptr<tlm::tlm_generic_payload>> payloads_;
  std::vector<tlm::tlm_generic_payload*> free_payloads_;
};

}  // namespace iovsim::cpu_stub

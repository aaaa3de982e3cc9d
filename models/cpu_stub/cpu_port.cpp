#include "cpu_port.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

namespace iovsim::cpu_stub {

CpuPort::CpuPort(sc_core::sc_module_name name) : sc_module(name) {}

bool CpuPort::in_thread() {
  return sc_core::sc_is_running() &&
         sc_core::sc_get_current_process_handle().proc_kind() == sc_core::SC_THREAD_PROC_;
}

void CpuPort::debug(tlm::tlm_command cmd, uint64_t hpa, void* data, std::size_t len) {
  tlm::tlm_generic_payload p;
  p.set_command(cmd);
  p.set_address(hpa);
  p.set_data_ptr(static_cast<unsigned char*>(data));
  p.set_data_length(static_cast<unsigned>(len));
  if (mem->transport_dbg(p) != len)
    throw std::runtime_error("CPU access to host memory at 0x" + std::to_string(hpa) + " failed");
}

void CpuPort::mem_read(uint64_t hpa, void* dst, std::size_t len) {
  debug(tlm::TLM_READ_COMMAND, hpa, dst, len);
}

void CpuPort::mem_write(uint64_t hpa, const void* src, std::size_t len) {
  debug(tlm::TLM_WRITE_COMMAND, hpa, const_cast<void*>(src), len);
}

uint64_t CpuPort::register_access(tlm::tlm_command cmd, uint64_t addr, unsigned size,
                                  uint64_t value) {
  if (mmio.size() == 0)
    throw std::runtime_error(std::string(name()) + ": no device registers are connected");
  if (free_payloads_.empty()) {
    payloads_.push_back(std::make_unique<tlm::tlm_generic_payload>());
    free_payloads_.push_back(payloads_.back().get());
  }
  tlm::tlm_generic_payload& p = *free_payloads_.back();
  free_payloads_.pop_back();
  p.set_command(cmd);
  p.set_address(addr);
  p.set_data_ptr(reinterpret_cast<unsigned char*>(&value));
  p.set_data_length(size);
  p.set_streaming_width(size);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  mmio->b_transport(p, delay);
  const bool ok = p.is_response_ok();
  // Back to the pool before waiting (another thread may use it meanwhile); not if the target
  // threw: it may have left an extension of its own set.
  free_payloads_.push_back(&p);
  if (in_thread()) {
    if (delay > sc_core::SC_ZERO_TIME) sc_core::wait(delay);
  } else if (sc_core::sc_time_stamp() + delay > boot_horizon_) {
    boot_horizon_ = sc_core::sc_time_stamp() + delay;
  }
  if (!ok) {
    // Unclaimed register space reads as all ones, as on a real bus.
    return cmd == tlm::TLM_READ_COMMAND ? (size == 8 ? ~uint64_t{0} : 0xFFFFFFFFull) : 0;
  }
  return value;
}

uint64_t CpuPort::mmio_read(uint64_t addr, unsigned size) {
  return register_access(tlm::TLM_READ_COMMAND, addr, size, 0);
}

void CpuPort::mmio_write(uint64_t addr, unsigned size, uint64_t value) {
  register_access(tlm::TLM_WRITE_COMMAND, addr, size, value);
}

void CpuPort::relax() {
  if (in_thread()) sc_core::wait(sc_core::sc_time(10, sc_core::SC_NS));
}

}  // namespace iovsim::cpu_stub

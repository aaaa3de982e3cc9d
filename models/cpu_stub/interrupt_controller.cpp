#include "interrupt_controller.hpp"

#include <cstring>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::cpu_stub {

InterruptController::InterruptController(sc_core::sc_module_name name,
                                         core::StatGroup* parent_stats)
    : sc_module(name),
      stats_("irq", parent_stats),
      delivered_(stats_.add_counter(
          "delivered", "Interrupts delivered to the CPU stub's interrupt controllers")),
      malformed_(stats_.add_counter("malformed",
                                    "Writes to the interrupt window that are not a valid MSI")) {
  msi_in.register_b_transport(this, &InterruptController::b_transport);
  chipset_in.register_b_transport(this, &InterruptController::b_transport);
}

void InterruptController::b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay) {
  const uint64_t addr = p.get_address();
  if (!p.is_write() || p.get_data_length() != 4 || core::bits(addr, 31, 20) != 0xFEE ||
      (addr >> 32) != 0) {
    ++malformed_;
    log_.warn("malformed interrupt write at 0x", std::hex, addr, std::dec, " (",
              p.get_data_length(), " B)");
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  InterruptMessage m;
  m.address = addr;
  std::memcpy(&m.data, p.get_data_ptr(), 4);
  m.apic_id = static_cast<unsigned>(core::bits(addr, 19, 12));
  m.vector = static_cast<unsigned>(core::bits(m.data, 7, 0));
  m.time_ps = (sc_core::sc_time_stamp() + delay).value();
  ++delivered_;
  if (received_.size() == 4096) received_.erase(received_.begin());
  received_.push_back(m);
  log_.debug("vector 0x", std::hex, m.vector, " to APIC ", std::dec, m.apic_id);
  for (auto& h : handlers_) h(m);
  p.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace iovsim::cpu_stub

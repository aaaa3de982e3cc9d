// Time stamps an MSI write carries from the device to the CPU, so interrupt latency can be split by
// stage: the device decides to interrupt, the write leaves it (later when the vector was masked),
// the interrupt-remapping unit receives and resolves it; the interrupt controller adds arrival and
// handler start. All in picoseconds (the SystemC time resolution); 0 = the stage did not happen.
#pragma once

#include <cstdint>

#include <tlm>

namespace iovsim::core {

class IrqTiming : public tlm::tlm_extension<IrqTiming> {
 public:
  uint64_t decide_ps = 0;
  uint64_t send_ps = 0;
  uint64_t remap_in_ps = 0;
  uint64_t remap_done_ps = 0;
  uint16_t source_rid = 0;

  tlm::tlm_extension_base* clone() const override { return new IrqTiming(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override {
    *this = static_cast<const IrqTiming&>(other);
  }
};

}  // namespace iovsim::core

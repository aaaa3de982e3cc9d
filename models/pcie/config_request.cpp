#include "config_request.hpp"

#include <cstring>

namespace iovsim::pcie {

bool serve_type0_config(ConfigSpace& cfg, tlm::tlm_generic_payload& p) {
  const uint64_t addr = p.get_address();
  const unsigned len = p.get_data_length();
  const unsigned dev = (addr >> 15) & 0x1f, fn = (addr >> 12) & 7;
  const uint16_t reg = static_cast<uint16_t>(addr & 0xfff);
  if (dev != 0 || fn != 0 || (len != 1 && len != 2 && len != 4)) return false;
  uint32_t v = 0;
  if (p.is_read()) {
    v = cfg.read(reg, len);
    std::memcpy(p.get_data_ptr(), &v, len);
  } else {
    std::memcpy(&v, p.get_data_ptr(), len);
    cfg.write(reg, len, v);
  }
  p.set_response_status(tlm::TLM_OK_RESPONSE);
  return true;
}

}  // namespace iovsim::pcie

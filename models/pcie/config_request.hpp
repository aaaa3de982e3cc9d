// Serving a type 0 configuration request (a TLM payload with core::PcieExtension::config) from a
// single-function endpoint's configuration space: the request's address is the ECAM offset
// (device 15..19, function 12..14, register 0..11).
#pragma once

#include <tlm>

#include "config_space.hpp"

namespace iovsim::pcie {

// Reads or writes `cfg` for a request to function 0 of device 0 (the only function on its link)
// of 1, 2 or 4 bytes, and sets TLM_OK_RESPONSE: true. Anything else is left unanswered: false.
bool serve_type0_config(ConfigSpace& cfg, tlm::tlm_generic_payload& p);

}  // namespace iovsim::pcie

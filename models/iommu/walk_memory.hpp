// How the VT-d page walker reads host memory: a narrow, timed interface so the walker stays plain
// C++ (unit-tested over a sparse store) while the SystemC shell adapts it to the memory socket.
#pragma once

#include <cstdint>

namespace iovsim::iommu {

struct WalkMemory {
  virtual ~WalkMemory() = default;
  // Reads len (8 or 16) bytes at hpa, little-endian, issued at time *t_ps (picoseconds); on return
  // *t_ps is when the data is back. Returns false on a read error (address outside memory), which
  // the walker turns into fault 0x7/0x8/0x9 depending on the table being read.
  virtual bool read(uint64_t hpa, void* dst, unsigned len, uint64_t* t_ps) = 0;
};

}  // namespace iovsim::iommu

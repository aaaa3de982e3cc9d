// How driver code touches the machine: host memory and the MMIO registers of devices. The CPU
// stub's drivers are plain C++ written against this interface, so a unit test can put a fake
// machine under them and a platform can route the same calls through TLM sockets.
#pragma once

#include <cstddef>
#include <cstdint>

namespace iovsim::cpu_stub {

struct HostAccess {
  virtual ~HostAccess() = default;
  virtual void mem_read(uint64_t hpa, void* dst, std::size_t len) = 0;
  virtual void mem_write(uint64_t hpa, const void* src, std::size_t len) = 0;
  virtual uint64_t mmio_read(uint64_t addr, unsigned size) = 0;  // size 4 or 8
  virtual void mmio_write(uint64_t addr, unsigned size, uint64_t value) = 0;
  // Lets simulated time pass while polling (a no-op before simulation starts).
  virtual void relax() {}

  // Little-endian helpers: the byte order of the tables the driver writes is fixed by the VT-d
  // format, not by the machine the simulator runs on, so they assemble the value byte by byte.
  uint64_t read_u64(uint64_t hpa) {
    uint8_t b[8];
    mem_read(hpa, b, sizeof b);
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  void write_u64(uint64_t hpa, uint64_t v) {
    uint8_t b[8];
    for (auto& x : b) {
      x = static_cast<uint8_t>(v);
      v >>= 8;
    }
    mem_write(hpa, b, sizeof b);
  }
  uint32_t read_u32(uint64_t hpa) {
    uint8_t b[4];
    mem_read(hpa, b, sizeof b);
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  void write_u32(uint64_t hpa, uint32_t v) {
    uint8_t b[4];
    for (auto& x : b) {
      x = static_cast<uint8_t>(v);
      v >>= 8;
    }
    mem_write(hpa, b, sizeof b);
  }
};

}  // namespace iovsim::cpu_stub

// How driver code touches the machine: host memory and the MMIO registers of devices. The CPU
// stub's drivers are plain C++ written against this interface, so a unit test can put a fake
// machine under them and a platform can route the same calls through TLM sockets.
#pragma once

#include <cstddef>
#include <cstdint>

#include <iovsim/core/bitfield.hpp>

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
  uint64_t read_u64(uint64_t hpa) { return read_le<uint64_t>(hpa); }
  void write_u64(uint64_t hpa, uint64_t v) { write_le(hpa, v); }
  uint32_t read_u32(uint64_t hpa) { return read_le<uint32_t>(hpa); }
  void write_u32(uint64_t hpa, uint32_t v) { write_le(hpa, v); }

 private:
  template <typename T>
  T read_le(uint64_t hpa) {
    uint8_t b[sizeof(T)];
    mem_read(hpa, b, sizeof b);
    return core::load_le<T>(b);
  }
  template <typename T>
  void write_le(uint64_t hpa, T v) {
    uint8_t b[sizeof(T)];
    core::store_le(b, v);
    mem_write(hpa, b, sizeof b);
  }
};

}  // namespace iovsim::cpu_stub

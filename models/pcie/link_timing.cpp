#include "link_timing.hpp"

#include <stdexcept>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::pcie {

using core::div_ceil;

double raw_gbps(const LinkParams& p) {
  static const double gts[] = {0, 2.5, 5.0, 8.0, 16.0, 32.0};
  if (p.gen < 1 || p.gen > 5) throw std::invalid_argument("PCIe generation must be 1..5");
  if (!core::is_pow2(p.lanes) || p.lanes > 16)
    throw std::invalid_argument("PCIe lanes must be 1, 2, 4, 8 or 16");
  const double encoding = p.gen <= 2 ? 8.0 / 10.0 : 128.0 / 130.0;
  return gts[p.gen] * encoding * p.lanes;
}

unsigned ack_limit(unsigned lanes, unsigned mps) {
  // Rows: x1, x2, x4, x8, x16; columns: MPS 128 .. 4096 (calibration.md §1, Gen3 and later). Gen1/2
  // use the same table: their spec values differ by a few percent of an already small overhead.
  static const unsigned table[5][6] = {
      {333, 512, 655, 1167, 2191, 4239}, {224, 313, 385, 641, 1153, 2177},
      {169, 214, 250, 378, 634, 1146},   {163, 203, 182, 246, 374, 630},
      {144, 168, 182, 246, 374, 630},
  };
  int row = lanes == 1    ? 0
            : lanes == 2  ? 1
            : lanes == 4  ? 2
            : lanes == 8  ? 3
            : lanes == 16 ? 4
                          : -1;
  int col = -1;
  for (unsigned m = 128, c = 0; m <= 4096; m *= 2, ++c)
    if (m == mps) col = static_cast<int>(c);
  if (row < 0 || col < 0)
    throw std::invalid_argument("PCIe lanes must be 1,2,4,8,16 and MPS 128..4096");
  return table[row][col];
}

double tlp_gbps(const LinkParams& p) {
  const double limit = ack_limit(p.lanes, p.mps);
  return raw_gbps(p) * (1.0 - 8.0 / limit - 8.0 / limit - 4.0 / 1538.0);
}

unsigned request_overhead(const LinkParams& p, uint64_t addr, uint64_t size) {
  const bool addr64 = addr + size > (uint64_t{1} << 32);
  return (addr64 ? 24u : 20u) + (p.ecrc ? 4u : 0u);
}

unsigned completion_overhead(const LinkParams& p) {
  return 20u + (p.ecrc ? 4u : 0u);
}

unsigned message_overhead(const LinkParams& p) {
  return 24u + (p.ecrc ? 4u : 0u);
}

unsigned config_overhead(const LinkParams& p) {
  return 20u + (p.ecrc ? 4u : 0u);
}

uint64_t write_tlps(const LinkParams& p, uint64_t size) {
  return div_ceil(size, p.mps);
}

uint64_t read_request_tlps(const LinkParams& p, uint64_t size) {
  return div_ceil(size, p.mrrs);
}

unsigned completion_unit(const LinkParams& p) {
  return p.rcb != 0 ? p.rcb : p.mps;
}

uint64_t read_completion_tlps(const LinkParams& p, uint64_t size) {
  // Full MRd chunks each split into ceil(MRRS / unit) completions, the last chunk into its own.
  const uint64_t unit = completion_unit(p);
  const uint64_t full = size / p.mrrs, rest = size % p.mrrs;
  return full * div_ceil(p.mrrs, unit) + div_ceil(rest, unit);
}

uint64_t write_wire_bytes(const LinkParams& p, uint64_t addr, uint64_t size) {
  return write_tlps(p, size) * request_overhead(p, addr, size) + size;
}

uint64_t read_request_wire_bytes(const LinkParams& p, uint64_t addr, uint64_t size) {
  return read_request_tlps(p, size) * request_overhead(p, addr, size);
}

uint64_t read_completion_wire_bytes(const LinkParams& p, uint64_t size) {
  return read_completion_tlps(p, size) * completion_overhead(p) + size;
}

}  // namespace iovsim::pcie

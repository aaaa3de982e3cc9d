// PCIe link bandwidth arithmetic (calibration.md §1): TLP rate after encoding and data-link
// overheads, and the bytes each request puts on the wire. Plain C++; the Link module applies it.
#pragma once

#include <cstdint>

namespace iovsim::pcie {

struct LinkParams {
  unsigned gen = 3;     // 1..5
  unsigned lanes = 8;   // 1, 2, 4, 8, 16
  unsigned mps = 256;   // max payload size (bytes)
  unsigned mrrs = 512;  // max read request size (bytes)
  bool ecrc = false;    // adds 4 B per TLP
  unsigned rcb = 0;     // read completion boundary: 0 (completions split at MPS), 64 or 128
};

// Per-lane signalling rate (GT/s) times encoding efficiency, times lanes: Gb/s of symbols.
double raw_gbps(const LinkParams& p);
// AckLimit = FCLimit in bytes for the link width and MPS (the spec's table, as given in
// calibration.md).
unsigned ack_limit(unsigned lanes, unsigned mps);
// Rate available to TLPs after ACK and flow-control DLLPs and SKIP ordered sets (Gb/s).
double tlp_gbps(const LinkParams& p);

// Header + framing bytes of one request TLP: 24 B with a 64-bit address, 20 B with a 32-bit one.
unsigned request_overhead(const LinkParams& p, uint64_t addr, uint64_t size);
unsigned completion_overhead(const LinkParams& p);

// Header + framing bytes of a message (Msg/MsgD, 4 DW header): 24 B (+4 ECRC).
unsigned message_overhead(const LinkParams& p);

// Header + framing bytes of a configuration request (CfgRd/CfgWr, 3 DW header): 20 B (+4 ECRC).
unsigned config_overhead(const LinkParams& p);

// How a request splits into TLPs. Chunks are taken from the start of the access: all full-sized
// but the last. A read's completions are split per MRd, at the RCB when set, else at MPS (and
// never larger than the MRd they answer).
uint64_t write_tlps(const LinkParams& p, uint64_t size);         // MWr: ceil(size / MPS)
uint64_t read_request_tlps(const LinkParams& p, uint64_t size);  // MRd: ceil(size / MRRS)
unsigned completion_unit(const LinkParams& p);                   // RCB, or MPS when RCB is 0
uint64_t read_completion_tlps(const LinkParams& p, uint64_t size);
// Payload of TLP `index` when `size` bytes are split into `unit`-sized chunks.
inline uint64_t chunk_bytes(uint64_t size, uint64_t unit, uint64_t index) {
  const uint64_t off = index * unit;
  return size - off < unit ? size - off : unit;
}

// Bytes on the wire, upstream for a write, upstream (requests) and downstream (completions) for a
// read.
uint64_t write_wire_bytes(const LinkParams& p, uint64_t addr, uint64_t size);
uint64_t read_request_wire_bytes(const LinkParams& p, uint64_t addr, uint64_t size);
uint64_t read_completion_wire_bytes(const LinkParams& p, uint64_t size);

}  // namespace iovsim::pcie

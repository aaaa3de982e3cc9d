// The state IoModesWorkload's three parts share (io_modes_workload.cpp: set-up and the end of the
// run; io_modes_backend.cpp: the hypervisor; io_modes_guest.cpp: the guests' drivers). Internal
// to the platforms library.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include <iovsim/core/stats.hpp>
#include <iovsim/cpu_stub/dma_mapping.hpp>
#include <iovsim/sriov_nic/descriptor.hpp>

#include "io_modes_workload.hpp"

namespace iovsim::platforms {

// The hypervisor's accounting: cpu_ns is exactly the sum of the parts.
struct IoModesWorkload::HvStats {
  core::StatGroup group;
  core::Scalar& cpu_ns;
  core::Scalar& exit_ns;
  core::Scalar& inject_ns;
  core::Scalar& backend_ns;
  core::Scalar& copy_ns;
  core::Scalar& emulation_ns;
  core::Scalar& validate_ns;
  core::Scalar& grant_ns;
  core::Scalar& map_ns;
  core::Counter& exits;
  core::Counter& interrupts;
  core::Counter& injected;
  core::Counter& packets;
  core::Counter& tx_packets;
  core::Counter& copy_bytes;
  core::Counter& grant_maps;
  core::Counter& validated;
  core::Counter& rejected;
  core::Counter& device_errors;
  explicit HvStats(core::StatGroup* parent);
};

// One direction of a NIC function the hypervisor owns: its ring in host memory, and per slot the
// buffer posted in it. RX (emulated, paravirtual): the hypervisor's own buffers; TX with copies:
// its own buffers; mq (both) and grant-mapped TX: guest buffers.
struct IoModesWorkload::HostRing {
  uint64_t ring = 0;                 // host address
  std::vector<uint64_t> buf;         // host address per slot (the copy modes' own buffers)
  std::vector<uint64_t> dev;         // device address per slot while posted
  std::vector<uint32_t> dev_len;     // bytes mapped per slot
  std::vector<int> owner;            // guest buffers: the guest (-1: the hypervisor's own)
  std::vector<uint64_t> owner_slot;  // guest buffers: the guest ring position it came from
  uint64_t reaped = 0, posted = 0;   // monotonic
  bool full(unsigned entries) const { return posted - reaped >= entries - 1; }
};

// A NIC function the hypervisor owns: the PF (emulated, paravirtual) or VF g (mq).
struct IoModesWorkload::DeviceQueue {
  unsigned index = 0;
  unsigned function = 0;  // 0 = PF, 1 + g = VF g
  uint16_t rid = 0;
  uint64_t bar = 0;
  unsigned entries = 0;
  HostRing rx, tx;
  int guest = -1;                          // mq: its guest
  std::unique_ptr<core::StatGroup> stats;  // hv.queue<i>: its DMA-mapping policy's statistics
  std::unique_ptr<cpu_stub::DmaMappingPolicy> policy;
};

// A guest's virtual interrupt line: the backend injects only while the guest sleeps on it.
struct IoModesWorkload::VirtualIrq {
  sc_core::sc_event event;
  bool waiting = false, pending = false;
};

// A guest's virtual NIC and driver. Its RX ring: entries descriptors at GPA 0, buffer i at
// bufs + i * buffer_bytes; its TX ring after the RX ring, TX buffer i at tx_bufs + i * tx_stride.
// Positions are monotonic counts. RX: the guest posted `posted` buffers, the backend took
// `taken`, completed `filled`, the guest reaped `reaped` (reaped <= filled <= taken <= posted).
// TX: the same with tx_*: the guest posted packets, the backend took and completed them.
struct IoModesWorkload::Guest {
  unsigned index = 0;
  uint64_t base = 0;                     // host address of guest-physical 0
  uint64_t ring = 0, bufs = 0, end = 0;  // GPA
  uint64_t tx_ring = 0, tx_bufs = 0;     // GPA
  uint32_t tx_stride = 0;
  unsigned entries = 0;
  uint64_t posted = 0, taken = 0, reaped = 0, filled = 0;
  uint64_t tx_posted = 0, tx_taken = 0, tx_done = 0, tx_reaped = 0;
  uint32_t stream = 0, step = 1;
  uint32_t tx_stream = 0;
  uint64_t next_seq = 0, tx_seq = 0;
  bool wants_kick = false;    // the backend asked to be told of new RX buffers
  bool tx_wants_kick = true;  // ... of new TX packets (at first, as virtio's event index)
  VirtualIrq rx_irq, tx_irq;
  sc_core::sc_event kick;
  std::vector<uint64_t> tx_posted_ps;      // per TX slot: when the guest posted it
  std::map<uint64_t, uint64_t> misdirect;  // TX seq -> the GPA its descriptor names instead
  std::unique_ptr<core::StatGroup> group;
  core::Scalar* cpu_ns = nullptr;
  core::Counter *exits = nullptr, *interrupts = nullptr, *rx_packets = nullptr, *rx_bytes = nullptr,
                *missing = nullptr, *duplicates = nullptr, *corrupt = nullptr;
  core::Counter *tx_packets = nullptr, *tx_bytes = nullptr, *tx_errors = nullptr;
  core::Histogram* latency = nullptr;
  core::Histogram* tx_latency = nullptr;
  uint64_t slot_gpa(uint64_t pos) const {
    return ring + (pos % entries) * sriov_nic::kDescriptorBytes;
  }
  uint64_t tx_slot_gpa(uint64_t pos) const {
    return tx_ring + (pos % entries) * sriov_nic::kDescriptorBytes;
  }
};

}  // namespace iovsim::platforms

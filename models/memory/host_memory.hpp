// Host memory as the root complex sees it: a sparse backing store behind a DRAM latency, a
// last-level cache hit latency for lines the host has cached ("warm"), and a bandwidth limit shared
// by channels, each channel a contention timeline. Optionally a read of a line that an earlier
// write has not committed yet waits for it. The CPU stub gets direct (DMI) access, page by page.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/sparse_store.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/core/timeline.hpp>

namespace iovsim::memory {

struct HostMemoryConfig {
  uint64_t size_bytes = uint64_t{1} << 40;  // physical address space
  double latency_ns = 80;                   // DRAM access
  double llc_latency_ns = 30;               // access to a line the last-level cache holds
  double bandwidth_gbps = 0;                // total over all channels; 0 = unlimited
  unsigned channels = 4;
  uint64_t interleave_bytes = 256;     // consecutive bytes mapped to one channel
  bool reads_wait_for_writes = false;  // a read of a line an earlier write is committing waits

  static HostMemoryConfig from(const core::Config& config);
};

class HostMemory : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<HostMemory> in{"in"};  // the I/O side: root complex or IOMMU
  tlm_utils::simple_target_socket_optional<HostMemory> cpu{"cpu"};  // CPU side: driver code, DMI

  HostMemory(sc_core::sc_module_name name, const HostMemoryConfig& config,
             core::StatGroup* parent_stats);

  core::SparseStore& store() { return store_; }
  const HostMemoryConfig& config() const { return config_; }
  // Declares [base, base+size) resident in the last-level cache: accesses there take
  // llc_latency_ns.
  void add_warm_range(uint64_t base, uint64_t size);
  bool is_warm(uint64_t addr) const;
  // Time a channel is busy moving `bytes` (zero when bandwidth is unlimited).
  sc_core::sc_time transfer_time(uint64_t bytes) const;
  // When the last access accepted so far leaves its channel.
  sc_core::sc_time busy_until() const;

 private:
  void b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  bool get_direct_mem_ptr(tlm::tlm_generic_payload& p, tlm::tlm_dmi& dmi);
  unsigned int transport_dbg(tlm::tlm_generic_payload& p);
  bool check(tlm::tlm_generic_payload& p);
  // With reads_wait_for_writes: how long a read of [addr, +len) arriving at `arrival` (ps) waits
  // for earlier writes to those lines to commit; a write records its commit time.
  uint64_t write_wait(uint64_t addr, unsigned len, uint64_t arrival) const;
  void record_write(uint64_t addr, unsigned len, uint64_t arrival, uint64_t commit);

  HostMemoryConfig config_;
  core::SparseStore store_;
  std::vector<core::Timeline> channels_;
  unsigned interleave_shift_;
  std::vector<std::pair<uint64_t, uint64_t>> warm_;  // [base, end)
  double ps_per_byte_per_channel_ = 0;
  // Lines written whose write may not have committed yet: line -> (arrival, commit), ps.
  std::unordered_map<uint64_t, std::pair<uint64_t, uint64_t>> committing_;
  std::size_t prune_at_ = 0;  // with a floor, the size at which committed lines are swept out
  sc_core::sc_time dram_latency_, llc_latency_;
  core::Logger log_{"memory"};

  core::StatGroup stats_;
  core::Counter& reads_;
  core::Counter& writes_;
  core::Counter& read_bytes_;
  core::Counter& write_bytes_;
  core::Counter& warm_accesses_;
  core::Counter& ordered_reads_;
  core::Counter& errors_;
  core::Scalar& wait_ns_;
};

}  // namespace iovsim::memory

// A synthetic DMA endpoint in the style of pcie-bench: issues `requests` DMA reads or writes of
// `transfer_bytes` each (or a write followed by a read of the same bytes: pcie-bench's WRRD) to
// addresses in a window (random, sequential or cyclic), keeping up to `outstanding` in flight
// (reads also limited by the function's tags).
//
// The in-flight requests are independent streams run from one SystemC thread: each request starts
// when a slot frees (and, unless the endpoint is ideal, no sooner than the engine's issue interval
// after the previous one) and is sent with its start time as annotated delay; the contention
// timelines downstream make the streams interact. The thread synchronises whenever it runs a
// quantum ahead.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>

#include "config_space.hpp"
#include "msix.hpp"

namespace iovsim::pcie {

enum class DmaPattern { kRandom, kSequential, kCyclic };

struct DmaEndpointConfig {
  uint16_t requester_id = 0x0100;  // 01:00.0
  bool write = false;
  bool read_back = false;  // with write: each request is a write, then a read of the same bytes
  uint64_t transfer_bytes = 64;
  uint64_t window_base = uint64_t{1} << 32;
  uint64_t window_bytes = uint64_t{1} << 20;
  DmaPattern pattern = DmaPattern::kRandom;
  unsigned outstanding = 32;
  unsigned tags = 32;  // non-posted requests in flight (reads)
  uint64_t requests = 100000;
  uint64_t warmup_requests = 0;  // excluded from the workload statistics
  bool ideal = false;            // no engine limit of its own
  double issue_interval_ns = 2;  // engine: minimum time between two request issues (when not ideal)
  double read_data_gbps = 0;     // engine: moving a read's data into device memory; 0 = no cost
  uint64_t seed = 1;             // set by the platform from the `seed` parameter
  uint64_t msi_every = 0;      // raise MSI-X vector 0 on completion of every N requests; 0 = never
  double msi_interval_ns = 0;  // or at the first completion after each interval; 0 = never
  bool raises_interrupts() const { return msi_every > 0 || msi_interval_ns > 0; }

  // Reads workload.*, endpoint.* and pcie.tags (not seed). Throws ConfigError for impossible
  // combinations.
  static DmaEndpointConfig from(const core::Config& config);
  // Requests in flight at once: outstanding, and for reads no more than tags.
  unsigned in_flight() const {
    return write && !read_back ? outstanding : std::min(outstanding, tags);
  }
};

class DmaEndpoint : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<DmaEndpoint> dma{"dma"};
  // Requests from the root port: configuration requests (its config space) and MMIO to BAR0.
  tlm_utils::simple_target_socket_optional<DmaEndpoint> pcie_in{"pcie_in"};

  // BAR0 (64 KiB, 64-bit): read-only registers, the interrupt request register (a write of N
  // raises MSI-X vector N, as a driver's self-test does), and the MSI-X table and PBA.
  static constexpr uint64_t kBar0Bytes = 64 * 1024;
  static constexpr uint32_t kRegId = 0x0, kRegStatus = 0x8, kRegCompleted = 0x10, kRegErrors = 0x18,
                            kRegIrqRequest = 0x20, kMsixTable = 0x2000, kMsixPba = 0x3000;
  static constexpr uint32_t kStatusBmeBlocked = 1u << 0;

  DmaEndpoint(sc_core::sc_module_name name, const DmaEndpointConfig& config,
              core::StatGroup* parent_stats);

  const DmaEndpointConfig& config() const { return config_; }
  // The function's configuration space: vendor 0x19EE (Netronome, as pcie-bench's NFP), device
  // 0x4000, class 0x020000; BAR0; PCI Express (max payload 4096) and MSI-X capabilities.
  ConfigSpace& config_space() { return cfg_; }
  // Offset in the window of request i (deterministic for a given seed).
  uint64_t next_offset(uint64_t i);
  uint64_t completed() const { return completed_; }
  // The first request is issued no earlier than t (the platform starts devices once boot is done).
  void start_at(const sc_core::sc_time& t) { start_at_ = t; }
  bool finished() const { return finished_; }
  // Called every few thousand requests and at the end: (requests completed, requests total).
  void on_progress(std::function<void(uint64_t, uint64_t)> f) { progress_ = std::move(f); }
  // Notified when the last request has completed.
  const sc_core::sc_event& finished_event() const { return finished_event_; }

 private:
  SC_HAS_PROCESS(DmaEndpoint);
  void run();
  void pcie_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  uint64_t bar0_read(uint32_t offset) const;
  // Sends the MSI write for `m`, decided at decide_ps, leaving the device at send_ps.
  void send_msi(const MsiMessage& m, uint64_t decide_ps, uint64_t send_ps);
  void send_released(uint64_t at_ps);
  void raise_interrupt(unsigned vector, uint64_t at_ps);

  DmaEndpointConfig config_;
  ConfigSpace cfg_;
  std::unique_ptr<MsixTable> msix_;
  // When each vector last decided to interrupt while it could not send (masked): the latency of a
  // message released later counts from then.
  std::vector<uint64_t> pending_since_;
  uint32_t status_ = 0;
  sc_core::sc_time start_at_ = sc_core::SC_ZERO_TIME;
  std::mt19937_64 rng_;
  uint64_t slots_;  // transfer-sized slots in the window
  uint64_t completed_ = 0;
  bool finished_ = false;
  std::function<void(uint64_t, uint64_t)> progress_;
  sc_core::sc_event finished_event_;
  core::Logger log_{"endpoint"};

  core::StatGroup stats_;
  core::Counter& transactions_;
  core::Counter& bytes_;
  core::Counter& errors_;
  core::Counter& not_issued_;
  core::Counter& interrupts_;
  core::Counter& interrupts_lost_;
  core::Counter& interrupts_pending_;
  core::Scalar& measured_ns_;
  core::Histogram& latency_;
};

}  // namespace iovsim::pcie

// A driver for one function (PF or VF) of the SR-IOV NIC, as a guest's VF driver or the host's PF
// driver runs it: it sets up an RX and a TX ring and their buffers in its memory, programs the
// function's registers, posts RX buffers, reaps RX completions on interrupts (or by polling),
// checks every packet (it arrives once, intact: the generator's payload is regenerated and
// compared, and the device's checksum checked), reposts buffers, and sends TX packets at a rate.
//
// Addresses: the driver allocates from its own address space (guest-physical for a guest, host
// physical for the host), which the CPU reaches at address + cpu_offset. The address it gives the
// device comes from a BufferMapper: a guest's VF uses guest-physical addresses as they are (its
// VM's domain maps them), a host driver maps each buffer through a DMA-mapping policy.
//
// Timing: the driver's CPU work per packet (nic_driver.rx_packet_ns, tx_packet_ns) and the mapper's
// costs are charged to its threads with wait(); register writes take their MMIO time; memory
// accesses are functional.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <systemc>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>

#include "host_access.hpp"

namespace iovsim::cpu_stub {

// How a driver turns its buffers into device addresses. Costs (CPU ns) are added to `cpu_ns`.
class BufferMapper {
 public:
  virtual ~BufferMapper() = default;
  virtual uint64_t map(uint64_t addr, uint32_t bytes, bool device_writes, uint64_t now_ns,
                       double& cpu_ns) = 0;
  virtual void unmap(uint64_t device_addr, uint32_t bytes, uint64_t now_ns, double& cpu_ns) = 0;
  // Timer work (a deferred flush); returns when it next needs a call (UINT64_MAX: never).
  virtual uint64_t poll(uint64_t /*now_ns*/, double& /*cpu_ns*/) { return UINT64_MAX; }
};

// Device address = the driver's own address (a guest's VF, or the host without an IOMMU).
class IdentityMapper : public BufferMapper {
 public:
  uint64_t map(uint64_t addr, uint32_t, bool, uint64_t, double&) override { return addr; }
  void unmap(uint64_t, uint32_t, uint64_t, double&) override {}
};

// Device address = own address + a fixed offset: a guest's buffers without an IOMMU, where the
// device must be given host-physical addresses (vfio's no-IOMMU mode: no isolation at all).
class OffsetMapper : public BufferMapper {
 public:
  explicit OffsetMapper(uint64_t offset) : offset_(offset) {}
  uint64_t map(uint64_t addr, uint32_t, bool, uint64_t, double&) override { return addr + offset_; }
  void unmap(uint64_t, uint32_t, uint64_t, double&) override {}

 private:
  uint64_t offset_;
};

struct NicDriverConfig {
  unsigned stream = 0;          // the function index the wire tags its packets with
  uint64_t bar = 0;             // the function's BAR0 (host MMIO address)
  uint64_t mem_base = 0;        // the region the driver allocates rings and buffers from ...
  uint64_t mem_bytes = 0;       // ... in its own address space
  uint64_t cpu_offset = 0;      // CPU address = own address + cpu_offset
  unsigned ring_entries = 256;  // per ring
  uint32_t buffer_bytes = 2048;
  bool rx = true;
  bool tx = false;
  uint64_t tx_packets = 0;  // to send
  uint32_t tx_bytes = 1500;
  double tx_gbps = 1;
  bool poll = false;  // reap by polling instead of interrupts
  double poll_interval_ns = 2000;
  double rx_packet_ns = 100;       // CPU time per received packet (reap, check, repost)
  double tx_packet_ns = 100;       // CPU time per sent packet (build, post)
  double irq_interval_ns = 10000;  // moderation programmed into the function
  unsigned irq_packets = 32;

  // The nic_driver.* parameters (costs, polling); the rest is the workload's.
  static NicDriverConfig from(const core::Config& config);
};

class NicDriver : public sc_core::sc_module {
 public:
  NicDriver(sc_core::sc_module_name name, const NicDriverConfig& config, HostAccess& cpu,
            BufferMapper& mapper, core::StatGroup* parent_stats);

  // At boot (no time passes): rings and buffers allocated and cleared, registers programmed, RX
  // buffers posted, queues enabled. std::invalid_argument when they do not fit mem_bytes.
  void setup();
  // The function's RX or TX interrupt; its handler starts at handler_start_ps.
  void interrupt(bool tx, uint64_t handler_start_ps);
  void start_at(const sc_core::sc_time& t) { start_at_ = t; }
  // Called after each reaped packet.
  void on_progress(std::function<void()> f) { progress_ = std::move(f); }

  const NicDriverConfig& config() const { return config_; }
  // The function's BAR0, once enumeration assigned it (before setup()).
  void set_bar(uint64_t bar) { config_.bar = bar; }
  // The mapper, when it is only known at boot (before setup()).
  void set_mapper(BufferMapper& mapper) { mapper_ = &mapper; }
  // CPU time spent for the driver before its threads run (a guest's vPCI traps at bring-up):
  // counted in cpu_ns, not waited for.
  void add_boot_cpu_ns(double ns) { cpu_ns_.value += ns; }
  // Packet latencies are also recorded here (a workload's aggregate).
  void also_record_latency(core::Histogram* h) { aggregate_ = h; }
  uint64_t rx_packets() const { return rx_packets_.value; }
  // RX descriptors reaped, whatever their packets' fate (good, corrupt, duplicate).
  uint64_t rx_reaped() const {
    return rx_packets_.value + rx_corrupt_.value + rx_duplicates_.value;
  }
  uint64_t tx_completed() const { return tx_done_.value; }
  // The highest RX sequence number received (meaningful once rx_packets() > 0).
  uint64_t last_seq() const { return next_seq_ ? next_seq_ - 1 : 0; }
  bool tx_finished() const { return !config_.tx || tx_done_.value >= config_.tx_packets; }
  // Own addresses of the rings (tests corrupt descriptors there).
  uint64_t rx_ring() const { return rx_ring_; }
  uint64_t tx_ring() const { return tx_ring_; }
  uint64_t cpu_address(uint64_t own) const { return own + config_.cpu_offset; }

 private:
  SC_HAS_PROCESS(NicDriver);
  void rx_thread();
  void tx_thread();
  void reap_rx();
  bool reap_tx();
  void charge(double ns);
  uint64_t now_ns() const;
  uint64_t alloc(uint64_t bytes, uint64_t align);
  void write_descriptor(uint64_t ring, unsigned index, uint64_t addr, uint16_t len,
                        uint16_t checksum);

  NicDriverConfig config_;
  HostAccess& cpu_;
  BufferMapper* mapper_;
  uint64_t next_free_ = 0;
  uint64_t rx_ring_ = 0, tx_ring_ = 0;
  std::vector<uint64_t> rx_buf_, tx_buf_;  // own addresses
  std::vector<uint64_t> rx_dev_, tx_dev_;  // device addresses while posted
  std::vector<uint64_t> tx_posted_ns_;
  unsigned rx_next_ = 0, tx_tail_ = 0, tx_clean_ = 0;
  uint64_t next_seq_ = 0;  // the RX sequence number expected next
  uint64_t tx_seq_ = 0;
  // An interrupt's handler start; the thread may be busy (charging CPU time) when it comes, so a
  // count remembers it rather than an event alone.
  struct Irq {
    sc_core::sc_event event;
    uint64_t raised = 0, taken = 0;
    uint64_t last_start_ps = 0;
  } rx_irq_, tx_irq_;
  void wait_interrupt(Irq& irq);
  sc_core::sc_time start_at_ = sc_core::SC_ZERO_TIME;
  std::function<void()> progress_;
  std::vector<uint8_t> scratch_, expect_;
  core::Histogram* aggregate_ = nullptr;
  core::Logger log_{"nic_driver"};

  core::StatGroup stats_;
  core::Counter& rx_packets_;
  core::Counter& rx_bytes_;
  core::Counter& rx_missing_;
  core::Counter& rx_duplicates_;
  core::Counter& rx_corrupt_;
  core::Counter& tx_sent_;
  core::Counter& tx_done_;
  core::Counter& tx_errors_;
  core::Counter& interrupts_;
  core::Scalar& cpu_ns_;
  core::Histogram& rx_latency_;
  core::Histogram& tx_latency_;
  core::Histogram& latency_;
};

}  // namespace iovsim::cpu_stub

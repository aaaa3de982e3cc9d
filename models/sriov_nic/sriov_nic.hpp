// The SR-IOV NIC: a physical function (8086:10fb, like an Intel 82599) whose SR-IOV capability
// creates up to TotalVFs virtual functions, each with its own routing id, configuration space
// (PCI Express, ARI, MSI-X, optionally ATS) and 16 KiB slice of VF BAR0 (nic_registers.hpp), and a
// DMA engine shared by all functions.
//
// Per function: an RX and a TX descriptor ring in host (guest) memory (descriptor.hpp), head/tail
// registers, MSI-X vector 0 (RX) and 1 (TX) with moderation (a minimum interval and a packet
// threshold), and an error state: a DMA that completes with an error (UR from the IOMMU) stops
// that queue, sets STATUS and ERR_ADDR, and leaves every other function running.
//
// Traffic: RX packets arrive from the wire per function (PacketGenerator), each claims an RX
// descriptor at arrival or is dropped when the ring has none; TX packets are what software posts.
// The engine serves functions' ready work by weighted round-robin, one packet at a time: fetch
// descriptors (in batches), move the payload, write the descriptor back, interrupt. Every DMA
// carries the function's requester id and goes out with its start time as annotated delay; at
// most nic.dma_outstanding requests are in flight (reads also within pcie.tags). The engine
// thread never runs more than a quantum ahead of SystemC time, so software's doorbells are seen
// in time.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/core/timeline.hpp>
#include <iovsim/pcie/ats_cache.hpp>
#include <iovsim/pcie/ats_invalidation.hpp>
#include <iovsim/pcie/config_space.hpp>
#include <iovsim/pcie/msix.hpp>
#include <iovsim/pcie/sriov.hpp>

#include "descriptor.hpp"
#include "nic_config.hpp"
#include "nic_registers.hpp"
#include "packet_generator.hpp"
#include "wire_check.hpp"

namespace iovsim::sriov_nic {

class SriovNic : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<SriovNic> dma{"dma"};
  // Requests from the root port: configuration requests (PF and VFs), MMIO to the BARs, and
  // messages (ATS invalidation).
  tlm_utils::simple_target_socket_optional<SriovNic> pcie_in{"pcie_in"};

  static constexpr uint16_t kVendor = 0x8086, kPfDevice = 0x10FB, kVfDevice = 0x10ED;

  SriovNic(sc_core::sc_module_name name, const NicConfig& config, core::StatGroup* parent_stats);
  ~SriovNic() override;

  const NicConfig& config() const { return config_; }
  pcie::ConfigSpace& pf_config() { return pf_cfg_; }
  pcie::SriovFunctions& sriov() { return *sriov_; }
  // Functions: 0 = the PF, 1 + i = VF i (while enabled).
  unsigned functions() const { return 1 + sriov_->num_vfs(); }
  uint16_t rid(unsigned function) const;
  // An attack model for isolation studies: the function puts `rid` in its requests and MSIs
  // instead of its own routing id (compromised firmware spoofing another requester).
  void spoof_requester_id(unsigned function, uint16_t rid) { spoofed_[function] = rid; }
  // A 4-byte read `function` issues now, outside its queues (isolation probes: does an address
  // still translate?). True when it completed successfully. Queues and statistics are untouched.
  bool probe_dma(unsigned function, uint64_t addr);
  // Whether the wire delivers RX traffic to this function (the platform chooses: VFs of assigned
  // guests, the PF when the host runs traffic on it).
  void set_rx_traffic(unsigned function, bool on);
  void start_at(const sc_core::sc_time& t) { start_at_ = t; }

  struct Counters {
    uint64_t rx_generated = 0, rx_packets = 0, rx_bytes = 0, rx_drops = 0, rx_error_drops = 0;
    uint64_t tx_packets = 0, tx_bytes = 0, tx_bad_checksum = 0;
    uint64_t dma_errors = 0, interrupts = 0;
  };
  Counters counters(unsigned function) const;
  // Every RX packet the wire will deliver has been generated and either written back or dropped.
  bool rx_settled() const;
  // A function's register, as software would read it (tests).
  uint32_t register_value(unsigned function, uint32_t offset) const;

  using WireStream = WireCheck::Stream;
  // TX packets as they left on the wire, per payload stream: intact packets, in sequence.
  const std::map<uint32_t, WireStream>& tx_wire() const { return wire_.streams(); }
  // TX packets whose payload did not match its own header.
  uint64_t tx_wire_corrupt() const { return wire_.corrupt(); }

 private:
  struct Function;
  struct Work {
    bool tx = false;
    uint64_t ready_ps = 0;
    uint64_t seq = 0;         // RX: the packet's sequence number
    uint32_t bytes = 0;       // RX: packet size
    uint64_t arrival_ps = 0;  // RX: arrival from the wire
  };
  // A packet in service: the steps after the first run when their DMA completes, outside
  // arbitration, so the engine never waits for one packet while others are ready.
  struct Step {
    enum Stage { kDescriptor, kPayload, kWriteBack, kDone } stage = kDescriptor;
    uint64_t ready_ps = 0;
    uint64_t order = 0;  // tie-break: steps ready at once run in the order they were made
    unsigned function = 0;
    Work w;
    uint32_t index = 0;
    Descriptor d;
    std::vector<uint8_t> buf;
    uint64_t landed_ps = 0;  // when its posted writes reached memory
    bool operator>(const Step& o) const {
      return ready_ps != o.ready_ps ? ready_ps > o.ready_ps : order > o.order;
    }
  };
  struct Event {
    uint64_t time_ps;
    unsigned function;
    enum Kind { kArrival, kIrqTimerRx, kIrqTimerTx } kind;
    bool operator>(const Event& o) const {
      return time_ps != o.time_ps     ? time_ps > o.time_ps
             : function != o.function ? function > o.function
                                      : kind > o.kind;
    }
  };
  // In-flight slots: the free times of the engine's request slots (a min-heap).
  class SlotPool {
   public:
    void reset(unsigned n, uint64_t t);
    uint64_t take(uint64_t ready);  // the start time of a request ready at `ready`
    void put(uint64_t done) { free_.push(done); }
    uint64_t earliest() const { return free_.top(); }

   private:
    std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<uint64_t>> free_;
  };

  SC_HAS_PROCESS(SriovNic);
  void engine();
  void pcie_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  void mmio(Function& f, uint32_t offset, bool read, unsigned len, uint64_t& value,
            uint64_t now_ps);
  void vfs_changed(unsigned before, unsigned now);
  Function& fn(unsigned function) { return *functions_.at(function); }
  Function& ensure_function(unsigned index);
  std::unique_ptr<pcie::ConfigSpace> make_vf_config(unsigned vf);

  // Engine steps. Each returns false when the DMA failed (the queue is then stopped).
  void begin(unsigned function, const Work& w, uint64_t t);
  void advance(Step& s);
  void schedule(Step s, uint64_t ready_ps);
  bool fetch_descriptors(Function& f, bool tx, uint64_t& t);
  // A DMA ready at t. A read returns with t = its completion; a posted write with t = its issue
  // (the engine moves on; PCIe keeps posted writes in order), and *landed = the latest time one of
  // its writes reached memory.
  bool dma_op(Function& f, bool tx, bool write, uint64_t addr, uint8_t* data, unsigned len,
              uint64_t& t, uint64_t* landed = nullptr);
  // One request as it goes on the link (AT untranslated, translation request or translated).
  bool transfer(Function& f, bool tx, bool write, uint64_t addr, uint8_t* data, unsigned len,
                core::AddressType at, uint64_t& t, uint64_t* landed);
  // ATS: whether the function may use it (nic.ats and its ATS capability enabled); a translation
  // request for addr's page, whose answer goes into its cache.
  bool ats_enabled(const Function& f) const;
  bool translate(Function& f, bool tx, uint64_t addr, uint64_t& t);
  void invalidate_request(const pcie::InvalidateRequest& r, uint64_t now_ps);
  void on_arrival(unsigned function, uint64_t t);
  void completed(Function& f, bool tx, uint64_t t);
  void irq_timer(Function& f, bool tx, uint64_t t);
  void interrupt(Function& f, bool tx, uint64_t t);
  void send_msi(Function& f, const pcie::MsiMessage& m, uint64_t decide_ps, uint64_t send_ps);
  void stop_queue(Function& f, bool tx, uint64_t addr);
  std::optional<unsigned> pick(uint64_t t);  // weighted round-robin among ready functions
  uint64_t next_ready() const;               // the earliest ready work, UINT64_MAX for none

  NicConfig config_;
  pcie::ConfigSpace pf_cfg_;
  std::unique_ptr<pcie::SriovFunctions> sriov_;
  std::vector<std::unique_ptr<Function>> functions_;  // 1 + total_vfs; null until first enabled
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::priority_queue<Step, std::vector<Step>, std::greater<Step>> steps_;
  uint64_t step_order_ = 0;
  SlotPool slots_, tags_;
  core::Timeline line_{1};  // TX wire
  pcie::AtsInvalidationTracker ats_tracker_;
  std::map<unsigned, uint16_t> spoofed_;
  uint16_t requester(unsigned function) const {
    auto it = spoofed_.find(function);
    return it == spoofed_.end() ? rid(function) : it->second;
  }
  unsigned rr_ = 0, rr_credit_ = 0;
  uint64_t engine_free_ps_ = 0;  // the engine processes one descriptor at a time
  sc_core::sc_time start_at_ = sc_core::SC_ZERO_TIME;
  uint64_t start_ps_ = 0;
  bool started_ = false;
  sc_core::sc_event wake_;
  core::Logger log_{"nic"};
  core::StatGroup stats_;
  core::Counter& requests_;
  core::Counter& reads_;
  core::Counter& writes_;
  core::Histogram& dma_latency_;
  WireCheck wire_{&stats_};
};

}  // namespace iovsim::sriov_nic

// workload.kind = nic with nic.mode = emulated, paravirtual or mq: the same guests and the same
// traffic (RX, TX or both) as the sriov mode (nic_workload.hpp), but the hypervisor owns the NIC
// and sits in the data path (docs/models/io_modes.md).
//
// Every guest g (nic.vfs of them, one per VM) has a virtual NIC: a ring of descriptors (the NIC's
// format) and buffers in its own memory. A backend thread, the hypervisor's, runs a host driver on
// NIC functions it owns and moves each received packet to its guest and each sent one to the NIC:
//   - emulated: the PF carries every guest's traffic; the backend's device model copies each
//     packet between the guest's buffer and its own and emulates the guest's descriptor; every
//     guest register access (interrupt acknowledge, doorbell) is a trap.
//   - paravirtual: the same PF and copies, through virtio-like shared rings: the guest kicks the
//     backend only when the backend asked (event-index suppression), and the backend interrupts
//     the guest only when it is idle. With io.paravirtual.buffers=grant the backend grant-maps a
//     guest's TX buffer and the NIC reads it in place (zero copy; RX is copied either way).
//   - mq: a queue pair per guest (VF g's queues, host-owned); the guest's buffers go through the
//     backend, which validates each guest address against the guest's memory and translates it to
//     a host address before posting it to the device, which then DMAs guest memory: no copy.
// Guests check every received packet (regenerated payload, the device's checksum, sequence:
// exactly once); the NIC checks every sent one on the wire (SriovNic::tx_wire). Costs are the io.*
// parameters; statistics hv.* and guest.vm<g>.*.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <iovsim/cpu_stub/dma_mapping.hpp>
#include <iovsim/sriov_nic/sriov_nic.hpp>

#include "workload.hpp"

namespace iovsim::platforms {

enum class IoMode { kEmulated, kParavirtual, kMq };

// The io.* costs (CPU ns), read once.
struct IoCosts {
  double exit_ns = 1000;             // hypervisor CPU per VM exit (world switch, decode, handle)
  double inject_ns = 500;            // hypervisor CPU to inject a virtual interrupt
  double backend_packet_ns = 200;    // backend per packet: reap the host descriptor, demux, repost
  double guest_packet_ns = 100;      // guest driver per packet (nic_driver.rx_packet_ns)
  double guest_tx_packet_ns = 100;   // guest driver per sent packet (nic_driver.tx_packet_ns)
  double copy_packet_ns = 50;        // per copy: set-up
  double copy_gbps = 80;             // copy bandwidth of one core (Gb/s)
  double emulation_packet_ns = 500;  // emulated: the device model's per-packet descriptor work
  unsigned emulated_irq_exits = 2;   // emulated: traps per interrupt (cause read, unmask)
  double validate_ns = 50;           // mq: check and translate one guest buffer address
  bool grant = false;                // paravirtual: TX from grant-mapped guest buffers
  double grant_map_ns = 250;         // paravirtual, grant: map one guest buffer
  double grant_unmap_ns = 500;       // ... and unmap it (with its TLB flush)
  static IoCosts from(const core::Config& config);
  double copy_ns(uint32_t bytes) const { return copy_packet_ns + bytes * 8.0 / copy_gbps; }
};

// "sriov", "emulated", "paravirtual" or "mq": the nic.mode parameter.
std::string nic_mode(const core::Config& config);
// workload.kind = nic with nic.mode != sriov.
std::unique_ptr<Workload> make_io_modes_workload(Fabric& fabric);

class IoModesWorkload : public Workload {
 public:
  IoModesWorkload(Fabric& fabric, IoMode mode);
  ~IoModesWorkload() override;

  IoMode mode() const { return mode_; }
  sriov_nic::SriovNic& nic() { return *nic_; }
  unsigned guests() const { return static_cast<unsigned>(guests_.size()); }

  void boot(Fabric& fabric) override;
  void start_at(const sc_core::sc_time& t) override;
  bool finished() const override { return finished_; }
  uint64_t completed() const override;
  void on_progress(std::function<void(uint64_t, uint64_t)> f) override { progress_ = std::move(f); }
  // A guest bug or attack, for isolation studies: guest `guest`'s driver puts `gpa` in the TX
  // descriptor of its packet `seq` instead of the packet's buffer (before the run).
  void misdirect_tx(unsigned guest, uint64_t seq, uint64_t gpa);
  std::string describe() const override;

 private:
  struct HostRing;
  struct DeviceQueue;
  struct Guest;
  struct VirtualIrq;
  struct HvStats;

  uint64_t guest_base(unsigned g) const { return vm_base_ + g * vm_stride_; }
  uint64_t host_alloc(uint64_t bytes, uint64_t align);
  void setup_device_queue(Fabric& f, DeviceQueue& q);
  void setup_ring(DeviceQueue& q, bool tx);
  void setup_guest(Guest& guest);
  void program_vector(Fabric& f, DeviceQueue& q, bool tx);

  // The hypervisor's backend thread and its steps (io_modes_backend.cpp).
  void backend();
  bool reap_device(DeviceQueue& q);
  bool refill_device(DeviceQueue& q);  // mq: guest buffers -> the device ring
  void deliver_copy(DeviceQueue& q, unsigned slot, const sriov_nic::Descriptor& d);
  void wait_for_guest_buffer(Guest& guest);
  bool reap_device_tx(DeviceQueue& q);
  bool transmit(DeviceQueue& q, Guest& guest);  // one of the guest's TX packets -> the device
  void complete_guest_tx(Guest& guest, uint64_t pos, uint16_t status);
  bool transmit_all();
  void notify_guests();
  void inject(VirtualIrq& irq);
  void kick_backend();  // a guest's notification (after its exit)
  void hv_charge(core::Scalar& part, double ns);
  uint64_t map(DeviceQueue& q, uint64_t hpa, uint32_t bytes, bool charge, bool device_writes);
  void unmap(DeviceQueue& q, uint64_t device_addr, uint32_t bytes);
  // A descriptor for `dev` in the ring's next slot (no doorbell); the slot.
  unsigned post(DeviceQueue& q, bool tx, uint64_t dev, uint32_t bytes, uint16_t checksum);
  DeviceQueue& tx_queue_of(const Guest& guest);

  // A guest's driver threads and their steps (io_modes_guest.cpp).
  void guest_thread(Guest& guest);
  bool guest_reap(Guest& guest);
  void guest_exit(Guest& guest);
  void guest_charge(Guest& guest, double ns);
  void check_packet(Guest& guest, const sriov_nic::Descriptor& d, uint64_t gpa);
  void guest_tx_thread(Guest& guest);
  bool guest_reap_tx(Guest& guest);
  void guest_wait_irq(Guest& guest, VirtualIrq& irq);

  bool settled() const;
  uint64_t total_expected() const;
  void watch();
  void finish();
  uint64_t now_ns() const;

  const core::Config& config_;
  IoMode mode_;
  IoCosts costs_;
  core::StatGroup stats_;
  core::StatGroup guest_stats_;
  std::unique_ptr<HvStats> hv_;
  sriov_nic::NicConfig nic_cfg_;
  std::unique_ptr<sriov_nic::SriovNic> nic_;
  cpu_stub::CpuPort* cpu_ = nullptr;
  std::vector<std::unique_ptr<DeviceQueue>> queues_;
  std::vector<std::unique_ptr<Guest>> guests_;
  std::map<unsigned, DeviceQueue*> vectors_;  // host CPU 0's vector -> queue
  unsigned per_guest_packets_ = 0;
  uint32_t tx_bytes_ = 1500;    // nic.packet_bytes: every TX packet's size
  double tx_gbps_ = 1;          // nic.tx_gbps: each guest's TX rate
  unsigned tx_next_guest_ = 0;  // the backend's round-robin over guests' TX rings
  uint64_t vm_base_ = 0, vm_stride_ = 0, vm_bytes_ = 0;
  uint64_t host_base_ = 0, host_bytes_ = 0, host_next_ = 0;
  double clock_mhz_ = 2200;
  double idle_us_ = 1000;
  double first_ns_ = 0, last_ns_ = 0;
  sc_core::sc_time start_ = sc_core::SC_ZERO_TIME;
  bool finished_ = false;
  bool charging_ = false;  // the traffic phase: hypervisor work costs time from now on
  struct {
    core::Scalar* cpu_ns = nullptr;
    core::Counter* exits = nullptr;
  } guest_totals_;
  sc_core::sc_event work_event_;      // a device interrupt or a guest kick for the backend
  bool work_pending_ = false;         // work_event_ fired since the backend's pass began
  sc_core::sc_event progress_event_;  // a guest reaped something
  std::function<void(uint64_t, uint64_t)> progress_;
  core::Counter* transactions_ = nullptr;
  core::Counter* bytes_ = nullptr;
  core::Counter* drops_ = nullptr;
  core::Histogram* latency_ = nullptr;
  std::vector<uint8_t> scratch_, expect_;  // the guests' packet checks
  std::vector<uint8_t> copy_;              // the backend's copies
  std::vector<uint8_t> tx_scratch_;        // the guests' packets being built
  core::Logger log_{"io_modes"};
};

}  // namespace iovsim::platforms

#include "io_modes_workload.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::platforms {

namespace nic = sriov_nic;
using sc_core::sc_time;

namespace {
const core::EnumParam kMode{
    "nic.mode",
    "sriov",
    "How guests reach the NIC (nic workload): emulated (trapped registers, the hypervisor "
    "copies), paravirtual (a shared ring per guest, the backend copies), mq (a queue per guest, "
    "guest buffers validated and posted by the hypervisor) or sriov (VFs assigned through the "
    "IOMMU)",
    {"emulated", "paravirtual", "mq", "sriov"}};
// Defaults: a 2.2 GHz Xeon of the Broadwell/Skylake generation. A VM exit and re-entry with its
// handling is 1-2 thousand cycles; injecting an interrupt into another CPU's vCPU is an IPI plus
// bookkeeping; the backend's per-packet work is a host driver's plus its demultiplexing.
const core::RealParam kExitNs{"io.exit_ns", 1000,
                              "Non-sriov modes: hypervisor CPU time per VM exit (world switch, "
                              "decoding and handling the trapped access) (ns)",
                              core::Range{0, 1e9}};
const core::RealParam kInjectNs{
    "io.inject_ns", 500,
    "Non-sriov modes: hypervisor CPU time to inject one virtual interrupt into a guest (ns)",
    core::Range{0, 1e9}};
const core::RealParam kBackendNs{
    "io.backend_packet_ns", 200,
    "Non-sriov modes: the backend's CPU time per packet: reap the host descriptor, find the "
    "guest, complete the guest's descriptor, repost (ns)",
    core::Range{0, 1e9}};
const core::RealParam kCopyPacketNs{
    "io.copy_packet_ns", 50,
    "emulated, paravirtual: set-up time of one packet copy into guest memory (ns)",
    core::Range{0, 1e9}};
const core::RealParam kCopyGbps{"io.copy_gbps", 80,
                                "emulated, paravirtual: copy bandwidth of the backend's core "
                                "(Gb/s; 80 = 10 GB/s, one core's memcpy)",
                                core::Range{0.001, 1e6}};
const core::RealParam kEmulationNs{
    "io.emulated.packet_ns", 500,
    "emulated: the device model's CPU time per packet: reading and writing the emulated "
    "descriptor in guest memory, updating emulated registers (ns)",
    core::Range{0, 1e9}};
const core::IntParam kEmulatedIrqExits{
    "io.emulated.irq_exits", 2,
    "emulated: trapped register accesses per interrupt the guest handles (reading the cause "
    "register, unmasking); its doorbell write after each batch is one more",
    core::Range{0, 64}};
const core::RealParam kValidateNs{
    "io.mq.validate_ns", 50,
    "mq: hypervisor CPU time to check one guest buffer address against the guest's memory and "
    "translate it to a host address (ns)",
    core::Range{0, 1e9}};
}  // namespace

IoCosts IoCosts::from(const core::Config& c) {
  IoCosts k;
  k.exit_ns = kExitNs.get(c);
  k.inject_ns = kInjectNs.get(c);
  k.backend_packet_ns = kBackendNs.get(c);
  k.guest_packet_ns = c.get_real("nic_driver.rx_packet_ns");
  k.copy_packet_ns = kCopyPacketNs.get(c);
  k.copy_gbps = kCopyGbps.get(c);
  k.emulation_packet_ns = kEmulationNs.get(c);
  k.emulated_irq_exits = static_cast<unsigned>(kEmulatedIrqExits.get(c));
  k.validate_ns = kValidateNs.get(c);
  return k;
}

std::string nic_mode(const core::Config& config) {
  return kMode.get(config);
}

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
  core::Scalar& map_ns;
  core::Counter& exits;
  core::Counter& interrupts;
  core::Counter& injected;
  core::Counter& packets;
  core::Counter& copy_bytes;
  core::Counter& validated;
  core::Counter& rejected;
  core::Counter& device_errors;
  explicit HvStats(core::StatGroup* parent)
      : group("hv", parent),
        cpu_ns(group.add_scalar("cpu_ns",
                                "Hypervisor CPU time on the data path: the sum of the "
                                "parts below (ns)")),
        exit_ns(group.add_scalar("exit_ns", "... handling guests' VM exits (ns)")),
        inject_ns(group.add_scalar("inject_ns", "... injecting virtual interrupts (ns)")),
        backend_ns(group.add_scalar("backend_ns", "... the backend's per-packet work (ns)")),
        copy_ns(group.add_scalar("copy_ns", "... copying packets into guest memory (ns)")),
        emulation_ns(
            group.add_scalar("emulation_ns", "... emulating the guest's NIC per packet (ns)")),
        validate_ns(group.add_scalar("validate_ns",
                                     "... validating and translating guest buffer addresses (ns)")),
        map_ns(group.add_scalar("map_ns",
                                "... DMA-mapping host-posted buffers (dma_map.policy) (ns)")),
        exits(group.add_counter("exits", "VM exits the guests took (all guests)")),
        interrupts(group.add_counter("interrupts", "Device interrupts the backend handled")),
        injected(group.add_counter("injected", "Virtual interrupts injected into guests")),
        packets(group.add_counter("packets", "Packets the backend passed to guests")),
        copy_bytes(group.add_counter("copy_bytes", "Bytes copied into guest memory")),
        validated(group.add_counter("validated",
                                    "mq: guest buffers checked and translated "
                                    "during the traffic phase")),
        rejected(group.add_counter("rejected",
                                   "mq: guest buffers refused (outside the guest's memory)")),
        device_errors(
            group.add_counter("device_errors", "Host descriptors written back with an error")) {}
};

// A NIC function the hypervisor owns: its RX ring and buffers in host memory (emulated,
// paravirtual) or pointing into its guest's memory (mq).
struct IoModesWorkload::DeviceQueue {
  unsigned function = 0;  // 0 = PF, 1 + g = VF g
  uint16_t rid = 0;
  uint64_t bar = 0;
  uint64_t ring = 0;  // host address
  unsigned entries = 0;
  std::vector<uint64_t> buf;         // host address per slot
  std::vector<uint64_t> dev;         // device address per slot while posted
  std::vector<uint32_t> dev_len;     // bytes mapped per slot
  std::vector<uint64_t> owner_slot;  // mq: the guest ring position the slot's buffer came from
  uint64_t reaped = 0, posted = 0;   // monotonic
  int guest = -1;                    // mq: its guest
  std::unique_ptr<core::StatGroup> stats;  // hv.queue<i>: its DMA-mapping policy's statistics
  std::unique_ptr<cpu_stub::DmaMappingPolicy> policy;
};

// A guest's virtual NIC and driver. Its ring: entries descriptors at GPA 0, buffer i at
// bufs + i * buffer_bytes. Positions are monotonic counts: the guest posted `posted` buffers,
// the backend took `taken` of them, the guest reaped `reaped` (reaped <= taken <= posted).
struct IoModesWorkload::Guest {
  unsigned index = 0;
  uint64_t base = 0;                     // host address of guest-physical 0
  uint64_t ring = 0, bufs = 0, end = 0;  // GPA
  unsigned entries = 0;
  uint64_t posted = 0, taken = 0, reaped = 0, filled = 0;
  uint32_t stream = 0, step = 1;
  uint64_t next_seq = 0;
  bool waiting = false, irq_pending = false;
  bool wants_kick = false;  // the backend asked to be told of new buffers
  sc_core::sc_event irq, kick;
  std::unique_ptr<core::StatGroup> group;
  core::Scalar* cpu_ns = nullptr;
  core::Counter *exits = nullptr, *interrupts = nullptr, *rx_packets = nullptr, *rx_bytes = nullptr,
                *missing = nullptr, *duplicates = nullptr, *corrupt = nullptr;
  core::Histogram* latency = nullptr;
  uint64_t slot_gpa(uint64_t pos) const { return ring + (pos % entries) * nic::kDescriptorBytes; }
};

IoModesWorkload::IoModesWorkload(Fabric& f, IoMode mode)
    : config_(f.config),
      mode_(mode),
      costs_(IoCosts::from(f.config)),
      stats_("workload", f.stats),
      guest_stats_("guest", f.stats),
      hv_(std::make_unique<HvStats>(f.stats)) {
  const std::string name = nic_mode(f.config);
  nic_cfg_ = nic::NicConfig::from(f.config);
  nic_cfg_.seed = f.seed;
  nic_cfg_.pf_rid = core::make_rid(f.rc.secondary_bus(0), 0, 0);
  if (nic_cfg_.direction != nic::Direction::kRx)
    throw core::ConfigError("nic.mode = " + name +
                            " models the RX direction only: set nic.direction=rx");
  if (f.config.get_bool("nic.host_queue"))
    throw core::ConfigError("nic.mode = " + name +
                            ": the hypervisor owns the PF; nic.host_queue is for nic.mode=sriov");
  if (nic_cfg_.ats) throw core::ConfigError("nic.ats is for nic.mode=sriov");
  if (!f.enumerator) throw core::ConfigError("workload.kind = nic needs cpu.enumerate=true");
  if (nic_cfg_.vfs == 0)
    throw core::ConfigError("nic.mode = " + name +
                            " needs nic.vfs >= 1: one guest per VF's worth of traffic");
  const int64_t vms = f.config.get_int("vm.count");
  if (vms != 0 && vms != nic_cfg_.vfs)
    throw core::ConfigError("nic.mode = " + name +
                            " gives every VM one virtual NIC: vm.count must be 0 or nic.vfs");
  const unsigned guests = nic_cfg_.vfs;
  per_guest_packets_ = static_cast<unsigned>(nic_cfg_.packets);
  if (mode_ != IoMode::kMq) {
    // One PF queue carries every guest's traffic: the sum of the guests' offered loads, packet
    // k for guest k mod guests (the wire's demultiplexing by destination, done by the backend).
    nic_cfg_.packets *= guests;
    nic_cfg_.rx_gbps *= guests;
    nic_cfg_.rx_pps *= guests;
  } else {
    const unsigned last_vf = nic_cfg_.pf_rid + nic_cfg_.first_vf_offset +
                             unsigned{nic_cfg_.vf_stride} * (nic_cfg_.total_vfs - 1);
    if (last_vf > 0xFFFF || core::rid_bus(static_cast<uint16_t>(last_vf)) > f.rc.subordinate_bus(0))
      throw core::ConfigError("the NIC's VFs need buses up to " + std::to_string(last_vf >> 8) +
                              ": raise rc.buses_per_port or lower nic.total_vfs");
  }
  clock_mhz_ = f.config.get_real("cpu.clock_mhz");
  idle_us_ = f.config.get_real("workload.idle_us");
  vm_bytes_ = static_cast<uint64_t>(f.config.get_int("vm.memory_bytes"));
  const uint64_t page = static_cast<uint64_t>(f.config.get_int("vm.page_size"));
  vm_stride_ = core::align_up(vm_bytes_, page);
  vm_base_ = static_cast<uint64_t>(f.config.get_int("vm.host_base"));
  if (vm_base_ % page) throw core::ConfigError("vm.host_base must be a multiple of vm.page_size");
  f.check_host_region(vm_base_, vm_stride_ * guests,
                      "the VMs' memory (vm.host_base + nic.vfs * vm.memory_bytes)");
  host_base_ = core::align_up(vm_base_ + vm_stride_ * guests, uint64_t{1} << 21);
  host_bytes_ = static_cast<uint64_t>(f.config.get_int("nic.host_memory_bytes"));
  f.check_host_region(host_base_, host_bytes_, "the hypervisor's memory (nic.host_memory_bytes)");
  const uint64_t ring_bytes =
      core::align_up(uint64_t{nic_cfg_.ring_entries} * nic::kDescriptorBytes, 4096);
  if (ring_bytes + uint64_t{nic_cfg_.ring_entries} * nic_cfg_.buffer_bytes > vm_bytes_)
    throw core::ConfigError("a guest's ring and buffers do not fit vm.memory_bytes");
  if (nic_cfg_.buffer_bytes > 0xFFFF) throw core::ConfigError("nic.buffer_bytes above 65535");
  // The hypervisor's rings (one per queue) and, in the copy modes, the PF's buffers.
  const uint64_t host_need = mode_ == IoMode::kMq
                                 ? ring_bytes * guests
                                 : ring_bytes + uint64_t{nic_cfg_.ring_entries} *
                                                    core::align_up(nic_cfg_.buffer_bytes, 64);
  if (host_need > host_bytes_)
    throw core::ConfigError("the hypervisor's rings and buffers do not fit nic.host_memory_bytes");

  nic_ = std::make_unique<nic::SriovNic>("nic", nic_cfg_, f.stats);
  nic_->dma.bind(f.link.device_side);
  f.link.device_down.bind(nic_->pcie_in);
  pcie::ConfigSpace& cs = nic_->pf_config();
  pcie::Link& link = f.link;
  cs.on_write([&link, &cs](uint16_t, unsigned) { link.set_payload_sizes(cs.mps(), cs.mrrs()); });
  cpu_ = &f.cpu;

  transactions_ = &stats_.add_counter("transactions", "Packets the guests received intact");
  bytes_ = &stats_.add_counter("bytes", "Payload bytes of those packets");
  stats_.add_formula("throughput_gbps", "Payload Gb/s over the traffic phase", [this] {
    const double span = last_ns_ - first_ns_;
    return span > 0 ? double(bytes_->value) * 8 / span : 0;
  });
  latency_ = &stats_.add_histogram(
      "latency_ns", "Packet arrival at the NIC -> reaped by the guest's driver (ns)");
  drops_ = &stats_.add_counter("drops", "RX packets the NIC dropped (its ring empty)");
  hv_->group.add_formula("cycles_per_packet", "Hypervisor CPU cycles per packet delivered", [this] {
    const uint64_t n = transactions_->value;
    return n ? hv_->cpu_ns.value * clock_mhz_ / 1000 / n : 0;
  });
  auto& guest_cpu = guest_stats_.add_scalar("cpu_ns", "Guest drivers' CPU time, all guests (ns)");
  auto& guest_exits = guest_stats_.add_counter("exits", "VM exits, all guests");
  guest_stats_.add_formula("cycles_per_packet", "Guest CPU cycles per packet delivered",
                           [this, &guest_cpu] {
                             const uint64_t n = transactions_->value;
                             return n ? guest_cpu.value * clock_mhz_ / 1000 / n : 0;
                           });

  for (unsigned g = 0; g < guests; ++g) {
    auto guest = std::make_unique<Guest>();
    guest->index = g;
    guest->base = guest_base(g);
    guest->entries = nic_cfg_.ring_entries;
    guest->ring = 0;
    guest->bufs = ring_bytes;
    guest->end = vm_bytes_;
    if (mode_ == IoMode::kMq) {
      guest->stream = 1 + g;  // VF g's wire stream
      guest->step = 1;
      guest->next_seq = 0;
    } else {
      guest->stream = 0;  // the PF's stream, every guests-th packet
      guest->step = guests;
      guest->next_seq = g;
    }
    auto& s = *(guest->group =
                    std::make_unique<core::StatGroup>("vm" + std::to_string(g), &guest_stats_));
    guest->cpu_ns = &s.add_scalar("cpu_ns", "The guest driver's CPU time (ns)");
    guest->exits = &s.add_counter("exits", "VM exits the guest took");
    guest->interrupts = &s.add_counter("interrupts", "Virtual interrupts the guest handled");
    guest->rx_packets = &s.add_counter("rx_packets", "Packets received intact, once");
    guest->rx_bytes = &s.add_counter("rx_bytes", "Bytes of those packets");
    guest->missing = &s.add_counter("rx_missing", "Sequence numbers skipped (packets lost)");
    guest->duplicates = &s.add_counter("rx_duplicates", "Packets received more than once");
    guest->corrupt = &s.add_counter("rx_corrupt", "Packets whose payload or checksum differ");
    guest->latency = &s.add_histogram("latency_ns", "Arrival at the NIC -> reaped (ns)");
    const core::Counter* rx_bytes = guest->rx_bytes;
    s.add_formula("throughput_gbps", "The guest's payload Gb/s over the traffic phase",
                  [this, rx_bytes] {
                    const double span = last_ns_ - first_ns_;
                    return span > 0 ? double(rx_bytes->value) * 8 / span : 0;
                  });
    guests_.push_back(std::move(guest));
  }
  // Totals over guests, kept in step by guest_exit() and the guest threads.
  guest_totals_ = {&guest_cpu, &guest_exits};
  scratch_.resize(nic_cfg_.buffer_bytes);
  copy_.resize(nic_cfg_.buffer_bytes);
  expect_.resize(nic_cfg_.buffer_bytes);
}

IoModesWorkload::~IoModesWorkload() = default;

uint64_t IoModesWorkload::host_alloc(uint64_t bytes, uint64_t align) {
  const uint64_t at = core::align_up(host_base_ + host_next_, align);
  if (at + bytes > host_base_ + host_bytes_)
    throw core::ConfigError("the hypervisor's rings and buffers do not fit nic.host_memory_bytes");
  host_next_ = at + bytes - host_base_;
  return at;
}

uint64_t IoModesWorkload::now_ns() const {
  return static_cast<uint64_t>(sc_core::sc_time_stamp().to_seconds() * 1e9);
}

// ---- Boot ------------------------------------------------------------------------------------

void IoModesWorkload::boot(Fabric& f) {
  const unsigned guests = static_cast<unsigned>(guests_.size());
  if (mode_ == IoMode::kMq) {
    f.enumerator->enable_sriov(nic_cfg_.pf_rid, static_cast<uint16_t>(guests));
    for (unsigned g = 0; g < guests; ++g) {
      auto q = std::make_unique<DeviceQueue>();
      q->function = 1 + g;
      q->guest = static_cast<int>(g);
      queues_.push_back(std::move(q));
    }
  } else {
    queues_.push_back(std::make_unique<DeviceQueue>());
  }
  for (auto& guest : guests_) setup_guest(*guest);
  for (unsigned i = 0; i < queues_.size(); ++i) setup_device_queue(f, *queues_[i], i);
  f.irq.on_interrupt([this](const cpu_stub::InterruptMessage& m) {
    auto it = vectors_.find(m.vector);
    if (m.apic_id != 0 || it == vectors_.end()) return;
    ++hv_->interrupts;
    const uint64_t now = sc_core::sc_time_stamp().value();
    work_event_.notify(
        sc_time::from_value(m.handler_start_ps > now ? m.handler_start_ps - now : 0));
  });
  sc_core::sc_spawn([this] { backend(); }, "io_backend");
  for (auto& guest : guests_) {
    Guest* g = guest.get();
    sc_core::sc_spawn([this, g] { guest_thread(*g); },
                      ("io_guest" + std::to_string(g->index)).c_str());
  }
  sc_core::sc_spawn([this] { watch(); }, "io_watch");
}

// The guest driver's boot: every ring slot gets a buffer (it traps in the emulated mode, but boot
// is not the measured phase).
void IoModesWorkload::setup_guest(Guest& guest) {
  std::vector<uint8_t> zero(guest.entries * nic::kDescriptorBytes, 0);
  cpu_->mem_write(guest.base + guest.ring, zero.data(), zero.size());
  for (unsigned i = 0; i < guest.entries; ++i) {
    nic::Descriptor d;
    d.addr = guest.bufs + uint64_t{i} * nic_cfg_.buffer_bytes;
    d.length = static_cast<uint16_t>(nic_cfg_.buffer_bytes);
    d.flags = nic::kFlagEop;
    uint8_t b[nic::kDescriptorBytes];
    d.encode(b);
    cpu_->mem_write(guest.base + guest.slot_gpa(i), b, sizeof b);
  }
  guest.posted = guest.entries;
}

void IoModesWorkload::setup_device_queue(Fabric& f, DeviceQueue& q, unsigned index) {
  const unsigned n = nic_cfg_.ring_entries;
  q.rid = nic_->rid(q.function);
  q.entries = n;
  const cpu_stub::PciFunctionInfo* info = f.enumerator->find(q.rid);
  if (!info || info->bars.empty())
    throw std::runtime_error("NIC function " + std::to_string(q.function) + " was not enumerated");
  q.bar = info->bars[0].base;
  q.stats = std::make_unique<core::StatGroup>("queue" + std::to_string(index), &hv_->group);
  if (f.iommu) {
    // A host-owned function: its own domain; the buffers it is given are mapped one by one with
    // dma_map.policy (mq: guest buffers, so the region spans the guests' memory too).
    const uint64_t region = mode_ == IoMode::kMq ? vm_base_ : host_base_;
    q.policy = f.make_dma_policy(q.rid, static_cast<uint16_t>(1 + index), region,
                                 host_base_ + host_bytes_ - region, q.stats.get());
  }
  const uint64_t ring_bytes = core::align_up(uint64_t{n} * nic::kDescriptorBytes, 4096);
  q.ring = host_alloc(ring_bytes, 4096);
  std::vector<uint8_t> zero(ring_bytes, 0);
  cpu_->mem_write(q.ring, zero.data(), zero.size());
  q.buf.assign(n, 0);
  q.dev.assign(n, 0);
  q.owner_slot.assign(n, 0);
  q.dev_len.assign(n, nic_cfg_.buffer_bytes);
  auto reg = [&](uint32_t offset, uint64_t v) { cpu_->mmio_write(q.bar + offset, 4, v); };
  const uint64_t ring_dev = map(q, q.ring, static_cast<uint32_t>(ring_bytes), false);
  reg(nic::kRxQueue + nic::kQBaseLo, ring_dev & 0xFFFFFFFF);
  reg(nic::kRxQueue + nic::kQBaseHi, ring_dev >> 32);
  reg(nic::kRxQueue + nic::kQEntries, n);
  if (mode_ == IoMode::kMq) {
    // Boot-time posting is the same validation as later, but not charged: setup, not per packet.
    refill_device(q);
  } else {
    for (unsigned i = 0; i < n; ++i) q.buf[i] = host_alloc(nic_cfg_.buffer_bytes, 64);
    for (unsigned i = 0; i + 1 < n; ++i) {  // a full ring keeps one slot free
      q.dev[i] = map(q, q.buf[i], nic_cfg_.buffer_bytes, false);
      nic::Descriptor d;
      d.addr = q.dev[i];
      d.length = static_cast<uint16_t>(nic_cfg_.buffer_bytes);
      d.flags = nic::kFlagEop | nic::kFlagRs;
      uint8_t b[nic::kDescriptorBytes];
      d.encode(b);
      cpu_->mem_write(q.ring + uint64_t{i} * nic::kDescriptorBytes, b, sizeof b);
    }
    q.posted = n - 1;
    reg(nic::kRxQueue + nic::kQTail, q.posted % n);
  }
  // The RX vector goes to the hypervisor's CPU 0; the TX vector stays masked (RX only).
  const unsigned vector = 0x30 + index;
  if (vector > 0xFE) throw core::ConfigError("too many NIC queues for CPU 0's vectors");
  f.write_msix_entry(q.bar + nic::kMsixTable, nic::kVectorRx, f.program_msi(q.rid, 0, vector));
  vectors_[vector] = &q;
  f.enable_msix(*info);
  reg(nic::kRegItrNs, static_cast<uint64_t>(nic_cfg_.irq_interval_ns));
  reg(nic::kRegItrPackets, nic_cfg_.irq_packets);
  reg(nic::kRegCtrl, nic::kCtrlRxEnable);
  nic_->set_rx_traffic(q.function, true);
}

void IoModesWorkload::start_at(const sc_core::sc_time& t) {
  nic_->start_at(t);
  start_ = t;
  first_ns_ = t.to_seconds() * 1e9;
}

// ---- The hypervisor's backend ----------------------------------------------------------------

void IoModesWorkload::hv_charge(core::Scalar& part, double ns) {
  if (ns <= 0) return;
  part.value += ns;
  hv_->cpu_ns.value += ns;
  sc_core::wait(sc_time(ns, sc_core::SC_NS));
}

// A device address for a host buffer: through the queue's DMA-mapping policy with the IOMMU, the
// host address itself without. Boot-time mapping is not charged (charge = false).
uint64_t IoModesWorkload::map(DeviceQueue& q, uint64_t hpa, uint32_t bytes, bool charge) {
  if (!q.policy) return hpa;
  const uint64_t iova = q.policy->map(hpa, bytes, true, now_ns());
  const double ns = q.policy->take_cpu_ns();
  if (charge) hv_charge(hv_->map_ns, ns);
  return iova;
}

void IoModesWorkload::unmap(DeviceQueue& q, uint64_t device_addr, uint32_t bytes) {
  if (!q.policy) return;
  q.policy->unmap(device_addr, bytes, now_ns());
  hv_charge(hv_->map_ns, q.policy->take_cpu_ns());
}

void IoModesWorkload::backend() {
  if (start_ > sc_core::sc_time_stamp()) sc_core::wait(start_ - sc_core::sc_time_stamp());
  charging_ = true;
  for (;;) {
    // Work is found in memory (completed descriptors, posted guest buffers), so an event that
    // came while the backend was busy is never lost: it only waits when a pass found nothing.
    bool any = false;
    for (auto& q : queues_) any |= reap_device(*q);
    if (mode_ == IoMode::kMq)
      for (auto& q : queues_) any |= refill_device(*q);
    notify_guests();
    if (!any) sc_core::wait(work_event_);
  }
}

bool IoModesWorkload::reap_device(DeviceQueue& q) {
  const unsigned n = q.entries;
  bool any = false;
  for (;;) {
    const unsigned slot = static_cast<unsigned>(q.reaped % n);
    uint8_t b[nic::kDescriptorBytes];
    cpu_->mem_read(q.ring + uint64_t{slot} * nic::kDescriptorBytes, b, sizeof b);
    const nic::Descriptor d = nic::Descriptor::decode(b);
    if (q.reaped == q.posted || !(d.status & nic::kStatusDd)) break;
    any = true;
    ++q.reaped;
    hv_charge(hv_->backend_ns, costs_.backend_packet_ns);
    unmap(q, q.dev[slot], q.dev_len[slot]);
    if (d.status & (nic::kStatusErr | nic::kStatusTooLong)) ++hv_->device_errors;
    if (mode_ == IoMode::kMq) {
      // The device wrote into the guest's buffer: complete the guest's descriptor, no copy.
      Guest& guest = *guests_[static_cast<unsigned>(q.guest)];
      const uint64_t pos = q.owner_slot[slot];
      nic::Descriptor u;
      u.addr = guest.bufs + (pos % guest.entries) * nic_cfg_.buffer_bytes;
      u.length = d.length;
      u.flags = nic::kFlagEop;
      u.status = static_cast<uint16_t>(d.status | nic::kStatusDd);
      u.checksum = d.checksum;
      u.encode(b);
      cpu_->mem_write(guest.base + guest.slot_gpa(pos), b, sizeof b);
      ++guest.filled;
      ++hv_->packets;
    } else {
      if (!(d.status & nic::kStatusErr)) deliver_copy(q, slot, d);
      // Repost the host buffer in the slot kept free, which moves along.
      const unsigned post = static_cast<unsigned>(q.posted % n);
      std::swap(q.buf[post], q.buf[slot]);
      q.dev[post] = map(q, q.buf[post], nic_cfg_.buffer_bytes, true);
      nic::Descriptor r;
      r.addr = q.dev[post];
      r.length = static_cast<uint16_t>(nic_cfg_.buffer_bytes);
      r.flags = nic::kFlagEop | nic::kFlagRs;
      r.encode(b);
      cpu_->mem_write(q.ring + uint64_t{post} * nic::kDescriptorBytes, b, sizeof b);
      ++q.posted;
    }
  }
  if (any) {
    if (mode_ != IoMode::kMq)
      cpu_->mmio_write(q.bar + nic::kRxQueue + nic::kQTail, 4, q.posted % n);
    if (q.policy) {
      q.policy->poll(now_ns());
      hv_charge(hv_->map_ns, q.policy->take_cpu_ns());
    }
  }
  return any;
}

// emulated, paravirtual: the packet in host buffer `slot` goes to the guest its sequence number
// names, copied into that guest's next posted buffer.
void IoModesWorkload::deliver_copy(DeviceQueue& q, unsigned slot, const nic::Descriptor& d) {
  const uint32_t len = std::min<uint32_t>(d.length, nic_cfg_.buffer_bytes);
  // The backend's own buffer: guests' threads run while it charges its time.
  cpu_->mem_read(q.buf[slot], copy_.data(), len);
  const uint64_t seq =
      len >= nic::kPayloadHeaderBytes ? core::load_le<uint64_t>(copy_.data() + 4) : 0;
  Guest& guest = *guests_[seq % guests_.size()];
  wait_for_guest_buffer(guest);
  if (mode_ == IoMode::kEmulated) hv_charge(hv_->emulation_ns, costs_.emulation_packet_ns);
  const uint64_t pos = guest.taken++;
  uint8_t b[nic::kDescriptorBytes];
  cpu_->mem_read(guest.base + guest.slot_gpa(pos), b, sizeof b);
  nic::Descriptor u = nic::Descriptor::decode(b);
  hv_charge(hv_->copy_ns, costs_.copy_ns(len));
  const uint32_t fits = std::min<uint32_t>(len, u.length);
  if (u.addr >= guest.bufs && u.addr + fits <= guest.end) {
    cpu_->mem_write(guest.base + u.addr, copy_.data(), fits);
    hv_->copy_bytes += fits;
    u.status = nic::kStatusDd | (fits < len ? nic::kStatusTooLong : 0);
  } else {
    ++hv_->rejected;  // a guest pointing outside its memory gets nothing copied
    u.status = nic::kStatusDd | nic::kStatusErr;
  }
  u.length = static_cast<uint16_t>(fits);
  u.checksum = d.checksum;
  u.encode(b);
  cpu_->mem_write(guest.base + guest.slot_gpa(pos), b, sizeof b);
  ++guest.filled;
  ++hv_->packets;
}

// The backend holds the packet until the guest posts a buffer; meanwhile its own ring fills and
// the NIC drops arrivals (head-of-line blocking, as with a real shared queue). Guests with
// packets waiting are interrupted first, or nobody would free a buffer.
void IoModesWorkload::wait_for_guest_buffer(Guest& guest) {
  while (guest.taken == guest.posted) {
    notify_guests();  // takes time: the guest may have reposted meanwhile, without a kick
    if (guest.taken != guest.posted) break;
    guest.wants_kick = true;
    sc_core::wait(guest.kick);
  }
}

// An interrupt for every guest that has unseen packets and sleeps; a busy guest finds them
// itself (interrupt suppression).
void IoModesWorkload::notify_guests() {
  for (auto& g : guests_) {
    Guest& guest = *g;
    // Only for completions the guest has not reaped: it may have found them while busy.
    if (guest.filled == guest.reaped || !guest.waiting || guest.irq_pending) continue;
    hv_charge(hv_->inject_ns, costs_.inject_ns);
    ++hv_->injected;
    guest.irq_pending = true;
    guest.irq.notify(sc_core::SC_ZERO_TIME);
  }
}

// mq: the guest's posted buffers, checked and translated, into its VF's ring.
bool IoModesWorkload::refill_device(DeviceQueue& q) {
  Guest& guest = *guests_[static_cast<unsigned>(q.guest)];
  const unsigned n = q.entries;
  const bool boot = !charging_;  // boot-time posting is setup, not per-packet work
  bool any = false;
  uint8_t b[nic::kDescriptorBytes];
  while (guest.taken < guest.posted && q.posted - q.reaped < n - 1) {
    const uint64_t pos = guest.taken++;
    cpu_->mem_read(guest.base + guest.slot_gpa(pos), b, sizeof b);
    nic::Descriptor u = nic::Descriptor::decode(b);
    if (!boot) {
      ++hv_->validated;
      hv_charge(hv_->validate_ns, costs_.validate_ns);
    }
    any = true;
    if (u.addr < guest.bufs || u.addr + u.length > guest.end || u.length == 0) {
      // Outside the guest's buffers (its ring, another VM, the host): refused, completed with
      // an error so the guest gets its slot back.
      ++hv_->rejected;
      u.status = nic::kStatusDd | nic::kStatusErr;
      u.length = 0;
      u.encode(b);
      cpu_->mem_write(guest.base + guest.slot_gpa(pos), b, sizeof b);
      ++guest.filled;
      continue;
    }
    const unsigned slot = static_cast<unsigned>(q.posted % n);
    q.dev[slot] = map(q, guest.base + u.addr, u.length, !boot);
    q.dev_len[slot] = u.length;
    q.owner_slot[slot] = pos;
    nic::Descriptor d;
    d.addr = q.dev[slot];
    d.length = u.length;
    d.flags = nic::kFlagEop | nic::kFlagRs;
    d.encode(b);
    cpu_->mem_write(q.ring + uint64_t{slot} * nic::kDescriptorBytes, b, sizeof b);
    ++q.posted;
  }
  if (any) cpu_->mmio_write(q.bar + nic::kRxQueue + nic::kQTail, 4, q.posted % n);
  // Event-index style: ask for a kick only when the device ring runs low.
  guest.wants_kick = q.posted - q.reaped < n / 2;
  return any;
}

// ---- The guests ------------------------------------------------------------------------------

// A trapped access: the vCPU stops while the hypervisor handles it (its CPU time).
void IoModesWorkload::guest_exit(Guest& guest) {
  ++*guest.exits;
  ++*guest_totals_.exits;
  ++hv_->exits;
  hv_->exit_ns.value += costs_.exit_ns;
  hv_->cpu_ns.value += costs_.exit_ns;
  if (costs_.exit_ns > 0) sc_core::wait(sc_time(costs_.exit_ns, sc_core::SC_NS));
}

void IoModesWorkload::guest_thread(Guest& guest) {
  if (start_ > sc_core::sc_time_stamp()) sc_core::wait(start_ - sc_core::sc_time_stamp());
  for (;;) {
    // Check the ring again after any work: the backend does not interrupt a busy guest.
    if (guest_reap(guest)) continue;
    if (!guest.irq_pending) {
      guest.waiting = true;
      sc_core::wait(guest.irq);
      guest.waiting = false;
    }
    guest.irq_pending = false;
    ++*guest.interrupts;
    if (mode_ == IoMode::kEmulated)
      for (unsigned i = 0; i < costs_.emulated_irq_exits; ++i) guest_exit(guest);
  }
}

bool IoModesWorkload::guest_reap(Guest& guest) {
  bool any = false;
  uint8_t b[nic::kDescriptorBytes];
  while (guest.reaped < guest.posted) {
    const uint64_t pos = guest.reaped;
    cpu_->mem_read(guest.base + guest.slot_gpa(pos), b, sizeof b);
    nic::Descriptor d = nic::Descriptor::decode(b);
    if (!(d.status & nic::kStatusDd)) break;
    any = true;
    ++guest.reaped;
    if (!(d.status & nic::kStatusErr)) check_packet(guest, d, d.addr);
    // Repost the same buffer in the same slot.
    d.addr = guest.bufs + (pos % guest.entries) * nic_cfg_.buffer_bytes;
    d.length = static_cast<uint16_t>(nic_cfg_.buffer_bytes);
    d.status = 0;
    d.checksum = 0;
    d.encode(b);
    cpu_->mem_write(guest.base + guest.slot_gpa(pos), b, sizeof b);
    ++guest.posted;
    guest.cpu_ns->value += costs_.guest_packet_ns;
    guest_totals_.cpu_ns->value += costs_.guest_packet_ns;
    if (costs_.guest_packet_ns > 0) sc_core::wait(sc_time(costs_.guest_packet_ns, sc_core::SC_NS));
    progress_event_.notify(sc_core::SC_ZERO_TIME);
  }
  if (any) {
    // The doorbell: an emulated register write always traps; a paravirtual (or mq) kick only
    // when the backend asked for one.
    if (mode_ == IoMode::kEmulated || guest.wants_kick) {
      guest.wants_kick = false;
      guest_exit(guest);
      guest.kick.notify(sc_core::SC_ZERO_TIME);
      work_event_.notify(sc_core::SC_ZERO_TIME);
    }
  }
  return any;
}

void IoModesWorkload::check_packet(Guest& guest, const nic::Descriptor& d, uint64_t gpa) {
  const uint32_t len = std::min<uint32_t>(d.length, nic_cfg_.buffer_bytes);
  cpu_->mem_read(guest.base + gpa, scratch_.data(), len);
  bool ok = len >= nic::kPayloadHeaderBytes && !(d.status & nic::kStatusTooLong);
  const uint32_t stream = ok ? core::load_le<uint32_t>(scratch_.data()) : 0;
  const uint64_t seq = ok ? core::load_le<uint64_t>(scratch_.data() + 4) : 0;
  const uint32_t bytes = ok ? core::load_le<uint32_t>(scratch_.data() + 12) : 0;
  const uint64_t sent_ps = ok ? core::load_le<uint64_t>(scratch_.data() + 16) : 0;
  if (ok && stream == guest.stream && bytes == len &&
      seq % guest.step == guest.index % guest.step) {
    nic::fill_payload(expect_.data(), bytes, stream, seq, sent_ps);
    ok = std::memcmp(expect_.data(), scratch_.data(), len) == 0 &&
         nic::ones_complement_sum(scratch_.data(), len) == d.checksum;
  } else {
    ok = false;
  }
  if (!ok) {
    ++*guest.corrupt;
    log_.warn("guest ", guest.index, ": a corrupt packet");
    return;
  }
  if (seq < guest.next_seq) {
    ++*guest.duplicates;
    return;
  }
  *guest.missing += (seq - guest.next_seq) / guest.step;
  guest.next_seq = seq + guest.step;
  ++*guest.rx_packets;
  *guest.rx_bytes += len;
  const uint64_t now = sc_core::sc_time_stamp().value();
  const double latency = double(now > sent_ps ? now - sent_ps : 0) / 1000.0;
  guest.latency->record(latency);
  latency_->record(latency);
}

// ---- The end of the run ----------------------------------------------------------------------

uint64_t IoModesWorkload::completed() const {
  uint64_t n = 0;
  for (auto& g : guests_) n += g->rx_packets->value;
  return n;
}

uint64_t IoModesWorkload::total_expected() const {
  return uint64_t{per_guest_packets_} * guests_.size();
}

bool IoModesWorkload::settled() const {
  if (!nic_->rx_settled()) return false;
  for (auto& q : queues_) {
    const auto c = nic_->counters(q->function);
    if (q->reaped < c.rx_packets) return false;
  }
  for (auto& g : guests_)
    if (g->reaped < g->filled) return false;
  return true;
}

void IoModesWorkload::watch() {
  wait_until_settled(
      progress_event_, idle_us_, [this] { return completed(); }, total_expected(),
      [this] { return settled(); }, [this] { return nic_->rx_settled(); }, progress_, log_);
  finish();
}

void IoModesWorkload::finish() {
  uint64_t bytes = 0, drops = 0;
  for (auto& g : guests_) bytes += g->rx_bytes->value;
  for (auto& q : queues_) drops += nic_->counters(q->function).rx_drops;
  transactions_->value = completed();
  bytes_->value = bytes;
  drops_->value = drops;
  last_ns_ = sc_core::sc_time_stamp().to_seconds() * 1e9;
  finished_ = true;
  if (progress_) progress_(completed(), total_expected());
  stop_simulation();
}

std::string IoModesWorkload::describe() const {
  static const char* names[] = {"emulated", "paravirtual", "mq"};
  std::ostringstream os;
  os << "nic rx, mode " << names[static_cast<int>(mode_)] << ", " << guests_.size() << " guests, "
     << per_guest_packets_ << " packets of " << nic_cfg_.packet_bytes << " B per guest, "
     << nic_cfg_.rx_gbps / (mode_ == IoMode::kMq ? 1 : guests_.size())
     << " Gb/s offered per guest, ring " << nic_cfg_.ring_entries;
  return os.str();
}

std::unique_ptr<Workload> make_io_modes_workload(Fabric& fabric) {
  const std::string m = nic_mode(fabric.config);
  const IoMode mode = m == "emulated"      ? IoMode::kEmulated
                      : m == "paravirtual" ? IoMode::kParavirtual
                                           : IoMode::kMq;
  return std::make_unique<IoModesWorkload>(fabric, mode);
}

}  // namespace iovsim::platforms

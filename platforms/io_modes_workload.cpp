#include "io_modes_workload.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>

#include <iovsim/core/bitfield.hpp>

#include "io_modes_state.hpp"

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
const core::EnumParam kPvBuffers{
    "io.paravirtual.buffers",
    "copy",
    "paravirtual: how the backend hands a guest's TX packet to the NIC: copy (into its own "
    "buffer, as a grant copy) or grant (grant-map the guest's buffer, the NIC reads it in place; "
    "a map and an unmap per packet). RX is copied either way",
    {"copy", "grant"}};
// Grant-table operations (Xen): a map is a hypercall and a page-table update; an unmap also
// flushes the TLB of the backend's CPUs, which makes it the dearer half.
const core::RealParam kGrantMapNs{
    "io.paravirtual.grant_map_ns", 250,
    "paravirtual with grant buffers: hypervisor CPU time to grant-map one guest TX buffer (ns)",
    core::Range{0, 1e9}};
const core::RealParam kGrantUnmapNs{
    "io.paravirtual.grant_unmap_ns", 500,
    "paravirtual with grant buffers: hypervisor CPU time to unmap it after transmission, TLB "
    "flush included (ns)",
    core::Range{0, 1e9}};
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
  k.guest_tx_packet_ns = c.get_real("nic_driver.tx_packet_ns");
  k.copy_packet_ns = kCopyPacketNs.get(c);
  k.copy_gbps = kCopyGbps.get(c);
  k.emulation_packet_ns = kEmulationNs.get(c);
  k.emulated_irq_exits = static_cast<unsigned>(kEmulatedIrqExits.get(c));
  k.validate_ns = kValidateNs.get(c);
  k.grant = kPvBuffers.get(c) == "grant";
  k.grant_map_ns = kGrantMapNs.get(c);
  k.grant_unmap_ns = kGrantUnmapNs.get(c);
  return k;
}

std::string nic_mode(const core::Config& config) {
  return kMode.get(config);
}

IoModesWorkload::HvStats::HvStats(core::StatGroup* parent)
    : group("hv", parent),
      cpu_ns(group.add_scalar("cpu_ns",
                              "Hypervisor CPU time on the data path: the sum of the "
                              "parts below (ns)")),
      exit_ns(group.add_scalar("exit_ns", "... handling guests' VM exits (ns)")),
      inject_ns(group.add_scalar("inject_ns", "... injecting virtual interrupts (ns)")),
      backend_ns(group.add_scalar("backend_ns", "... the backend's per-packet work (ns)")),
      copy_ns(group.add_scalar("copy_ns", "... copying packets to and from guest memory (ns)")),
      emulation_ns(
          group.add_scalar("emulation_ns", "... emulating the guest's NIC per packet (ns)")),
      validate_ns(group.add_scalar("validate_ns",
                                   "... validating and translating guest buffer addresses (ns)")),
      grant_ns(
          group.add_scalar("grant_ns", "... grant-mapping and unmapping guest TX buffers (ns)")),
      map_ns(
          group.add_scalar("map_ns", "... DMA-mapping host-posted buffers (dma_map.policy) (ns)")),
      exits(group.add_counter("exits", "VM exits the guests took (all guests)")),
      interrupts(group.add_counter("interrupts", "Device interrupts the backend handled")),
      injected(group.add_counter("injected", "Virtual interrupts injected into guests")),
      packets(group.add_counter("packets", "RX packets the backend passed to guests")),
      tx_packets(group.add_counter("tx_packets", "TX packets the backend passed to the NIC")),
      copy_bytes(group.add_counter("copy_bytes", "Bytes copied to and from guest memory")),
      grant_maps(group.add_counter("grant_maps", "Guest TX buffers grant-mapped")),
      validated(group.add_counter("validated",
                                  "mq: guest buffers checked and translated "
                                  "during the traffic phase")),
      rejected(group.add_counter("rejected", "Guest buffers refused (outside the guest's memory)")),
      device_errors(
          group.add_counter("device_errors", "Host descriptors written back with an error")) {}

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
  if (costs_.grant && mode_ != IoMode::kParavirtual)
    throw core::ConfigError("io.paravirtual.buffers=grant is for nic.mode=paravirtual");
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
  tx_bytes_ = nic_cfg_.packet_bytes;
  tx_gbps_ = f.config.get_real("nic.tx_gbps");
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
  const uint64_t entries = nic_cfg_.ring_entries;
  const uint64_t ring_bytes = core::align_up(entries * nic::kDescriptorBytes, 4096);
  const uint32_t tx_stride = static_cast<uint32_t>(core::align_up(tx_bytes_, 64));
  // A guest's memory: its rings, then its RX buffers, then its TX buffers.
  const uint64_t rings = ring_bytes * (nic_cfg_.tx() ? 2 : 1);
  const uint64_t rx_buffers = nic_cfg_.rx() ? entries * nic_cfg_.buffer_bytes : 0;
  const uint64_t tx_buffers = nic_cfg_.tx() ? entries * tx_stride : 0;
  if (rings + rx_buffers + tx_buffers > vm_bytes_)
    throw core::ConfigError("a guest's rings and buffers do not fit vm.memory_bytes");
  if (nic_cfg_.buffer_bytes > 0xFFFF) throw core::ConfigError("nic.buffer_bytes above 65535");
  // The hypervisor's rings (per queue) and, where it copies, its own buffers.
  const uint64_t host_need =
      mode_ == IoMode::kMq
          ? rings * guests
          : rings + (nic_cfg_.rx() ? entries * core::align_up(nic_cfg_.buffer_bytes, 64) : 0) +
                (nic_cfg_.tx() && !costs_.grant ? entries * tx_stride : 0);
  if (host_need > host_bytes_)
    throw core::ConfigError("the hypervisor's rings and buffers do not fit nic.host_memory_bytes");

  nic_ = std::make_unique<nic::SriovNic>("nic", nic_cfg_, f.stats);
  nic_->dma.bind(f.link.device_side);
  f.link.device_down.bind(nic_->pcie_in);
  f.link.follow_payload_sizes(nic_->pf_config());
  cpu_ = &f.cpu;

  transactions_ = &stats_.add_counter(
      "transactions", "Packets delivered: RX received intact by guests, TX completions they saw");
  bytes_ = &stats_.add_counter("bytes", "Payload bytes of those packets");
  stats_.add_formula("throughput_gbps", "Payload Gb/s over the traffic phase", [this] {
    const double span = last_ns_ - first_ns_;
    return span > 0 ? double(bytes_->value) * 8 / span : 0;
  });
  latency_ = &stats_.add_histogram("latency_ns",
                                   "Packet latency: RX arrival at the NIC -> reaped by the guest; "
                                   "TX posted -> completion seen by the guest (ns)");
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
    guest->tx_ring = ring_bytes;
    guest->bufs = rings;
    guest->tx_bufs = rings + rx_buffers;
    guest->tx_stride = tx_stride;
    guest->end = vm_bytes_;
    guest->tx_stream = 1 + g;  // the guest's TX stream, in every mode (sriov: VF g's driver's)
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
    guest->tx_packets = &s.add_counter("tx_packets", "TX packets the guest saw completed");
    guest->tx_bytes = &s.add_counter("tx_bytes", "Bytes of those packets");
    guest->tx_errors = &s.add_counter("tx_errors", "TX packets completed with an error");
    guest->tx_latency =
        &s.add_histogram("tx_latency_ns", "TX posted -> completion seen by the guest (ns)");
    const core::Counter* rx_bytes = guest->rx_bytes;
    const core::Counter* tx_bytes = guest->tx_bytes;
    s.add_formula("throughput_gbps", "The guest's RX + TX payload Gb/s over the traffic phase",
                  [this, rx_bytes, tx_bytes] {
                    const double span = last_ns_ - first_ns_;
                    return span > 0 ? double(rx_bytes->value + tx_bytes->value) * 8 / span : 0;
                  });
    guest->tx_posted_ps.assign(guest->entries, 0);
    guests_.push_back(std::move(guest));
  }
  // Totals over guests, kept in step by guest_exit() and the guest threads.
  guest_totals_ = {&guest_cpu, &guest_exits};
  scratch_.resize(nic_cfg_.buffer_bytes);
  copy_.resize(std::max<size_t>(nic_cfg_.buffer_bytes, tx_bytes_));
  expect_.resize(nic_cfg_.buffer_bytes);
  tx_scratch_.resize(tx_bytes_);
}

IoModesWorkload::~IoModesWorkload() = default;

void IoModesWorkload::misdirect_tx(unsigned guest, uint64_t seq, uint64_t gpa) {
  guests_.at(guest)->misdirect[seq] = gpa;
}

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
  for (unsigned i = 0; i < queues_.size(); ++i) {
    queues_[i]->index = i;
    setup_device_queue(f, *queues_[i]);
  }
  f.irq.on_interrupt([this](const cpu_stub::InterruptMessage& m) {
    auto it = vectors_.find(m.vector);
    if (m.apic_id != 0 || it == vectors_.end()) return;
    ++hv_->interrupts;
    const uint64_t now = sc_core::sc_time_stamp().value();
    work_event_.notify(
        sc_time::from_value(m.handler_start_ps > now ? m.handler_start_ps - now : 0));
  });
  // Remembers work_event_ while the backend is busy, so a kick or interrupt then is not lost.
  sc_core::sc_spawn_options pending;
  pending.spawn_method();
  pending.set_sensitivity(&work_event_);
  pending.dont_initialize();
  sc_core::sc_spawn([this] { work_pending_ = true; }, "io_work_pending", &pending);
  sc_core::sc_spawn([this] { backend(); }, "io_backend");
  for (auto& guest : guests_) {
    Guest* g = guest.get();
    const std::string name = "io_guest" + std::to_string(g->index);
    if (nic_cfg_.rx()) sc_core::sc_spawn([this, g] { guest_thread(*g); }, name.c_str());
    if (nic_cfg_.tx())
      sc_core::sc_spawn([this, g] { guest_tx_thread(*g); }, (name + "_tx").c_str());
  }
  sc_core::sc_spawn([this] { watch(); }, "io_watch");
}

// The guest driver's boot: every RX slot gets a buffer (it traps in the emulated mode, but boot is
// not the measured phase); the TX ring starts empty.
void IoModesWorkload::setup_guest(Guest& guest) {
  std::vector<uint8_t> zero(guest.entries * nic::kDescriptorBytes, 0);
  if (nic_cfg_.tx()) cpu_->mem_write(guest.base + guest.tx_ring, zero.data(), zero.size());
  if (!nic_cfg_.rx()) return;
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

void IoModesWorkload::setup_device_queue(Fabric& f, DeviceQueue& q) {
  q.rid = nic_->rid(q.function);
  q.entries = nic_cfg_.ring_entries;
  const cpu_stub::PciFunctionInfo* info = f.enumerator->find(q.rid);
  if (!info || info->bars.empty())
    throw std::runtime_error("NIC function " + std::to_string(q.function) + " was not enumerated");
  q.bar = info->bars[0].base;
  q.stats = std::make_unique<core::StatGroup>("queue" + std::to_string(q.index), &hv_->group);
  if (f.iommu) {
    // A host-owned function: its own domain; the buffers it is given are mapped one by one with
    // dma_map.policy (guest buffers in mq and grant-mapped TX, so the region spans the guests'
    // memory too).
    const uint64_t region = mode_ == IoMode::kMq || costs_.grant ? vm_base_ : host_base_;
    q.policy = f.make_dma_policy(q.rid, static_cast<uint16_t>(1 + q.index), region,
                                 host_base_ + host_bytes_ - region, q.stats.get());
  }
  if (nic_cfg_.rx()) setup_ring(q, false);
  if (nic_cfg_.tx()) setup_ring(q, true);
  if (nic_cfg_.rx()) program_vector(f, q, false);
  if (nic_cfg_.tx()) program_vector(f, q, true);
  f.enable_msix(*info);
  auto reg = [&](uint32_t offset, uint64_t v) { cpu_->mmio_write(q.bar + offset, 4, v); };
  reg(nic::kRegItrNs, static_cast<uint64_t>(nic_cfg_.irq_interval_ns));
  reg(nic::kRegItrPackets, nic_cfg_.irq_packets);
  reg(nic::kRegCtrl,
      (nic_cfg_.rx() ? nic::kCtrlRxEnable : 0) | (nic_cfg_.tx() ? nic::kCtrlTxEnable : 0));
  if (nic_cfg_.rx()) nic_->set_rx_traffic(q.function, true);
}

// One of the queue's rings in host memory, programmed into the device; RX gets its buffers.
void IoModesWorkload::setup_ring(DeviceQueue& q, bool tx) {
  const unsigned n = q.entries;
  HostRing& r = tx ? q.tx : q.rx;
  const uint64_t ring_bytes = core::align_up(uint64_t{n} * nic::kDescriptorBytes, 4096);
  r.ring = host_alloc(ring_bytes, 4096);
  std::vector<uint8_t> zero(ring_bytes, 0);
  cpu_->mem_write(r.ring, zero.data(), zero.size());
  r.buf.assign(n, 0);
  r.dev.assign(n, 0);
  r.owner.assign(n, -1);
  r.owner_slot.assign(n, 0);
  const uint32_t buffer_bytes = tx ? tx_bytes_ : nic_cfg_.buffer_bytes;
  r.dev_len.assign(n, buffer_bytes);
  const uint32_t base = tx ? nic::kTxQueue : nic::kRxQueue;
  auto reg = [&](uint32_t offset, uint64_t v) { cpu_->mmio_write(q.bar + base + offset, 4, v); };
  // The device writes descriptors back in both rings.
  const uint64_t ring_dev = map(q, r.ring, static_cast<uint32_t>(ring_bytes), false, true);
  reg(nic::kQBaseLo, ring_dev & 0xFFFFFFFF);
  reg(nic::kQBaseHi, ring_dev >> 32);
  reg(nic::kQEntries, n);
  // The hypervisor's own TX buffers, where it copies; posted one by one as packets come.
  if (tx) {
    if (mode_ != IoMode::kMq && !costs_.grant)
      for (unsigned i = 0; i < n; ++i) r.buf[i] = host_alloc(buffer_bytes, 64);
    return;
  }
  if (mode_ == IoMode::kMq) {
    // Boot-time posting is the same validation as later, but not charged: setup, not per packet.
    refill_device(q);
    return;
  }
  for (unsigned i = 0; i < n; ++i) r.buf[i] = host_alloc(buffer_bytes, 64);
  for (unsigned i = 0; i + 1 < n; ++i)  // a full ring keeps one slot free
    post(q, false, map(q, r.buf[i], buffer_bytes, false, true), buffer_bytes, 0);
  reg(nic::kQTail, r.posted % n);
}

// The queue's RX or TX vector to the hypervisor's CPU 0.
void IoModesWorkload::program_vector(Fabric& f, DeviceQueue& q, bool tx) {
  const unsigned vector = 0x30 + static_cast<unsigned>(vectors_.size());
  if (vector > 0xFE) throw core::ConfigError("too many NIC queues for CPU 0's vectors");
  f.write_msix_entry(q.bar + nic::kMsixTable, tx ? nic::kVectorTx : nic::kVectorRx,
                     f.program_msi(q.rid, 0, vector));
  vectors_[vector] = &q;
}

void IoModesWorkload::start_at(const sc_core::sc_time& t) {
  nic_->start_at(t);
  start_ = t;
  first_ns_ = t.to_seconds() * 1e9;
}

// ---- The end of the run ----------------------------------------------------------------------

uint64_t IoModesWorkload::completed() const {
  uint64_t n = 0;
  for (auto& g : guests_) n += g->rx_packets->value + g->tx_reaped;
  return n;
}

uint64_t IoModesWorkload::total_expected() const {
  const unsigned dirs = nic_cfg_.direction == nic::Direction::kBoth ? 2 : 1;
  return uint64_t{per_guest_packets_} * guests_.size() * dirs;
}

// Every packet is where it ends: RX reaped by its guest, TX on the wire and its completion seen.
bool IoModesWorkload::settled() const {
  if (!nic_->rx_settled()) return false;
  for (auto& q : queues_) {
    const auto c = nic_->counters(q->function);
    if (q->rx.reaped < c.rx_packets || q->tx.reaped < q->tx.posted) return false;
  }
  for (auto& g : guests_) {
    if (g->reaped < g->filled) return false;
    if (nic_cfg_.tx() && (g->tx_seq < per_guest_packets_ || g->tx_reaped < g->tx_posted))
      return false;
  }
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
  for (auto& g : guests_) bytes += g->rx_bytes->value + g->tx_bytes->value;
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
  static const char* dirs[] = {"rx", "tx", "rx+tx"};
  std::ostringstream os;
  os << "nic " << dirs[static_cast<int>(nic_cfg_.direction)] << ", mode "
     << names[static_cast<int>(mode_)] << (costs_.grant ? " (grant-mapped TX)" : "") << ", "
     << guests_.size() << " guests, " << per_guest_packets_ << " packets of "
     << nic_cfg_.packet_bytes << " B per guest and direction";
  if (nic_cfg_.rx())
    os << ", " << nic_cfg_.rx_gbps / (mode_ == IoMode::kMq ? 1 : guests_.size())
       << " Gb/s offered per guest";
  if (nic_cfg_.tx()) os << ", " << tx_gbps_ << " Gb/s sent per guest";
  os << ", ring " << nic_cfg_.ring_entries;
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

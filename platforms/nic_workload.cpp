#include "nic_workload.hpp"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::platforms {

namespace {
const core::IntParam kVms{"vm.count", 0,
                          "Virtual machines sharing the NIC (nic workload); VF i goes to VM i mod "
                          "vm.count; 0 = one VM per VF",
                          core::Range{0, 4096}};
const core::IntParam kVmMemory{"vm.memory_bytes", int64_t{64} << 20, "Guest memory per VM (bytes)",
                               core::Range{1 << 20, double(int64_t{1} << 40)}};
const core::IntParam kVmPage{"vm.page_size", 2097152,
                             "Page size the hypervisor maps guest memory with in the IOMMU",
                             std::vector<int64_t>{4096, 2097152, 1073741824}};
const core::IntParam kVmBase{"vm.host_base", int64_t{16} << 30,
                             "Host address where the first VM's memory starts; VMs follow each "
                             "other, each aligned to vm.page_size",
                             core::Range{0, double(int64_t{1} << 52)}};
const core::IntParam kVcpus{
    "vm.vcpus", 1, "vCPUs per VM; a VM's VFs interrupt its vCPUs round robin", core::Range{1, 256}};
const core::StringParam kPinning{
    "vm.pinning", "round-robin",
    "Host CPU each vCPU is pinned to: round-robin (vCPU j of VM v on CPU (v * vm.vcpus + j) mod "
    "cpu.count) or a comma-separated list of CPUs, one per vCPU, VM by VM"};
const core::EnumParam kAffinity{
    "vm.irq_affinity",
    "pinned",
    "Where the hypervisor aims an assigned VF's interrupts: pinned (the CPU running the target "
    "vCPU) or misrouted (the next CPU, so every interrupt is forwarded; needs cpu.count >= 2)",
    {"pinned", "misrouted"}};
// 1 us: the receiving CPU's handler sends an IPI to the vCPU's CPU, which takes it (a VM exit
// or a posted-interrupt notification) before the guest's handler runs; KVM measurements put a
// cross-core IPI and its handling at 0.5-2 us.
const core::RealParam kForward{"vm.forward_ns", 1000,
                               "Extra delay of a guest interrupt delivered to another CPU than "
                               "the one running its vCPU: the hypervisor forwards it (ns)",
                               core::Range{0, 1e9}};
const core::RealParam kTxGbps{"nic.tx_gbps", 1, "TX rate each guest sends at (Gb/s)",
                              core::Range{0.001, 10000}};
const core::BoolParam kHostQueue{
    "nic.host_queue", false,
    "The host runs traffic on the PF too: its own driver maps every buffer with dma_map.policy "
    "(the PF is a host-owned device, not assigned to a VM)"};
const core::IntParam kHostMemory{
    "nic.host_memory_bytes", int64_t{16} << 20,
    "Host memory the PF's driver allocates its rings and buffers from, "
    "placed after the VMs' memory",
    core::Range{1 << 20, double(int64_t{1} << 40)}};

// A host driver's buffers through a DMA-mapping policy; its CPU costs go to the driver's thread.
class PolicyMapper : public cpu_stub::BufferMapper {
 public:
  explicit PolicyMapper(cpu_stub::DmaMappingPolicy& p) : p_(p) {}
  uint64_t map(uint64_t addr, uint32_t bytes, bool device_writes, uint64_t now_ns,
               double& cpu_ns) override {
    const uint64_t iova = p_.map(addr, bytes, device_writes, now_ns);
    cpu_ns += p_.take_cpu_ns();
    return iova;
  }
  void unmap(uint64_t device_addr, uint32_t bytes, uint64_t now_ns, double& cpu_ns) override {
    p_.unmap(device_addr, bytes, now_ns);
    cpu_ns += p_.take_cpu_ns();
  }
  uint64_t poll(uint64_t now_ns, double& cpu_ns) override {
    p_.poll(now_ns);
    cpu_ns += p_.take_cpu_ns();
    return p_.next_deadline_ns().value_or(UINT64_MAX);
  }

 private:
  cpu_stub::DmaMappingPolicy& p_;
};

const core::RealParam kIdle{"workload.idle_us", 1000,
                            "nic workload: once the wire is done, end the run after this long "
                            "without progress (a guest that stopped reaping) (us)",
                            core::Range{1, 1e9}};
}  // namespace

NicWorkload::NicWorkload(Fabric& f)
    : config_(f.config),
      stats_("workload", f.stats),
      guest_stats_("guest", f.stats),
      vpci_stats_("vpci", f.stats),
      vm_stats_("vm", f.stats),
      vm_irq_stats_("irq", &vm_stats_) {
  nic_cfg_ = sriov_nic::NicConfig::from(f.config);
  nic_cfg_.seed = f.seed;
  nic_cfg_.pf_rid = core::make_rid(f.rc.secondary_bus(0), 0, 0);
  const unsigned last_vf = nic_cfg_.pf_rid + nic_cfg_.first_vf_offset +
                           unsigned{nic_cfg_.vf_stride} * (nic_cfg_.total_vfs - 1);
  if (last_vf > 0xFFFF || core::rid_bus(static_cast<uint16_t>(last_vf)) > f.rc.subordinate_bus(0))
    throw core::ConfigError("the NIC's VFs need buses up to " + std::to_string(last_vf >> 8) +
                            " but root port 0 has buses up to " +
                            std::to_string(f.rc.subordinate_bus(0)) +
                            ": raise rc.buses_per_port or lower nic.total_vfs");
  if (!f.enumerator)
    throw core::ConfigError(
        "workload.kind = nic needs cpu.enumerate=true (SR-IOV is enabled by the host's PCI core)");
  if (nic_cfg_.ats && (!f.iommu || !f.iommu->config().caps.dt))
    throw core::ConfigError("nic.ats needs iommu.enabled=true and iommu.ecap.dt=true");
  idle_us_ = kIdle.get(f.config);

  if (nic_cfg_.vfs == 0 && !kHostQueue.get(f.config))
    throw core::ConfigError("nic.vfs = 0 and nic.host_queue = false: nothing carries traffic");
  vms_ = static_cast<unsigned>(kVms.get(f.config));
  if (vms_ == 0) vms_ = nic_cfg_.vfs;
  if (vms_ > nic_cfg_.vfs)
    throw core::ConfigError("vm.count = " + std::to_string(vms_) + " exceeds nic.vfs = " +
                            std::to_string(nic_cfg_.vfs) + ": every VM needs a VF");
  vcpus_ = static_cast<unsigned>(kVcpus.get(f.config));
  const unsigned cpus = f.irq.cpus();
  const std::string& pin = kPinning.get(f.config);
  if (pin == "round-robin") {
    for (unsigned k = 0; k < vms_ * vcpus_; ++k) pinning_.push_back(k % cpus);
  } else {
    std::stringstream ss(pin);
    std::string item;
    while (std::getline(ss, item, ',')) {
      char* end = nullptr;
      const unsigned long cpu = std::strtoul(item.c_str(), &end, 0);
      if (item.empty() || *end || cpu >= cpus)
        throw core::ConfigError("vm.pinning: '" + item + "' is not a CPU below cpu.count = " +
                                std::to_string(cpus) + " (nor is the value round-robin)");
      pinning_.push_back(static_cast<unsigned>(cpu));
    }
    if (pinning_.size() != vms_ * vcpus_)
      throw core::ConfigError("vm.pinning lists " + std::to_string(pinning_.size()) +
                              " CPUs but there are " + std::to_string(vms_ * vcpus_) +
                              " vCPUs (VMs x vm.vcpus)");
  }
  misrouted_ = kAffinity.get(f.config) == "misrouted";
  if (misrouted_ && cpus < 2)
    throw core::ConfigError("vm.irq_affinity = misrouted needs cpu.count >= 2");
  forward_ps_ = static_cast<uint64_t>(std::llround(kForward.get(f.config) * 1000));
  irq_direct_ = &vm_irq_stats_.add_counter(
      "direct", "Guest interrupts delivered on the CPU running the target vCPU");
  irq_forwarded_ = &vm_irq_stats_.add_counter(
      "forwarded", "Guest interrupts delivered on another CPU and forwarded (vm.forward_ns)");
  irq_direct_latency_ = &vm_irq_stats_.add_histogram(
      "direct_latency_ns", "MSI sent -> guest handler starts, delivered directly (ns)");
  irq_forwarded_latency_ = &vm_irq_stats_.add_histogram(
      "forwarded_latency_ns", "MSI sent -> guest handler starts, forwarded (ns)");
  const auto vpci_cfg = cpu_stub::VpciConfig::from(f.config);
  for (unsigned vm = 0; vm < vms_; ++vm)
    vpci_.push_back(std::make_unique<cpu_stub::VirtualPciBus>(
        "vm" + std::to_string(vm), f.cpu, f.rc.config().ecam_base, vpci_cfg,
        [this](const cpu_stub::GuestMsi& m) { return remap_guest_msi(m); }, &vpci_stats_));
  vm_bytes_ = static_cast<uint64_t>(kVmMemory.get(f.config));
  page_bytes_ = static_cast<uint64_t>(kVmPage.get(f.config));
  f.check_page_size(page_bytes_, "vm.page_size");
  vm_stride_ = core::align_up(vm_bytes_, page_bytes_);
  vm_base_ = static_cast<uint64_t>(kVmBase.get(f.config));
  if (vm_base_ % page_bytes_)
    throw core::ConfigError("vm.host_base must be a multiple of vm.page_size");
  f.check_host_region(vm_base_, vm_stride_ * vms_,
                      "the VMs' memory (vm.host_base + vm.count * vm.memory_bytes)");

  nic_ = std::make_unique<sriov_nic::SriovNic>("nic", nic_cfg_, f.stats);
  nic_->dma.bind(f.link.device_side);
  f.link.device_down.bind(nic_->pcie_in);
  f.link.follow_payload_sizes(nic_->pf_config());

  transactions_ = &stats_.add_counter(
      "transactions", "Packets delivered: RX reaped by guests, TX completions seen by guests");
  bytes_ = &stats_.add_counter("bytes", "Payload bytes the NIC moved for those packets");
  stats_.add_formula("throughput_gbps", "Payload Gb/s over the traffic phase", [this] {
    const double span = last_ns_ - first_ns_;
    return span > 0 ? double(bytes_->value) * 8 / span : 0;
  });
  latency_ = &stats_.add_histogram("latency_ns",
                                   "Packet latency: RX arrival at the NIC -> reaped by the guest; "
                                   "TX posted -> completion seen (ns)");
  drops_ = &stats_.add_counter("drops", "RX packets the NIC dropped (ring empty)");

  // One driver per VF, in its VM, with its share of the VM's memory.
  const auto defaults = cpu_stub::NicDriverConfig::from(f.config);
  const unsigned per_vm = vms_ ? (nic_cfg_.vfs + vms_ - 1) / vms_ : 1;
  const uint64_t share = core::align_down(vm_bytes_ / per_vm, 4096);
  for (unsigned i = 0; i < nic_cfg_.vfs; ++i) {
    const unsigned vm = vm_of(i), slot = i / vms_;
    cpu_stub::NicDriverConfig d = driver_config(defaults);
    d.stream = 1 + i;
    d.mem_base = slot * share;
    d.mem_bytes = share;
    d.cpu_offset = vm_host_base(vm);
    // With the IOMMU the VM's domain translates guest-physical addresses; without it the device
    // gets host-physical ones (no isolation: a baseline for what the IOMMU costs).
    cpu_stub::BufferMapper* mapper = &identity_;
    if (!f.iommu) {
      if (no_iommu_.size() <= vm) no_iommu_.resize(vm + 1);
      if (!no_iommu_[vm]) no_iommu_[vm] = std::make_unique<cpu_stub::OffsetMapper>(d.cpu_offset);
      mapper = no_iommu_[vm].get();
    }
    // The guest's driver sees the machine through its VM's vPCI: BAR MMIO direct, the MSI-X table
    // trapped.
    drivers_.push_back(std::make_unique<cpu_stub::NicDriver>(
        ("vf" + std::to_string(i)).c_str(), d, vpci_[vm]->guest(), *mapper, &guest_stats_));
    drivers_.back()->also_record_latency(latency_);
  }
  if (kHostQueue.get(f.config)) {
    // The host's own memory for the PF's rings and buffers follows the VMs'.
    host_base_ = core::align_up(vm_base_ + vm_stride_ * vms_, uint64_t{1} << 21);
    host_bytes_ = static_cast<uint64_t>(kHostMemory.get(f.config));
    f.check_host_region(host_base_, host_bytes_, "the PF driver's memory (nic.host_memory_bytes)");
    cpu_stub::NicDriverConfig d = driver_config(defaults);
    d.stream = 0;
    d.mem_base = host_base_;
    d.mem_bytes = host_bytes_;
    d.cpu_offset = 0;
    host_stats_ = std::make_unique<core::StatGroup>("host", f.stats);
    host_mapper_ = std::make_unique<cpu_stub::IdentityMapper>();  // replaced at boot with the IOMMU
    host_driver_ =
        std::make_unique<cpu_stub::NicDriver>("pf", d, f.cpu, *host_mapper_, host_stats_.get());
    host_driver_->also_record_latency(latency_);
  }
}

cpu_stub::NicDriverConfig NicWorkload::driver_config(
    const cpu_stub::NicDriverConfig& defaults) const {
  cpu_stub::NicDriverConfig d = defaults;
  d.ring_entries = nic_cfg_.ring_entries;
  d.buffer_bytes = nic_cfg_.buffer_bytes;
  d.rx = nic_cfg_.rx();
  d.tx = nic_cfg_.tx();
  d.tx_packets = nic_cfg_.packets;
  d.tx_bytes = nic_cfg_.packet_bytes;
  d.tx_gbps = kTxGbps.get(config_);
  d.irq_interval_ns = nic_cfg_.irq_interval_ns;
  d.irq_packets = nic_cfg_.irq_packets;
  return d;
}

std::vector<std::pair<unsigned, cpu_stub::NicDriver*>> NicWorkload::all_drivers() const {
  std::vector<std::pair<unsigned, cpu_stub::NicDriver*>> all;
  if (host_driver_) all.emplace_back(0, host_driver_.get());
  for (unsigned i = 0; i < drivers_.size(); ++i) all.emplace_back(1 + i, drivers_[i].get());
  return all;
}

NicWorkload::~NicWorkload() = default;

void NicWorkload::boot(Fabric& f) {
  if (nic_cfg_.vfs > 0)
    f.enumerator->enable_sriov(nic_cfg_.pf_rid, static_cast<uint16_t>(nic_cfg_.vfs));
  if (f.iommu) {
    for (unsigned i = 0; i < nic_cfg_.vfs; ++i)
      f.driver->attach_device(nic_->rid(1 + i), domain(vm_of(i)), f.driver_aw,
                              nic_cfg_.ats ? 1 : 0);
    for (unsigned vm = 0; vm < vms_; ++vm)
      f.driver->map(domain(vm), 0, vm_host_base(vm), vm_stride_, page_bytes_);
  }
  fabric_ = &f;
  next_vector_.assign(f.irq.cpus(), 0x30);
  free_vectors_.assign(f.irq.cpus(), {});
  // The hypervisor assigns each VF to its VM's virtual bus; then each guest brings it up.
  for (unsigned i = 0; i < nic_cfg_.vfs; ++i) {
    const uint16_t rid = nic_->rid(1 + i);
    const cpu_stub::PciFunctionInfo* info = f.enumerator->find(rid);
    if (!info || info->bars.empty())
      throw std::runtime_error("VF " + std::to_string(i) + " was not enumerated");
    if (nic_cfg_.ats) {
      // The VF's ATS capability: Enable, STU 0 (4 KiB), as the host's PCI core does for an
      // assigned function whose domain allows device TLBs (TT = 1).
      const uint16_t ats = Fabric::ext_capability(*info, pcie::kExtCapAts);
      if (!ats) throw std::runtime_error("VF " + std::to_string(i) + " has no ATS capability");
      f.cpu.mmio_write(f.ecam(rid, ats + pcie::kAtsCtrl), 2, pcie::kAtsCtrlEnable);
    }
    cpu_stub::VpciAssignment a;
    a.host_rid = rid;
    a.vendor_id = info->vendor;
    a.device_id = info->device;
    a.host_bar = info->bars[0].base;
    a.bar_bytes = info->bars[0].size;
    guest_devfn_.push_back(vpci_[vm_of(i)]->add(a));
  }
  for (unsigned i = 0; i < nic_cfg_.vfs; ++i) {
    guest_bring_up(i);
    nic_->set_rx_traffic(1 + i, nic_cfg_.rx());
  }
  if (host_driver_) {
    const uint16_t pf = nic_cfg_.pf_rid;
    const cpu_stub::PciFunctionInfo* info = f.enumerator->find(pf);
    if (!info || info->bars.empty()) throw std::runtime_error("the PF was not enumerated");
    if (f.iommu) {
      // A host-owned device: its own domain, buffers mapped per the DMA-mapping policy.
      host_policy_ =
          f.make_dma_policy(pf, domain(vms_), host_base_, host_bytes_, host_stats_.get());
      host_mapper_ = std::make_unique<PolicyMapper>(*host_policy_);
      host_driver_->set_mapper(*host_mapper_);
    }
    program_host_vectors(f, *info);
    host_driver_->set_bar(info->bars[0].base);
    host_driver_->setup();
    nic_->set_rx_traffic(0, nic_cfg_.rx());
  }
  f.irq.on_interrupt([this](const cpu_stub::InterruptMessage& m) {
    auto it = routes_.find({m.apic_id, m.vector});
    if (it == routes_.end()) return;
    const Route& r = it->second;
    uint64_t start = m.handler_start_ps;
    if (r.guest) {
      // Not on the vCPU's CPU: the hypervisor forwards it there (an IPI), forward_ns later.
      const bool forwarded = m.apic_id != r.cpu;
      if (forwarded) start += forward_ps_;
      ++*(forwarded ? irq_forwarded_ : irq_direct_);
      if (m.has_timing && start >= m.send_ps)
        (forwarded ? irq_forwarded_latency_ : irq_direct_latency_)
            ->record(double(start - m.send_ps) / 1000.0);
    }
    r.driver->interrupt(r.tx, start);
  });
  for (auto& [function, d] : all_drivers())
    d->on_progress([this] { progress_event_.notify(sc_core::SC_ZERO_TIME); });
  sc_core::sc_spawn([this] { watch(); }, "nic_watch");
}

// The guest's side, every config access through its vPCI (trapped, charged as boot CPU time of
// the guest's driver): probe and enable the VF, program its RX and TX MSI-X entries with the
// guest's own vectors (0x40 + 2 * its slot in the VM, on vCPU vcpu_of(vf)), set up the driver on
// the BAR it read.
void NicWorkload::guest_bring_up(unsigned vf) {
  cpu_stub::VirtualPciBus& bus = *vpci_[vm_of(vf)];
  const cpu_stub::GuestPciDevice dev = cpu_stub::guest_probe(bus, guest_devfn_[vf]);
  const unsigned slot = vf / vms_, vcpu = vcpu_of(vf);
  if (0x40 + 2 * slot + 1 > 0xFE)
    throw core::ConfigError(
        "too many VFs per VM for the guest's interrupt vectors: raise vm.count");
  cpu_stub::guest_enable_msix(bus, bus.guest(), dev,
                              {{vcpu, 0x40 + 2 * slot}, {vcpu, 0x41 + 2 * slot}});
  drivers_[vf]->set_bar(dev.bar);
  drivers_[vf]->setup();
  drivers_[vf]->add_boot_cpu_ns(bus.take_cpu_ns());
}

// The hypervisor's side of a guest MSI-X entry: a host vector on the CPU the target vCPU is pinned
// to (or the next one, misrouted), an IRTE with the VF's SID (or a compatibility message without
// interrupt remapping), and the route to the guest's driver. A guest rewriting an entry (another
// vCPU, as irqbalance does) keeps its IRTE, rewritten in place; the host vector moves with the CPU.
cpu_stub::MsiProgramming NicWorkload::remap_guest_msi(const cpu_stub::GuestMsi& m) {
  Fabric& f = *fabric_;
  unsigned vf = 0;
  while (vf < nic_cfg_.vfs && nic_->rid(1 + vf) != m.host_rid) ++vf;
  if (vf == nic_cfg_.vfs) throw std::runtime_error("vPCI: an interrupt for an unassigned function");
  const unsigned vm = vm_of(vf);
  if (m.vcpu >= vcpus_)
    throw std::runtime_error("VM " + std::to_string(vm) + " aimed an interrupt at vCPU " +
                             std::to_string(m.vcpu) + ", which it does not have");
  const unsigned pinned = cpu_of(vm, m.vcpu);
  const unsigned apic = misrouted_ ? (pinned + 1) % f.irq.cpus() : pinned;
  const Route route{drivers_[vf].get(), m.entry == sriov_nic::kVectorTx, true, pinned};
  auto known = guest_vectors_.find({m.host_rid, m.entry});
  if (known == guest_vectors_.end()) {
    GuestVector v;
    v.apic = apic;
    v.vector = allocate_vector(f, apic);
    v.msg = f.program_msi(m.host_rid, apic, v.vector);
    routes_[{apic, v.vector}] = route;
    guest_vectors_[{m.host_rid, m.entry}] = v;
    return v.msg;
  }
  GuestVector& v = known->second;
  routes_.erase({v.apic, v.vector});
  if (v.apic != apic) {
    free_vectors_[v.apic].push_back(v.vector);
    v.apic = apic;
    v.vector = allocate_vector(f, apic);
  }
  v.msg = f.reprogram_msi(v.msg, m.host_rid, apic, v.vector);
  routes_[{apic, v.vector}] = route;
  return v.msg;
}

// The host's PF: its RX and TX vectors, the next free vectors on CPU 0, programmed into its MSI-X
// table, unmasked, MSI-X enabled.
void NicWorkload::program_host_vectors(Fabric& f, const cpu_stub::PciFunctionInfo& pf) {
  for (unsigned v = 0; v < sriov_nic::kMsixVectors; ++v) {
    const unsigned vector = allocate_vector(f, 0);
    f.write_msix_entry(pf.bars[0].base + sriov_nic::kMsixTable, v,
                       f.program_msi(pf.rid(), 0, vector));
    routes_[{0, vector}] = {host_driver_.get(), v == sriov_nic::kVectorTx, false, 0};
  }
  f.enable_msix(pf);
}

unsigned NicWorkload::allocate_vector(Fabric& f, unsigned apic) {
  if (!free_vectors_[apic].empty()) {
    const unsigned vector = free_vectors_[apic].back();
    free_vectors_[apic].pop_back();
    return vector;
  }
  const unsigned vector = next_vector_[apic]++;
  if (vector > 0xFE)
    throw core::ConfigError("not enough interrupt vectors for " + std::to_string(nic_cfg_.vfs) +
                            " VFs on " + std::to_string(f.irq.cpus()) + " CPUs: raise cpu.count");
  return vector;
}

void NicWorkload::start_at(const sc_core::sc_time& t) {
  nic_->start_at(t);
  for (auto& [function, d] : all_drivers()) d->start_at(t);
  first_ns_ = t.to_seconds() * 1e9;
}

uint64_t NicWorkload::completed() const {
  uint64_t packets = 0;
  for (auto& [function, d] : all_drivers()) packets += d->rx_packets() + d->tx_completed();
  return packets;
}

uint64_t NicWorkload::total_expected() const {
  const unsigned dirs = nic_cfg_.direction == sriov_nic::Direction::kBoth ? 2 : 1;
  return nic_cfg_.packets * (nic_cfg_.vfs + (host_driver_ ? 1 : 0)) * dirs;
}

bool NicWorkload::settled() const {
  if (!nic_->rx_settled()) return false;
  for (auto& [function, d] : all_drivers()) {
    const auto c = nic_->counters(function);
    const uint32_t status = nic_->register_value(function, sriov_nic::kRegStatus);
    if (d->rx_reaped() < c.rx_packets) return false;
    if (!d->tx_finished() && !(status & sriov_nic::kStatusTxError)) return false;
  }
  return true;
}

// Once every packet is accounted for (or workload.idle_us passed without progress after the wire
// was done), the statistics are final and the run stops at the last packet's time.
void NicWorkload::watch() {
  wait_until_settled(
      progress_event_, idle_us_, [this] { return completed(); }, total_expected(),
      [this] { return settled(); }, [this] { return nic_->rx_settled(); }, progress_, log_);
  finish();
}

void NicWorkload::finish() {
  uint64_t bytes = 0, drops = 0;
  for (auto& [function, d] : all_drivers()) {
    const auto c = nic_->counters(function);
    bytes += c.rx_bytes + c.tx_bytes;
    drops += c.rx_drops;
  }
  transactions_->value = completed();
  bytes_->value = bytes;
  drops_->value = drops;
  last_ns_ = sc_core::sc_time_stamp().to_seconds() * 1e9;
  finished_ = true;
  if (progress_) progress_(completed(), total_expected());
  stop_simulation();
}

std::string NicWorkload::describe() const {
  static const char* dirs[] = {"rx", "tx", "rx+tx"};
  std::ostringstream os;
  os << "nic " << dirs[static_cast<int>(nic_cfg_.direction)] << ", " << nic_cfg_.vfs << " VFs in "
     << vms_ << " VMs, " << nic_cfg_.packets << " packets of " << nic_cfg_.packet_bytes
     << " B per VF and direction, " << nic_cfg_.rx_gbps << " Gb/s offered per VF, ring "
     << nic_cfg_.ring_entries << ", " << page_bytes_ / 1024 << " KiB guest pages"
     << (nic_cfg_.ats ? ", ATS" : "") << ", " << vcpus_ << " vCPU(s) per VM"
     << (misrouted_ ? ", interrupts misrouted" : "");
  return os.str();
}

std::unique_ptr<Workload> make_nic_workload(Fabric& fabric) {
  return std::make_unique<NicWorkload>(fabric);
}

}  // namespace iovsim::platforms

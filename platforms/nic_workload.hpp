// workload.kind = nic: the SR-IOV NIC below root port 0, shared by virtual machines. At boot the
// host enables nic.vfs VFs (Linux's pci_enable_sriov), gives every VM a domain and maps its
// guest-physical memory (static mapping, as device assignment does), attaches each VM's VFs to its
// domain (TT = 1 with nic.ats) and assigns each VF to its VM's virtual PCI bus (vPCI). Each guest
// then brings its VF up through vPCI (config accesses trapped: enable, BAR, MSI-X whose trapped
// table writes the hypervisor turns into IRTEs with the VF's SID, aimed at the CPU its target vCPU
// is pinned to) and sets up its VF driver. An interrupt that lands on another CPU than the vCPU's
// is forwarded (vm.forward_ns later). The wire sends RX
// traffic to every VF; guests send TX traffic (nic.direction). The run ends when every packet is
// accounted for: reaped by its guest, dropped, or lost with a stopped queue (a guest that stops
// reaping ends the run after workload.idle_us without progress).
#pragma once

#include <map>
#include <memory>
#include <vector>

#include <iovsim/cpu_stub/dma_mapping.hpp>
#include <iovsim/cpu_stub/nic_driver.hpp>
#include <iovsim/cpu_stub/vpci.hpp>
#include <iovsim/sriov_nic/sriov_nic.hpp>

#include "workload.hpp"

namespace iovsim::platforms {

class NicWorkload : public Workload {
 public:
  explicit NicWorkload(Fabric& fabric);
  ~NicWorkload() override;

  sriov_nic::SriovNic& nic() { return *nic_; }
  cpu_stub::NicDriver& driver(unsigned vf) { return *drivers_.at(vf); }
  // The host's driver on the PF (nic.host_queue), or nullptr.
  cpu_stub::NicDriver* host_driver() { return host_driver_.get(); }
  cpu_stub::DmaMappingPolicy* host_policy() { return host_policy_.get(); }
  unsigned vms() const { return vms_; }
  unsigned vm_of(unsigned vf) const { return vf % vms_; }
  uint16_t domain(unsigned vm) const { return static_cast<uint16_t>(1 + vm); }
  uint64_t vm_host_base(unsigned vm) const { return vm_base_ + vm * vm_stride_; }
  uint64_t vm_bytes() const { return vm_bytes_; }
  // VM vm's virtual PCI bus; the guest devfn VF vf was given on it.
  cpu_stub::VirtualPciBus& vpci(unsigned vm) { return *vpci_.at(vm); }
  uint8_t guest_devfn(unsigned vf) const { return guest_devfn_.at(vf); }
  unsigned vcpus() const { return vcpus_; }
  // The host CPU vCPU `vcpu` of VM `vm` is pinned to (vm.pinning).
  unsigned cpu_of(unsigned vm, unsigned vcpu) const { return pinning_.at(vm * vcpus_ + vcpu); }
  // The vCPU VF vf's interrupts target (its slot in the VM, round robin over the vCPUs).
  unsigned vcpu_of(unsigned vf) const { return (vf / vms_) % vcpus_; }

  void boot(Fabric& fabric) override;
  void start_at(const sc_core::sc_time& t) override;
  bool finished() const override { return finished_; }
  uint64_t completed() const override;
  void on_progress(std::function<void(uint64_t, uint64_t)> f) override { progress_ = std::move(f); }
  std::string describe() const override;

 private:
  // Function index (0 = PF, 1 + i = VF i) and driver, for every driver.
  std::vector<std::pair<unsigned, cpu_stub::NicDriver*>> all_drivers() const;
  cpu_stub::NicDriverConfig driver_config(const cpu_stub::NicDriverConfig& defaults) const;
  void program_host_vectors(Fabric& fabric, const cpu_stub::PciFunctionInfo& pf);
  // The next free vector on `apic` (ConfigError when it has none left).
  unsigned allocate_vector(Fabric& fabric, unsigned apic);
  // The hypervisor's side of a guest's MSI-X entry (vPCI's MsiRemapper).
  cpu_stub::MsiProgramming remap_guest_msi(const cpu_stub::GuestMsi& m);
  void guest_bring_up(unsigned vf);
  uint64_t total_expected() const;
  bool settled() const;
  void watch();
  void finish();

  const core::Config& config_;
  core::StatGroup stats_;
  core::StatGroup guest_stats_;
  sriov_nic::NicConfig nic_cfg_;
  std::unique_ptr<sriov_nic::SriovNic> nic_;
  cpu_stub::IdentityMapper identity_;
  std::vector<std::unique_ptr<cpu_stub::OffsetMapper>> no_iommu_;  // per VM, without an IOMMU
  std::vector<std::unique_ptr<cpu_stub::NicDriver>> drivers_;
  // The PF's host queue: its statistics, its DMA-mapping policy and the mapper over it.
  std::unique_ptr<core::StatGroup> host_stats_;
  std::unique_ptr<cpu_stub::DmaMappingPolicy> host_policy_;
  std::unique_ptr<cpu_stub::BufferMapper> host_mapper_;
  std::unique_ptr<cpu_stub::NicDriver> host_driver_;
  uint64_t host_base_ = 0, host_bytes_ = 0;
  // (apic, vector) -> the driver, its TX vector or not, and the CPU its vCPU runs on (guests).
  struct Route {
    cpu_stub::NicDriver* driver = nullptr;
    bool tx = false;
    bool guest = false;
    unsigned cpu = 0;
  };
  std::map<std::pair<unsigned, unsigned>, Route> routes_;
  Fabric* fabric_ = nullptr;  // at boot, for the hypervisor's interrupt remapping
  core::StatGroup vpci_stats_;
  std::vector<std::unique_ptr<cpu_stub::VirtualPciBus>> vpci_;  // per VM
  std::vector<uint8_t> guest_devfn_;                            // per VF
  unsigned vcpus_ = 1;
  std::vector<unsigned> pinning_;  // vm * vcpus + vcpu -> host CPU
  bool misrouted_ = false;
  uint64_t forward_ps_ = 0;
  core::StatGroup vm_stats_;
  core::StatGroup vm_irq_stats_;
  core::Counter* irq_direct_ = nullptr;
  core::Counter* irq_forwarded_ = nullptr;
  core::Histogram* irq_direct_latency_ = nullptr;
  core::Histogram* irq_forwarded_latency_ = nullptr;
  std::vector<unsigned> next_vector_;
  std::vector<std::vector<unsigned>> free_vectors_;  // per CPU: vectors given back
  // A guest's MSI-X entry as the hypervisor programmed it: its host vector and message.
  struct GuestVector {
    unsigned apic = 0, vector = 0;
    cpu_stub::MsiProgramming msg;
  };
  std::map<std::pair<uint16_t, unsigned>, GuestVector> guest_vectors_;  // (VF rid, entry)
  unsigned vms_ = 0;
  uint64_t vm_bytes_ = 0, vm_stride_ = 0, vm_base_ = 0, page_bytes_ = 0;
  double idle_us_ = 1000;
  double first_ns_ = 0, last_ns_ = 0;
  bool finished_ = false;
  sc_core::sc_event progress_event_;  // a driver reaped something
  std::function<void(uint64_t, uint64_t)> progress_;
  core::Counter* transactions_ = nullptr;
  core::Counter* bytes_ = nullptr;
  core::Counter* drops_ = nullptr;
  core::Histogram* latency_ = nullptr;
  core::Logger log_{"platform"};
};

}  // namespace iovsim::platforms

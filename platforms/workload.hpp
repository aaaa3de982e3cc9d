// What drives traffic on a platform (`workload.kind`): the device(s) below root port 0 and the
// boot-time setup they need from the CPU stub (IOMMU domains and mappings, interrupts).
//
// The platform builds the fabric (memory, root complex, the link below port 0, CPU stub, interrupt
// controllers, optionally the IOMMU and its driver) and hands it to the workload, which creates and
// binds its device in its constructor (elaboration) and does its setup in boot() (start of
// simulation, after enumeration and the IOMMU's bring-up).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <systemc>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/cpu_stub/cpu_port.hpp>
#include <iovsim/cpu_stub/dma_mapping.hpp>
#include <iovsim/cpu_stub/interrupt_controller.hpp>
#include <iovsim/cpu_stub/iommu_driver.hpp>
#include <iovsim/cpu_stub/pci_enumerator.hpp>
#include <iovsim/iommu/remapping_unit.hpp>
#include <iovsim/memory/host_memory.hpp>
#include <iovsim/pcie/dma_endpoint.hpp>
#include <iovsim/pcie/link.hpp>
#include <iovsim/pcie/root_complex.hpp>

namespace iovsim::traces {
class TracePlayer;
}

namespace iovsim::platforms {

// The platform's shared parts, as a workload sees them. Pointers are null when the part is absent
// (no IOMMU; no enumeration). `driver` exists from elaboration; it is brought up before boot().
struct Fabric {
  const core::Config& config;
  core::StatGroup* stats;
  uint64_t seed;
  memory::HostMemory& memory;
  pcie::RootComplex& rc;
  pcie::Link& link;  // the link below root port 0, where the workload's device sits
  cpu_stub::CpuPort& cpu;
  cpu_stub::InterruptController& irq;
  iommu::RemappingUnit* iommu = nullptr;
  cpu_stub::IommuDriver* driver = nullptr;
  cpu_stub::PciEnumerator* enumerator = nullptr;
  bool ir_enabled = false;
  // The driver brings the IOMMU up at boot (driver.bring_up); false leaves it at reset for
  // software of one's own, and workloads then set up no domains.
  bool iommu_up = false;
  unsigned driver_aw = 2;    // driver.aw
  uint64_t tables_base = 0;  // driver.tables_base: the driver's own region
  uint64_t tables_bytes = 0;

  // Throws core::ConfigError (naming `what`) unless the IOMMU can map with pages of `bytes`.
  void check_page_size(uint64_t bytes, const std::string& what) const;
  // Throws core::ConfigError (naming `what`) when [base, base + bytes) lies beyond host memory or,
  // with the IOMMU on, overlaps the driver's table region.
  void check_host_region(uint64_t base, uint64_t bytes, const std::string& what) const;
  // The interrupt message for (apic, vector) from requester `sid`, as a driver programs it:
  // remappable through a new IRTE with interrupt remapping, compatibility format without. Also
  // tells the interrupt controller to expect the vector.
  cpu_stub::MsiProgramming program_msi(uint16_t sid, unsigned apic, unsigned vector);
  // Points a message program_msi made at another (apic, vector), as irqbalance would: its IRTE
  // rewritten in place (the message the device holds stays valid), or a new compatibility message.
  cpu_stub::MsiProgramming reprogram_msi(const cpu_stub::MsiProgramming& msg, uint16_t sid,
                                         unsigned apic, unsigned vector);
  // The ECAM address of `offset` in function `rid`'s configuration space.
  uint64_t ecam(uint16_t rid, uint16_t offset) const;
  // As a driver programs MSI-X: entry `index` of the table at host address `table` gets `msg`
  // and is unmasked.
  void write_msix_entry(uint64_t table, unsigned index, const cpu_stub::MsiProgramming& msg);
  // Sets MSI-X Enable in `fn`'s capability, where enumeration found it (std::runtime_error when
  // it has none).
  void enable_msix(const cpu_stub::PciFunctionInfo& fn);
  // The offset of `fn`'s extended capability `id` as enumeration recorded it (0: none).
  static uint16_t ext_capability(const cpu_stub::PciFunctionInfo& fn, uint16_t id);
  // The dma_map.* policy for a host-owned device `sid` in domain `did` (attached by the policy,
  // with driver.aw) whose buffers live in [host_base, +host_bytes); statistics in parent's
  // "dma_map" group. Call it in boot(): the policy programs the IOMMU. core::ConfigError for a
  // host region beyond memory or over the driver's tables, or a policy impossible here.
  std::unique_ptr<cpu_stub::DmaMappingPolicy> make_dma_policy(uint16_t sid, uint16_t did,
                                                              uint64_t host_base,
                                                              uint64_t host_bytes,
                                                              core::StatGroup* parent) const;
};

class Workload {
 public:
  virtual ~Workload() = default;
  // Setup at the start of simulation: mappings, interrupts.
  virtual void boot(Fabric& fabric) = 0;
  // Devices start no earlier than t (once boot's traffic has drained).
  virtual void start_at(const sc_core::sc_time& t) = 0;
  virtual bool finished() const = 0;
  // Work items (requests, packets) completed, for the run record and progress.
  virtual uint64_t completed() const = 0;
  virtual void on_progress(std::function<void(uint64_t, uint64_t)> f) = 0;
  // One line for the summary.
  virtual std::string describe() const = 0;
};

// The end of a packet workload (nic, its I/O modes). In a SystemC thread: checks `settled()` after
// every notification of `progress` and every 10 us, reporting progress through `report` (when set)
// every 1024 items; once `wire_done()`, gives up after `idle_us` without progress (a guest that
// stopped reaping would otherwise keep the run alive forever). Returns when either happens.
void wait_until_settled(const sc_core::sc_event& progress, double idle_us,
                        const std::function<uint64_t()>& completed, uint64_t total,
                        const std::function<bool()>& settled,
                        const std::function<bool()>& wire_done,
                        const std::function<void(uint64_t, uint64_t)>& report, core::Logger& log);
// Ends the simulation: the workload is done. Every other process is killed (their stacks unwind)
// and the kernel stops without its info report. Call from a thread.
void stop_simulation();
// From sc_main after sc_start returned without stop_simulation (only booted, or no events left):
// kills the processes still waiting, so their stacks unwind, and stops. Nothing once stopped.
void release_processes();

// One factory per `workload.kind`; each throws core::ConfigError for an impossible configuration.
std::unique_ptr<Workload> make_dma_workload(Fabric& fabric);
std::unique_ptr<Workload> make_nic_workload(Fabric& fabric);
// The DMA workload's endpoint; nullptr for another kind.
pcie::DmaEndpoint* dma_endpoint_of(Workload& workload);
// workload.kind = trace: a trace player replaying trace.input (trace_workload.cpp).
std::unique_ptr<Workload> make_trace_workload(Fabric& fabric);
// Throws core::ConfigError when workload.kind = trace and trace.input is the file trace.capture or
// trace.timeline would write (opening those truncates it). Call before either is opened.
void check_trace_files(const core::Config& config);
// The trace workload's player; nullptr for another kind.
traces::TracePlayer* trace_player_of(Workload& workload);

// The `workload.kind` parameter's value.
std::string workload_kind(const core::Config& config);

}  // namespace iovsim::platforms

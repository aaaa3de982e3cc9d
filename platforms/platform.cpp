#include "platform.hpp"

#include <sstream>
#include <stdexcept>

#include <iovsim/core/bitfield.hpp>

#include "io_modes_workload.hpp"

namespace iovsim::platforms {

namespace {
const core::IntParam kSeed{"seed", 1,
                           "All randomness derives from it: same seed and config, same statistics",
                           core::Range{0, 9.2e18}};
const core::IntParam kQuantum{
    "sim.quantum_ns", 1000,
    "Temporal-decoupling quantum: how far a model may run ahead of SystemC time (ns)",
    core::Range{1, 1e9}};
const core::BoolParam kIommu{"iommu.enabled", false,
                             "DMA remapping by the IOMMU; false: DMA goes untranslated"};
const core::IntParam kAw{"driver.aw", 2,
                         "Address width the driver gives each domain: 1 = 39-bit 3-level, "
                         "2 = 48-bit 4-level (Linux's default), 3 = 57-bit 5-level",
                         std::vector<int64_t>{1, 2, 3}};
const core::BoolParam kBringUp{
    "driver.bring_up", true,
    "With the IOMMU on, the driver brings it up at boot, attaches the endpoint and maps the DMA "
    "window; false leaves the IOMMU as at reset, for software of one's own (a testbench)"};
const core::EnumParam kInvalidation{
    "driver.invalidation",
    "queued",
    "How the IOMMU driver invalidates: queued (QI descriptors) or register",
    {"queued", "register"}};
const core::IntParam kTablesBase{"driver.tables_base", int64_t{1} << 30,
                                 "Host memory the driver allocates IOMMU tables and queues from",
                                 core::Range{0, double(int64_t{1} << 52)}};
const core::IntParam kTablesBytes{"driver.tables_bytes", int64_t{256} << 20,
                                  "Size of that region (bytes)",
                                  core::Range{4096, double(int64_t{1} << 40)}};
const core::BoolParam kEnumerate{
    "cpu.enumerate", true,
    "The CPU stub enumerates PCI at boot (BARs, MPS/MRRS, memory space, bus "
    "mastering); false leaves devices as at reset, unable to DMA"};
const core::BoolParam kListDevices{
    "cpu.list_devices", false,
    "Print the devices enumeration found (an lspci -tv-like tree) in the summary"};
const core::IntParam kMmioBase{"cpu.mmio_base", 0xC0000000,
                               "Start of the window BARs are assigned from",
                               core::Range{0, double(int64_t{1} << 52)}};
const core::IntParam kMmioBytes{"cpu.mmio_bytes", 0x10000000, "Size of that window (bytes)",
                                core::Range{0x100000, double(int64_t{1} << 40)}};
}  // namespace

uint64_t seed_of(const core::Config& c) {
  return static_cast<uint64_t>(kSeed.get(c));
}
sc_core::sc_time quantum_of(const core::Config& c) {
  return sc_core::sc_time(static_cast<double>(kQuantum.get(c)), sc_core::SC_NS);
}

Platform::Platform(sc_core::sc_module_name name, const core::Config& config,
                   core::StatGroup* stats_root)
    : sc_module(name), config_(config) {
  tlm::tlm_global_quantum::instance().set(quantum_of(config));
  check_trace_files(config);  // before the IOMMU opens trace.capture

  auto mem_cfg = memory::HostMemoryConfig::from(config);
  auto link_cfg = pcie::LinkConfig::from(config);
  auto rc_cfg = pcie::RootComplexConfig::from(config);
  memory_ = std::make_unique<memory::HostMemory>("memory", mem_cfg, stats_root);
  rc_ = std::make_unique<pcie::RootComplex>("rc", rc_cfg, stats_root);
  link_ = std::make_unique<pcie::Link>("link", link_cfg, stats_root);
  cpu_ = std::make_unique<cpu_stub::CpuPort>("cpu");
  irq_ = std::make_unique<cpu_stub::InterruptController>(
      "irq", stats_root, cpu_stub::InterruptControllerConfig::from(config));

  link_->host_side.bind(rc_->upstream);
  rc_->downstream.bind(link_->host_down);
  cpu_->mem.bind(memory_->cpu);
  cpu_->mmio.bind(rc_->cpu);

  fabric_.reset(
      new Fabric{config, stats_root, seed_of(config), *memory_, *rc_, *link_, *cpu_, *irq_});
  if (kIommu.get(config)) {
    build_iommu(config);
  } else {
    if (!iommu::TranslationCapture::path_from(config).empty())
      throw core::ConfigError(
          "trace.capture records IOMMU translations: it needs iommu.enabled=true");
    rc_->dma_out.bind(memory_->in);
    rc_->msi_out.bind(irq_->msi_in);
  }
  if (iommu::ir_enabled_param(config)) {
    if (!iommu_) throw core::ConfigError("iommu.ir.enabled needs iommu.enabled=true");
    if (!kBringUp.get(config)) throw core::ConfigError("iommu.ir.enabled needs driver.bring_up");
    if (!iommu_->config().caps.ir)
      throw core::ConfigError("iommu.ir.enabled needs iommu.ecap.ir=true");
    if (kInvalidation.get(config) != "queued")
      throw core::ConfigError(
          "iommu.ir.enabled needs driver.invalidation=queued (the IEC is invalidated by QI)");
    fabric_->ir_enabled = true;
  }

  if (kEnumerate.get(config)) {
    cpu_stub::EnumeratorOptions opts;
    opts.ecam_base = rc_cfg.ecam_base;
    opts.mmio_base = static_cast<uint64_t>(kMmioBase.get(config));
    opts.mmio_size = static_cast<uint64_t>(kMmioBytes.get(config));
    opts.mps = link_cfg.params.mps;
    opts.mrrs = link_cfg.params.mrrs;
    try {
      enumerator_ = std::make_unique<cpu_stub::PciEnumerator>(*cpu_, opts);
    } catch (const std::invalid_argument& e) {
      throw core::ConfigError(std::string("cpu.mmio_base/cpu.mmio_bytes: ") + e.what());
    }
    fabric_->enumerator = enumerator_.get();
  }

  const std::string kind = workload_kind(config);
  if (iommu_ && !fabric_->iommu_up && kind != "dma")
    throw core::ConfigError(
        "driver.bring_up=false leaves the IOMMU to software of one's own: "
        "only workload.kind=dma supports it");
  if (kind == "dma")
    workload_ = make_dma_workload(*fabric_);
  else if (kind == "nic")
    workload_ = nic_mode(config) == "sriov" ? make_nic_workload(*fabric_)
                                            : make_io_modes_workload(*fabric_);
  else if (kind == "trace")
    workload_ = make_trace_workload(*fabric_);
  else
    throw core::ConfigError("workload.kind = " + kind + " is not available in this build");
}

Platform::~Platform() = default;

pcie::DmaEndpoint& Platform::endpoint() {
  pcie::DmaEndpoint* ep = dma_endpoint_of(*workload_);
  if (!ep) throw std::logic_error("Platform::endpoint(): workload.kind is not dma");
  return *ep;
}

// The IOMMU, wired between the root complex and memory, and its driver. Everything the bring-up
// will need is checked here, at elaboration, so a bad configuration is a clear error before the
// simulation starts.
void Platform::build_iommu(const core::Config& config) {
  auto iommu_cfg = iommu::RemappingUnitConfig::from(config);
  iommu_cfg.iotlb.seed = seed_of(config);
  iommu_ = std::make_unique<iommu::RemappingUnit>("iommu", iommu_cfg, fabric_->stats);
  rc_->dma_out.bind(iommu_->dma_in);
  // Device interrupts go through the IOMMU's interrupt-remapping side (which passes them on
  // unchanged while IR is off).
  rc_->msi_out.bind(iommu_->msi_in);
  iommu_->irq_out.bind(irq_->msi_in);
  iommu_->mem_out.bind(memory_->in);
  iommu_->msi_out.bind(irq_->chipset_in);
  rc_->chipset_mmio.bind(iommu_->mmio);
  // ATS: Invalidate Requests go out through the root complex, routed by ID down a root port;
  // devices' Invalidate Completions come back the same way.
  iommu_->ats_out.bind(rc_->msg_in);
  rc_->msg_out.bind(iommu_->ats_in);
  rc_->add_chipset_window(iommu_cfg.mmio_base, iommu::vtd::kMmioSize);

  const auto& caps = iommu_->config().caps;
  const unsigned aw = static_cast<unsigned>(kAw.get(config));
  if (!caps.supports_aw(aw))
    throw core::ConfigError("driver.aw = " + std::to_string(aw) + " is not in iommu.cap.sagaw");
  const uint64_t tables = static_cast<uint64_t>(kTablesBase.get(config));
  const uint64_t tables_bytes = static_cast<uint64_t>(kTablesBytes.get(config));
  if (tables + tables_bytes > memory_->config().size_bytes)
    throw core::ConfigError(
        "the driver's table region (driver.tables_base, driver.tables_bytes) lies beyond "
        "memory.size_bytes");
  cpu_stub::IommuDriverOptions opts;
  opts.invalidation = kInvalidation.get(config) == "queued" ? cpu_stub::InvalidationMode::kQueued
                                                            : cpu_stub::InvalidationMode::kRegister;
  table_pages_ = std::make_unique<cpu_stub::PageAllocator>(*cpu_, tables, tables_bytes);
  driver_ =
      std::make_unique<cpu_stub::IommuDriver>(*cpu_, iommu_cfg.mmio_base, *table_pages_, opts);
  fabric_->iommu = iommu_.get();
  fabric_->driver = driver_.get();
  fabric_->iommu_up = kBringUp.get(config);
  fabric_->driver_aw = aw;
  fabric_->tables_base = tables;
  fabric_->tables_bytes = tables_bytes;
}

void Platform::start_of_simulation() {
  // Boot, before any device runs and before time advances: bindings are complete now, so the CPU
  // stub's accesses can travel through the root complex.
  if (enumerator_) enumerator_->enumerate();
  if (driver_ && fabric_->iommu_up) {
    driver_->bring_up();
    if (fabric_->ir_enabled) driver_->enable_interrupt_remapping();
  }
  workload_->boot(*fabric_);
  // Devices start once boot's own traffic has drained, so none of it queues ahead of the workload.
  workload_->start_at(std::max(cpu_->boot_horizon(), memory_->busy_until()));
}

std::string Platform::device_listing() const {
  return enumerator_ && kListDevices.get(config_) ? enumerator_->listing() : std::string();
}
std::string Platform::describe_platform() const {
  const auto& l = link_->config().params;
  const auto& m = memory_->config();
  std::ostringstream os;
  os << "PCIe Gen" << l.gen << " x" << l.lanes << " (MPS " << l.mps << ", MRRS " << l.mrrs << ", "
     << link_->tlp_gbps() << " Gb/s TLP rate), memory " << m.latency_ns << " ns";
  if (m.bandwidth_gbps > 0) os << " / " << m.bandwidth_gbps << " Gb/s";
  if (iommu_) {
    const auto& i = iommu_->config();
    os << ", IOMMU (IOTLB " << i.iotlb.entries << " entries, "
       << (i.iotlb.ways ? std::to_string(i.iotlb.ways) + "-way" : std::string("fully associative"))
       << " " << i.iotlb.policy << ", " << i.walk_slots << " walk slots)";
  } else {
    os << ", no IOMMU";
  }
  return os.str();
}

}  // namespace iovsim::platforms

#include "platform.hpp"

#include <sstream>
#include <stdexcept>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::platforms {

namespace {
const core::IntParam kSeed{"seed", 1,
                           "All randomness derives from it: same seed and config, same statistics",
                           core::Range{0, 9.2e18}};
const core::IntParam kQuantum{
    "sim.quantum_ns", 1000,
    "Temporal-decoupling quantum: how far a model may run ahead of SystemC time (ns)",
    core::Range{1, 1e9}};
const core::EnumParam kKind{
    "workload.kind", "dma", "What drives traffic: dma (a pcie-bench-style DMA endpoint)", {"dma"}};
const core::BoolParam kIommu{"iommu.enabled", false,
                             "DMA remapping by the IOMMU; false: DMA goes untranslated"};
const core::IntParam kPageSize{"workload.page_size", 4096,
                               "Page size the driver maps the DMA window with",
                               std::vector<int64_t>{4096, 2097152, 1073741824}};
const core::IntParam kAw{"driver.aw", 2,
                         "Address width the driver gives the device's domain: 1 = 39-bit 3-level, "
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
const core::IntParam kHpaOffset{
    "driver.hpa_offset", int64_t{64} << 30,
    "With the IOMMU on, the DMA window's IOVA + this = where its data lives in host memory",
    core::Range{0, double(int64_t{1} << 52)}};
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
const core::IntParam kMsiVector{"workload.msi_vector", 0x41,
                                "Vector the endpoint's MSI-X interrupt is programmed with",
                                core::Range{32, 255}};
const core::IntParam kMsiApic{"workload.msi_apic", 0,
                              "APIC id (CPU) the endpoint's interrupt is sent to",
                              core::Range{0, 255}};
const core::EnumParam kHostCache{
    "workload.host_cache",
    "warm",
    "Whether the DMA window's lines sit in the host's last-level cache",
    {"warm", "cold"}};
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

  auto mem_cfg = memory::HostMemoryConfig::from(config);
  auto link_cfg = pcie::LinkConfig::from(config);
  auto rc_cfg = pcie::RootComplexConfig::from(config);
  ep_cfg_ = pcie::DmaEndpointConfig::from(config);
  ep_cfg_.seed = seed_of(config);
  if (ep_cfg_.window_base + ep_cfg_.window_bytes > mem_cfg.size_bytes)
    throw core::ConfigError(
        "the DMA window [workload.window_base, +workload.window_bytes) lies beyond "
        "memory.size_bytes");

  memory_ = std::make_unique<memory::HostMemory>("memory", mem_cfg, stats_root);
  rc_ = std::make_unique<pcie::RootComplex>("rc", rc_cfg, stats_root);
  // The endpoint sits below root port 0: device 0, function 0 of its secondary bus.
  ep_cfg_.requester_id = core::make_rid(rc_->secondary_bus(0), 0, 0);
  link_ = std::make_unique<pcie::Link>("link", link_cfg, stats_root);
  endpoint_ = std::make_unique<pcie::DmaEndpoint>("endpoint", ep_cfg_, stats_root);
  cpu_ = std::make_unique<cpu_stub::CpuPort>("cpu");
  irq_ = std::make_unique<cpu_stub::InterruptController>(
      "irq", stats_root, cpu_stub::InterruptControllerConfig::from(config));

  endpoint_->dma.bind(link_->device_side);
  link_->host_side.bind(rc_->upstream);
  rc_->downstream.bind(link_->host_down);
  link_->device_down.bind(endpoint_->pcie_in);
  cpu_->mem.bind(memory_->cpu);
  cpu_->mmio.bind(rc_->cpu);
  // Enumeration programs the endpoint's Device Control: the link then splits at those sizes.
  pcie::ConfigSpace& cs = endpoint_->config_space();
  cs.on_write([this, &cs](uint16_t, unsigned) { link_->set_payload_sizes(cs.mps(), cs.mrrs()); });

  dma_hpa_base_ = ep_cfg_.window_base;
  if (kIommu.get(config)) {
    auto iommu_cfg = iommu::RemappingUnitConfig::from(config);
    iommu_cfg.iotlb.seed = seed_of(config);
    iommu_ = std::make_unique<iommu::RemappingUnit>("iommu", iommu_cfg, stats_root);
    rc_->dma_out.bind(iommu_->dma_in);
    // Device interrupts go through the IOMMU's interrupt-remapping side (which passes them on
    // unchanged while IR is off).
    rc_->msi_out.bind(iommu_->msi_in);
    iommu_->irq_out.bind(irq_->msi_in);
    iommu_->mem_out.bind(memory_->in);
    iommu_->msi_out.bind(irq_->chipset_in);
    rc_->chipset_mmio.bind(iommu_->mmio);
    rc_->add_chipset_window(iommu_cfg.mmio_base, iommu::vtd::kMmioSize);
    check_iommu_config(config);
  } else {
    if (!iommu::TranslationCapture::path_from(config).empty())
      throw core::ConfigError(
          "trace.capture records IOMMU translations: it needs iommu.enabled=true");
    rc_->dma_out.bind(memory_->in);
    rc_->msi_out.bind(irq_->msi_in);
  }
  const auto irq_cfg = cpu_stub::InterruptControllerConfig::from(config);
  if (static_cast<unsigned>(kMsiApic.get(config)) >= irq_cfg.cpus)
    throw core::ConfigError("workload.msi_apic = " + std::to_string(kMsiApic.get(config)) +
                            " names no CPU (cpu.count = " + std::to_string(irq_cfg.cpus) + ")");
  ir_enabled_ = iommu::ir_enabled_param(config);
  if (ir_enabled_) {
    if (!iommu_) throw core::ConfigError("iommu.ir.enabled needs iommu.enabled=true");
    if (!kBringUp.get(config)) throw core::ConfigError("iommu.ir.enabled needs driver.bring_up");
    if (!iommu_->config().caps.ir)
      throw core::ConfigError("iommu.ir.enabled needs iommu.ecap.ir=true");
    if (kInvalidation.get(config) != "queued")
      throw core::ConfigError(
          "iommu.ir.enabled needs driver.invalidation=queued (the IEC is invalidated by QI)");
  }
  if (kHostCache.get(config) == "warm")
    memory_->add_warm_range(dma_hpa_base_, ep_cfg_.window_bytes);

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
  }
}

// Everything the IOMMU bring-up will need is checked here, at elaboration, so that a bad
// configuration is a clear error before the simulation starts.
void Platform::check_iommu_config(const core::Config& config) {
  const auto& caps = iommu_->config().caps;
  const unsigned aw = static_cast<unsigned>(kAw.get(config));
  if (!caps.supports_aw(aw))
    throw core::ConfigError("driver.aw = " + std::to_string(aw) + " is not in iommu.cap.sagaw");
  page_bytes_ = static_cast<uint64_t>(kPageSize.get(config));
  if ((page_bytes_ == (uint64_t{1} << 21) && !caps.supports_superpage(2)) ||
      (page_bytes_ == (uint64_t{1} << 30) && !caps.supports_superpage(3)))
    throw core::ConfigError("workload.page_size = " + std::to_string(page_bytes_) +
                            " needs that superpage size in iommu.cap.sllps");
  const uint64_t tables = static_cast<uint64_t>(kTablesBase.get(config));
  const uint64_t tables_bytes = static_cast<uint64_t>(kTablesBytes.get(config));
  const uint64_t offset = static_cast<uint64_t>(kHpaOffset.get(config));
  if (offset % page_bytes_ != 0)
    throw core::ConfigError("driver.hpa_offset must be a multiple of workload.page_size");
  dma_hpa_base_ = ep_cfg_.window_base + offset;
  map_base_ = core::align_down(ep_cfg_.window_base, page_bytes_);
  map_bytes_ = core::align_up(ep_cfg_.window_base + ep_cfg_.window_bytes, page_bytes_) - map_base_;
  const uint64_t memory_bytes = memory_->config().size_bytes;
  if (map_base_ + offset + map_bytes_ > memory_bytes || tables + tables_bytes > memory_bytes)
    throw core::ConfigError(
        "the DMA window's host pages (workload.window_base + driver.hpa_offset) or the driver's "
        "table "
        "region (driver.tables_base) lie beyond memory.size_bytes");
  if (tables < map_base_ + offset + map_bytes_ && map_base_ + offset < tables + tables_bytes)
    throw core::ConfigError("driver.tables_base overlaps the DMA window's host pages");
  cpu_stub::IommuDriverOptions opts;
  opts.invalidation = kInvalidation.get(config) == "queued" ? cpu_stub::InvalidationMode::kQueued
                                                            : cpu_stub::InvalidationMode::kRegister;
  table_pages_ = std::make_unique<cpu_stub::PageAllocator>(*cpu_, tables, tables_bytes);
  driver_ = std::make_unique<cpu_stub::IommuDriver>(*cpu_, iommu_->config().mmio_base,
                                                    *table_pages_, opts);
}

void Platform::start_of_simulation() {
  // Boot, before any device runs and before time advances: bindings are complete now, so the CPU
  // stub's accesses can travel through the root complex.
  if (enumerator_) enumerator_->enumerate();
  if (iommu_ && kBringUp.get(config_)) bring_up_iommu();
  if (ep_cfg_.raises_interrupts()) program_interrupts();
  // The device starts once boot's own traffic has drained, so none of it queues ahead of the
  // workload.
  endpoint_->start_at(std::max(cpu_->boot_horizon(), memory_->busy_until()));
}

void Platform::bring_up_iommu() {
  const unsigned aw = static_cast<unsigned>(kAw.get(config_));
  const uint16_t domain = 1;
  driver_->bring_up();
  driver_->attach_device(ep_cfg_.requester_id, domain, aw);
  driver_->map(domain, map_base_, map_base_ + (dma_hpa_base_ - ep_cfg_.window_base), map_bytes_,
               page_bytes_);
  if (ir_enabled_) driver_->enable_interrupt_remapping();
}

// The endpoint's MSI-X vector 0, as a driver programs it: remappable format through an IRTE with
// interrupt remapping, compatibility format without; then unmasked and MSI-X enabled.
void Platform::program_interrupts() {
  const unsigned vector = static_cast<unsigned>(kMsiVector.get(config_));
  const unsigned apic = static_cast<unsigned>(kMsiApic.get(config_));
  const uint16_t sid = ep_cfg_.requester_id;
  const cpu_stub::PciFunctionInfo* f = enumerator_ ? enumerator_->find(sid) : nullptr;
  if (!f || f->bars.empty()) {
    log_.warn(
        "workload.msi_every/msi_interval_ns: the endpoint was not enumerated, its interrupt is not "
        "programmed");
    return;
  }
  cpu_stub::MsiProgramming msg;
  if (ir_enabled_) {
    cpu_stub::IrteSpec spec;
    spec.sid = sid;
    spec.vector = vector;
    spec.dest_apic = apic;
    msg = driver_->map_interrupt(spec);
  } else {
    msg = cpu_stub::IommuDriver::compat_message(apic, vector);
  }
  irq_->expect_vector(apic, vector);
  const uint64_t entry = f->bars[0].base + pcie::DmaEndpoint::kMsixTable;  // vector 0's table entry
  cpu_->mmio_write(entry + 0, 4, msg.address & 0xFFFFFFFFu);
  cpu_->mmio_write(entry + 4, 4, msg.address >> 32);
  cpu_->mmio_write(entry + 8, 4, msg.data);
  cpu_->mmio_write(entry + 12, 4, 0);  // unmask
  const uint16_t cap = endpoint_->config_space().find_capability(pcie::kCapMsix);
  const uint64_t ecam = rc_->config().ecam_base + (uint64_t{core::rid_bus(sid)} << 20) + cap;
  cpu_->mmio_write(ecam, 4, cpu_->mmio_read(ecam, 4) | (uint32_t{pcie::kMsixCtrlEnable} << 16));
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

std::string Platform::describe_workload() const {
  const auto& e = endpoint_->config();
  static const char* patterns[] = {"random", "sequential", "cyclic"};
  const char* direction = e.read_back ? "write+read " : e.write ? "write " : "read ";
  std::ostringstream os;
  os << "dma " << direction << e.transfer_bytes << " B, " << patterns[static_cast<int>(e.pattern)]
     << " in " << e.window_bytes << " B, " << e.in_flight() << " in flight, " << e.requests
     << " requests, host cache " << kHostCache.get(config_);
  if (iommu_) os << ", " << kPageSize.get(config_) / 1024 << " KiB pages";
  return os.str();
}

}  // namespace iovsim::platforms

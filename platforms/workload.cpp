#include "workload.hpp"

#include <stdexcept>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/iommu/vtd_format.hpp>
#include <iovsim/pcie/msix.hpp>

namespace iovsim::platforms {

namespace {
const core::EnumParam kKind{"workload.kind",
                            "dma",
                            "What drives traffic: dma (a pcie-bench-style DMA endpoint), nic (an "
                            "SR-IOV NIC shared by VMs), trace (a recorded trace replayed)",
                            {"dma", "nic", "trace"}};
}  // namespace

std::string workload_kind(const core::Config& config) {
  return kKind.get(config);
}

void Fabric::check_page_size(uint64_t bytes, const std::string& what) const {
  if (!iommu) return;
  const auto& caps = iommu->config().caps;
  if ((bytes == (uint64_t{1} << 21) && !caps.supports_superpage(2)) ||
      (bytes == (uint64_t{1} << 30) && !caps.supports_superpage(3)))
    throw core::ConfigError(what + " = " + std::to_string(bytes) +
                            " needs that superpage size in iommu.cap.sllps");
}

void Fabric::check_host_region(uint64_t base, uint64_t bytes, const std::string& what) const {
  if (base + bytes > memory.config().size_bytes || base + bytes < base)
    throw core::ConfigError(what + " lies beyond memory.size_bytes");
  if (iommu && base < tables_base + tables_bytes && tables_base < base + bytes)
    throw core::ConfigError(what +
                            " overlaps the IOMMU driver's table region (driver.tables_base)");
}

namespace {
cpu_stub::IrteSpec irte_spec(uint16_t sid, unsigned apic, unsigned vector) {
  cpu_stub::IrteSpec spec;
  spec.sid = sid;
  spec.vector = vector;
  spec.dest_apic = apic;
  return spec;
}
}  // namespace

cpu_stub::MsiProgramming Fabric::program_msi(uint16_t sid, unsigned apic, unsigned vector) {
  irq.expect_vector(apic, vector);
  if (!ir_enabled) return cpu_stub::IommuDriver::compat_message(apic, vector);
  return driver->map_interrupt(irte_spec(sid, apic, vector));
}

cpu_stub::MsiProgramming Fabric::reprogram_msi(const cpu_stub::MsiProgramming& msg, uint16_t sid,
                                               unsigned apic, unsigned vector) {
  irq.expect_vector(apic, vector);
  if (!ir_enabled) return cpu_stub::IommuDriver::compat_message(apic, vector);
  driver->update_interrupt(iommu::vtd::MsiAddress{msg.address}.handle(),
                           irte_spec(sid, apic, vector));
  return msg;
}

uint64_t Fabric::ecam(uint16_t rid, uint16_t offset) const {
  return rc.config().ecam_base + (uint64_t{rid} << 12) + offset;
}

void Fabric::write_msix_entry(uint64_t table, unsigned index, const cpu_stub::MsiProgramming& msg) {
  const uint64_t entry = table + uint64_t{index} * pcie::kMsixEntrySize;
  cpu.mmio_write(entry + 0, 4, msg.address & 0xFFFFFFFFu);
  cpu.mmio_write(entry + 4, 4, msg.address >> 32);
  cpu.mmio_write(entry + 8, 4, msg.data);
  cpu.mmio_write(entry + 12, 4, 0);  // vector control: unmasked
}

void Fabric::enable_msix(const cpu_stub::PciFunctionInfo& fn) {
  uint16_t cap = 0;
  for (const auto& [id, offset] : fn.capabilities)
    if (id == pcie::kCapMsix) cap = offset;
  if (!cap) throw std::runtime_error(core::format_rid(fn.rid()) + " has no MSI-X capability");
  const uint64_t ctrl = ecam(fn.rid(), cap);
  cpu.mmio_write(ctrl, 4, cpu.mmio_read(ctrl, 4) | (uint32_t{pcie::kMsixCtrlEnable} << 16));
}

uint16_t Fabric::ext_capability(const cpu_stub::PciFunctionInfo& fn, uint16_t id) {
  for (const auto& [cap, offset] : fn.ext_capabilities)
    if (cap == id) return offset;
  return 0;
}

std::unique_ptr<cpu_stub::DmaMappingPolicy> Fabric::make_dma_policy(uint16_t sid, uint16_t did,
                                                                    uint64_t host_base,
                                                                    uint64_t host_bytes,
                                                                    core::StatGroup* parent) const {
  const auto cfg = cpu_stub::DmaMapConfig::from(config);
  check_host_region(host_base, host_bytes, "the host-owned device's DMA buffers");
  cpu_stub::DmaDevice dev;
  dev.driver = driver;
  dev.sid = sid;
  dev.did = did;
  dev.aw = driver_aw;
  dev.host_base = host_base;
  dev.host_bytes = host_bytes;
  return cpu_stub::make_dma_mapping_policy(dev, cfg, parent);
}

void wait_until_settled(const sc_core::sc_event& progress, double idle_us,
                        const std::function<uint64_t()>& completed, uint64_t total,
                        const std::function<bool()>& settled,
                        const std::function<bool()>& wire_done,
                        const std::function<void(uint64_t, uint64_t)>& report, core::Logger& log) {
  const sc_core::sc_time period(10, sc_core::SC_US);
  uint64_t last_done = 0;
  double last_progress_ns = 0;
  for (;;) {
    sc_core::wait(period, progress);
    const double now_ns = sc_core::sc_time_stamp().to_seconds() * 1e9;
    const uint64_t done = completed();
    if (report && (done >> 10) != (last_done >> 10)) report(done, total);
    if (done != last_done) last_progress_ns = now_ns;
    last_done = done;
    if (settled()) return;
    if (wire_done() && now_ns - last_progress_ns >= idle_us * 1000) {
      log.warn("no progress for ", idle_us, " us: some guest stopped reaping its packets");
      return;
    }
  }
}

namespace {
// Kills every process below `objects` but the caller. A killed thread's stack unwinds, so what
// its frames own is freed: a thread left suspended in a wait when the simulation stops would
// otherwise never release it (a leak to LeakSanitizer, and memory a long sweep keeps).
void kill_processes(const std::vector<sc_core::sc_object*>& objects, sc_core::sc_object* self) {
  for (sc_core::sc_object* o : objects) {
    kill_processes(o->get_child_objects(), self);
    sc_core::sc_process_handle h(o);
    if (h.valid() && !h.terminated() && h.get_process_object() != self) h.kill();
  }
}
}  // namespace

void stop_simulation() {
  kill_processes(sc_core::sc_get_top_level_objects(),
                 sc_core::sc_get_current_process_handle().get_process_object());
  sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO,
                                          sc_core::SC_DO_NOTHING);
  sc_core::sc_stop();
}

void release_processes() {
  if (sc_core::sc_get_status() == sc_core::SC_STOPPED) return;
  sc_core::sc_spawn([] { stop_simulation(); }, "release_processes");
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
}

}  // namespace iovsim::platforms

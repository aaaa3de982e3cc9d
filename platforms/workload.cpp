#include "workload.hpp"

#include <iovsim/core/bitfield.hpp>

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

cpu_stub::MsiProgramming Fabric::program_msi(uint16_t sid, unsigned apic, unsigned vector) {
  cpu_stub::MsiProgramming msg;
  if (ir_enabled) {
    cpu_stub::IrteSpec spec;
    spec.sid = sid;
    spec.vector = vector;
    spec.dest_apic = apic;
    msg = driver->map_interrupt(spec);
  } else {
    msg = cpu_stub::IommuDriver::compat_message(apic, vector);
  }
  irq.expect_vector(apic, vector);
  return msg;
}

uint64_t Fabric::ecam(uint16_t rid, uint16_t offset) const {
  return rc.config().ecam_base + (uint64_t{rid} << 12) + offset;
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

}  // namespace iovsim::platforms

// A machine for the DMA-mapping policy tests: host memory, the real remapping unit, an interrupt
// controller, the CPU stub's port with the IOMMU driver over it (brought up at construction, before
// time runs, as the platform does at boot), and a test port that issues DMA with a requester id.
// DMA and driver calls made before sc_start take their annotated delay only (elaboration-time
// tests); from a SystemC thread the driver's register accesses wait (cpu_port.hpp).
#pragma once

#include <cstdint>
#include <string>

#include <tlm_utils/simple_initiator_socket.h>
#include <catch2/catch.hpp>
#include <systemc>
#include <tlm>

#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/cpu_stub/cpu_port.hpp>
#include <iovsim/cpu_stub/dma_mapping.hpp>
#include <iovsim/cpu_stub/interrupt_controller.hpp>
#include <iovsim/cpu_stub/iommu_driver.hpp>
#include <iovsim/cpu_stub/page_allocator.hpp>
#include <iovsim/iommu/remapping_unit.hpp>
#include <iovsim/memory/host_memory.hpp>

namespace iovsim::test {

struct DmaPort : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<DmaPort> dma{"dma"};
  explicit DmaPort(sc_core::sc_module_name n) : sc_module(n) {}
};

struct DmaOutcome {
  bool ok = false;
  double delay_ns = 0;
};

class DmaRig {
 public:
  static constexpr uint64_t kMmio = 0xFED90000;
  static constexpr uint64_t kTables = 0x10000000, kTablesBytes = 16 << 20;
  static constexpr uint16_t kSid = 0x0100;  // 01:00.0
  static constexpr uint16_t kDid = 1;

  explicit DmaRig(iommu::RemappingUnitConfig cfg = default_config())
      : mem_("memory", memory_config(), &stats_),
        iommu_("iommu", with_base(cfg), &stats_),
        irq_("irq", &stats_),
        cpu_("cpu"),
        port_("port"),
        pages_(cpu_, kTables, kTablesBytes),
        driver_(cpu_, kMmio, pages_) {
    iommu_.mem_out.bind(mem_.in);
    iommu_.msi_out.bind(irq_.chipset_in);
    iommu_.irq_out.bind(irq_.msi_in);
    cpu_.mem.bind(mem_.cpu);
    cpu_.mmio.bind(iommu_.mmio);
    port_.dma.bind(iommu_.dma_in);
    driver_.bring_up();
  }

  static iommu::RemappingUnitConfig default_config() {
    iommu::RemappingUnitConfig c;
    c.walker.caps = c.caps;
    return c;
  }

  cpu_stub::DmaDevice device(uint64_t host_base = 0, uint64_t host_bytes = 0) {
    cpu_stub::DmaDevice d;
    d.driver = &driver_;
    d.sid = kSid;
    d.did = kDid;
    d.host_base = host_base;
    d.host_bytes = host_bytes;
    return d;
  }

  core::StatGroup& stats() { return stats_; }
  memory::HostMemory& memory() { return mem_; }
  iommu::RemappingUnit& unit() { return iommu_; }
  cpu_stub::InterruptController& irq() { return irq_; }
  cpu_stub::CpuPort& cpu() { return cpu_; }
  core::SparseStore& store() { return mem_.store(); }
  cpu_stub::IommuDriver& driver() { return driver_; }
  uint64_t counter(const std::string& name) {
    core::StatMap m;
    stats_.collect(m);
    auto it = m.find(name);
    return it == m.end() ? 0 : std::get<uint64_t>(it->second);
  }
  double scalar(const std::string& name) {
    core::StatMap m;
    stats_.collect(m);
    return std::get<double>(m.at(name));
  }

  // A 4-byte DMA from requester kSid; `data` in/out. The delay starts at at_ns after the present
  // (time 0 at elaboration, or the calling thread's time).
  DmaOutcome dma(bool write, uint64_t iova, uint32_t* data, uint16_t sid = kSid, double at_ns = 0) {
    tlm::tlm_generic_payload p;
    auto* ext = new core::PcieExtension;
    ext->requester_id = sid;
    ext->posted = write;
    p.set_extension(ext);
    p.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    p.set_address(iova);
    p.set_data_ptr(reinterpret_cast<unsigned char*>(data));
    p.set_data_length(4);
    p.set_streaming_width(4);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time delay(at_ns, sc_core::SC_NS);
    port_.dma->b_transport(p, delay);
    DmaOutcome r;
    r.ok = p.is_response_ok() && ext->status == core::CompletionStatus::kSC;
    r.delay_ns = delay.to_seconds() * 1e9 - at_ns;
    return r;
  }

 private:
  static memory::HostMemoryConfig memory_config() {
    memory::HostMemoryConfig m;
    m.size_bytes = uint64_t{1} << 36;
    return m;
  }
  static iommu::RemappingUnitConfig with_base(iommu::RemappingUnitConfig c) {
    c.mmio_base = kMmio;
    return c;
  }

  core::StatGroup stats_;
  memory::HostMemory mem_;
  iommu::RemappingUnit iommu_;
  cpu_stub::InterruptController irq_;
  cpu_stub::CpuPort cpu_;
  DmaPort port_;
  cpu_stub::PageAllocator pages_;
  cpu_stub::IommuDriver driver_;
};

}  // namespace iovsim::test

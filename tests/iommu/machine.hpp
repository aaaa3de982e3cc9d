// A small machine for elaboration-time tests of the remapping unit: host memory, the unit, an
// interrupt controller, and a test port that issues DMA (with a requester id) and register
// accesses. Everything is called directly (b_transport before sc_start), so each call's timing is
// its delay.
#pragma once

#include <cstring>

#include <tlm_utils/simple_initiator_socket.h>
#include <catch2/catch.hpp>
#include <systemc>
#include <tlm>

#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/cpu_stub/interrupt_controller.hpp>
#include <iovsim/iommu/remapping_unit.hpp>
#include <iovsim/iommu/vtd_format.hpp>
#include <iovsim/memory/host_memory.hpp>

namespace iovsim::test {

struct TestPort : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<TestPort> dma{"dma"};
  tlm_utils::simple_initiator_socket<TestPort> mmio{"mmio"};
  tlm_utils::simple_initiator_socket<TestPort> msi{"msi"};
  explicit TestPort(sc_core::sc_module_name n) : sc_module(n) {}
};

struct DmaResult {
  bool ok = false;
  core::CompletionStatus status = core::CompletionStatus::kSC;
  double latency_ns = 0;  // delay the request came back with
};

class Machine {
 public:
  static constexpr uint64_t kMmio = 0xFED90000;

  explicit Machine(iommu::RemappingUnitConfig cfg = default_config(), double mem_latency_ns = 80)
      : mem_("memory", memory_config(mem_latency_ns), &stats_),
        iommu_("iommu", with_base(cfg), &stats_),
        irq_("irq", &stats_),
        port_("port") {
    iommu_.mem_out.bind(mem_.in);
    iommu_.msi_out.bind(irq_.chipset_in);
    port_.dma.bind(iommu_.dma_in);
    port_.mmio.bind(iommu_.mmio);
    port_.msi.bind(iommu_.msi_in);
    iommu_.irq_out.bind(irq_.msi_in);
  }

  static iommu::RemappingUnitConfig default_config() {
    iommu::RemappingUnitConfig c;
    c.walker.caps = c.caps;
    return c;
  }

  core::SparseStore& store() { return mem_.store(); }
  iommu::RemappingUnit& unit() { return iommu_; }
  cpu_stub::InterruptController& irq() { return irq_; }
  core::StatMap stats() {
    core::StatMap m;
    stats_.collect(m);
    return m;
  }
  uint64_t counter(const std::string& name) { return std::get<uint64_t>(stats().at(name)); }

  uint64_t reg(uint32_t offset, unsigned size) {
    uint64_t v = 0;
    access(port_.mmio, tlm::TLM_READ_COMMAND, kMmio + offset, &v, size, 0);
    return v;
  }
  void set_reg(uint32_t offset, unsigned size, uint64_t v) {
    access(port_.mmio, tlm::TLM_WRITE_COMMAND, kMmio + offset, &v, size, 0);
  }
  // The driver habit for GCMD: read GSTS, OR in the bit, write GCMD.
  void gcmd(unsigned bit_pos) {
    uint32_t sts = static_cast<uint32_t>(reg(iommu::vtd::kGsts, 4));
    set_reg(iommu::vtd::kGcmd, 4, sts | (1u << bit_pos));
  }

  // A device's MSI: a 4-byte posted write of data to address, with the requester id.
  void msi(uint16_t sid, uint64_t address, uint32_t data) {
    tlm::tlm_generic_payload p;
    core::PcieExtension ext;
    ext.requester_id = sid;
    ext.posted = true;
    p.set_extension(&ext);
    access_payload(port_.msi, p, tlm::TLM_WRITE_COMMAND, address, &data, 4, 0);
    p.clear_extension(&ext);
  }

  DmaResult dma(uint16_t sid, bool write, uint64_t iova, void* data, unsigned len, double at_ns = 0,
                core::AddressType address_type = core::AddressType::kUntranslated) {
    tlm::tlm_generic_payload p;
    auto* ext = new core::PcieExtension;
    ext->requester_id = sid;
    ext->posted = write;
    ext->at = address_type;
    p.set_extension(ext);
    DmaResult r;
    const sc_core::sc_time delay =
        access_payload(port_.dma, p, write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND, iova,
                       data, len, at_ns);
    r.ok = p.is_response_ok() && ext->status == core::CompletionStatus::kSC;
    r.status = ext->status;
    r.latency_ns = delay.to_seconds() * 1e9 - at_ns;
    return r;
  }

 private:
  static memory::HostMemoryConfig memory_config(double latency_ns) {
    memory::HostMemoryConfig m;
    m.size_bytes = uint64_t{1} << 36;
    m.latency_ns = latency_ns;
    return m;
  }
  static iommu::RemappingUnitConfig with_base(iommu::RemappingUnitConfig c) {
    c.mmio_base = kMmio;
    c.mmio_latency_ns = 0;
    return c;
  }
  template <typename Socket>
  static sc_core::sc_time access_payload(Socket& s, tlm::tlm_generic_payload& p,
                                         tlm::tlm_command cmd, uint64_t addr, void* data,
                                         unsigned len, double at_ns) {
    p.set_command(cmd);
    p.set_address(addr);
    p.set_data_ptr(static_cast<unsigned char*>(data));
    p.set_data_length(len);
    p.set_streaming_width(len);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time delay(at_ns, sc_core::SC_NS);
    s->b_transport(p, delay);
    return delay;
  }
  template <typename Socket>
  static void access(Socket& s, tlm::tlm_command cmd, uint64_t addr, void* data, unsigned len,
                     double at_ns) {
    tlm::tlm_generic_payload p;
    access_payload(s, p, cmd, addr, data, len, at_ns);
    REQUIRE(p.is_response_ok());
  }

  core::StatGroup stats_;
  memory::HostMemory mem_;
  iommu::RemappingUnit iommu_;
  cpu_stub::InterruptController irq_;
  TestPort port_;
};

// Hand encoding of VT-d entries (vtd-pcie.md §1), independent of the driver.
inline void put_entry(core::SparseStore& s, uint64_t addr, uint64_t lo, uint64_t hi = 0) {
  s.write_u64(addr, lo);
  s.write_u64(addr + 8, hi);
}
constexpr uint64_t kR = 1, kW = 2;

}  // namespace iovsim::test

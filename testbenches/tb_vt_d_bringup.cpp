// tb_vt_d_bringup: the bring-up sequence of KVM's intel-iommu unit test (vtd-pcie.md §8) end to end
// on a platform: the CPU stub programs the IOMMU's registers through the root complex and writes
// the tables in host memory, the endpoint's DMA goes through the link, the root complex and the
// remapping unit, and its MSI-X interrupt through interrupt remapping to the CPU's interrupt
// controller. The platform boots with driver.bring_up=false, so the IOMMU starts as at reset and
// this sequence is the only software that touches it. Every step's effect is a yes/no check.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>

#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/iommu/vtd_format.hpp>
#include <iovsim/platforms/platform.hpp>
#include <iovsim/platforms/runner.hpp>

#include "support/testbench.hpp"

namespace tb = iovsim::testbench;
namespace vtd = iovsim::iommu::vtd;
using iovsim::platforms::Platform;

namespace {

constexpr uint64_t kR = 1, kW = 2;

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// The KVM test as CPU-stub software, in a thread of its own; each step appends a result row.
class KvmSequence : public sc_core::sc_module {
 public:
  nlohmann::json steps = nlohmann::json::array();

  KvmSequence(sc_core::sc_module_name name, Platform& platform)
      : sc_module(name), p_(platform), cpu_(platform.cpu()) {
    platform.interrupts().on_interrupt(
        [this](const iovsim::cpu_stub::InterruptMessage& m) { received_.push_back(m); });
    SC_THREAD(run);
  }

 private:
  SC_HAS_PROCESS(KvmSequence);

  void step(const std::string& name, const std::string& check, bool ok, const std::string& detail) {
    steps.push_back({{"step", name}, {"check", check}, {"ok", ok}, {"detail", detail}});
  }
  uint64_t reg(uint32_t offset, unsigned size) { return cpu_.mmio_read(base_ + offset, size); }
  void set_reg(uint32_t offset, unsigned size, uint64_t v) {
    cpu_.mmio_write(base_ + offset, size, v);
  }
  // The driver habit: read GSTS, OR in the bit, write GCMD, poll GSTS for it.
  bool gcmd(unsigned bit) {
    set_reg(vtd::kGcmd, 4, reg(vtd::kGsts, 4) | (1u << bit));
    for (int i = 0; i < 1000; ++i)
      if ((reg(vtd::kGsts, 4) >> bit) & 1) return true;
    return false;
  }
  // A GCMD command and the GSTS bit it must set.
  void command(const std::string& name, const std::string& check, unsigned bit) {
    const bool ok = gcmd(bit);
    step(name, check, ok, "GSTS " + hex(reg(vtd::kGsts, 4)));
  }
  void no_fault(const std::string& name) {
    const uint64_t fsts = reg(vtd::kFsts, 4);
    step(name, "no fault: FSTS = 0", fsts == 0, "FSTS " + hex(fsts));
  }
  void put(uint64_t addr, uint64_t v) { cpu_.mem_write(addr, &v, 8); }
  // One DMA by the endpoint (its requester id, through the link and the root complex).
  bool dma(bool write, uint64_t iova, uint32_t& data) {
    tlm::tlm_generic_payload p;
    iovsim::core::PcieExtension ext;
    ext.requester_id = rid_;
    ext.posted = write;
    p.set_extension(&ext);
    p.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    p.set_address(iova);
    p.set_data_ptr(reinterpret_cast<unsigned char*>(&data));
    p.set_data_length(4);
    p.set_streaming_width(4);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
    p_.endpoint().dma->b_transport(p, delay);
    wait(delay);
    p.clear_extension(&ext);
    return p.is_response_ok() && ext.status == iovsim::core::CompletionStatus::kSC;
  }

  void run() {
    // The endpoint's own workload (one read, untranslated: the IOMMU is at reset) goes first.
    if (!p_.finished()) wait(p_.endpoint().finished_event());
    base_ = p_.iommu()->config().mmio_base;
    rid_ = p_.endpoint().config().requester_id;
    const uint64_t tables = 0x40000000;  // driver.tables_base
    const uint64_t queue = tables, root = tables + 0x1000, ctx = tables + 0x2000,
                   l3 = tables + 0x3000, l2 = tables + 0x4000, l1 = tables + 0x5000,
                   page = tables + 0x6000, irt = tables + 0x100000;  // IRT: 65536 x 16 B

    // 1. QI, root table, interrupt remapping table, translation, interrupt remapping.
    const char* s1 = "1 bring-up";
    set_reg(vtd::kIqa, 8, queue);
    set_reg(vtd::kIqt, 8, 0);
    command(s1, "enable QI: GSTS.QIES", vtd::kGcmdQie);
    set_reg(vtd::kRtaddr, 8, root);
    command(s1, "root table (SRTP): GSTS.RTPS", vtd::kGcmdSrtp);
    set_reg(vtd::kIrta, 8, irt | 0xF);
    command(s1, "IRT of 65536 entries (SIRTP): GSTS.IRTPS", vtd::kGcmdSirtp);
    command(s1, "translation (TE): GSTS.TES", vtd::kGcmdTe);
    command(s1, "interrupt remapping (IRE): GSTS.IRES", vtd::kGcmdIre);

    // 2. Status and capabilities.
    const char* s2 = "2 status and capabilities";
    const uint32_t want = (1u << vtd::kGcmdQie) | (1u << vtd::kGcmdSrtp) | (1u << vtd::kGcmdSirtp) |
                          (1u << vtd::kGcmdTe) | (1u << vtd::kGcmdIre);
    const uint64_t gsts = reg(vtd::kGsts, 4), cap = reg(vtd::kCap, 8);
    no_fault(s2);
    step(s2, "GSTS: QIES RTPS IRTPS TES IRES", (gsts & want) == want, hex(gsts));
    step(s2, "CAP.SAGAW has 39-bit (3-level)", ((cap >> 8) & 0x1f) & 0b00010, hex(cap));
    step(s2, "CAP.SLLPS: 2 MiB and 1 GiB", ((cap >> 34) & 0xf) == 0b0011, hex(cap));

    // 3. IOVA 0 -> page: root entry for the endpoint's bus, context entry P FPD TT=0 AW=1 DID=SID,
    // a 3-level table with non-leaf = next | R | W and leaf = page | R | W.
    const char* s3 = "3 DMA remapping";
    const unsigned bus = rid_ >> 8, devfn = rid_ & 0xff;
    put(root + 16 * bus, ctx | 1);
    put(ctx + 16 * devfn, l3 | 0b11);  // P, FPD; TT 0
    put(ctx + 16 * devfn + 8, (uint64_t{rid_} << 8) | 1);
    put(l3, l2 | kR | kW);
    put(l2, l1 | kR | kW);
    put(l1, page | kR | kW);
    const uint32_t magic = 0x12345678;
    cpu_.mem_write(page, &magic, 4);
    uint32_t v = 0;
    const bool read_ok = dma(false, 0x0, v);
    step(s3, "DMA read of 4 B at IOVA 0: 0x12345678", read_ok && v == magic, hex(v));
    const bool write_ok = dma(true, 0x4, v);
    uint32_t seen = 0;
    cpu_.mem_read(page + 4, &seen, 4);
    step(s3, "DMA write of them to IOVA 4: host sees them", write_ok && seen == magic, hex(seen));
    no_fault(s3);

    // 4. IRTE 2: P, FPD, physical, edge, fixed, vector 0xEE, DST 0; SID, SQ 0, SVT 1. The
    // endpoint's MSI-X entry 0 gets the remappable-format message for index 2, then the CPU asks
    // the device to interrupt (BAR0 interrupt request register).
    const char* s4 = "4 interrupt remapping";
    const unsigned index = 2;
    put(irt + 16 * index, 0b11 | (uint64_t{0xEE} << 16));
    put(irt + 16 * index + 8, uint64_t{rid_} | (uint64_t{vtd::kSvtSidSq} << 18));
    const uint64_t address =
        0xFEE00000u | ((index & 0x7FFF) << 5) | (1u << 4) | ((index >> 15) << 2);
    const auto* fn = p_.enumerator()->find(rid_);
    const uint64_t bar0 = fn->bars[0].base, entry = bar0 + iovsim::pcie::DmaEndpoint::kMsixTable;
    cpu_.mmio_write(entry + 0, 4, address);
    cpu_.mmio_write(entry + 4, 4, 0);
    cpu_.mmio_write(entry + 8, 4, 0);
    cpu_.mmio_write(entry + 12, 4, 0);  // unmasked
    const uint16_t cap_msix = p_.endpoint().config_space().find_capability(iovsim::pcie::kCapMsix);
    const uint64_t ecam = p_.root_complex().config().ecam_base + (uint64_t{bus} << 20) + cap_msix;
    cpu_.mmio_write(ecam, 4,
                    cpu_.mmio_read(ecam, 4) | (uint32_t{iovsim::pcie::kMsixCtrlEnable} << 16));
    p_.interrupts().expect_vector(0, 0xEE);
    const uint64_t programmed = cpu_.mmio_read(entry, 4);
    step(s4, "MSI-X entry 0 = remappable address of index 2", programmed == 0xFEE00050,
         hex(programmed));
    cpu_.mmio_write(bar0 + iovsim::pcie::DmaEndpoint::kRegIrqRequest, 4, 0);
    wait(sc_core::sc_time(1, sc_core::SC_US));  // the handler has started by then
    const bool one = received_.size() == 1;
    step(
        s4, "device interrupt: vector 0xEE at APIC 0",
        one && received_[0].vector == 0xEE && received_[0].apic_id == 0,
        one ? "vector " + hex(received_[0].vector) + " APIC " + std::to_string(received_[0].apic_id)
            : std::to_string(received_.size()) + " interrupts");
    no_fault(s4);
  }

  Platform& p_;
  iovsim::cpu_stub::CpuPort& cpu_;
  uint64_t base_ = 0;
  uint16_t rid_ = 0;
  std::vector<iovsim::cpu_stub::InterruptMessage> received_;
};

int run(const tb::Options& options) {
  tb::Report report("tb_vt_d_bringup", options);
  const auto config = tb::make_config(
      "xeon-e5-2630v4",
      {{"iommu.enabled", "true"}, {"driver.bring_up", "false"}, {"workload.requests", "1"}});
  const std::string dir = report.run_dir("platform");
  const auto result = tb::run_isolated([&] {
    iovsim::core::configure_logging(config);
    iovsim::core::StatGroup root;
    Platform platform("platform", config, &root);
    KvmSequence kvm("kvm", platform);
    sc_core::sc_start();
    iovsim::platforms::RunResult r;
    root.collect(r.stats);
    r.run = {{"sim_time_ns", sc_core::sc_time_stamp().to_seconds() * 1e9}};
    iovsim::platforms::write_results(dir, config, r);
    return nlohmann::json{{"steps", kvm.steps}, {"stats", iovsim::core::stats_to_json(r.stats)}};
  });

  std::string section;
  for (const auto& s : result.at("steps")) {
    const std::string name = s.at("step");
    if (name != section) report.section(section = name);
    report.holds(s.at("check").get<std::string>(), s.at("ok").get<bool>(),
                 s.at("detail").get<std::string>());
  }
  report.section("statistics");
  report.within_abs("iommu.walks (one walk for IOVA 0)", "", 1, tb::stat(result, "iommu.walks"), 0);
  report.within_abs("iommu.iotlb.hits (the write hit)", "", 1, tb::stat(result, "iommu.iotlb.hits"),
                    0);
  report.within_abs("iommu.faults", "", 0, tb::stat(result, "iommu.faults"), 0);
  report.within_abs("iommu.ir.remapped", "", 1, tb::stat(result, "iommu.ir.remapped"), 0);
  report.within_abs("irq.unexpected", "", 0, tb::stat(result, "irq.unexpected"), 0);
  return report.finish();
}

}  // namespace

int sc_main(int argc, char* argv[]) {
  const auto options =
      tb::parse_options(argc, argv, "tb_vt_d_bringup",
                        "KVM's intel-iommu unit-test sequence through the CPU stub on a platform");
  return tb::guarded("tb_vt_d_bringup", [&] { return run(options); });
}

// The remapping unit's MMIO register file (vtd-pcie.md §2): VER/CAP/ECAP, the GCMD/GSTS command
// protocol, register-based context-cache and IOTLB invalidation, fault recording (FSTS, FECTL,
// FRCD) with the fault-event MSI, and the queued-invalidation registers
// (IQH/IQT/IQA/ICS/IECTL/IQER). Plain C++: the SystemC shell forwards MMIO accesses here and wires
// the hooks to the caches, the walker, the interrupt remapper and the invalidation engine.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <iovsim/core/stats.hpp>

#include "caps.hpp"
#include "vtd_format.hpp"

namespace iovsim::iommu {

// What register writes ask of the rest of the remapping unit; any may be empty.
struct RegisterHooks {
  std::function<void(uint64_t rtaddr)> set_root_table;   // SRTP
  std::function<void(bool enabled)> translation_enable;  // TE changed
  std::function<void(vtd::Granularity g, uint16_t did, uint16_t sid, unsigned fm)>
      invalidate_context;  // CCMD.ICC
  std::function<void(vtd::Granularity g, uint16_t did, uint64_t addr, unsigned am, bool ih)>
      invalidate_iotlb;                                        // IOTLB.IVT (+IVA)
  std::function<void()> queue_tail_written;                    // IQT written while QIE=1
  std::function<void(uint64_t irta)> set_irt;                  // SIRTP
  std::function<void(bool enabled)> ir_enable;                 // IRE changed
  std::function<void(uint64_t addr, uint32_t data)> send_msi;  // fault / inv. completion event
};

// Invalidation counters shared by register-based and queued invalidation, so a study sees one total
// whichever interface the driver uses.
struct InvalidationStats {
  explicit InvalidationStats(core::StatGroup* parent);
  core::StatGroup group;
  core::Counter& context_global;
  core::Counter& context_domain;
  core::Counter& context_device;
  core::Counter& iotlb_global;
  core::Counter& iotlb_domain;
  core::Counter& iotlb_page;
  core::Counter& device_tlb;
  core::Counter& iec;
};

// IQER.IQEI codes (VT-d 3.x, IQER bits 3:0): why the invalidation queue stopped.
namespace iqei {
constexpr uint64_t kInvalidTail = 0x1;    // IQT beyond the queue
constexpr uint64_t kFetchError = 0x2;     // descriptor read failed
constexpr uint64_t kInvalidType = 0x3;    // unknown / unsupported descriptor type
constexpr uint64_t kReservedField = 0x4;  // reserved granularity, AM > MAMV, IM > MHMV
constexpr uint64_t kInvalidWidth = 0x5;   // 256-bit descriptors (IQA.DW = 1) not supported
}  // namespace iqei

class RegisterFile {
 public:
  RegisterFile(const IommuCaps& caps, RegisterHooks hooks, core::StatGroup* parent = nullptr);

  // size 4 or 8, naturally aligned; unknown offsets, other sizes and misaligned accesses read 0 and
  // ignore writes. An 8-byte access to two adjacent 32-bit registers reaches both (lower at +0).
  uint64_t read(uint32_t offset, unsigned size);
  void write(uint32_t offset, unsigned size, uint64_t value);

  // Records a DMA- or interrupt-remapping fault (vtd-pcie.md §2 "Behaviour to mirror"). Returns
  // true if a record was written.
  bool record_fault(uint16_t sid, uint64_t fault_info, vtd::FaultReason reason, bool is_read);

  // Invalidation queue support. Head and tail are in descriptors.
  uint64_t iq_base() const { return iqa_ & core::bit_mask(63, 12); }
  unsigned iq_entries() const { return 1u << (core::bits(iqa_, 2, 0) + 8); }
  unsigned iq_head() const { return static_cast<unsigned>(core::bits(iqh_, 18, 4)); }
  unsigned iq_tail() const { return static_cast<unsigned>(core::bits(iqt_, 18, 4)); }
  bool iq_128bit() const { return !core::bit(iqa_, 11); }  // IQA.DW = 0
  void set_iq_head(unsigned index);
  void set_iqe(uint64_t iqer);         // FSTS.IQE (+IQER), fault event like other FSTS errors
  bool iqe() const { return iqe_; }    // queue stopped until software clears FSTS.IQE
  void invalidation_wait_interrupt();  // ICS.IWC = 1, IECTL.IP; MSI unless IECTL.IM

  bool translation_enabled() const { return tes_; }
  bool qi_enabled() const { return qies_; }
  bool ir_enabled() const { return ires_; }
  bool cfi_enabled() const { return cfis_; }
  uint64_t rtaddr() const { return rtaddr_latched_; }  // root table at the last SRTP (63:12)
  uint64_t irta() const { return irta_latched_; }      // IRTA at the last SIRTP (base | EIME | S)
  const IommuCaps& caps() const { return caps_; }
  InvalidationStats& invalidation_stats() { return inv_stats_; }

 private:
  uint64_t read_qword(uint32_t qoff) const;
  uint32_t read32(uint32_t off) const;
  void write32(uint32_t off, uint32_t v);
  // A 64-bit register write; mask says which bytes the access covered (a 32-bit access covers
  // half).
  void write64(uint32_t off, uint64_t v, uint64_t mask);
  void write_gcmd(uint32_t v);
  void do_ccmd();
  void do_iotlb();
  uint32_t fsts() const;
  bool ppf() const;
  bool any_fault_status() const;
  void raise_fault_event();
  void maybe_clear_fault_ip();
  void send(uint32_t addr_lo, uint32_t addr_hi, uint32_t data);

  IommuCaps caps_;
  uint64_t cap_, ecap_;
  RegisterHooks hooks_;
  InvalidationStats inv_stats_;

  // GSTS state.
  bool tes_ = false, rtps_ = false, qies_ = false, ires_ = false, irtps_ = false, cfis_ = false;
  uint64_t rtaddr_ = 0, rtaddr_latched_ = 0;
  uint64_t irta_ = 0, irta_latched_ = 0;
  uint64_t ccmd_ = 0;
  uint64_t iva_ = 0, iotlb_ = 0;
  // Fault recording.
  bool pfo_ = false, iqe_ = false, ice_ = false, ite_ = false;
  unsigned fri_ = 0;
  unsigned next_frcd_ = 0;  // slot the next fault goes to (rotates over NFR records)
  std::vector<vtd::FaultRecord> frcd_;
  bool fe_im_ = true, fe_ip_ = false;
  uint32_t fedata_ = 0, feaddr_ = 0, feuaddr_ = 0;
  // Queued invalidation.
  uint64_t iqh_ = 0, iqt_ = 0, iqa_ = 0, iqer_ = 0;
  bool iwc_ = false;
  bool ie_im_ = true, ie_ip_ = false;
  uint32_t iedata_ = 0, ieaddr_ = 0, ieuaddr_ = 0;
};

}  // namespace iovsim::iommu

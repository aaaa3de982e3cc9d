// The CPU stub's VT-d driver: what Linux's intel-iommu driver does at bring-up and map time, in
// legacy (non-scalable) mode. It writes real-format root, context and second-level tables into
// host memory through HostAccess, programs the remapping unit's registers, and invalidates the
// unit's caches either through the register interface or through the invalidation queue
// (../shared/reference/vtd-pcie.md §1–3, §8). Synchronous: every invalidation is waited for.
// Interrupt remapping as Linux's irq_remapping does it (§4): the remapping table, IRTEs in the
// remapped format with xAPIC destinations, interrupt-entry-cache invalidations through the queue.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include <iovsim/cpu_stub/host_access.hpp>
#include <iovsim/cpu_stub/page_allocator.hpp>

namespace iovsim::cpu_stub {

enum class InvalidationMode { kRegister, kQueued };

// One remapped interrupt (an IRTE in remapped format, xAPIC destination).
struct IrteSpec {
  uint16_t sid = 0;  // SVT 2 (bus range): start bus in 15:8, end bus in 7:0 (Linux's layout)
  unsigned vector = 0;
  uint32_t dest_apic = 0;      // xAPIC: 8 bits
  bool logical = false;        // DM
  bool level = false;          // TM
  unsigned delivery_mode = 0;  // DLM: 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT
  unsigned svt = 1;            // 0 none, 1 SID + SQ, 2 bus range
  unsigned sq = 0;
  bool fpd = false;
};

// What to write into the device's MSI / MSI-X entry.
struct MsiProgramming {
  uint64_t address = 0;
  uint32_t data = 0;
};

struct IommuDriverOptions {
  // kQueued falls back to kRegister when ECAP.QI is clear, as Linux does.
  InvalidationMode invalidation = InvalidationMode::kQueued;
  unsigned queue_pages = 1;  // a power of two up to 128; QS = log2: 1 page = 256 descriptors
  unsigned max_poll = 1000000;
};

class IommuDriver {
 public:
  // Throws std::invalid_argument for a queue size the hardware cannot express.
  IommuDriver(HostAccess& host, uint64_t mmio_base, PageAllocator& pages,
              IommuDriverOptions opts = {});

  // Reads VER/CAP/ECAP; allocates the (zeroed) root table, writes RTADDR and issues SRTP (polls
  // RTPS); with queued invalidation allocates the queue, writes IQA, IQT = 0 and sets QIE (polls
  // QIES); invalidates the context cache and the IOTLB globally; sets TE (polls TES). Once only.
  void bring_up();

  uint64_t cap() const { return cap_; }
  uint64_t ecap() const { return ecap_; }
  uint64_t root_table() const { return root_table_; }

  // Root entry on demand, then the context entry (P, FPD, TT, SLPTPTR, AW, DID); the domain's
  // top-level table is allocated the first time the domain needs one (TT != 2). Then a
  // device-selective context-cache invalidation. std::invalid_argument: AW not in CAP.SAGAW, TT
  // reserved or unsupported (2 without ECAP.PT, 1 without ECAP.DT or without queued invalidation:
  // a device TLB can only be invalidated through the queue), DID beyond CAP.ND, the domain already
  // using another AW, or the device already attached.
  void attach_device(uint16_t sid, uint16_t did, unsigned aw = 2, unsigned tt = 0,
                     bool fpd = false);
  // Clears the context entry; context-cache (device) and IOTLB (domain) invalidation, and for a
  // TT = 1 device a device-TLB invalidation of its whole address space.
  void detach_device(uint16_t sid);

  // [iova, iova+size) -> [hpa, hpa+size) with leaves of page_size (4 KiB, 2 MiB, 1 GiB), all
  // aligned to it; superpages only when CAP.SLLPS allows. Intermediate tables on demand (next | R |
  // W); leaf = frame | R? | W? (| PS above level 1). std::invalid_argument for bad arguments or an
  // overlap with an existing mapping (checked before anything is written). With CAP.CM the range
  // is then invalidated, since not-present entries may have been cached.
  void map(uint16_t did, uint64_t iova, uint64_t hpa, uint64_t size, uint64_t page_size,
           bool read = true, bool write = true);
  // Clears the leaves covering [iova, iova+size) (4 KiB aligned; a superpage must be covered
  // whole), intermediate tables stay. Then page-selective IOTLB invalidation in the largest
  // naturally aligned 2^AM blocks (AM <= CAP.MAMV), IH = 0 so the paging-structure caches go too;
  // domain-selective when CAP.PSI is clear or the range exceeds 2^MAMV pages. Then, as Linux does,
  // a device-TLB invalidation for every TT = 1 device in the domain: one descriptor covering the
  // range (the smallest naturally aligned power-of-two block holding it). invalidate = false only
  // clears the leaves: the caller flushes later (a deferred DMA-mapping policy).
  void unmap(uint16_t did, uint64_t iova, uint64_t size, bool invalidate = true);

  // By the chosen mode: registers (CCMD, IVA/IOTLB at ECAP.IRO; poll ICC/IVT clear) or queued
  // (descriptor, wait descriptor with SW and a status word in host memory, IQT, poll the word).
  void invalidate_context_global();
  void invalidate_context_device(uint16_t sid, uint16_t did);
  void invalidate_iotlb_global();
  void invalidate_iotlb_domain(uint16_t did);
  // std::invalid_argument when PSI is unsupported, am > CAP.MAMV or addr is not 2^(am+12) aligned.
  void invalidate_iotlb_pages(uint16_t did, uint64_t addr, unsigned am);
  // Device-TLB (ATS) invalidation of [addr, addr + 2^order pages) in the device `sid`'s
  // translation cache, as Linux's qi_flush_dev_iotlb: descriptor type 3 (SID, PFSID, MIP; ADDR
  // with the low bits encoding the size, S = 1 when order > 0) and a wait; the unit writes the
  // status word only once the device's Invalidate Completion is back. order 52 is the whole
  // address space (addr 0). pfsid: the PF's SID when sid is a VF (default: sid); mip: the device's
  // invalidate queue depth, 0 for 32 or more. Queued mode only: VT-d has no register interface for
  // it (std::logic_error in register mode). std::invalid_argument without ECAP.DT, for order > 52,
  // mip > 31 or addr not aligned to 2^(order+12).
  void invalidate_device_tlb(uint16_t sid, uint64_t addr, unsigned order,
                             std::optional<uint16_t> pfsid = std::nullopt, unsigned mip = 0);

  // unmap's device-TLB flush, public for callers that flush themselves (DMA-mapping policies): one
  // descriptor per TT = 1 device of the domain covering [iova, iova + size); nothing when the
  // domain has none. (Not after a caching-mode map: devices do not cache missing translations —
  // Linux skips it too.)
  void invalidate_device_tlbs(uint16_t did, uint64_t iova, uint64_t size);

  // ---- Interrupt remapping ----
  // Allocates the zeroed interrupt remapping table (irt_entries, a power of two from 2 to 65536,
  // in contiguous pages), writes IRTA = base | S (EIME = 0: xAPIC), issues SIRTP (polls IRTPS),
  // invalidates the interrupt entry cache globally and sets IRE (polls IRES) — Linux's order.
  // std::invalid_argument: no ECAP.IR, register-mode invalidation (no IEC invalidation without
  // the queue: Linux requires QI for IR), a bad table size. std::logic_error before bring_up() or
  // when called twice.
  void enable_interrupt_remapping(unsigned irt_entries = 256);
  bool interrupt_remapping_enabled() const { return ir_enabled_; }
  // Takes the lowest free IRTE index, writes the IRTE (high half first, then the low half with
  // P = 1, FPD, DM, RH = 0, TM, DLM, IM = 0, vector, DST[15:8] = APIC id), invalidates that index
  // in the IEC, and returns the remappable-format message: address 0xFEE00000 | handle[14:0] << 5
  // | IF | handle[15] << 2, data 0 (SHV = 0). std::runtime_error when the table is full;
  // std::invalid_argument for a spec the entry cannot hold (vector > 255, DLM > 7 or 3/6, APIC id
  // > 255, SVT 3, SQ > 3) — checked before anything is written. std::logic_error without IR.
  MsiProgramming map_interrupt(const IrteSpec& spec, uint16_t* index_out = nullptr);
  // Rewrites an allocated IRTE (e.g. a new destination), then an index-selective IEC invalidation.
  void update_interrupt(uint16_t index, const IrteSpec& spec);
  // Clears the IRTE (P first), IEC invalidation, and frees the index for reuse.
  void free_interrupt(uint16_t index);
  // IRTE indices allocated (map_interrupt, not yet freed).
  unsigned irtes_in_use() const;
  // The compatibility-format message (no interrupt remapping): address 0xFEE00000 | APIC id << 12
  // (physical, RH = 0), data vector | delivery_mode << 8 | level << 15 (trigger mode).
  // std::invalid_argument for an APIC id above 255, a vector above 255 or a reserved
  // delivery mode (3, 6, above 7).
  static MsiProgramming compat_message(uint32_t dest_apic, unsigned vector,
                                       unsigned delivery_mode = 0, bool level = false);
  // Queued descriptor type 4 (G = 0 global; G = 1 index-selective, 2^im entries from index,
  // which must be 2^im aligned, im <= 16). In register mode there is no IEC register: no-ops.
  void invalidate_iec_global();
  void invalidate_iec_index(uint16_t index, unsigned im);
  uint64_t irt_base() const { return irt_; }
  unsigned irt_entries() const { return irt_entries_; }

  // Walks the tables in host memory (software lookup) — for tests and platform sanity checks.
  std::optional<uint64_t> lookup(uint16_t sid, uint64_t iova);
  // Invalidation commands issued: queued descriptors (not counting the wait descriptors that
  // follow them) or register commands.
  uint64_t invalidations_issued() const { return invalidations_; }

 private:
  struct Domain {
    unsigned aw = 0;
    uint64_t top = 0;  // top-level table; 0 until a TT 0/1 device needs one
    unsigned levels() const { return aw + 2; }
  };
  struct Device {
    uint16_t did = 0;
    unsigned tt = 0;
    uint64_t context_entry = 0;  // host address of the 16-byte context entry
  };

  uint32_t read32(uint32_t off) { return static_cast<uint32_t>(host_.mmio_read(base_ + off, 4)); }
  uint64_t read64(uint32_t off) { return host_.mmio_read(base_ + off, 8); }
  void write32(uint32_t off, uint32_t v) { host_.mmio_write(base_ + off, 4, v); }
  void write64(uint32_t off, uint64_t v) { host_.mmio_write(base_ + off, 8, v); }

  void require_up(const char* what) const;
  // GSTS image with the one-shot bits masked, OR the command bit, write GCMD, poll the status bit.
  void gcmd_set(unsigned bit, const char* name);
  template <typename Done>
  void poll(Done done, const char* what);
  void submit_qi(uint64_t lo, uint64_t hi);
  void register_ccmd(uint64_t value);
  void register_iotlb(uint64_t iva, uint64_t value);
  Domain& domain_with_table(uint16_t did);
  void require_ir(const char* what) const;
  void require_irte(uint16_t index, const char* what) const;
  void write_irte(uint16_t index, const IrteSpec& spec);
  unsigned agaw(const Domain& d) const;
  // unmap's (and caching mode map's) IOTLB flush: aligned page-selective blocks or one domain
  // flush.
  void invalidate_range(uint16_t did, uint64_t iova, uint64_t size);

  HostAccess& host_;
  uint64_t base_;
  PageAllocator& pages_;
  IommuDriverOptions opts_;
  bool queued_ = false;  // QIE is on: invalidations go through the queue
  uint32_t ver_ = 0;     // read like Linux does; legacy mode needs nothing from it
  uint64_t cap_ = 0, ecap_ = 0;
  uint64_t root_table_ = 0;
  uint64_t queue_ = 0;  // invalidation queue base
  unsigned queue_entries_ = 0;
  unsigned tail_ = 0;         // next free descriptor slot
  uint64_t status_word_ = 0;  // where wait descriptors write their status data
  uint64_t invalidations_ = 0;
  std::map<uint16_t, Domain> domains_;
  std::map<uint16_t, Device> devices_;
  // Interrupt remapping.
  bool ir_enabled_ = false;
  uint64_t irt_ = 0;  // table base; 0 until enable_interrupt_remapping
  unsigned irt_entries_ = 0;
  std::vector<bool> irte_used_;
  unsigned irte_hint_ = 0;  // no free index below it
};

}  // namespace iovsim::cpu_stub

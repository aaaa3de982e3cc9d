#include <iovsim/cpu_stub/iommu_driver.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/iommu/vtd_format.hpp>

namespace iovsim::cpu_stub {

namespace vtd = iommu::vtd;
using core::bit;
using core::bit_mask;
using core::bits;

namespace {

constexpr uint64_t kPage = 4096;
// A device-TLB invalidation of 2^52 pages: the whole 64-bit address space.
constexpr unsigned kWholeSpaceOrder = 52;
// Second-level entry bits the driver writes.
constexpr uint64_t kSlR = 1, kSlW = 2, kSlPs = uint64_t{1} << 7;
// Address field of a second-level entry: bits 51:12 at most (HAW-1:12 on a given unit).
constexpr uint64_t kSlAddr = bit_mask(51, 12);
constexpr uint64_t kTableAddr = bit_mask(63, 12);  // root CTP, context SLPTPTR
// GCMD bits that start an operation each time they are written set: never echo them back from
// the GSTS image (RTPS, FLS, WBFS and IRTPS share their positions).
constexpr uint32_t kOneShot = (1u << vtd::kGcmdSrtp) | (1u << vtd::kGcmdSfl) |
                              (1u << vtd::kGcmdWbf) | (1u << vtd::kGcmdSirtp);
// Status data the wait descriptor writes; the driver clears the word before each submission.
constexpr uint32_t kQiDone = 1;

constexpr uint64_t gran(vtd::Granularity g) {
  return static_cast<uint64_t>(g);
}

// Interrupt remapping (§4).
constexpr uint64_t kIrteBytes = 16;
constexpr uint64_t kMsiBase = 0xFEE00000;
constexpr unsigned kMaxIrtEntries = 65536;
bool delivery_mode_ok(unsigned dm) {
  return dm <= 7 && dm != 3 && dm != 6;  // 3 and 6 are reserved
}
// What a remapped-format, xAPIC IRTE can hold; checked before anything is written.
void check_irte_spec(const IrteSpec& spec) {
  if (spec.vector > 0xFF) throw std::invalid_argument("iommu driver: IRTE vector above 255");
  if (!delivery_mode_ok(spec.delivery_mode))
    throw std::invalid_argument("iommu driver: IRTE delivery mode " +
                                std::to_string(spec.delivery_mode) + " is reserved");
  if (spec.dest_apic > 0xFF)
    throw std::invalid_argument("iommu driver: xAPIC destination above 255 (EIME = 0)");
  if (spec.svt > vtd::kSvtBusRange) throw std::invalid_argument("iommu driver: IRTE SVT 3");
  if (spec.sq > 3) throw std::invalid_argument("iommu driver: IRTE SQ above 3");
}

bool present(uint64_t sl_entry) {
  return (sl_entry & (kSlR | kSlW)) != 0;
}
// A leaf above level 1 is a superpage: PS means that only at levels 2 and 3.
bool is_leaf(uint64_t sl_entry, unsigned level) {
  return level == 1 || ((level == 2 || level == 3) && (sl_entry & kSlPs) != 0);
}
uint64_t entry_addr(uint64_t table, uint64_t iova, unsigned level) {
  return table + 8 * uint64_t{vtd::sl_index(iova, level)};
}

}  // namespace

IommuDriver::IommuDriver(HostAccess& host, uint64_t mmio_base, PageAllocator& pages,
                         IommuDriverOptions opts)
    : host_(host), base_(mmio_base), pages_(pages), opts_(opts) {
  // IQA.QS is 3 bits: 2^QS pages of 256 descriptors.
  if (!core::is_pow2(opts_.queue_pages) || opts_.queue_pages > 128)
    throw std::invalid_argument("iommu driver: queue_pages must be a power of two up to 128");
}

template <typename Done>
void IommuDriver::poll(Done done, const char* what) {
  for (unsigned i = 0;; ++i) {
    if (done()) return;
    if (i >= opts_.max_poll)
      throw std::runtime_error(std::string("iommu driver: ") + what + " timed out");
    host_.relax();
  }
}

void IommuDriver::require_up(const char* what) const {
  if (root_table_ == 0)
    throw std::logic_error(std::string("iommu driver: ") + what + " before bring_up()");
}

void IommuDriver::gcmd_set(unsigned bit_pos, const char* name) {
  const uint32_t cmd = (read32(vtd::kGsts) & ~kOneShot) | (1u << bit_pos);
  write32(vtd::kGcmd, cmd);
  poll([&] { return bit(read32(vtd::kGsts), bit_pos); }, name);
}

void IommuDriver::bring_up() {
  if (root_table_ != 0) throw std::logic_error("iommu driver: bring_up() called twice");
  ver_ = read32(vtd::kVer);
  cap_ = read64(vtd::kCap);
  ecap_ = read64(vtd::kEcap);

  const uint64_t root = pages_.alloc_page();
  write64(vtd::kRtaddr, root);  // TTM = 0: legacy mode
  root_table_ = root;           // from here on invalidations may be issued
  gcmd_set(vtd::kGcmdSrtp, "GSTS.RTPS poll");

  if (opts_.invalidation == InvalidationMode::kQueued && bit(ecap_, vtd::EcapFields::kQi)) {
    queue_ = pages_.alloc_page();
    for (unsigned i = 1; i < opts_.queue_pages; ++i)
      if (pages_.alloc_page() != queue_ + i * kPage)
        throw std::runtime_error("iommu driver: invalidation queue pages are not contiguous");
    status_word_ = pages_.alloc_page();
    queue_entries_ = opts_.queue_pages * 256;
    tail_ = 0;
    const uint64_t qs = core::log2_floor(opts_.queue_pages);
    write64(vtd::kIqa, queue_ | qs);  // DW = 0: 128-bit descriptors
    write64(vtd::kIqt, 0);
    gcmd_set(vtd::kGcmdQie, "GSTS.QIES poll");
    queued_ = true;
  }

  invalidate_context_global();
  invalidate_iotlb_global();
  gcmd_set(vtd::kGcmdTe, "GSTS.TES poll");
}

// ---- Invalidation ----------------------------------------------------------------------------

void IommuDriver::submit_qi(uint64_t lo, uint64_t hi) {
  // Linux's pattern: descriptor, wait(SW, data), IQT, poll the status word. Each submission is
  // waited for, so the hardware head has caught up and two free slots always exist.
  host_.write_u32(status_word_, 0);
  host_.write_u64(queue_ + 16 * uint64_t{tail_}, lo);
  host_.write_u64(queue_ + 16 * uint64_t{tail_} + 8, hi);
  tail_ = (tail_ + 1) % queue_entries_;
  const uint64_t wait_lo =
      static_cast<uint64_t>(vtd::QiType::kWait) | (uint64_t{1} << 5) | (uint64_t{kQiDone} << 32);
  host_.write_u64(queue_ + 16 * uint64_t{tail_}, wait_lo);
  host_.write_u64(queue_ + 16 * uint64_t{tail_} + 8, status_word_ & bit_mask(63, 2));
  tail_ = (tail_ + 1) % queue_entries_;
  write64(vtd::kIqt, uint64_t{tail_} << 4);
  ++invalidations_;
  poll(
      [&] {
        if (host_.read_u32(status_word_) == kQiDone) return true;
        if (bit(read32(vtd::kFsts), vtd::kFstsIqe))
          throw std::runtime_error("iommu driver: invalidation queue error (FSTS.IQE)");
        return false;
      },
      "invalidation wait");
}

void IommuDriver::register_ccmd(uint64_t value) {
  write64(vtd::kCcmd, value);
  ++invalidations_;
  poll([&] { return !bit(read64(vtd::kCcmd), vtd::kCcmdIcc); }, "CCMD.ICC poll");
}

void IommuDriver::register_iotlb(uint64_t iva, uint64_t value) {
  const auto iva_off =
      static_cast<uint32_t>(bits(ecap_, vtd::EcapFields::kIroHi, vtd::EcapFields::kIroLo) * 16);
  // IVA matters only for page-selective requests; the others leave it alone.
  if (bits(value, vtd::kIotlbIirgHi, vtd::kIotlbIirgLo) == gran(vtd::Granularity::kDeviceOrPage))
    write64(iva_off, iva);
  write64(iva_off + 8, value);
  ++invalidations_;
  poll([&] { return !bit(read64(iva_off + 8), vtd::kIotlbIvt); }, "IOTLB.IVT poll");
}

void IommuDriver::invalidate_context_global() {
  require_up("invalidate_context_global");
  const uint64_t g = gran(vtd::Granularity::kGlobal);
  if (queued_)
    submit_qi(static_cast<uint64_t>(vtd::QiType::kContextCache) | g << 4, 0);
  else
    register_ccmd(uint64_t{1} << vtd::kCcmdIcc | g << vtd::kCcmdCirgLo);
}

void IommuDriver::invalidate_context_device(uint16_t sid, uint16_t did) {
  require_up("invalidate_context_device");
  const uint64_t g = gran(vtd::Granularity::kDeviceOrPage);  // FM = 0: the SID exactly
  if (queued_)
    submit_qi(static_cast<uint64_t>(vtd::QiType::kContextCache) | g << 4 | uint64_t{did} << 16 |
                  uint64_t{sid} << 32,
              0);
  else
    register_ccmd(uint64_t{1} << vtd::kCcmdIcc | g << vtd::kCcmdCirgLo | uint64_t{sid} << 16 | did);
}

void IommuDriver::invalidate_iotlb_global() {
  require_up("invalidate_iotlb_global");
  const uint64_t g = gran(vtd::Granularity::kGlobal);
  if (queued_)
    submit_qi(static_cast<uint64_t>(vtd::QiType::kIotlb) | g << 4, 0);
  else
    register_iotlb(0, uint64_t{1} << vtd::kIotlbIvt | g << vtd::kIotlbIirgLo);
}

void IommuDriver::invalidate_iotlb_domain(uint16_t did) {
  require_up("invalidate_iotlb_domain");
  const uint64_t g = gran(vtd::Granularity::kDomain);
  if (queued_)
    submit_qi(static_cast<uint64_t>(vtd::QiType::kIotlb) | g << 4 | uint64_t{did} << 16, 0);
  else
    register_iotlb(0, uint64_t{1} << vtd::kIotlbIvt | g << vtd::kIotlbIirgLo | uint64_t{did} << 32);
}

void IommuDriver::invalidate_iotlb_pages(uint16_t did, uint64_t addr, unsigned am) {
  require_up("invalidate_iotlb_pages");
  if (!bit(cap_, vtd::CapFields::kPsi))
    throw std::invalid_argument(
        "iommu driver: page-selective invalidation not supported (CAP.PSI)");
  if (am > bits(cap_, vtd::CapFields::kMamvHi, vtd::CapFields::kMamvLo))
    throw std::invalid_argument("iommu driver: AM " + std::to_string(am) + " above CAP.MAMV");
  if (addr % (kPage << am) != 0)
    throw std::invalid_argument("iommu driver: page-selective address not aligned to 2^(AM+12)");
  const uint64_t g = gran(vtd::Granularity::kDeviceOrPage);
  const uint64_t iva = addr | am;  // IH = 0: paging-structure caches are invalidated too
  if (queued_)
    submit_qi(static_cast<uint64_t>(vtd::QiType::kIotlb) | g << 4 | uint64_t{did} << 16, iva);
  else
    register_iotlb(iva,
                   uint64_t{1} << vtd::kIotlbIvt | g << vtd::kIotlbIirgLo | uint64_t{did} << 32);
}

void IommuDriver::invalidate_range(uint16_t did, uint64_t iova, uint64_t size) {
  const unsigned mamv =
      static_cast<unsigned>(bits(cap_, vtd::CapFields::kMamvHi, vtd::CapFields::kMamvLo));
  // Like Linux: a range that needs a mask above MAMV gets one domain-selective flush.
  if (!bit(cap_, vtd::CapFields::kPsi) || (size >> 12) > (uint64_t{1} << mamv)) {
    invalidate_iotlb_domain(did);
    return;
  }
  const uint64_t end = iova + size;
  for (uint64_t a = iova; a < end;) {
    const uint64_t pfn = a >> 12;
    const unsigned align = pfn == 0 ? 63u : static_cast<unsigned>(__builtin_ctzll(pfn));
    const unsigned am = std::min({align, mamv, core::log2_floor((end - a) >> 12)});
    invalidate_iotlb_pages(did, a, am);
    a += kPage << am;
  }
}

void IommuDriver::invalidate_device_tlbs(uint16_t did, uint64_t iova, uint64_t size) {
  // The smallest naturally aligned block of 2^order pages holding [iova, iova + size).
  unsigned order = 0;
  while (order < kWholeSpaceOrder && (iova >> (12 + order)) != ((iova + size - 1) >> (12 + order)))
    ++order;
  const uint64_t base = order >= kWholeSpaceOrder ? 0 : core::align_down(iova, kPage << order);
  for (const auto& [sid, dev] : devices_)
    if (dev.did == did && dev.tt == vtd::kTtDeviceTlb) invalidate_device_tlb(sid, base, order);
}

void IommuDriver::invalidate_device_tlb(uint16_t sid, uint64_t addr, unsigned order,
                                        std::optional<uint16_t> pfsid, unsigned mip) {
  require_up("invalidate_device_tlb");
  if (!bit(ecap_, vtd::EcapFields::kDt))
    throw std::invalid_argument("iommu driver: device-TLB invalidation not supported (ECAP.DT)");
  if (!queued_)
    throw std::logic_error(
        "iommu driver: device-TLB invalidation needs queued invalidation (VT-d has no register "
        "interface for it)");
  if (order > kWholeSpaceOrder)
    throw std::invalid_argument("iommu driver: device-TLB invalidation order above 52");
  if (mip > 31) throw std::invalid_argument("iommu driver: device-TLB MIP above 31");
  if (order < kWholeSpaceOrder ? addr % (kPage << order) != 0 : addr != 0)
    throw std::invalid_argument(
        "iommu driver: device-TLB invalidation address not aligned to 2^(order+12)");
  // Linux: ADDR with bits order+10..12 set encodes 2^order pages (S = 1); order 0 is one page.
  uint64_t hi = addr;
  if (order > 0) hi = ((addr | ((uint64_t{1} << (11 + order)) - 1)) & bit_mask(63, 12)) | 1;
  const uint16_t pf = pfsid.value_or(sid);
  const uint64_t lo = static_cast<uint64_t>(vtd::QiType::kDeviceTlb) | uint64_t{pf & 0xfu} << 12 |
                      uint64_t{mip} << 16 | uint64_t{sid} << 32 | uint64_t{pf} >> 4 << 52;
  submit_qi(lo, hi);
}

// ---- Interrupt remapping ---------------------------------------------------------------------

void IommuDriver::require_ir(const char* what) const {
  if (!ir_enabled_)
    throw std::logic_error(std::string("iommu driver: ") + what +
                           " before enable_interrupt_remapping()");
}

void IommuDriver::require_irte(uint16_t index, const char* what) const {
  require_ir(what);
  if (index >= irt_entries_ || !irte_used_[index])
    throw std::invalid_argument(std::string("iommu driver: ") + what + ": IRTE " +
                                std::to_string(index) + " is not allocated");
}

void IommuDriver::enable_interrupt_remapping(unsigned irt_entries) {
  require_up("enable_interrupt_remapping");
  if (ir_enabled_) throw std::logic_error("iommu driver: interrupt remapping already enabled");
  if (!bit(ecap_, vtd::EcapFields::kIr))
    throw std::invalid_argument("iommu driver: interrupt remapping not supported (ECAP.IR)");
  if (!queued_)
    throw std::invalid_argument(
        "iommu driver: interrupt remapping needs queued invalidation (the interrupt entry cache "
        "has no register interface); use InvalidationMode::kQueued on a unit with ECAP.QI");
  if (!core::is_pow2(irt_entries) || irt_entries < 2 || irt_entries > kMaxIrtEntries)
    throw std::invalid_argument("iommu driver: IRT size " + std::to_string(irt_entries) +
                                " is not a power of two from 2 to 65536");
  const uint64_t bytes = uint64_t{irt_entries} * kIrteBytes;
  const uint64_t table = pages_.alloc_pages((bytes + kPage - 1) / kPage);
  const uint64_t s = core::log2_floor(irt_entries) - 1;  // 2^(S+1) entries
  write64(vtd::kIrta, table | s);                        // EIME = 0: xAPIC destinations
  irt_ = table;
  irt_entries_ = irt_entries;
  irte_used_.assign(irt_entries, false);
  irte_hint_ = 0;
  gcmd_set(vtd::kGcmdSirtp, "GSTS.IRTPS poll");
  // Linux: a global IEC flush so the unit forgets entries of any earlier table, then IRE.
  invalidate_iec_global();
  gcmd_set(vtd::kGcmdIre, "GSTS.IRES poll");
  ir_enabled_ = true;
}

void IommuDriver::write_irte(uint16_t index, const IrteSpec& spec) {
  const uint64_t lo = uint64_t{1} | uint64_t{spec.fpd} << 1 | uint64_t{spec.logical} << 2 |
                      uint64_t{spec.level} << 4 | uint64_t{spec.delivery_mode} << 5 |
                      uint64_t{spec.vector} << 16 | uint64_t{spec.dest_apic} << 40;  // DST[15:8]
  const uint64_t hi = uint64_t{spec.sid} | uint64_t{spec.sq} << 16 | uint64_t{spec.svt} << 18;
  const uint64_t e = irt_ + kIrteBytes * index;
  // High half first: the entry turns present (or changes its low half) only once it is complete.
  host_.write_u64(e + 8, hi);
  host_.write_u64(e, lo);
}

MsiProgramming IommuDriver::map_interrupt(const IrteSpec& spec, uint16_t* index_out) {
  require_ir("map_interrupt");
  check_irte_spec(spec);
  unsigned index = irte_hint_;
  while (index < irt_entries_ && irte_used_[index]) ++index;
  if (index >= irt_entries_)
    throw std::runtime_error("iommu driver: interrupt remapping table full (" +
                             std::to_string(irt_entries_) + " entries)");
  irte_used_[index] = true;
  irte_hint_ = index + 1;
  const auto handle = static_cast<uint16_t>(index);
  write_irte(handle, spec);
  invalidate_iec_index(handle, 0);
  if (index_out != nullptr) *index_out = handle;
  MsiProgramming msg;
  msg.address = kMsiBase | (uint64_t{handle} & 0x7FFF) << 5 | uint64_t{1} << 4 |
                (uint64_t{handle} >> 15) << 2;
  msg.data = 0;  // SHV = 0: the handle alone selects the entry
  return msg;
}

void IommuDriver::update_interrupt(uint16_t index, const IrteSpec& spec) {
  require_irte(index, "update_interrupt");
  check_irte_spec(spec);
  write_irte(index, spec);
  invalidate_iec_index(index, 0);
}

unsigned IommuDriver::irtes_in_use() const {
  return static_cast<unsigned>(std::count(irte_used_.begin(), irte_used_.end(), true));
}

void IommuDriver::free_interrupt(uint16_t index) {
  require_irte(index, "free_interrupt");
  const uint64_t e = irt_ + kIrteBytes * index;
  host_.write_u64(e, 0);  // P first
  host_.write_u64(e + 8, 0);
  invalidate_iec_index(index, 0);
  irte_used_[index] = false;
  irte_hint_ = std::min<unsigned>(irte_hint_, index);
}

MsiProgramming IommuDriver::compat_message(uint32_t dest_apic, unsigned vector,
                                           unsigned delivery_mode, bool level) {
  if (dest_apic > 0xFF)
    throw std::invalid_argument("iommu driver: compatibility MSI destination above 255");
  if (vector > 0xFF) throw std::invalid_argument("iommu driver: MSI vector above 255");
  if (!delivery_mode_ok(delivery_mode))
    throw std::invalid_argument("iommu driver: MSI delivery mode " + std::to_string(delivery_mode) +
                                " is reserved");
  MsiProgramming msg;
  msg.address = kMsiBase | uint64_t{dest_apic} << 12;  // IF = 0, RH = 0, DM = 0 (physical)
  msg.data = vector | delivery_mode << 8 | uint32_t{level} << 15;
  return msg;
}

void IommuDriver::invalidate_iec_global() {
  require_up("invalidate_iec_global");
  if (!queued_) return;  // no IEC register: register mode cannot invalidate it
  submit_qi(static_cast<uint64_t>(vtd::QiType::kInterruptEntryCache), 0);  // G = 0: global
}

void IommuDriver::invalidate_iec_index(uint16_t index, unsigned im) {
  require_up("invalidate_iec_index");
  if (im > 16) throw std::invalid_argument("iommu driver: IEC IM above 16");
  if ((uint32_t{index} & ((uint32_t{1} << im) - 1)) != 0)
    throw std::invalid_argument("iommu driver: IEC index not aligned to 2^IM");
  if (!queued_) return;
  submit_qi(static_cast<uint64_t>(vtd::QiType::kInterruptEntryCache) | uint64_t{1} << 4 |
                uint64_t{im} << 27 | uint64_t{index} << 32,
            0);
}

// ---- Context entries -------------------------------------------------------------------------

void IommuDriver::attach_device(uint16_t sid, uint16_t did, unsigned aw, unsigned tt, bool fpd) {
  require_up("attach_device");
  const auto sagaw = bits(cap_, vtd::CapFields::kSagawHi, vtd::CapFields::kSagawLo);
  if (aw >= 5 || !bit(sagaw, aw))
    throw std::invalid_argument("iommu driver: AW " + std::to_string(aw) + " not in CAP.SAGAW");
  if (tt > vtd::kTtPassThrough)
    throw std::invalid_argument("iommu driver: TT " + std::to_string(tt) + " is reserved");
  if (tt == vtd::kTtPassThrough && !bit(ecap_, vtd::EcapFields::kPt))
    throw std::invalid_argument("iommu driver: pass-through not supported (ECAP.PT)");
  if (tt == vtd::kTtDeviceTlb && !bit(ecap_, vtd::EcapFields::kDt))
    throw std::invalid_argument("iommu driver: device-TLB not supported (ECAP.DT)");
  if (tt == vtd::kTtDeviceTlb && !queued_)
    throw std::invalid_argument(
        "iommu driver: a device TLB (TT 1) needs queued invalidation (no register interface)");
  const uint64_t nd = bits(cap_, vtd::CapFields::kNdHi, vtd::CapFields::kNdLo);
  if (did >= (uint64_t{1} << (4 + 2 * nd)))
    throw std::invalid_argument("iommu driver: DID " + std::to_string(did) + " beyond CAP.ND");
  if (devices_.count(sid) != 0)
    throw std::invalid_argument("iommu driver: device " + std::to_string(sid) +
                                " already attached; detach it first");
  auto it = domains_.find(did);
  if (it != domains_.end() && it->second.aw != aw)
    throw std::invalid_argument("iommu driver: domain " + std::to_string(did) + " uses AW " +
                                std::to_string(it->second.aw));
  Domain& d = domains_[did];
  d.aw = aw;
  if (tt != vtd::kTtPassThrough && d.top == 0) d.top = pages_.alloc_page();

  const uint64_t root_entry = root_table_ + 16 * uint64_t{static_cast<uint8_t>(sid >> 8)};
  uint64_t ctp;
  const uint64_t root_lo = host_.read_u64(root_entry);
  if (bit(root_lo, 0)) {
    ctp = root_lo & kTableAddr;
  } else {
    ctp = pages_.alloc_page();
    host_.write_u64(root_entry + 8, 0);
    host_.write_u64(root_entry, ctp | 1);
  }
  const uint64_t ce = ctp + 16 * uint64_t{static_cast<uint8_t>(sid & 0xff)};
  // High half first: the entry turns present only once it is complete.
  host_.write_u64(ce + 8, uint64_t{aw} | uint64_t{did} << 8);
  const uint64_t slpt = tt == vtd::kTtPassThrough ? 0 : d.top;
  host_.write_u64(ce, slpt | uint64_t{tt} << 2 | uint64_t{fpd} << 1 | 1);
  devices_[sid] = Device{did, tt, ce};
  invalidate_context_device(sid, did);
}

void IommuDriver::detach_device(uint16_t sid) {
  require_up("detach_device");
  auto it = devices_.find(sid);
  if (it == devices_.end())
    throw std::invalid_argument("iommu driver: device " + std::to_string(sid) + " not attached");
  const Device dev = it->second;
  devices_.erase(it);
  host_.write_u64(dev.context_entry, 0);  // P first
  host_.write_u64(dev.context_entry + 8, 0);
  invalidate_context_device(sid, dev.did);
  invalidate_iotlb_domain(dev.did);
  if (dev.tt == vtd::kTtDeviceTlb) invalidate_device_tlb(sid, 0, kWholeSpaceOrder);
}

// ---- Second-level tables ---------------------------------------------------------------------

IommuDriver::Domain& IommuDriver::domain_with_table(uint16_t did) {
  auto it = domains_.find(did);
  if (it == domains_.end() || it->second.top == 0)
    throw std::invalid_argument("iommu driver: domain " + std::to_string(did) +
                                " has no page table (attach a TT 0/1 device first)");
  return it->second;
}

unsigned IommuDriver::agaw(const Domain& d) const {
  const auto mgaw =
      static_cast<unsigned>(bits(cap_, vtd::CapFields::kMgawHi, vtd::CapFields::kMgawLo) + 1);
  return std::min(30 + 9 * d.aw, mgaw);
}

void IommuDriver::map(uint16_t did, uint64_t iova, uint64_t hpa, uint64_t size, uint64_t page_size,
                      bool read, bool write) {
  require_up("map");
  Domain& d = domain_with_table(did);
  unsigned leaf_level;
  if (page_size == vtd::level_page_bytes(1))
    leaf_level = 1;
  else if (page_size == vtd::level_page_bytes(2))
    leaf_level = 2;
  else if (page_size == vtd::level_page_bytes(3))
    leaf_level = 3;
  else
    throw std::invalid_argument("iommu driver: page size must be 4 KiB, 2 MiB or 1 GiB");
  const auto sllps = bits(cap_, vtd::CapFields::kSllpsHi, vtd::CapFields::kSllpsLo);
  if (leaf_level > 1 && !bit(sllps, leaf_level - 2))
    throw std::invalid_argument("iommu driver: superpage size not supported (CAP.SLLPS)");
  if (leaf_level > d.levels())
    throw std::invalid_argument("iommu driver: superpage larger than the domain's top level");
  if (size == 0 || iova % page_size != 0 || hpa % page_size != 0 || size % page_size != 0)
    throw std::invalid_argument("iommu driver: map range not aligned to the page size");
  if (!read && !write)
    throw std::invalid_argument("iommu driver: a mapping needs R or W (else not present)");
  const uint64_t limit = uint64_t{1} << agaw(d);
  if (iova >= limit || size > limit - iova)
    throw std::invalid_argument("iommu driver: map range beyond the domain's address width");
  if (hpa > kSlAddr || size - 1 > kSlAddr - hpa)
    throw std::invalid_argument("iommu driver: host address beyond 52 bits");
  const uint64_t end = iova + size;

  // Check for overlaps before writing anything, so a refused map leaves the tables as they were.
  for (uint64_t a = iova; a < end;) {
    uint64_t table = d.top;
    for (unsigned level = d.levels();; --level) {
      const uint64_t e = host_.read_u64(entry_addr(table, a, level));
      if (!present(e)) {  // nothing below: skip what this entry would cover
        a = core::align_down(a, vtd::level_page_bytes(level)) + vtd::level_page_bytes(level);
        break;
      }
      if (level == leaf_level || is_leaf(e, level))
        throw std::invalid_argument("iommu driver: map overlaps an existing mapping");
      table = e & kSlAddr;
    }
  }

  const uint64_t leaf_bits = (read ? kSlR : 0) | (write ? kSlW : 0) | (leaf_level > 1 ? kSlPs : 0);
  for (uint64_t a = iova; a < end; a += page_size) {
    uint64_t table = d.top;
    for (unsigned level = d.levels(); level > leaf_level; --level) {
      const uint64_t ea = entry_addr(table, a, level);
      uint64_t e = host_.read_u64(ea);
      if (!present(e)) {
        e = pages_.alloc_page() | kSlR | kSlW;  // permissions are decided at the leaf
        host_.write_u64(ea, e);
      }
      table = e & kSlAddr;
    }
    host_.write_u64(entry_addr(table, a, leaf_level), (hpa + (a - iova)) | leaf_bits);
  }
  // Caching mode: the unit may have cached the not-present entries just replaced.
  if (bit(cap_, vtd::CapFields::kCm)) invalidate_range(did, iova, size);
}

void IommuDriver::unmap(uint16_t did, uint64_t iova, uint64_t size, bool invalidate) {
  require_up("unmap");
  Domain& d = domain_with_table(did);
  if (size == 0 || iova % kPage != 0 || size % kPage != 0)
    throw std::invalid_argument("iommu driver: unmap range not 4 KiB aligned");
  const uint64_t limit = uint64_t{1} << agaw(d);
  if (iova >= limit || size > limit - iova)
    throw std::invalid_argument("iommu driver: unmap range beyond the domain's address width");
  const uint64_t end = iova + size;

  std::vector<uint64_t> leaves;  // collected first: a refused unmap changes nothing
  for (uint64_t a = iova; a < end;) {
    uint64_t table = d.top;
    for (unsigned level = d.levels();; --level) {
      const uint64_t ea = entry_addr(table, a, level);
      const uint64_t e = host_.read_u64(ea);
      const uint64_t span = vtd::level_page_bytes(level);
      const uint64_t base = core::align_down(a, span);
      if (!present(e)) {
        a = base + span;
        break;
      }
      if (is_leaf(e, level)) {
        if (base < iova || span > end - base)
          throw std::invalid_argument("iommu driver: unmap covers part of a superpage");
        leaves.push_back(ea);
        a = base + span;
        break;
      }
      table = e & kSlAddr;
    }
  }
  for (uint64_t ea : leaves) host_.write_u64(ea, 0);
  if (!invalidate) return;
  invalidate_range(did, iova, size);
  invalidate_device_tlbs(did, iova, size);
}

std::optional<uint64_t> IommuDriver::lookup(uint16_t sid, uint64_t iova) {
  require_up("lookup");
  const uint64_t root_lo =
      host_.read_u64(root_table_ + 16 * uint64_t{static_cast<uint8_t>(sid >> 8)});
  if (!bit(root_lo, 0)) return std::nullopt;
  const uint64_t ce = (root_lo & kTableAddr) + 16 * uint64_t{static_cast<uint8_t>(sid & 0xff)};
  const uint64_t lo = host_.read_u64(ce);
  const uint64_t hi = host_.read_u64(ce + 8);
  if (!bit(lo, 0)) return std::nullopt;
  const auto tt = static_cast<unsigned>(bits(lo, 3, 2));
  if (tt == vtd::kTtPassThrough) return iova;
  if (tt > vtd::kTtPassThrough) return std::nullopt;
  Domain shape;
  shape.aw = static_cast<unsigned>(bits(hi, 2, 0));
  if (shape.aw == 0 || shape.aw > 3) return std::nullopt;  // reserved AW: the unit would fault
  if (iova >> agaw(shape) != 0) return std::nullopt;
  uint64_t table = lo & kTableAddr;
  for (unsigned level = shape.levels(); level >= 1; --level) {
    const uint64_t e = host_.read_u64(entry_addr(table, iova, level));
    if (!present(e)) return std::nullopt;
    if (is_leaf(e, level)) {
      const uint64_t span = vtd::level_page_bytes(level);
      return (e & kSlAddr & ~(span - 1)) | (iova & (span - 1));
    }
    table = e & kSlAddr;
  }
  return std::nullopt;
}

}  // namespace iovsim::cpu_stub

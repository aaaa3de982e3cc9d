#include "remapping_unit.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <iovsim/core/event_trace.hpp>
#include <iovsim/core/irq_timing.hpp>
#include <iovsim/core/pcie_ext.hpp>

namespace iovsim::iommu {

using sc_core::sc_time;

namespace {
const core::IntParam kWalkSlots{"iommu.walk_slots", 16, "Page walks in flight at once",
                                core::Range{1, 4096}};
const core::IntParam kMmioBase{"iommu.mmio_base", 0xFED90000,
                               "Physical address of the remapping unit's registers",
                               core::Range{0, double(int64_t{1} << 52)}};
const core::RealParam kMmioLatency{
    "iommu.mmio_latency_ns", 20, "Latency of a CPU access to a register (ns)", core::Range{0, 1e6}};

uint64_t now_ps() {
  return sc_core::sc_time_stamp().value();
}

// The IOTLB entry a successful walk fills: usable from the walk's completion on.
IotlbEntry iotlb_entry(const WalkResult& w, uint16_t sid) {
  IotlbEntry e;
  e.did = w.did;
  e.iova_base = w.iova_base;
  e.hpa_base = w.hpa_base;
  e.page_shift = w.page_shift;
  e.read = w.read;
  e.write = w.write;
  e.sid = sid;
  e.ready_ps = w.done_ps;
  return e;
}

// One source of truth for what the unit supports: the walker obeys the caps the registers report.
RemappingUnitConfig with_walker_caps(RemappingUnitConfig c) {
  c.walker.caps = c.caps;
  return c;
}
}  // namespace

RemappingUnitConfig RemappingUnitConfig::from(const core::Config& c) {
  RemappingUnitConfig r;
  r.caps = IommuCaps::from(c);
  r.iotlb = IotlbConfig::from(c);
  r.walker = WalkerConfig::from(c);
  r.qi = QiTiming::from(c, r.walker.cycle_ps);
  r.ir = IrConfig::from(c);
  r.ir.cycle_ps = r.walker.cycle_ps;
  r.walk_slots = static_cast<unsigned>(kWalkSlots.get(c));
  r.mmio_base = static_cast<uint64_t>(kMmioBase.get(c));
  r.mmio_latency_ns = kMmioLatency.get(c);
  r.capture_path = TranslationCapture::path_from(c);
  return r;
}

// Per-requester statistics, created when a requester is first seen.
struct RemappingUnit::RidStats {
  core::StatGroup group;
  core::Counter& hits;
  core::Counter& misses;
  core::Counter& faults;
  core::Histogram& latency;
  RidStats(const std::string& name, core::StatGroup* parent)
      : group(name, parent),
        hits(group.add_counter("iotlb_hits", "IOTLB hits of this requester")),
        misses(group.add_counter("iotlb_misses", "IOTLB misses of this requester")),
        faults(group.add_counter("faults", "DMA remapping faults of this requester")),
        latency(group.add_histogram("translation_latency_ns",
                                    "This requester's translation latency (ns)")) {}
};

// Host memory as the walker and the invalidation queue see it: timed accesses through mem_out.
class RemappingUnit::MemoryPort : public WalkMemory, public QiMemory {
 public:
  explicit MemoryPort(RemappingUnit& unit) : unit_(unit) {}
  bool read(uint64_t hpa, void* dst, unsigned len, uint64_t* t_ps) override {
    return access(tlm::TLM_READ_COMMAND, hpa, dst, len, t_ps);
  }
  bool write(uint64_t hpa, const void* src, unsigned len, uint64_t* t_ps) override {
    // The invalidation thread makes a status write visible no earlier than its simulated time, so a
    // driver polling the status word sees it when it really happens.
    if (unit_.in_qi_thread_ && *t_ps > now_ps())
      sc_core::wait(sc_time::from_value(*t_ps - now_ps()));
    return access(tlm::TLM_WRITE_COMMAND, hpa, const_cast<void*>(src), len, t_ps);
  }

 private:
  bool access(tlm::tlm_command cmd, uint64_t hpa, void* data, unsigned len, uint64_t* t_ps) {
    tlm::tlm_generic_payload& p = payload_;
    p.set_command(cmd);
    p.set_address(hpa);
    p.set_data_ptr(static_cast<unsigned char*>(data));
    p.set_data_length(len);
    p.set_streaming_width(len);
    p.set_byte_enable_ptr(nullptr);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    const uint64_t now = now_ps();
    sc_time delay = sc_time::from_value(*t_ps > now ? *t_ps - now : 0);
    unit_.mem_out->b_transport(p, delay);
    *t_ps = now + delay.value();
    return p.is_response_ok();
  }
  RemappingUnit& unit_;
  tlm::tlm_generic_payload payload_;
};

RemappingUnit::RemappingUnit(sc_core::sc_module_name name, const RemappingUnitConfig& config,
                             core::StatGroup* parent_stats)
    : sc_module(name),
      config_(with_walker_caps(config)),
      cycle_ps_(config.walker.cycle_ps),
      hit_ps_(config.iotlb.hit_cycles * config.walker.cycle_ps),
      mmio_latency_(config.mmio_latency_ns, sc_core::SC_NS),
      stats_("iommu", parent_stats),
      memory_port_(std::make_unique<MemoryPort>(*this)),
      capture_(config.capture_path),
      walk_slots_(config.walk_slots),
      walks_(stats_.add_counter("walks", "Page walks started (coalesced misses do not start one)")),
      walk_mem_reads_(stats_.add_counter("walk_mem_reads", "Memory reads issued by walks")),
      coalesced_(stats_.add_counter("coalesced_misses",
                                    "IOTLB misses that waited for a walk already in flight")),
      faults_(stats_.add_counter("faults", "DMA remapping and interrupt remapping faults")),
      faults_recorded_(
          stats_.add_counter("faults_recorded", "Faults written to a fault-recording register")),
      interrupt_window_blocked_(stats_.add_counter(
          "interrupt_window_blocked",
          "Requests to the interrupt window that are not DWORD writes: blocked with UR")),
      bypassed_(
          stats_.add_counter("bypassed", "Requests passed untranslated (translation disabled)")),
      prefetch_walks_(
          stats_.add_counter("prefetch_walks", "Walks started by the IOTLB prefetcher")),
      translated_(
          stats_.add_counter("requests", "Requests translated (hits and misses, faults included)")),
      translation_latency_(stats_.add_histogram(
          "translation_latency_ns", "Request arrival at the IOMMU to translation known (ns)")),
      walk_latency_(
          stats_.add_histogram("walk_latency_ns", "Page-walk duration, slot wait excluded (ns)")),
      walk_levels_(stats_.add_histogram("walk_levels", "Paging-structure levels read per walk")),
      reason_stats_("fault_reasons", &stats_),
      rid_group_("by_rid", &stats_) {
  RegisterHooks hooks;
  hooks.set_root_table = [this](uint64_t rtaddr) { walker_->set_root_table(rtaddr); };
  hooks.translation_enable = [this](bool on) {
    log_.info("translation ", on ? "enabled" : "disabled");
  };
  hooks.invalidate_context = [this](vtd::Granularity g, uint16_t did, uint16_t sid, unsigned fm) {
    invalidate_context(g, did, sid, fm);
  };
  hooks.invalidate_iotlb = [this](vtd::Granularity g, uint16_t did, uint64_t addr, unsigned am,
                                  bool ih) { invalidate_iotlb(g, did, addr, am, ih); };
  hooks.queue_tail_written = [this] { queue_tail_written(); };
  hooks.send_msi = [this](uint64_t addr, uint32_t data) { send_msi(addr, data); };
  hooks.set_irt = [this](uint64_t irta) { ir_->set_irt(irta); };
  hooks.ir_enable = [this](bool on) { ir_->set_enabled(on); };
  regs_ = std::make_unique<RegisterFile>(config_.caps, hooks, &stats_);
  iotlb_ = std::make_unique<Iotlb>(config.iotlb, &stats_);
  hits_ = &iotlb_->stats().add_counter("hits", "IOTLB lookups that hit");
  misses_ = &iotlb_->stats().add_counter("misses",
                                         "IOTLB lookups that missed (coalesced misses included)");
  iotlb_->stats().add_formula("hit_rate", "hits / (hits + misses)", [this] {
    return core::ratio(double(hits_->value), double(hits_->value + misses_->value));
  });
  walker_ = std::make_unique<PageWalker>(config_.walker, *memory_port_, &stats_);
  {
    IrConfig ir_cfg = config_.ir;
    ir_cfg.seed = config_.iotlb.seed;
    ir_ = std::make_unique<InterruptRemapper>(ir_cfg, config_.caps, *memory_port_, &stats_);
  }
  QiHooks qi_hooks;
  qi_hooks.invalidate_context = hooks.invalidate_context;
  qi_hooks.invalidate_iotlb = hooks.invalidate_iotlb;
  qi_hooks.invalidate_iec = [this](bool global, uint16_t index, unsigned im) {
    if (global)
      ir_->invalidate_all();
    else
      ir_->invalidate_index(index, im);
  };
  ats_ = std::make_unique<AtsService>(
      [this](uint16_t sid, uint8_t itag, uint64_t body, uint64_t t) {
        return send_invalidate_request(sid, itag, body, t);
      },
      [this](uint64_t done) { device_tlb_completed(done); }, &stats_);
  qi_hooks.invalidate_device_tlb = [this](uint16_t sid, uint64_t addr, bool s, uint64_t t) {
    return ats_->invalidate(sid, addr, s, t);
  };
  qi_hooks.wait_stalled = [this](uint64_t stall) { ats_->wait_stalled(stall); };
  qi_ = std::make_unique<InvalidationQueue>(*regs_, *memory_port_, qi_hooks, config_.qi, &stats_);
  prefetcher_ = PrefetcherRegistry::instance().create(config.iotlb.prefetcher, config.iotlb.seed);
  for (unsigned r : {0x1u, 0x2u, 0x3u, 0x4u,  0x5u,  0x6u,  0x7u,  0x8u,  0x9u,  0xAu,
                     0xBu, 0xCu, 0xDu, 0x20u, 0x21u, 0x22u, 0x23u, 0x24u, 0x25u, 0x26u}) {
    char name[8];
    std::snprintf(name, sizeof name, "0x%x", r);
    reason_counters_[r] = &reason_stats_.add_counter(name, "Faults with this reason");
  }
  stats_.add_formula("walk_slot_utilization",
                     "Busy fraction of the walker slots over the simulated time",
                     [this] { return walk_slots_.occupancy(sc_core::sc_time_stamp()); });

  dma_in.register_b_transport(this, &RemappingUnit::dma_transport);
  msi_in.register_b_transport(this, &RemappingUnit::msi_transport);
  ats_in.register_b_transport(this, &RemappingUnit::ats_transport);
  mmio.register_b_transport(this, &RemappingUnit::mmio_transport);
  mmio.register_transport_dbg(this, &RemappingUnit::mmio_debug);
  SC_THREAD(qi_thread);
}

RemappingUnit::~RemappingUnit() = default;

RemappingUnit::RidStats& RemappingUnit::rid_stats(uint16_t sid) {
  // DMA comes in long runs from one requester: remember the last one (RidStats never move or go).
  if (last_rid_stats_ && last_rid_sid_ == sid) return *last_rid_stats_;
  auto& slot = rid_stats_[sid];
  if (!slot) {
    char name[8];
    std::snprintf(name, sizeof name, "%04x", sid);
    slot = std::make_unique<RidStats>(name, &rid_group_);
  }
  last_rid_sid_ = sid;
  last_rid_stats_ = slot.get();
  return *slot;
}

// ---- DMA path -----------------------------------------------------------------------------------

void RemappingUnit::dma_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  const uint64_t now = now_ps();
  const uint64_t arrival = now + delay.value();
  auto* ext = p.get_extension<core::PcieExtension>();
  const uint16_t sid = ext ? ext->requester_id : 0;
  const core::AddressType at = ext ? ext->at : core::AddressType::kUntranslated;
  const uint64_t iova = p.get_address();
  const unsigned len = p.get_data_length();
  const bool write = p.is_write();

  // ATS requests are served apart (remapping_unit_ats.cpp): a translation request is not a
  // memory access, and a translated one is already a host address.
  if (at == core::AddressType::kTranslationRequest) return translation_request(p, delay);
  if (!regs_->translation_enabled()) {
    ++bypassed_;
    if (capture_.enabled())
      capture_.row(arrival, arrival, sid, iova, len, write, iova, "bypass", 0);
    mem_out->b_transport(p, delay);
    return;
  }
  if (at == core::AddressType::kTranslated) return translated_request(p, delay);

  // A request is translated page by page (one translation when it stays in a page, the usual case);
  // each piece goes to memory as soon as its translation is known.
  unsigned char* data = p.get_data_ptr();
  uint64_t done_all = arrival, offset = 0;
  while (offset < len) {
    Translation t = translate(sid, iova + offset, write, at, arrival);
    const unsigned piece = static_cast<unsigned>(
        std::min<uint64_t>(len - offset, std::max<uint64_t>(t.bytes_left, 1)));
    ++translated_;
    translation_latency_.record(double(t.done_ps - arrival) / 1000.0);
    rid_stats(sid).latency.record(double(t.done_ps - arrival) / 1000.0);
    if (capture_.enabled())
      capture_.row(arrival, t.done_ps, sid, iova + offset, piece, write, t.hpa, t.iotlb,
                   static_cast<unsigned>(t.fault));
    if (!t.ok) {
      // Blocked: a read completes with UR, a write is dropped; either way nothing reaches memory.
      if (ext) ext->status = core::CompletionStatus::kUR;
      p.set_address(iova);
      p.set_data_ptr(data);
      p.set_data_length(len);
      p.set_streaming_width(len);
      p.set_response_status(write ? tlm::TLM_OK_RESPONSE : tlm::TLM_ADDRESS_ERROR_RESPONSE);
      delay = sc_time::from_value(std::max(done_all, t.done_ps) - now);
      return;
    }
    p.set_address(t.hpa);
    p.set_data_ptr(data + offset);
    p.set_data_length(piece);
    p.set_streaming_width(piece);
    sc_time d = sc_time::from_value(t.done_ps - now);
    mem_out->b_transport(p, d);
    done_all = std::max<uint64_t>(done_all, now + d.value());
    if (!p.is_response_ok()) break;
    offset += piece;
  }
  const tlm::tlm_response_status status = p.get_response_status();
  p.set_address(iova);  // the device sees its own request back
  p.set_data_ptr(data);
  p.set_data_length(len);
  p.set_streaming_width(len);
  p.set_response_status(status);
  delay = sc_time::from_value(done_all - now);
}

RemappingUnit::Translation RemappingUnit::translate(uint16_t sid, uint64_t iova, bool write,
                                                    core::AddressType at, uint64_t arrival) {
  uint64_t t = arrival + hit_ps_;
  RidStats& rs = rid_stats(sid);
  // The IOTLB is tagged by domain: the context-cache lookup that yields it runs alongside the IOTLB
  // lookup. Without a cached context the root and context entries are read first and the IOTLB is
  // looked up with their domain; only a miss there walks. A context that faults is left to the
  // walk, which reports it. A translation request needs a context that allows ATS (TT = 1).
  const bool translation_request = at == core::AddressType::kTranslationRequest;
  auto ctx = walker_->cached_context(sid);
  bool fetched = false;
  if (!ctx) {
    const auto f = walker_->fetch_context(sid, arrival);
    if (f.domain) {
      ctx = f.domain;
      fetched = true;
      walk_mem_reads_ += f.mem_reads;
      t = std::max(t, f.done_ps);
    }
  }
  if (ctx && translation_request && ctx->tt != vtd::kTtDeviceTlb) {
    Translation r;
    r.done_ps = t;
    r.fault = vtd::FaultReason::kBlockedByTt;
    fault(sid, iova, write, r.fault, !(ctx->fpd && vtd::fpd_suppresses(r.fault)));
    return r;
  }
  if (ctx) {
    if (const IotlbEntry* e = iotlb_->lookup(ctx->did, iova)) {
      Translation r;
      if (e->ready_ps <= arrival) {
        ++*hits_;
        ++rs.hits;
        r.iotlb = "hit";
        r.done_ps = t;
      } else {
        // The walk that fills this entry is still in flight: wait for it rather than walk again.
        ++*misses_;
        ++rs.misses;
        ++coalesced_;
        r.done_ps = std::max(t, e->ready_ps);
      }
      const uint64_t page_bytes = uint64_t{1} << e->page_shift;
      r.bytes_left = page_bytes - (iova & (page_bytes - 1));
      r.hpa = e->translate(iova);
      r.page_shift = e->page_shift;
      r.read = e->read;
      r.write = e->write;
      // A translation request is answered with the permissions, whatever they are.
      if (!translation_request && ((write && !e->write) || (!write && !e->read))) {
        r.fault = write ? vtd::FaultReason::kWriteDenied : vtd::FaultReason::kReadDenied;
        fault(sid, iova, write, r.fault, !(ctx->fpd && vtd::fpd_suppresses(r.fault)));
        return r;
      }
      r.ok = true;
      return r;
    }
  }
  ++*misses_;
  ++rs.misses;
  return walk(sid, iova, write, at, t, fetched);
}

RemappingUnit::Translation RemappingUnit::walk(uint16_t sid, uint64_t iova, bool write,
                                               core::AddressType at, uint64_t t,
                                               bool context_fetched) {
  const uint64_t start = walk_slots_.next_start(sc_time::from_value(t)).value();
  TranslationRequest req;
  req.sid = sid;
  req.iova = iova;
  req.write = write;
  req.at = at;
  req.context_fetched = context_fetched;
  WalkResult w = walker_->translate(req, start);
  walk_slots_.acquire(sc_time::from_value(t), sc_time::from_value(w.done_ps - start));
  ++walks_;
  walk_mem_reads_ += w.mem_reads;
  walk_latency_.record(double(w.done_ps - start) / 1000.0);
  walk_levels_.record(w.levels);
  if (auto* tl = core::EventTrace::active())
    tl->slice("iommu", "walk", "walk", "walk", start, w.done_ps,
              core::EventArgs().rid(sid).hex("iova", iova).num("mem_reads", w.mem_reads));

  Translation r;
  r.done_ps = w.done_ps;
  r.bytes_left = 4096 - (iova & 4095);
  if (w.fault != vtd::FaultReason::kNone) {
    r.fault = w.fault;
    fault(sid, iova, write, w.fault, w.record_fault);
    return r;
  }
  r.read = w.read;
  r.write = w.write;
  r.ok = true;
  // A translation request for an address without a translation (R = W = 0) is answered, not
  // faulted; nothing is cached for it.
  if (!w.read && !w.write) return r;
  iotlb_->insert(iotlb_entry(w, sid));
  const uint64_t page_bytes = uint64_t{1} << w.page_shift;
  r.bytes_left = page_bytes - (iova & (page_bytes - 1));
  r.page_shift = w.page_shift;
  r.hpa = w.hpa;
  prefetch(sid, w.did, iova, t);
  return r;
}

void RemappingUnit::prefetch(uint16_t sid, uint16_t did, uint64_t iova, uint64_t t) {
  if (!prefetcher_) return;
  prefetch_list_.clear();
  prefetcher_->on_miss(sid, did, iova, prefetch_list_);
  for (uint64_t target : prefetch_list_) {
    if (iotlb_->lookup(did, target)) continue;
    const uint64_t start = walk_slots_.next_start(sc_time::from_value(t)).value();
    TranslationRequest req;
    req.sid = sid;
    req.iova = target;
    WalkResult w = walker_->translate(req, start);
    walk_slots_.acquire(sc_time::from_value(t), sc_time::from_value(w.done_ps - start));
    ++prefetch_walks_;
    walk_mem_reads_ += w.mem_reads;
    if (w.fault != vtd::FaultReason::kNone) continue;  // speculative: nothing recorded
    iotlb_->insert(iotlb_entry(w, sid));
  }
}

void RemappingUnit::fault(uint16_t sid, uint64_t iova, bool write, vtd::FaultReason reason,
                          bool record) {
  ++faults_;
  ++rid_stats(sid).faults;
  auto it = reason_counters_.find(static_cast<unsigned>(reason));
  if (it != reason_counters_.end()) ++*it->second;
  log_.debug("fault 0x", std::hex, static_cast<unsigned>(reason), " for ", core::format_rid(sid),
             " at 0x", iova, std::dec, record ? "" : " (not recorded: FPD)");
  if (record && regs_->record_fault(sid, iova, reason, !write)) ++faults_recorded_;
}

// ---- Interrupt path
// ------------------------------------------------------------------------------

void RemappingUnit::deliver(tlm::tlm_generic_payload& p, sc_time& delay) {
  if (irq_out.size() == 0) {
    log_.warn("interrupt to 0x", std::hex, p.get_address(), std::dec,
              " dropped: irq_out is not bound");
    p.set_response_status(tlm::TLM_OK_RESPONSE);
    return;
  }
  irq_out->b_transport(p, delay);
}

void RemappingUnit::msi_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  const uint64_t now = now_ps();
  const uint64_t arrival = now + delay.value();
  if (!p.is_write() || p.get_data_length() != 4) {
    // Only a DWORD write is an interrupt request; anything else there is refused (UR).
    ++interrupt_window_blocked_;
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  auto* ext = p.get_extension<core::PcieExtension>();
  InterruptRequest req;
  req.sid = ext ? ext->requester_id : 0;
  req.address = p.get_address();
  std::memcpy(&req.data, p.get_data_ptr(), 4);
  if (!ir_->enabled())
    return deliver(p, delay);  // IR off: compatibility-format MSIs go straight on

  ir_->set_cfi(regs_->cfi_enabled());
  const RemappedInterrupt r = ir_->remap(req, arrival);
  auto* timing = p.get_extension<core::IrqTiming>();
  if (timing) {
    timing->remap_in_ps = arrival;
    timing->remap_done_ps = r.done_ps;
  }
  p.set_response_status(
      tlm::TLM_OK_RESPONSE);  // a posted write: the device sees nothing either way
  if (r.fault != vtd::FaultReason::kNone) {
    // Interrupt faults record the interrupt index in FI[63:48]; the message is dropped.
    ++faults_;
    auto it = reason_counters_.find(static_cast<unsigned>(r.fault));
    if (it != reason_counters_.end()) ++*it->second;
    log_.debug("interrupt fault 0x", std::hex, static_cast<unsigned>(r.fault), " from ",
               core::format_rid(req.sid), " index 0x", r.index, std::dec);
    if (r.record_fault && regs_->record_fault(req.sid, uint64_t{r.index} << 48, r.fault, false))
      ++faults_recorded_;
    return;
  }
  if (r.posted) return;  // posted-interrupt IRTEs are recognised and dropped (ir.posted_dropped)
  if (r.compatibility) {
    delay = sc_time::from_value(r.done_ps - now);
    return deliver(p, delay);
  }
  // The remapped interrupt, in compatibility format, to the interrupt controller.
  const uint64_t addr = 0xFEE00000ull | (uint64_t{r.destination & 0xff} << 12) |
                        (uint64_t{r.redirection_hint} << 3) | (uint64_t{r.dest_logical} << 2);
  const uint32_t data =
      static_cast<uint32_t>(r.vector | (r.delivery_mode << 8) | (uint32_t{r.level} << 15));
  const uint64_t original_addr = p.get_address();
  uint32_t original_data;
  std::memcpy(&original_data, p.get_data_ptr(), 4);
  p.set_address(addr);
  std::memcpy(p.get_data_ptr(), &data, 4);
  delay = sc_time::from_value(r.done_ps - now);
  deliver(p, delay);
  p.set_address(original_addr);
  std::memcpy(p.get_data_ptr(), &original_data, 4);
}

// ---- Invalidation
// ---------------------------------------------------------------------------------

void RemappingUnit::invalidate_context(vtd::Granularity g, uint16_t did, uint16_t sid,
                                       unsigned fm) {
  switch (g) {
    case vtd::Granularity::kGlobal:
      walker_->invalidate_context_all();
      break;
    case vtd::Granularity::kDomain:
      walker_->invalidate_context_domain(did);
      break;
    case vtd::Granularity::kDeviceOrPage:
      walker_->invalidate_context_device(sid, fm);
      break;
    default:
      break;
  }
}

void RemappingUnit::invalidate_iotlb(vtd::Granularity g, uint16_t did, uint64_t addr, unsigned am,
                                     bool ih) {
  switch (g) {
    case vtd::Granularity::kGlobal:
      iotlb_->invalidate_all();
      walker_->invalidate_psc_all();
      break;
    case vtd::Granularity::kDomain:
      iotlb_->invalidate_domain(did);
      walker_->invalidate_psc_domain(did);
      break;
    case vtd::Granularity::kDeviceOrPage:
      iotlb_->invalidate_pages(did, addr, am);
      // IH = 1: software says only leaves changed, so the paging-structure caches may stay.
      if (!ih) walker_->invalidate_psc_pages(did, addr, am);
      break;
    default:
      break;
  }
}

void RemappingUnit::queue_tail_written() {
  if (!sc_core::sc_is_running()) {
    // Bring-up before simulation starts: process at once, untimed.
    qi_->process(now_ps());
    return;
  }
  qi_pending_ = true;
  qi_event_.notify(sc_core::SC_ZERO_TIME);
}

void RemappingUnit::qi_thread() {
  for (;;) {
    while (!qi_pending_) sc_core::wait(qi_event_);
    qi_pending_ = false;
    in_qi_thread_ = true;
    const uint64_t done = qi_->process(now_ps());
    in_qi_thread_ = false;
    if (done > now_ps()) sc_core::wait(sc_time::from_value(done - now_ps()));
  }
}

void RemappingUnit::send_msi(uint64_t addr, uint32_t data) {
  if (msi_out.size() == 0) {
    log_.warn("interrupt message to 0x", std::hex, addr, " dropped: msi_out is not bound");
    return;
  }
  tlm::tlm_generic_payload p;
  p.set_command(tlm::TLM_WRITE_COMMAND);
  p.set_address(addr);
  p.set_data_ptr(reinterpret_cast<unsigned char*>(&data));
  p.set_data_length(4);
  p.set_streaming_width(4);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_time delay = sc_core::SC_ZERO_TIME;
  msi_out->b_transport(p, delay);
}

// ---- Registers
// -----------------------------------------------------------------------------------

void RemappingUnit::mmio_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  const uint64_t addr = p.get_address();
  const unsigned len = p.get_data_length();
  if (addr < config_.mmio_base || addr + len > config_.mmio_base + vtd::kMmioSize ||
      (len != 4 && len != 8) || (addr & (len - 1)) != 0) {
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  const uint32_t offset = static_cast<uint32_t>(addr - config_.mmio_base);
  delay += mmio_latency_;
  uint64_t v = 0;
  if (p.is_read()) {
    v = regs_->read(offset, len);
    std::memcpy(p.get_data_ptr(), &v, len);
  } else if (p.is_write()) {
    std::memcpy(&v, p.get_data_ptr(), len);
    regs_->write(offset, len, v);
  }
  p.set_response_status(tlm::TLM_OK_RESPONSE);
}

unsigned int RemappingUnit::mmio_debug(tlm::tlm_generic_payload& p) {
  // Debug reads only: register reads have no side effects; writes would, so they are refused.
  const uint64_t addr = p.get_address();
  const unsigned len = p.get_data_length();
  if (!p.is_read() || addr < config_.mmio_base || addr + len > config_.mmio_base + vtd::kMmioSize ||
      (len != 4 && len != 8))
    return 0;
  uint64_t v = regs_->read(static_cast<uint32_t>(addr - config_.mmio_base), len);
  std::memcpy(p.get_data_ptr(), &v, len);
  return len;
}

}  // namespace iovsim::iommu

// The VT-d DMA-remapping unit as a SystemC module: the thin shell around the plain C++ parts
// (register file, IOTLB, page walker with its context and paging-structure caches, invalidation
// queue).
//
//   dma_in   upstream DMA from the root complex (PCIe extension: requester id, AT)
//   mem_out  to host memory: translated DMA, and the walker's and invalidation queue's own
//   reads/writes mmio     register accesses from the CPU (absolute addresses; the page at
//   mmio_base) msi_out  fault-event and invalidation-completion MSIs, upstream to the interrupt
//   controller
//
//   ats_out  (optional) ATS Invalidate Request messages, routed by ID by the root complex to the
//            device (device-TLB invalidation descriptors)
//   ats_in   (optional) ATS Invalidate Completion messages from devices, from the root complex
//
// ATS (remapping_unit_ats.cpp): translation requests (AT = 01) from a context with TT = 1 are
// answered with translation completion entries; translated requests (AT = 10) go to memory
// without IOTLB lookup or walk; both fault 0xD with TT != 1.
//
// Timing: an IOTLB lookup costs iotlb.hit_cycles; a miss walks on one of walk_slots walker slots (a
// contention timeline), every table read a timed access through mem_out. A miss to a page whose
// walk is still in flight waits for that walk (a coalesced miss) instead of walking again. Faulting
// requests are blocked: reads complete with UR, writes are dropped (the PCIe extension carries UR
// either way, so statistics can see them); the fault is recorded in the FRCD registers unless FPD
// suppresses it.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <systemc>
#include <tlm>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/core/timeline.hpp>

#include "ats_service.hpp"
#include "caps.hpp"
#include "interrupt_remapping.hpp"
#include "invalidation_queue.hpp"
#include "iotlb.hpp"
#include "page_walker.hpp"
#include "prefetcher.hpp"
#include "register_file.hpp"
#include "translation_capture.hpp"
#include "vtd_format.hpp"
#include "walk_memory.hpp"

namespace iovsim::iommu {

struct RemappingUnitConfig {
  IommuCaps caps;
  IotlbConfig iotlb;
  WalkerConfig walker;
  QiTiming qi;
  IrConfig ir;
  unsigned walk_slots = 16;
  uint64_t mmio_base = 0xFED90000;
  double mmio_latency_ns = 20;
  std::string capture_path;  // trace.capture

  // Reads iommu.*, trace.capture. The IOTLB's random-policy seed is set by the caller (the `seed`
  // parameter).
  static RemappingUnitConfig from(const core::Config& config);
};

class RemappingUnit : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<RemappingUnit> dma_in{"dma_in"};
  tlm_utils::simple_initiator_socket<RemappingUnit> mem_out{"mem_out"};
  tlm_utils::simple_target_socket<RemappingUnit> mmio{"mmio"};
  tlm_utils::simple_initiator_socket_optional<RemappingUnit> msi_out{"msi_out"};
  // Interrupt remapping: device MSI writes in (from the root complex's interrupt window), remapped
  // compatibility-format interrupts out to the interrupt controller.
  tlm_utils::simple_target_socket_optional<RemappingUnit> msi_in{"msi_in"};
  tlm_utils::simple_initiator_socket_optional<RemappingUnit> irq_out{"irq_out"};
  // ATS invalidation messages: requests out to the root complex, completions in from it.
  tlm_utils::simple_initiator_socket_optional<RemappingUnit> ats_out{"ats_out"};
  tlm_utils::simple_target_socket_optional<RemappingUnit> ats_in{"ats_in"};

  RemappingUnit(sc_core::sc_module_name name, const RemappingUnitConfig& config,
                core::StatGroup* parent_stats);
  ~RemappingUnit() override;

  const RemappingUnitConfig& config() const { return config_; }
  RegisterFile& registers() { return *regs_; }
  Iotlb& iotlb() { return *iotlb_; }
  PageWalker& walker() { return *walker_; }
  InterruptRemapper& interrupt_remapper() { return *ir_; }
  AtsService& ats() { return *ats_; }

 private:
  SC_HAS_PROCESS(RemappingUnit);

  struct Translation {
    bool ok = false;
    uint64_t hpa = 0;
    uint64_t bytes_left = 0;           // bytes from iova to the end of its page
    unsigned page_shift = 12;          // the page (or superpage) holding iova
    bool read = false, write = false;  // its permissions (a translation request's answer)
    uint64_t done_ps = 0;
    const char* iotlb = "miss";
    vtd::FaultReason fault = vtd::FaultReason::kNone;
  };
  struct RidStats;
  class MemoryPort;

  void dma_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  void msi_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  void deliver(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  void mmio_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  // ATS (remapping_unit_ats.cpp).
  void translation_request(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  void translated_request(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  void ats_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay);
  bool send_invalidate_request(uint16_t sid, uint8_t itag, uint64_t body, uint64_t t_ps);
  void device_tlb_completed(uint64_t done_ps);
  unsigned int mmio_debug(tlm::tlm_generic_payload& p);
  Translation translate(uint16_t sid, uint64_t iova, bool write, core::AddressType at,
                        uint64_t arrival_ps);
  Translation walk(uint16_t sid, uint64_t iova, bool write, core::AddressType at, uint64_t t_ps,
                   bool context_fetched = false);
  void prefetch(uint16_t sid, uint16_t did, uint64_t iova, uint64_t t_ps);
  void fault(uint16_t sid, uint64_t iova, bool write, vtd::FaultReason reason, bool record);
  void invalidate_context(vtd::Granularity g, uint16_t did, uint16_t sid, unsigned fm);
  void invalidate_iotlb(vtd::Granularity g, uint16_t did, uint64_t addr, unsigned am, bool ih);
  void send_msi(uint64_t addr, uint32_t data);
  void queue_tail_written();
  void qi_thread();
  RidStats& rid_stats(uint16_t sid);

  RemappingUnitConfig config_;
  uint64_t cycle_ps_;
  uint64_t hit_ps_;
  sc_core::sc_time mmio_latency_;
  core::Logger log_{"iommu"};
  core::StatGroup stats_;
  std::unique_ptr<MemoryPort> memory_port_;
  std::unique_ptr<RegisterFile> regs_;
  std::unique_ptr<Iotlb> iotlb_;
  std::unique_ptr<PageWalker> walker_;
  std::unique_ptr<InvalidationQueue> qi_;
  std::unique_ptr<InterruptRemapper> ir_;
  std::unique_ptr<IotlbPrefetcher> prefetcher_;
  std::unique_ptr<AtsService> ats_;
  TranslationCapture capture_;
  core::Timeline walk_slots_;
  std::unordered_map<uint16_t, std::unique_ptr<RidStats>> rid_stats_;
  uint16_t last_rid_sid_ = 0;  // the last rid_stats() requester, and its stats (null: none yet)
  RidStats* last_rid_stats_ = nullptr;
  sc_core::sc_event qi_event_;
  bool qi_pending_ = false;
  bool in_qi_thread_ = false;
  std::vector<uint64_t> prefetch_list_;

  core::Counter* hits_;
  core::Counter* misses_;
  core::Counter& walks_;
  core::Counter& walk_mem_reads_;
  core::Counter& coalesced_;
  core::Counter& faults_;
  core::Counter& faults_recorded_;
  core::Counter& interrupt_window_blocked_;
  core::Counter& bypassed_;
  core::Counter& prefetch_walks_;
  core::Counter& translated_;
  core::Histogram& translation_latency_;
  core::Histogram& walk_latency_;
  core::Histogram& walk_levels_;
  core::StatGroup reason_stats_;
  core::StatGroup rid_group_;
  std::unordered_map<unsigned, core::Counter*> reason_counters_;
};

}  // namespace iovsim::iommu

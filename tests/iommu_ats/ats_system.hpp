// A small machine for end-to-end ATS tests, run with sc_start: host memory, the remapping unit,
// the root complex with one root port, a link, and below it a test device with an ATS translation
// cache; the CPU stub's driver runs in a host thread. The device is written here from the
// device-side helpers only (pcie/ats_*.hpp): it translates through the IOMMU, keeps the answers,
// issues translated requests that stay outstanding until they complete, and handles
// Invalidate Requests as a function must (drop the range, complete once the translated requests
// issued before have completed) in either of the tracker's ways: loosely timed (the completion is
// sent at once, annotated with the time it is due) or event driven (the request is handled at its
// arrival time; a deferred completion leaves when the last earlier request completes).
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <vector>

#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <catch2/catch.hpp>
#include <systemc>
#include <tlm>

#include <iovsim/core/ats_format.hpp>
#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/core/stats.hpp>
#include <iovsim/cpu_stub/cpu_port.hpp>
#include <iovsim/cpu_stub/iommu_driver.hpp>
#include <iovsim/cpu_stub/page_allocator.hpp>
#include <iovsim/iommu/remapping_unit.hpp>
#include <iovsim/memory/host_memory.hpp>
#include <iovsim/pcie/ats_cache.hpp>
#include <iovsim/pcie/ats_invalidation.hpp>
#include <iovsim/pcie/ats_messages.hpp>
#include <iovsim/pcie/link.hpp>
#include <iovsim/pcie/root_complex.hpp>

namespace iovsim::test {

inline uint64_t now_ps() {
  return sc_core::sc_time_stamp().value();
}

// Between the IOMMU and memory: records the IOMMU's 4-byte writes (the invalidation queue's status
// writes) and when they reach memory.
struct MemoryTap : sc_core::sc_module {
  tlm_utils::simple_target_socket<MemoryTap> in{"in"};
  tlm_utils::simple_initiator_socket<MemoryTap> out{"out"};
  std::vector<std::pair<uint64_t, uint64_t>> status_writes;  // (address, time)
  explicit MemoryTap(sc_core::sc_module_name n) : sc_module(n) {
    in.register_b_transport(this, &MemoryTap::transport);
  }
  void transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay) {
    if (p.is_write() && p.get_data_length() == 4)
      status_writes.emplace_back(p.get_address(), now_ps() + delay.value());
    out->b_transport(p, delay);
  }
};

class AtsDevice : public sc_core::sc_module {
 public:
  static constexpr uint16_t kRid = 0x0100;  // 01:00.0, below root port 0
  tlm_utils::simple_initiator_socket<AtsDevice> dma{"dma"};
  tlm_utils::simple_target_socket<AtsDevice> pcie_in{"pcie_in"};

  core::StatGroup stats;  // "atc", the device's translation cache
  pcie::AtsCache cache{pcie::AtsCacheConfig{16, "lru", 1}, &stats};
  pcie::AtsInvalidationTracker tracker;
  std::function<void(AtsDevice&)> script;
  enum class Mode { kTimed, kEvent, kSilent };  // kSilent: never completes an invalidation
  Mode mode = Mode::kTimed;

  struct Arrival {
    uint64_t t_ps = 0;
    core::ats::Range range;
    unsigned outstanding = 0;  // translated requests in flight when it arrived
    bool deferred = false;
  };
  std::vector<Arrival> arrivals;
  std::vector<uint64_t> completions_sent;  // when each Invalidate Completion left the device
  uint64_t last_done_ps = 0;               // the last translated request's completion

  AtsDevice(sc_core::sc_module_name n, core::StatGroup* parent)
      : sc_module(n), stats("atc", parent) {
    pcie_in.register_b_transport(this, &AtsDevice::transport);
    SC_THREAD(run);
    SC_THREAD(invalidations);
  }

  // A translation request for the page holding iova; waits for the completion, caches the entry.
  core::ats::TranslationEntry translate(uint64_t iova) {
    uint8_t data[8] = {};
    tlm::tlm_generic_payload p;
    core::PcieExtension ext;
    pcie::make_translation_request(p, ext, kRid, iova, data);
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    dma->b_transport(p, d);
    wait(d);
    const auto entries = pcie::parse_translation_completion(p);
    p.clear_extension(&ext);
    CHECK(entries.size() == 1);
    if (entries.empty()) return {};
    cache.insert(iova, entries[0]);
    return entries[0];
  }

  // `count` translated reads or writes of `bytes` at the cached translation of iova, issued back
  // to back now; each stays outstanding until drain() reaches its completion time.
  void access_translated(uint64_t iova, unsigned bytes, unsigned count, bool write) {
    const auto t = cache.lookup(iova, write);
    CHECK(t.has_value());
    if (!t) return;
    buffer_.resize(bytes);
    for (unsigned i = 0; i < count; ++i) {
      const uint64_t ticket = tracker.on_translated_issue(kRid);
      tlm::tlm_generic_payload p;
      core::PcieExtension ext;
      ext.requester_id = kRid;
      ext.at = core::AddressType::kTranslated;
      p.set_extension(&ext);
      ext.posted = write;
      p.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
      p.set_address(t->translate(iova));
      p.set_data_ptr(buffer_.data());
      p.set_data_length(bytes);
      p.set_streaming_width(bytes);
      p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
      sc_core::sc_time d = sc_core::SC_ZERO_TIME;
      dma->b_transport(p, d);
      CHECK(p.is_response_ok());
      p.clear_extension(&ext);
      tracker.on_translated(kRid, now_ps() + d.value());
      in_flight_.push_back({now_ps() + d.value(), ticket});
    }
  }

  // Lets time pass to each outstanding read's completion; sends the invalidation completions that
  // become due.
  void drain() {
    std::sort(in_flight_.begin(), in_flight_.end(),
              [](const InFlight& a, const InFlight& b) { return a.done_ps < b.done_ps; });
    for (const InFlight& f : in_flight_) {
      if (f.done_ps > now_ps()) wait(sc_core::sc_time::from_value(f.done_ps - now_ps()));
      last_done_ps = f.done_ps;
      for (const pcie::InvalidateCompletion& c : tracker.on_translated_done(kRid, f.ticket))
        send_completion(c, now_ps());
    }
    in_flight_.clear();
  }

 private:
  SC_HAS_PROCESS(AtsDevice);
  struct InFlight {
    uint64_t done_ps, ticket;
  };

  void run() {
    if (script) script(*this);
  }

  void transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay) {
    const auto r = pcie::parse_invalidate_request(p);
    if (!r || r->function != kRid) {
      p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
      return;
    }
    p.set_response_status(tlm::TLM_OK_RESPONSE);
    const uint64_t at = now_ps() + delay.value();
    cache.invalidate(r->range);  // from now on nothing uses the range
    if (mode == Mode::kEvent) {
      // Handled when simulated time reaches its arrival.
      queued_.push_back({*r, at});
      arrived_.notify(delay);
      return;
    }
    arrivals.push_back({at, r->range, tracker.outstanding(kRid), false});
    if (mode == Mode::kSilent) return;
    // Loosely timed: the completion goes back at once, inside this call, annotated with the time
    // the earlier reads have all completed.
    const uint64_t due = tracker.completion_time(kRid, at);
    arrivals.back().deferred = due > at;
    send_completion(pcie::InvalidateCompletion{kRid, r->requester, 1u << r->itag}, due);
  }

  void invalidations() {
    for (;;) {
      sc_core::wait(arrived_.default_event());
      const auto [r, at] = queued_.front();
      queued_.pop_front();
      arrivals.push_back({at, r.range, tracker.outstanding(kRid), false});
      const auto c = tracker.on_invalidate_request(r);
      arrivals.back().deferred = !c;
      if (c) send_completion(*c, now_ps());
    }
  }

  void send_completion(const pcie::InvalidateCompletion& c, uint64_t at_ps) {
    tlm::tlm_generic_payload p;
    core::PcieExtension ext;
    pcie::make_invalidate_completion(p, ext, c.function, c.requester, c.itag_vector);
    sc_core::sc_time d = sc_core::sc_time::from_value(at_ps - now_ps());
    dma->b_transport(p, d);
    p.clear_extension(&ext);
    completions_sent.push_back(at_ps);
  }

  std::vector<InFlight> in_flight_;
  std::vector<uint8_t> buffer_;
  std::deque<std::pair<pcie::InvalidateRequest, uint64_t>>
      queued_;  // event mode: (request, arrival)
  sc_core::sc_event_queue arrived_;
};

// Runs a script in a SystemC thread (the driver's CPU).
struct Host : sc_core::sc_module {
  std::function<void()> script;
  explicit Host(sc_core::sc_module_name n) : sc_module(n) { SC_THREAD(run); }
  SC_HAS_PROCESS(Host);
  void run() {
    if (script) script();
  }
};

struct AtsSystem {
  static constexpr uint64_t kMmio = 0xFED90000, kTables = 0x10000000, kTablesBytes = 16 << 20;

  explicit AtsSystem(cpu_stub::IommuDriverOptions opts = {})
      : mem("memory", memory_config(), &stats),
        tap("tap"),
        iommu("iommu", iommu_config(), &stats),
        rc("rc", pcie::RootComplexConfig{}, &stats),
        link("link", pcie::LinkConfig{}, &stats),
        dev("dev", &stats),
        cpu("cpu"),
        host("host"),
        pages(cpu, kTables, kTablesBytes),
        drv(cpu, kMmio, pages, opts) {
    link.host_side.bind(rc.upstream);
    rc.downstream.bind(link.host_down);
    link.device_down.bind(dev.pcie_in);
    dev.dma.bind(link.device_side);
    rc.dma_out.bind(iommu.dma_in);
    iommu.mem_out.bind(tap.in);
    tap.out.bind(mem.in);
    rc.chipset_mmio.bind(iommu.mmio);
    rc.add_chipset_window(kMmio, iommu::vtd::kMmioSize);
    iommu.ats_out.bind(rc.msg_in);
    rc.msg_out.bind(iommu.ats_in);
    cpu.mem.bind(mem.cpu);
    cpu.mmio.bind(rc.cpu);
    rc.root_port(0).write(pcie::kCfgCommand, 2, pcie::kCmdMemorySpace | pcie::kCmdBusMaster);
  }

  static memory::HostMemoryConfig memory_config() {
    memory::HostMemoryConfig m;
    m.size_bytes = uint64_t{1} << 36;
    return m;
  }
  static iommu::RemappingUnitConfig iommu_config() {
    iommu::RemappingUnitConfig c;
    c.caps.dt = true;
    c.walker.caps = c.caps;
    c.mmio_base = kMmio;
    return c;
  }
  core::StatMap stat_map() {
    core::StatMap m;
    stats.collect(m);
    return m;
  }
  uint64_t counter(const std::string& n) { return std::get<uint64_t>(stat_map().at(n)); }
  double value(const std::string& n) {
    const auto v = stat_map().at(n);
    return std::holds_alternative<double>(v) ? std::get<double>(v) : double(std::get<uint64_t>(v));
  }

  core::StatGroup stats;
  memory::HostMemory mem;
  MemoryTap tap;
  iommu::RemappingUnit iommu;
  pcie::RootComplex rc;
  pcie::Link link;
  AtsDevice dev;
  cpu_stub::CpuPort cpu;
  Host host;
  cpu_stub::PageAllocator pages;
  cpu_stub::IommuDriver drv;
  sc_core::sc_event ready, issued, unmapped;
};

}  // namespace iovsim::test

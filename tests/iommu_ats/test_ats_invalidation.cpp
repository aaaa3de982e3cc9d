// Device-TLB invalidation end to end (sc_start): the driver's unmap and device-TLB descriptor, the
// Invalidate Request routed by the root complex down the link to the device, the device's
// Invalidate Completion back up, and the queue's wait that completes only then.
#include <stdexcept>

#include "ats_system.hpp"

using namespace iovsim;
using iovsim::test::AtsDevice;
using iovsim::test::AtsSystem;
using iovsim::test::now_ps;

namespace {
constexpr uint16_t kDid = 3;
constexpr uint64_t kIova = 0x10000, kHpa = 0x80000000;

// Attaches the device with TT = 1 and maps four pages.
void set_up(AtsSystem& s) {
  s.drv.bring_up();
  s.drv.attach_device(AtsDevice::kRid, kDid, /*aw=*/2, /*tt=*/1);
  s.drv.map(kDid, kIova, kHpa, 4 * 4096, 4096);
}
}  // namespace

namespace {
// The device writes through its cached translation (8 x 4 KiB: microseconds on the link, upstream)
// while the driver unmaps the page: the unmap's device-TLB invalidation comes down the idle
// downstream direction and reaches the device with the writes in flight, and the wait after it
// completes only once they have. (Reads would not do: their completions occupy the downstream
// direction, and the Invalidate Request queues behind them.)
void unmap_while_reading(AtsDevice::Mode mode) {
  AtsSystem s;
  s.dev.mode = mode;
  uint64_t unmap_start = 0, unmap_done = 0;
  core::ats::TranslationEntry before, after, neighbour;
  s.host.script = [&] {
    set_up(s);
    s.ready.notify();
    sc_core::wait(s.issued);
    sc_core::wait(300, sc_core::SC_NS);  // the device's writes are in flight
    unmap_start = now_ps();
    s.drv.unmap(kDid, kIova, 4096);  // IOTLB flush, then the device TLB's, each waited for
    unmap_done = now_ps();
    s.unmapped.notify();
  };
  s.dev.script = [&](AtsDevice& d) {
    sc_core::wait(s.ready);
    before = d.translate(kIova);
    d.access_translated(kIova, 4096, 8, /*write=*/true);
    s.issued.notify();
    d.drain();
    sc_core::wait(s.unmapped);
    CHECK_FALSE(d.cache.contains(kIova));
    CHECK_FALSE(d.cache.lookup(kIova, false));
    after = d.translate(kIova);
    neighbour = d.translate(kIova + 0x1000);
  };
  sc_core::sc_start();

  CHECK(before.translated_base == kHpa);
  CHECK(before.r);
  CHECK(before.w);
  // The Invalidate Request reached the device while its writes were in flight: deferred.
  REQUIRE(s.dev.arrivals.size() == 1);
  const auto& arrival = s.dev.arrivals[0];
  CHECK(arrival.range.base == kIova);
  CHECK(arrival.range.shift == 12);
  CHECK(arrival.deferred);
  CHECK(arrival.t_ps > unmap_start);
  CHECK(s.dev.last_done_ps > arrival.t_ps);
  // Its completion is due when the last write completes.
  REQUIRE(s.dev.completions_sent.size() == 1);
  CHECK(s.dev.completions_sent[0] == s.dev.last_done_ps);
  // The wait after the device-TLB descriptor wrote its status only after that (the last status
  // write the queue made); the IOTLB flush's wait before it was not held back.
  REQUIRE(s.tap.status_writes.size() >= 2);
  const uint64_t status_write = s.tap.status_writes.back().second;
  CHECK(status_write > s.dev.completions_sent[0]);
  CHECK(unmap_done > status_write);
  CHECK(s.tap.status_writes[s.tap.status_writes.size() - 2].second < arrival.t_ps);

  // The old translation is gone from the device, and the IOMMU has none to give.
  CHECK(after.no_translation());
  CHECK(neighbour.translated_base == kHpa + 0x1000);

  CHECK(s.counter("iommu.ats.invalidations_sent") == 1);
  CHECK(s.counter("iommu.ats.invalidation_completions") == 1);
  CHECK(s.value("iommu.ats.invalidations_pending") == 0);
  CHECK(s.counter("iommu.ats.wait_stall_ns.count") == 1);
  CHECK(s.value("iommu.ats.wait_stall_ns.max") >
        double(s.dev.last_done_ps - arrival.t_ps) / 1000.0);
  CHECK(s.counter("iommu.ats.translation_requests") == 3);
  CHECK(s.counter("iommu.ats.no_translation") == 1);
  CHECK(s.counter("iommu.ats.translated_requests") == 8);
  CHECK(s.counter("iommu.invalidations.device_tlb") == 1);
  CHECK(s.counter("rc.messages_down") == 1);
  CHECK(s.counter("rc.messages_up") == 1);
  CHECK(s.counter("atc.invalidations") == 1);
  CHECK(s.counter("atc.entries_invalidated") == 1);
}
}  // namespace

TEST_CASE("after an unmap plus device-TLB invalidation the device cannot use the old translation") {
  // Event driven: the completion comes back later, and the queue resumes its wait then.
  unmap_while_reading(AtsDevice::Mode::kEvent);
}

TEST_CASE("a device answering at once with a completion annotated in the future holds the wait") {
  unmap_while_reading(AtsDevice::Mode::kTimed);
}

TEST_CASE("an idle device completes the invalidation within the request's own call chain") {
  AtsSystem s;
  uint64_t done = 0;
  s.host.script = [&] {
    set_up(s);
    s.ready.notify();
    sc_core::wait(s.issued);
    // 4 pages at kIova: order 2, ADDR with bit 12 set and S = 1 (16 KiB).
    s.drv.invalidate_device_tlb(AtsDevice::kRid, kIova, 2);
    done = now_ps();
    // A function that does not exist below any root port: nobody to wait for.
    s.drv.invalidate_device_tlb(0x4000, 0, 0);
  };
  s.dev.script = [&](AtsDevice& d) {
    sc_core::wait(s.ready);
    d.translate(kIova);
    d.translate(kIova + 0x3000);
    CHECK(d.cache.size() == 2);
    s.issued.notify();
  };
  sc_core::sc_start();

  REQUIRE(s.dev.arrivals.size() == 1);
  CHECK_FALSE(s.dev.arrivals[0].deferred);
  CHECK(s.dev.arrivals[0].range.base == kIova);
  CHECK(s.dev.arrivals[0].range.shift == 14);
  REQUIRE(s.dev.completions_sent.size() == 1);
  CHECK(s.dev.completions_sent[0] == s.dev.arrivals[0].t_ps);
  CHECK(s.dev.cache.size() == 0);
  // The status write waited for the completion to come back up the link.
  const uint64_t status_write = s.tap.status_writes[s.tap.status_writes.size() - 2].second;
  CHECK(status_write > s.dev.completions_sent[0]);
  CHECK(done > status_write);
  CHECK(s.counter("iommu.ats.invalidations_sent") == 2);
  CHECK(s.counter("iommu.ats.invalidation_completions") == 1);
  CHECK(s.counter("iommu.ats.invalidations_unclaimed") == 1);
  CHECK(s.counter("rc.messages_unrouted") == 1);
  CHECK(s.value("iommu.ats.invalidations_pending") == 0);
}

TEST_CASE("an invalidation the device never completes stays pending without hanging the run") {
  cpu_stub::IommuDriverOptions opts;
  opts.max_poll = 2000;  // 20 us of polling
  AtsSystem s(opts);
  bool timed_out = false;
  s.dev.mode = AtsDevice::Mode::kSilent;
  s.host.script = [&] {
    set_up(s);
    try {
      s.drv.invalidate_device_tlb(AtsDevice::kRid, kIova, 0);
    } catch (const std::runtime_error&) {
      timed_out = true;
    }
  };
  sc_core::sc_start();  // returns: nothing is left to happen
  CHECK(timed_out);
  CHECK(s.dev.arrivals.size() == 1);
  CHECK(s.value("iommu.ats.invalidations_pending") == 1);
  CHECK(s.counter("iommu.ats.invalidation_completions") == 0);
  CHECK(s.iommu.ats().pending() == 1);
}

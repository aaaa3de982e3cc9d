// "Strict is slower than deferred for the same traffic, measured": a driver thread maps a buffer,
// has the device write to it through the remapping unit, and unmaps it, N times, charging each
// policy's CPU time to itself; each policy serves its own device and domain, one after the other
// in one simulation. The driver's register accesses and polling take simulated time here (the
// thread runs during simulation), so the measured gap includes the modelled invalidation round
// trips on top of the charged costs.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "dma_rig.hpp"

using namespace iovsim;
using namespace iovsim::cpu_stub;
using iovsim::test::DmaRig;
using sc_core::SC_NS;
using sc_core::sc_time;

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kHost = uint64_t{8} << 30;
constexpr int kBuffers = 64;

struct Runner : sc_core::sc_module {
  SC_HAS_PROCESS(Runner);
  std::function<void()> body;
  Runner(sc_core::sc_module_name n, std::function<void()> f) : sc_module(n), body(std::move(f)) {
    SC_THREAD(run);
  }
  void run() { body(); }
};

uint64_t now_ns() {
  return sc_core::sc_time_stamp().value() / 1000;  // the default resolution is 1 ps
}

void charge(DmaMappingPolicy& p) {
  const double ns = p.take_cpu_ns();
  if (ns > 0) sc_core::wait(sc_time(ns, SC_NS));
}

// N rounds of map → device write → unmap on one policy; returns the simulated time they took.
double traffic(DmaRig& rig, DmaMappingPolicy& p, uint16_t sid, int rounds) {
  const sc_time start = sc_core::sc_time_stamp();
  for (int i = 0; i < rounds; ++i) {
    if (auto d = p.next_deadline_ns(); d && *d <= now_ns()) {
      p.poll(now_ns());
      charge(p);
    }
    const uint64_t hpa = kHost + uint64_t(i % kBuffers) * kPage;
    const uint64_t iova = p.map(hpa, 1500, true, now_ns());
    charge(p);
    uint32_t data = static_cast<uint32_t>(i);
    const auto r = rig.dma(true, iova, &data, sid);
    CHECK(r.ok);
    sc_core::wait(sc_time(r.delay_ns, SC_NS));
    p.unmap(iova, 1500, now_ns());
    charge(p);
  }
  p.flush_all(now_ns());
  charge(p);
  return (sc_core::sc_time_stamp() - start).to_seconds() * 1e9;
}

}  // namespace

TEST_CASE("strict is slower than deferred for the same traffic, measured in simulated time",
          "[dma_map][timing]") {
  DmaRig rig;
  const DmaMapConfig defaults;  // the documented defaults
  const char* names[] = {"strict", "deferred", "static", "identity"};
  std::map<std::string, std::unique_ptr<core::StatGroup>> groups;
  std::map<std::string, std::unique_ptr<DmaMappingPolicy>> policies;
  std::map<std::string, uint16_t> sids;
  for (int i = 0; i < 4; ++i) {
    auto cfg = defaults;
    cfg.policy = names[i];
    auto dev = rig.device(kHost, kBuffers * kPage);
    dev.sid = static_cast<uint16_t>(DmaRig::kSid + i);
    dev.did = static_cast<uint16_t>(1 + i);
    groups[names[i]] = std::make_unique<core::StatGroup>(names[i], &rig.stats());
    policies[names[i]] = make_dma_mapping_policy(dev, cfg, groups[names[i]].get());
    sids[names[i]] = dev.sid;
  }
  const int n = 300;
  std::map<std::string, double> took;
  Runner runner("runner", [&] {
    for (const char* name : names) took[name] = traffic(rig, *policies[name], sids[name], n);
  });
  sc_core::sc_start();

  DmaMappingPolicy& strict = *policies["strict"];
  DmaMappingPolicy& deferred = *policies["deferred"];
  CHECK(strict.invalidations() == n);
  CHECK(deferred.flushes() == 2);  // the full queue at 256, the rest at the end
  CHECK(deferred.invalidations() == 2);
  INFO("strict " << took["strict"] << " ns, deferred " << took["deferred"] << " ns, static "
                 << took["static"] << " ns, identity " << took["identity"] << " ns");
  // The charged difference alone; the modelled queue round trips of the extra invalidations come
  // on top.
  const double charged_gap = defaults.invalidation_ns * (n - 2);
  CHECK(took["strict"] - took["deferred"] > charged_gap);
  const double round_trip = (took["strict"] - took["deferred"] - charged_gap) / (n - 2);
  INFO("modelled invalidation round trip " << round_trip << " ns");
  CHECK(round_trip > 50);
  CHECK(round_trip < 2000);
  // No per-buffer work at all is cheaper still.
  CHECK(took["deferred"] > took["static"]);
  CHECK(took["deferred"] - took["static"] >= n * (defaults.map_ns + defaults.unmap_ns));
  CHECK(rig.counter("iommu.faults") == 0);
}

// A whole platform with workload.kind = nic for tests: built from --set assignments on top of a
// small default (400 packets per VF, 8 MiB VMs), booted or run, its statistics, host memory hashed
// and the IOMMU's fault records read through the CPU. One per process (SystemC elaborates once).
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/iommu/vtd_format.hpp>
#include <iovsim/platforms/nic_workload.hpp>
#include <iovsim/platforms/platform.hpp>

namespace iovsim::test {

struct NicPlatform {
  core::Config config;
  core::StatGroup root;
  std::unique_ptr<platforms::Platform> platform;

  explicit NicPlatform(const std::vector<std::string>& sets) {
    config.set_assignment("workload.kind=nic");
    config.set_assignment("nic.packets=400");
    config.set_assignment("vm.memory_bytes=8M");
    for (const auto& s : sets) config.set_assignment(s);
    platform = std::make_unique<platforms::Platform>("platform", config, &root);
  }
  // Threads still waiting (a test that only booted) unwind before the platform goes.
  ~NicPlatform() { platforms::release_processes(); }
  platforms::NicWorkload& workload() {
    return dynamic_cast<platforms::NicWorkload&>(platform->workload());
  }
  sriov_nic::SriovNic& nic() { return workload().nic(); }
  cpu_stub::CpuPort& cpu() { return platform->cpu(); }
  // Boot (enumeration, SR-IOV, IOMMU, drivers) without letting traffic start.
  void boot() { sc_core::sc_start(sc_core::SC_ZERO_TIME); }
  void run() { sc_core::sc_start(); }
  double stat(const std::string& name) {
    core::StatMap m;
    root.collect(m);
    auto it = m.find(name);
    INFO(name);
    REQUIRE(it != m.end());
    return std::visit([](auto v) { return static_cast<double>(v); }, it->second);
  }
  uint64_t host_hash(uint64_t base, uint64_t bytes) {
    std::vector<uint8_t> buf(1 << 16);
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (uint64_t off = 0; off < bytes; off += buf.size()) {
      const uint64_t n = std::min<uint64_t>(buf.size(), bytes - off);
      cpu().mem_read(base + off, buf.data(), n);
      for (uint64_t i = 0; i < n; ++i) h = (h ^ buf[i]) * 1099511628211ull;
    }
    return h;
  }
  struct Fault {
    unsigned reason = 0;
    uint16_t sid = 0;
    uint64_t fi = 0;
    bool read = false;
  };
  // Every valid FRCD record, read through the CPU like a fault handler.
  std::vector<Fault> faults() {
    const uint64_t base = platform->iommu()->config().mmio_base;
    const uint64_t cap = cpu().mmio_read(base + iommu::vtd::kCap, 8);
    const unsigned fro = (cap >> 24) & 0x3ff, nfr = ((cap >> 40) & 0xff) + 1;
    std::vector<Fault> out;
    for (unsigned i = 0; i < nfr; ++i) {
      const uint64_t at = base + fro * 16 + i * 16;
      const uint64_t lo = cpu().mmio_read(at, 8), hi = cpu().mmio_read(at + 8, 8);
      if (!(hi >> 63)) continue;
      out.push_back({unsigned((hi >> 32) & 0xff), uint16_t(hi & 0xffff), lo >> 12 << 12,
                     bool((hi >> 62) & 1)});
    }
    return out;
  }
};

}  // namespace iovsim::test

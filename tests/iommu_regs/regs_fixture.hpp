// Shared by the iommu_regs tests: a RegisterFile whose hooks record every call, so tests can check
// the decoded arguments.
#pragma once

#include <cstdint>
#include <vector>

#include <iovsim/iommu/register_file.hpp>

namespace regs_test {

namespace iommu = iovsim::iommu;
namespace vtd = iovsim::iommu::vtd;

struct ContextCall {
  vtd::Granularity g;
  uint16_t did, sid;
  unsigned fm;
};
struct IotlbCall {
  vtd::Granularity g;
  uint16_t did;
  uint64_t addr;
  unsigned am;
  bool ih;
};
struct Msi {
  uint64_t addr;
  uint32_t data;
};

struct Recorder {
  std::vector<uint64_t> root_tables, irts;
  std::vector<bool> te, ire;
  std::vector<ContextCall> context;
  std::vector<IotlbCall> iotlb;
  std::vector<Msi> msis;
  int tail_writes = 0;

  iommu::RegisterHooks hooks() {
    iommu::RegisterHooks h;
    h.set_root_table = [this](uint64_t a) { root_tables.push_back(a); };
    h.translation_enable = [this](bool on) { te.push_back(on); };
    h.invalidate_context = [this](vtd::Granularity g, uint16_t did, uint16_t sid, unsigned fm) {
      context.push_back({g, did, sid, fm});
    };
    h.invalidate_iotlb = [this](vtd::Granularity g, uint16_t did, uint64_t addr, unsigned am,
                                bool ih) {
      iotlb.push_back({g, did, addr, am, ih});
    };
    h.queue_tail_written = [this] { ++tail_writes; };
    h.set_irt = [this](uint64_t a) { irts.push_back(a); };
    h.ir_enable = [this](bool on) { ire.push_back(on); };
    h.send_msi = [this](uint64_t addr, uint32_t data) { msis.push_back({addr, data}); };
    return h;
  }
};

}  // namespace regs_test

// The study's own IOTLB replacement policy: least frequently used. A victim is the way with the
// fewest hits since it was filled (ties: the lowest way). Registered under the name "lfu" in
// iovsim's PolicyRegistry, so the IOMMU builds it by name like a built-in, without any change to
// the IOMMU model.
#pragma once

#include <cstdint>
#include <vector>

#include <iovsim/iommu/replacement.hpp>

namespace study {

class LfuPolicy : public iovsim::iommu::ReplacementPolicy {
 public:
  LfuPolicy(unsigned sets, unsigned ways);
  void touch(unsigned set, unsigned way) override;
  void fill(unsigned set, unsigned way) override;
  void remove(unsigned set, unsigned way) override;
  unsigned victim(unsigned set) override;

  // Victims chosen by every LfuPolicy of the process: proof that the IOMMU really used it.
  static uint64_t victims_chosen();

 private:
  uint64_t& uses(unsigned set, unsigned way) { return uses_[std::size_t{set} * ways_ + way]; }

  unsigned ways_;
  std::vector<uint64_t> uses_;  // per (set, way): 1 at fill, +1 per hit, 0 when invalid
};

// Adds "lfu" to iommu::PolicyRegistry::instance(). Call before building the IOMMU.
void register_lfu_policy();

}  // namespace study

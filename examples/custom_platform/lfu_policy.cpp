#include "lfu_policy.hpp"

#include <memory>

namespace study {

namespace {
uint64_t victims = 0;
}  // namespace

LfuPolicy::LfuPolicy(unsigned sets, unsigned ways)
    : ways_(ways), uses_(std::size_t{sets} * ways, 0) {}

void LfuPolicy::touch(unsigned set, unsigned way) {
  ++uses(set, way);
}

void LfuPolicy::fill(unsigned set, unsigned way) {
  uses(set, way) = 1;
}

void LfuPolicy::remove(unsigned set, unsigned way) {
  uses(set, way) = 0;
}

unsigned LfuPolicy::victim(unsigned set) {
  unsigned best = 0;
  for (unsigned way = 1; way < ways_; ++way)
    if (uses(set, way) < uses(set, best)) best = way;
  ++victims;
  return best;
}

uint64_t LfuPolicy::victims_chosen() {
  return victims;
}

void register_lfu_policy() {
  iovsim::iommu::PolicyRegistry::instance().add(
      "lfu", [](unsigned sets, unsigned ways, uint64_t /*seed*/) {
        return std::make_unique<LfuPolicy>(sets, ways);
      });
}

}  // namespace study

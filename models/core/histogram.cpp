#include "histogram.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace iovsim::core {

namespace {
constexpr uint64_t kSub = uint64_t{1} << Histogram::kSubBits;  // buckets per half-range
}

Histogram::Histogram(double resolution)
    : resolution_(resolution), inv_resolution_(1.0 / resolution) {
  if (!(resolution > 0)) throw std::invalid_argument("Histogram resolution must be positive");
}

// Values [0, 2*kSub) map one-to-one; above, each power of two [2^m, 2^(m+1)) has kSub buckets.
std::size_t Histogram::index_of(uint64_t q) {
  if (q < 2 * kSub) return static_cast<std::size_t>(q);
  unsigned m = 63u - static_cast<unsigned>(__builtin_clzll(q));  // m >= kSubBits + 1
  unsigned shift = m - Histogram::kSubBits;
  return static_cast<std::size_t>((m - Histogram::kSubBits) * kSub + (q >> shift));
}

uint64_t Histogram::lower_of(std::size_t index) {
  if (index < 2 * kSub) return index;
  uint64_t group = index / kSub;  // = m - kSubBits, >= 2
  uint64_t shift = group - 1;
  uint64_t sub = index % kSub + kSub;
  return sub << shift;
}

uint64_t Histogram::width_of(std::size_t index) {
  if (index < 2 * kSub) return 1;
  return uint64_t{1} << (index / kSub - 1);
}

void Histogram::record(double value) {
  if (value < 0 || std::isnan(value)) value = 0;
  double scaled = value * inv_resolution_ + 0.5;
  uint64_t q = scaled >= 1.8e19 ? ~uint64_t{0} >> 1 : static_cast<uint64_t>(scaled);
  std::size_t i = index_of(q);
  if (i >= buckets_.size()) buckets_.resize(i + 1, 0);
  ++buckets_[i];
  if (count_ == 0) min_ = max_ = value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += value;
  ++count_;
}

void Histogram::reset() {
  buckets_.clear();
  count_ = 0;
  sum_ = min_ = max_ = 0;
}

double Histogram::percentile(double p) const {
  if (count_ == 0) return 0.0;
  p = std::clamp(p, 0.0, 100.0);
  // p * count first: exact for integral p, so an integral rank is not rounded up (0.07 * 100 > 7).
  uint64_t rank = static_cast<uint64_t>(std::ceil(p * static_cast<double>(count_) / 100.0));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      double q = static_cast<double>(lower_of(i)) + (static_cast<double>(width_of(i)) - 1) / 2.0;
      // Never report outside what was recorded.
      return std::clamp(q * resolution_, min_, max_);
    }
  }
  return max_;
}

}  // namespace iovsim::core

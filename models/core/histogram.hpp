// A latency distribution with bounded memory: log-linear buckets in the style of HdrHistogram.
// Values are quantised to integer multiples of `resolution`; quantised values below 2^(kSubBits+1)
// are kept exactly, larger ones within a relative error of 2^-kSubBits (0.2 %). Memory grows with
// the largest value seen (about 512 counters per power of two), never with the number of samples.
//
// Percentiles use the nearest-rank definition on the quantised values: p-th percentile = the
// smallest recorded value v with count(<= v) >= ceil(p/100 * N). Inexact buckets report their
// midpoint. count, mean, min and max are exact (unquantised).
#pragma once

#include <cstdint>
#include <vector>

namespace iovsim::core {

class Histogram {
 public:
  static constexpr unsigned kSubBits = 9;

  explicit Histogram(double resolution = 1.0);

  void record(double value);
  void reset();

  uint64_t count() const { return count_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  double min() const { return count_ ? min_ : 0.0; }
  double max() const { return count_ ? max_ : 0.0; }
  double sum() const { return sum_; }
  // p in [0, 100]; 0 when empty.
  double percentile(double p) const;
  double resolution() const { return resolution_; }
  std::size_t bucket_count() const { return buckets_.size(); }

 private:
  static std::size_t index_of(uint64_t q);
  static uint64_t lower_of(std::size_t index);
  static uint64_t width_of(std::size_t index);

  double resolution_;
  double inv_resolution_;
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  double sum_ = 0, min_ = 0, max_ = 0;
};

}  // namespace iovsim::core

// Statistics as a tree of groups (gem5's Stats::Group). Each model owns a StatGroup whose parent is
// its owner's group; stats are named by their path ("iommu.iotlb.hits"). Dumped flat, sorted by
// name, to JSON ({"run": {...}, "stats": {...}}) and CSV (name,value), as contract.md §3 specifies.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "histogram.hpp"

namespace iovsim::core {

struct Counter {
  uint64_t value = 0;
  Counter& operator++() {
    ++value;
    return *this;
  }
  Counter& operator+=(uint64_t n) {
    value += n;
    return *this;
  }
};

struct Scalar {
  double value = 0;
};

using StatValue = std::variant<uint64_t, double>;
// Flat, sorted name → value; what gets dumped.
using StatMap = std::map<std::string, StatValue>;

class StatGroup {
 public:
  // A root group has an empty name; children's names join with '.'.
  explicit StatGroup(std::string name = "", StatGroup* parent = nullptr);
  ~StatGroup();
  StatGroup(const StatGroup&) = delete;
  StatGroup& operator=(const StatGroup&) = delete;

  Counter& add_counter(const std::string& name, const std::string& description);
  Scalar& add_scalar(const std::string& name, const std::string& description);
  // Evaluated at dump time. Ratios should return 0 for an empty denominator (see ratio()).
  void add_formula(const std::string& name, const std::string& description,
                   std::function<double()> f);
  // Dumped as NAME.count, .mean, .min, .p50, .p90, .p99, .max.
  Histogram& add_histogram(const std::string& name, const std::string& description,
                           double resolution = 1.0);

  const std::string& name() const { return name_; }
  std::string path() const;
  StatGroup* parent() const { return parent_; }

  // Adds this group's stats and its children's to out, keyed by full path.
  void collect(StatMap& out) const;
  // Name and description of every stat below this group (for documentation).
  void describe(std::map<std::string, std::string>& out) const;
  void reset();

 private:
  struct Entry {
    std::string name, description;
    std::variant<std::unique_ptr<Counter>, std::unique_ptr<Scalar>, std::function<double()>,
                 std::unique_ptr<Histogram>>
        stat;
  };
  std::string qualify(const std::string& stat) const;
  void check_new(const std::string& name) const;

  std::string name_;
  StatGroup* parent_;
  std::vector<StatGroup*> children_;
  std::vector<Entry> entries_;
};

inline double ratio(double num, double den) {
  return den == 0 ? 0.0 : num / den;
}

nlohmann::json stats_to_json(const StatMap& stats);
std::string stats_to_csv(const StatMap& stats);

}  // namespace iovsim::core

// trace.capture: one CSV row per translated request (TLP), in the order translations complete
// (contract.md §4): issue_ns,done_ns,rid,iova,size,dir,hpa,iotlb,latency_ns,fault
// Rows arrive in request order; they are held until no later request can complete earlier (requests
// reach the IOMMU in time order, and none completes before it arrives), then written by completion
// time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <queue>
#include <string>
#include <vector>

#include <iovsim/core/params.hpp>

namespace iovsim::iommu {

class TranslationCapture {
 public:
  // Opens `path` for writing (ConfigError naming it when it cannot); an empty path captures
  // nothing.
  explicit TranslationCapture(const std::string& path);
  ~TranslationCapture();
  TranslationCapture(const TranslationCapture&) = delete;
  TranslationCapture& operator=(const TranslationCapture&) = delete;

  static std::string path_from(const core::Config& config);  // the trace.capture parameter
  bool enabled() const { return file_ != nullptr; }
  // iotlb: "hit", "miss" or "bypass"; fault: 0 for none, else the fault reason.
  void row(uint64_t issue_ps, uint64_t done_ps, uint16_t rid, uint64_t iova, unsigned size,
           bool write, uint64_t hpa, const char* iotlb, unsigned fault);

 private:
  struct Row {
    uint64_t done_ps, seq;
    std::string text;
    bool operator>(const Row& o) const {
      return done_ps != o.done_ps ? done_ps > o.done_ps : seq > o.seq;
    }
  };
  void flush_until(uint64_t watermark_ps);

  std::FILE* file_ = nullptr;
  std::priority_queue<Row, std::vector<Row>, std::greater<Row>> pending_;
  uint64_t seq_ = 0;
};

}  // namespace iovsim::iommu

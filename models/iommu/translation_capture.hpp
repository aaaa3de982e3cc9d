// trace.capture: one CSV row per translated request (TLP), in the order translations complete
// (contract.md §4): issue_ns,done_ns,rid,iova,size,dir,hpa,iotlb,latency_ns,fault
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include <iovsim/core/params.hpp>

namespace iovsim::iommu {

class TranslationCapture {
 public:
  // Opens `path` for writing (ConfigError naming it when it cannot); an empty path captures nothing.
  explicit TranslationCapture(const std::string& path);
  ~TranslationCapture();
  TranslationCapture(const TranslationCapture&) = delete;
  TranslationCapture& operator=(const TranslationCapture&) = delete;

  static std::string path_from(const core::Config& config);  // the trace.capture parameter
  bool enabled() const { return file_ != nullptr; }
  // iotlb: "hit", "miss" or "bypass"; fault: 0 for none, else the fault reason.
  void row(uint64_t issue_ps, uint64_t done_ps, uint16_t rid, uint64_t iova, unsigned size, bool write,
           uint64_t hpa, const char* iotlb, unsigned fault);

 private:
  std::FILE* file_ = nullptr;
};

}  // namespace iovsim::iommu

#include "translation_capture.hpp"

#include <cerrno>
#include <cstring>

#include <iovsim/core/pcie_ext.hpp>

namespace iovsim::iommu {

namespace {
const core::StringParam kCapture{
    "trace.capture", "", "Write one CSV row per translated request to this file (empty: none)"};
}

std::string TranslationCapture::path_from(const core::Config& c) {
  return kCapture.get(c);
}

TranslationCapture::TranslationCapture(const std::string& path) {
  if (path.empty()) return;
  file_ = std::fopen(path.c_str(), "w");
  if (!file_)
    throw core::ConfigError("trace.capture: cannot write '" + path + "': " + std::strerror(errno));
  std::fputs("issue_ns,done_ns,rid,iova,size,dir,hpa,iotlb,latency_ns,fault\n", file_);
}

TranslationCapture::~TranslationCapture() {
  if (!file_) return;
  flush_until(~uint64_t{0});
  std::fclose(file_);
}

void TranslationCapture::flush_until(uint64_t watermark_ps) {
  while (!pending_.empty() && pending_.top().done_ps <= watermark_ps) {
    std::fputs(pending_.top().text.c_str(), file_);
    pending_.pop();
  }
}

void TranslationCapture::row(uint64_t issue_ps, uint64_t done_ps, uint16_t rid, uint64_t iova,
                             unsigned size, bool write, uint64_t hpa, const char* iotlb,
                             unsigned fault) {
  if (!file_) return;
  char fault_text[16] = "";
  if (fault) std::snprintf(fault_text, sizeof fault_text, "0x%x", fault);
  char line[192];
  std::snprintf(line, sizeof line, "%.3f,%.3f,%s,0x%llx,%u,%c,0x%llx,%s,%.3f,%s\n",
                issue_ps / 1000.0, done_ps / 1000.0, core::format_rid(rid).c_str(),
                static_cast<unsigned long long>(iova), size, write ? 'W' : 'R',
                static_cast<unsigned long long>(hpa), iotlb, (done_ps - issue_ps) / 1000.0,
                fault_text);
  flush_until(issue_ps);
  pending_.push(Row{done_ps, seq_++, line});
}

}  // namespace iovsim::iommu

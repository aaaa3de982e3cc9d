#include "progress.hpp"

#include <cstdio>

#include <systemc>

namespace iovsim::platforms {

std::string human_time_ns(double ns) {
  char buf[64];
  if (ns >= 1e9)
    std::snprintf(buf, sizeof buf, "%.3f s", ns / 1e9);
  else if (ns >= 1e6)
    std::snprintf(buf, sizeof buf, "%.3f ms", ns / 1e6);
  else if (ns >= 1e3)
    std::snprintf(buf, sizeof buf, "%.3f us", ns / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.1f ns", ns);
  return buf;
}

void Progress::update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (elapsed < 1.0 || (drawn_ && now - last_ < std::chrono::milliseconds(250))) return;
  last_ = now;
  drawn_ = true;
  const double rate = done / elapsed;
  const double eta = rate > 0 ? (total - done) / rate : 0;
  std::fprintf(stderr,
               "\r[iovsim] sim %s | %llu/%llu requests (%.0f%%) | %.2f M req/s | ETA %.0f s   ",
               human_time_ns(sc_core::sc_time_stamp().to_seconds() * 1e9).c_str(),
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
               total ? 100.0 * done / total : 100.0, rate / 1e6, eta);
  std::fflush(stderr);
}

void Progress::finish() {
  if (drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace iovsim::platforms

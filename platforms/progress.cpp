#include "progress.hpp"

#include <cstdio>

#include <systemc>

namespace iovsim::platforms {

void Progress::update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (elapsed < 1.0 || (drawn_ && now - last_ < std::chrono::milliseconds(250))) return;
  last_ = now;
  drawn_ = true;
  const double rate = done / elapsed;
  const double eta = rate > 0 ? (total - done) / rate : 0;
  std::fprintf(stderr, "\r[iovsim] sim %.3f us | %llu/%llu requests (%.0f%%) | %.2f M req/s | ETA %.0f s   ",
               sc_core::sc_time_stamp().to_seconds() * 1e6, static_cast<unsigned long long>(done),
               static_cast<unsigned long long>(total), total ? 100.0 * done / total : 100.0, rate / 1e6, eta);
  std::fflush(stderr);
}

void Progress::finish() {
  if (drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace iovsim::platforms

// A progress line on stderr for long runs: simulated time, requests done, rate, ETA. Silent for the
// first second, refreshed at most four times a second, and only when enabled (stderr is a
// terminal).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace iovsim::platforms {

// 1234567 ns -> "1.235 ms"
std::string human_time_ns(double ns);

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
  void update(uint64_t done, uint64_t total);
  // Ends the line if one was drawn.
  void finish();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace iovsim::platforms

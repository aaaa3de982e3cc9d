// Per-module logging. Each model owns a Logger named like its parameters ("memory", "iommu"); its
// level comes from the parameters log.level (all modules) and log.modules
// ("iommu=debug,memory=trace"). Messages go to stderr prefixed with the simulated time and the
// module name:
//   [     1234.500 ns] memory: refresh
#pragma once

#include <sstream>
#include <string>

namespace iovsim::core {

class Config;

enum class LogLevel { kError = 0, kWarn, kInfo, kDebug, kTrace };

class Logger {
 public:
  explicit Logger(std::string module);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  const std::string& module() const { return module_; }
  LogLevel level() const { return level_; }
  void set_level(LogLevel l) { level_ = l; }
  bool enabled(LogLevel l) const { return l <= level_; }

  template <typename... Args>
  void log(LogLevel l, const Args&... args) const {
    if (!enabled(l)) return;
    std::ostringstream os;
    (os << ... << args);
    emit(l, os.str());
  }
  template <typename... Args>
  void error(const Args&... a) const {
    log(LogLevel::kError, a...);
  }
  template <typename... Args>
  void warn(const Args&... a) const {
    log(LogLevel::kWarn, a...);
  }
  template <typename... Args>
  void info(const Args&... a) const {
    log(LogLevel::kInfo, a...);
  }
  template <typename... Args>
  void debug(const Args&... a) const {
    log(LogLevel::kDebug, a...);
  }
  template <typename... Args>
  void trace(const Args&... a) const {
    log(LogLevel::kTrace, a...);
  }

 private:
  void emit(LogLevel l, const std::string& text) const;

  std::string module_;
  LogLevel level_;
};

// Applies log.level and log.modules to every logger, existing and future. Throws ConfigError for an
// unknown level word or a malformed log.modules entry.
void configure_logging(const Config& config);
// Throws ConfigError if log.modules names a module no logger has (call after the platform is
// built).
void check_log_modules(const Config& config);
// Where messages go (default stderr); tests capture them.
void set_log_stream(std::ostream* os);
const char* to_string(LogLevel l);

}  // namespace iovsim::core

#include "logger.hpp"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <systemc>

#include "params.hpp"

namespace iovsim::core {

namespace {

// SystemC prints a copyright banner on first use unless told not to; iovsim's output is for
// scripts. A user's own setting of SC_COPYRIGHT_MESSAGE wins (setenv does not overwrite).
const bool kBannerOff = ::setenv("SC_COPYRIGHT_MESSAGE", "DISABLE", 0) == 0;

const EnumParam kLevel{"log.level",
                       "warn",
                       "Log level of every module: error, warn, info, debug, trace",
                       {"error", "warn", "info", "debug", "trace"}};
const StringParam kModules{
    "log.modules", "",
    "Per-module log levels overriding log.level, e.g. \"memory=debug,endpoint=trace\""};

struct LogState {
  LogLevel global = LogLevel::kWarn;
  std::map<std::string, LogLevel> per_module;
  std::vector<Logger*> loggers;
  std::ostream* out = &std::cerr;
};

LogState& state() {
  static LogState s;
  return s;
}

std::optional<LogLevel> parse_level(const std::string& word) {
  static const char* names[] = {"error", "warn", "info", "debug", "trace"};
  for (int i = 0; i < 5; ++i)
    if (word == names[i]) return static_cast<LogLevel>(i);
  return std::nullopt;
}

LogLevel level_for(const std::string& module) {
  auto it = state().per_module.find(module);
  return it == state().per_module.end() ? state().global : it->second;
}

}  // namespace

const char* to_string(LogLevel l) {
  static const char* names[] = {"error", "warn", "info", "debug", "trace"};
  return names[static_cast<int>(l)];
}

Logger::Logger(std::string module) : module_(std::move(module)), level_(level_for(module_)) {
  state().loggers.push_back(this);
}

Logger::~Logger() {
  auto& v = state().loggers;
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
}

void Logger::emit(LogLevel l, const std::string& text) const {
  char stamp[48];
  std::snprintf(stamp, sizeof stamp, "[%14.3f ns] ", sc_core::sc_time_stamp().to_seconds() * 1e9);
  *state().out << stamp << module_
               << (l <= LogLevel::kWarn ? (l == LogLevel::kError ? " error: " : " warning: ")
                                        : ": ")
               << text << '\n';
}

void configure_logging(const Config& config) {
  LogState& s = state();
  s.global = *parse_level(kLevel.get(config));
  s.per_module.clear();
  const std::string& spec = kModules.get(config);
  std::size_t pos = 0;
  while (pos < spec.size()) {
    std::size_t comma = spec.find(',', pos);
    std::string item =
        spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? spec.size() : comma + 1;
    if (item.empty()) continue;
    auto eq = item.find('=');
    auto level = eq == std::string::npos ? std::nullopt : parse_level(item.substr(eq + 1));
    if (eq == 0 || !level)
      throw ConfigError(
          "parameter 'log.modules': expected MODULE=LEVEL (level error, warn, info, debug, trace), "
          "got '" +
          item + "'");
    s.per_module[item.substr(0, eq)] = *level;
  }
  for (Logger* l : s.loggers) l->set_level(level_for(l->module()));
}

void check_log_modules(const Config& config) {
  (void)config;
  for (const auto& [module, level] : state().per_module) {
    bool found = std::any_of(state().loggers.begin(), state().loggers.end(),
                             [&](const Logger* l) { return l->module() == module; });
    if (!found) {
      // A set, not a substring test on the joined text, which dropped "mem" after "memory".
      std::set<std::string> names;
      for (const Logger* l : state().loggers) names.insert(l->module());
      std::string known;
      for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
      throw ConfigError("parameter 'log.modules': no module named '" + module +
                        "' (modules: " + known + ")");
    }
  }
}

void set_log_stream(std::ostream* os) {
  state().out = os ? os : &std::cerr;
}

}  // namespace iovsim::core

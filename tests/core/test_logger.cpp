// Per-module logging: level filtering, the "[time ns] module" prefix, and log.level / log.modules.
#include <catch2/catch.hpp>

#include <iovsim/core/logger.hpp>
#include <iovsim/core/params.hpp>

#include <sstream>
#include <string>

#include <systemc>

namespace core = iovsim::core;
using Catch::Matchers::Contains;

namespace {
// Captures log output and restores the default levels and stream: logging state is process-wide.
struct Capture {
  std::ostringstream out;
  Capture() { core::set_log_stream(&out); }
  ~Capture() {
    core::set_log_stream(nullptr);
    core::configure_logging(core::Config());
  }
  std::string take() {
    std::string s = out.str();
    out.str("");
    return s;
  }
};

core::Config config_with(const std::string& level, const std::string& modules) {
  core::Config c;
  if (!level.empty()) c.set("log.level", level);
  c.set("log.modules", modules);
  return c;
}

// The text after the time stamp: "module: message\n".
std::string after_stamp(const std::string& line) {
  auto p = line.find(" ns] ");
  return p == std::string::npos ? "<no stamp>" : line.substr(p + 5);
}
}  // namespace

TEST_CASE("the prefix holds the simulated time and the module name", "[logger]") {
  Capture cap;
  core::Logger log("memory");
  REQUIRE(sc_core::sc_time_stamp() == sc_core::SC_ZERO_TIME);
  log.warn("refresh ", 3);
  log.error("bad");
  // %14.3f of 0: nine spaces then "0.000".
  CHECK(cap.take() ==
        "[         0.000 ns] memory warning: refresh 3\n"
        "[         0.000 ns] memory error: bad\n");
}

TEST_CASE("the time stamp follows simulated time", "[logger]") {
  Capture cap;
  core::Logger log("clock");
  log.set_level(core::LogLevel::kInfo);
  const sc_core::sc_time t0 = sc_core::sc_time_stamp();
  REQUIRE(t0 == sc_core::SC_ZERO_TIME);
  sc_core::sc_start(1234.5, sc_core::SC_NS);  // no processes: time simply advances
  REQUIRE(sc_core::sc_time_stamp() == sc_core::sc_time(1234.5, sc_core::SC_NS));
  log.info("tick");
  CHECK(cap.take() == "[      1234.500 ns] clock: tick\n");
}

TEST_CASE("the level filters messages", "[logger]") {
  Capture cap;
  core::Logger log("iommu");
  CHECK(log.module() == "iommu");
  CHECK(log.level() == core::LogLevel::kWarn);  // log.level's default
  log.trace("t");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  std::string out = cap.take();
  CHECK(out.find(": t\n") == std::string::npos);
  CHECK(out.find(": d\n") == std::string::npos);
  CHECK(out.find(": i\n") == std::string::npos);
  CHECK_THAT(out, Contains("iommu warning: w\n") && Contains("iommu error: e\n"));

  log.set_level(core::LogLevel::kTrace);
  CHECK(log.enabled(core::LogLevel::kTrace));
  log.trace("x=", 5, " y=", 1.5);
  CHECK(after_stamp(cap.take()) == "iommu: x=5 y=1.5\n");

  log.set_level(core::LogLevel::kError);
  CHECK_FALSE(log.enabled(core::LogLevel::kWarn));
  log.warn("hidden");
  CHECK(cap.take().empty());
  log.log(core::LogLevel::kError, "shown");
  CHECK(after_stamp(cap.take()) == "iommu error: shown\n");
  CHECK(std::string(core::to_string(core::LogLevel::kDebug)) == "debug");
}

TEST_CASE("log.level applies to every module, log.modules to the named ones", "[logger]") {
  Capture cap;
  core::Logger a("a");
  core::Logger b("b");
  core::configure_logging(config_with("", "a=debug"));
  CHECK(a.level() == core::LogLevel::kDebug);
  CHECK(b.level() == core::LogLevel::kWarn);
  a.debug("from a");
  b.debug("from b");
  CHECK(after_stamp(cap.take()) == "a: from a\n");
  // Loggers created later pick up the configuration too.
  core::Logger a2("a");
  CHECK(a2.level() == core::LogLevel::kDebug);

  core::configure_logging(config_with("error", "b=trace,a=info,"));
  CHECK(a.level() == core::LogLevel::kInfo);
  CHECK(b.level() == core::LogLevel::kTrace);
  core::Logger other("other");
  CHECK(other.level() == core::LogLevel::kError);
  CHECK_NOTHROW(core::check_log_modules(config_with("error", "b=trace,a=info,")));

  // Reconfiguring drops earlier per-module settings.
  core::configure_logging(config_with("info", ""));
  CHECK(a.level() == core::LogLevel::kInfo);
  CHECK(b.level() == core::LogLevel::kInfo);
}

TEST_CASE("malformed log settings are ConfigErrors", "[logger]") {
  Capture cap;
  core::Config c;
  CHECK_THROWS_AS(c.set("log.level", "loud"), core::ConfigError);
  for (const char* bad : {"a", "a=loud", "=debug", "a=debug,b", "a=DEBUG"}) {
    INFO("log.modules = " << bad);
    try {
      core::configure_logging(config_with("", bad));
      FAIL("no ConfigError");
    } catch (const core::ConfigError& e) {
      CHECK_THAT(e.what(), Contains("log.modules"));
    }
  }
}

TEST_CASE("check_log_modules rejects modules no logger has", "[logger]") {
  Capture cap;
  core::Logger known("known_mod");
  const core::Config c = config_with("", "known_mod=debug,ghost_mod=trace");
  core::configure_logging(c);
  CHECK(known.level() == core::LogLevel::kDebug);
  try {
    core::check_log_modules(c);
    FAIL("no ConfigError");
  } catch (const core::ConfigError& e) {
    CHECK_THAT(e.what(), Contains("'ghost_mod'") && Contains("known_mod"));
  }
}

TEST_CASE("check_log_modules lists every known module once", "[logger]") {
  Capture cap;
  core::Logger memory("memory");
  core::Logger mem("mem");  // a prefix of another module's name
  core::Logger memory2("memory");
  const core::Config c = config_with("", "memroy=debug");
  core::configure_logging(c);
  try {
    core::check_log_modules(c);
    FAIL("no ConfigError");
  } catch (const core::ConfigError& e) {
    CHECK_THAT(e.what(), Contains("no module named 'memroy' (modules: mem, memory)"));
  }
}

#include "testbench.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include <iovsim/platforms/presets.hpp>
#include <iovsim/platforms/runner.hpp>
#include <iovsim/version.hpp>

namespace iovsim::testbench {

namespace {

double wall_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A number for the table: about four significant digits.
std::string num(double v) {
  std::ostringstream os;
  const double a = std::fabs(v);
  if (a < 1e12 && v == std::floor(v)) {
    os << static_cast<long long>(v);
    return os.str();
  }
  os << std::fixed << std::setprecision(a >= 100 ? 1 : a >= 1 ? 2 : 3) << v;
  return os.str();
}

// A tolerance: up to three significant digits ("0.5", "5", "0.03").
std::string compact(double v) {
  std::ostringstream os;
  os << std::setprecision(3) << v;
  return os.str();
}

std::string with_unit(double v, const std::string& unit) {
  return unit.empty() ? num(v) : num(v) + " " + unit;
}

void write_all(int fd, const std::string& text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::string read_all(int fd) {
  std::string s;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    s.append(buf, static_cast<std::size_t>(n));
  }
  return s;
}

// A display name as a statistic name: "read 64 B" -> "read_64_b".
std::string key_of(const std::string& name) {
  std::string k;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.')
      k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!k.empty() && k.back() != '_')
      k += '_';
  }
  while (!k.empty() && k.back() == '_') k.pop_back();
  return k;
}

}  // namespace

Options parse_options(int argc, char** argv, const std::string& testbench,
                      const std::string& about) {
  Options o;
  o.out_dir = "tb-results/" + testbench;
  const std::string usage = "usage: " + testbench + " [--out DIR] [--quick]\n  " + about +
                            "\n  --out DIR  write stats.json (and each configuration's files) "
                            "to DIR (default tb-results/" +
                            testbench +
                            ")\n  --quick    fewer requests and configurations (see "
                            "testbenches/README.md)\n";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--out" && i + 1 < argc) {
      o.out_dir = argv[++i];
    } else if (a == "--help" || a == "-h") {
      std::cout << usage;
      std::exit(0);
    } else {
      std::cerr << testbench << ": unknown argument '" << a << "'\n" << usage;
      std::exit(2);
    }
  }
  return o;
}

nlohmann::json run_isolated(const std::function<nlohmann::json()>& body) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  // Nothing buffered may be written twice, by the parent and by the child.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    nlohmann::json reply;
    try {
      reply = {{"ok", true}, {"result", body()}};
    } catch (const std::exception& e) {
      reply = {{"ok", false}, {"error", e.what()}};
    }
    write_all(fds[1], reply.dump());
    ::close(fds[1]);
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    // No static destructors: the child's SystemC kernel is simply dropped with the process.
    ::_exit(0);
  }
  ::close(fds[1]);
  const std::string text = read_all(fds[0]);
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    throw std::runtime_error("the child process was killed by signal " +
                             std::to_string(WTERMSIG(status)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || text.empty())
    throw std::runtime_error("the child process exited with status " +
                             std::to_string(WEXITSTATUS(status)) + " and no result");
  const auto reply = nlohmann::json::parse(text);
  if (!reply.at("ok").get<bool>()) throw std::runtime_error(reply.at("error").get<std::string>());
  return reply.at("result");
}

core::Config make_config(const std::string& preset, const Settings& settings) {
  core::Config config;
  const auto* p = platforms::find_preset(preset);
  if (!p) throw std::runtime_error("no preset named " + preset);
  config.load_json_text(p->json, "preset " + preset);
  for (const auto& [key, value] : settings) config.set(key, value, "testbench");
  return config;
}

nlohmann::json run_platform(const core::Config& config, const std::string& dir) {
  return run_isolated([&] {
    const platforms::RunResult r = platforms::run(config);
    if (!dir.empty()) platforms::write_results(dir, config, r);
    return platforms::stats_document(r);
  });
}

double stat(const nlohmann::json& doc, const std::string& name) {
  const auto& s = doc.at("stats");
  const auto it = s.find(name);
  if (it == s.end() || !it->is_number()) throw std::runtime_error("no statistic " + name);
  return it->get<double>();
}

// ---- Report ---------------------------------------------------------------------------------

Report::Report(std::string testbench, Options options)
    : testbench_(std::move(testbench)), options_(std::move(options)), started_(wall_now()) {
  std::cout << testbench_ << (options_.quick ? " (quick)" : "") << "  iovsim " << IOVSIM_VERSION
            << std::endl;
}

std::string Report::run_dir(const std::string& label) const {
  return (std::filesystem::path(options_.out_dir) / label).string();
}

void Report::section(const std::string& title) {
  section_ = title;
}

bool Report::add(Row row, const std::string& name, double measured, double target) {
  row.section = section_;
  const std::string key = key_of(section_.empty() ? name : section_ + "." + name);
  stats_[key + ".measured"] = measured;
  stats_[key + ".target"] = target;
  stats_[key + ".pass"] = row.pass ? 1 : 0;
  rows_.push_back(row);
  return row.pass;
}

bool Report::within_rel(const std::string& name, const std::string& unit, double target,
                        double measured, double tolerance) {
  const double err = target != 0 ? (measured - target) / std::fabs(target) : measured;
  std::ostringstream e;
  e << std::showpos << std::fixed << std::setprecision(2) << 100 * err << " %";
  Row r{"",
        name,
        with_unit(target, unit),
        with_unit(measured, unit),
        "±" + compact(100 * tolerance) + " %",
        e.str()};
  r.pass = std::fabs(measured - target) <= tolerance * std::fabs(target) + 1e-12;
  return add(r, name, measured, target);
}

bool Report::within_abs(const std::string& name, const std::string& unit, double target,
                        double measured, double tolerance) {
  const double diff = std::fabs(measured - target) < 1e-9 ? 0 : measured - target;
  Row r{"",
        name,
        with_unit(target, unit),
        with_unit(measured, unit),
        "±" + compact(tolerance) + (unit.empty() ? "" : " " + unit),
        (diff >= 0 ? "+" : "") + with_unit(diff, unit)};
  r.pass = std::fabs(measured - target) <= tolerance + 1e-12;
  return add(r, name, measured, target);
}

bool Report::at_least(const std::string& name, const std::string& unit, double bound,
                      double measured) {
  Row r{"", name, ">= " + with_unit(bound, unit), with_unit(measured, unit), "bound", ""};
  r.pass = measured >= bound;
  return add(r, name, measured, bound);
}

bool Report::at_most(const std::string& name, const std::string& unit, double bound,
                     double measured) {
  Row r{"", name, "<= " + with_unit(bound, unit), with_unit(measured, unit), "bound", ""};
  r.pass = measured <= bound;
  return add(r, name, measured, bound);
}

bool Report::holds(const std::string& name, bool ok, const std::string& detail) {
  Row r{"", name, "yes", detail, "exact", ""};
  r.pass = ok;
  return add(r, name, ok ? 1 : 0, 1);
}

void Report::measure(const std::string& name, double value) {
  stats_[key_of(name)] = value;
}

int Report::finish() {
  std::size_t w[5] = {5, 6, 8, 9, 5};
  for (const Row& r : rows_) {
    w[0] = std::max(w[0], r.name.size());
    w[1] = std::max(w[1], r.target.size());
    w[2] = std::max(w[2], r.measured.size());
    w[3] = std::max(w[3], r.tolerance.size());
    w[4] = std::max(w[4], r.error.size());
  }
  auto cell = [](const std::string& s, std::size_t width) {
    // "±" is two bytes in UTF-8 but one column.
    std::size_t cols = 0;
    for (unsigned char c : s) cols += (c & 0xC0) != 0x80;
    return s + std::string(width > cols ? width - cols : 0, ' ');
  };
  bool pass = true;
  std::string section;
  std::cout << "\n  " << cell("check", w[0]) << "  " << cell("target", w[1]) << "  "
            << cell("measured", w[2]) << "  " << cell("tolerance", w[3]) << "  "
            << cell("error", w[4]) << "  result\n";
  for (const Row& r : rows_) {
    if (r.section != section) {
      section = r.section;
      std::cout << "  -- " << section << "\n";
    }
    pass = pass && r.pass;
    std::cout << "  " << cell(r.name, w[0]) << "  " << cell(r.target, w[1]) << "  "
              << cell(r.measured, w[2]) << "  " << cell(r.tolerance, w[3]) << "  "
              << cell(r.error, w[4]) << "  " << (r.pass ? "PASS" : "FAIL") << "\n";
  }
  const double wall = wall_now() - started_;
  std::size_t failed = 0;
  nlohmann::json checks = nlohmann::json::array();
  for (const Row& r : rows_) {
    failed += !r.pass;
    checks.push_back({{"section", r.section},
                      {"name", r.name},
                      {"target", r.target},
                      {"measured", r.measured},
                      {"tolerance", r.tolerance},
                      {"error", r.error},
                      {"pass", r.pass}});
  }
  std::cout << "\n"
            << testbench_ << ": " << (pass ? "PASS" : "FAIL") << " (" << rows_.size() - failed
            << " of " << rows_.size() << " checks passed, " << std::fixed << std::setprecision(1)
            << wall << " s)" << std::endl;

  nlohmann::json doc = {{"run",
                         {{"testbench", testbench_},
                          {"version", IOVSIM_VERSION},
                          {"quick", options_.quick},
                          {"pass", pass},
                          {"wall_s", wall}}},
                        {"stats", stats_},
                        {"checks", checks}};
  std::error_code ec;
  std::filesystem::create_directories(options_.out_dir, ec);
  const auto path = std::filesystem::path(options_.out_dir) / "stats.json";
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  if (!out) {
    std::cerr << testbench_ << ": cannot write " << path.string() << "\n";
    return 1;
  }
  return pass ? 0 : 1;
}

int guarded(const std::string& testbench, const std::function<int()>& main_body) {
  try {
    return main_body();
  } catch (const std::exception& e) {
    std::cout << testbench << ": FAIL (" << e.what() << ")" << std::endl;
    return 1;
  }
}

}  // namespace iovsim::testbench

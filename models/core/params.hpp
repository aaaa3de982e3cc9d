// Parameters: declared once, next to their use, with a type, default, description and constraints.
//
//   namespace { const core::IntParam kLatency{"memory.latency_ns", 80, "DRAM access latency (ns)",
//                                                core::Range{0, 1000000}}; }
//   ... int64_t latency = kLatency.get(config);
//
// Declarations register themselves in the process-wide ParamRegistry at static-initialisation time,
// so `iovsim params` and the generated parameter reference list every parameter of the linked
// models. A Config holds the values a user chose (JSON files, --set); every key is checked against
// the registry when it is set: unknown keys, wrong types and out-of-range values are ConfigErrors
// naming the culprit.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace iovsim::core {

enum class ParamType { kInt, kBool, kReal, kEnum, kString };
const char* to_string(ParamType t);

using ParamValue = std::variant<int64_t, bool, double, std::string>;

// Bad user input: the CLI reports what() on one line and exits 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Range {
  std::optional<double> min, max;
};

struct ParamInfo {
  std::string name;
  ParamType type = ParamType::kInt;
  ParamValue default_value;
  std::string description;
  Range range;                        // kInt, kReal: inclusive bounds
  std::vector<int64_t> allowed_ints;  // kInt: when non-empty, the only values accepted
  std::vector<std::string> choices;   // kEnum: the accepted words
};

class ParamRegistry {
 public:
  static ParamRegistry& instance();

  // Registers a declaration. Declaring the same name twice with a different shape is a programming
  // error (std::logic_error); identical re-declarations (a header included twice) are allowed.
  const ParamInfo& add(ParamInfo info);
  const ParamInfo* find(std::string_view name) const;
  std::vector<const ParamInfo*> all() const;  // sorted by name
  // The registered name closest to `name` (edit distance, preferring a matching last component).
  std::string nearest(std::string_view name) const;

 private:
  std::map<std::string, ParamInfo, std::less<>> params_;
};

// The values chosen for one run, layered over the declared defaults.
class Config {
 public:
  explicit Config(const ParamRegistry& registry = ParamRegistry::instance())
      : registry_(&registry) {}

  // Loads a JSON object (nested or dotted keys). `source` names the file in error messages.
  // Top-level keys starting with '_' are comments (presets use "_description").
  void load_json_text(const std::string& text, const std::string& source);
  void load_file(const std::string& path);
  // --set KEY=VALUE, the value parsed by the parameter's type.
  void set_assignment(const std::string& assignment, const std::string& source = "--set");
  void set(const std::string& name, const std::string& value_text,
           const std::string& source = "--set");
  void set_json(const std::string& name, const nlohmann::json& value, const std::string& source);

  bool is_set(std::string_view name) const { return values_.find(name) != values_.end(); }
  // Effective value: the one set, or the default. Asking for an undeclared name is a logic_error.
  const ParamValue& value(std::string_view name) const;
  int64_t get_int(std::string_view name) const;
  bool get_bool(std::string_view name) const;
  double get_real(std::string_view name) const;                // kReal (kInt converts)
  const std::string& get_string(std::string_view name) const;  // kString, kEnum

  // Every declared parameter with its effective value, dotted keys, sorted: loadable with --config.
  nlohmann::json to_json() const;
  const ParamRegistry& registry() const { return *registry_; }

 private:
  const ParamInfo& info_or_throw(const std::string& name, const std::string& source) const;
  void store(const ParamInfo& info, ParamValue v, const std::string& source);

  const ParamRegistry* registry_;
  std::map<std::string, ParamValue, std::less<>> values_;
};

// Parsing of values in the contract's syntax (exposed for tests and for tools that take values).
// Integers: 4096, -3, 0x1000, 4K, 2M, 1G, 1T (binary multiples). nullopt when malformed or
// overflowing.
std::optional<int64_t> parse_int(std::string_view text);
std::optional<bool> parse_bool(std::string_view text);  // true/false/1/0
std::optional<double> parse_real(std::string_view text);
std::string format_value(const ParamValue& v);
nlohmann::json value_to_json(const ParamValue& v);

// Typed declarations. Construct at namespace scope in the .cpp that uses the parameter.
class IntParam {
 public:
  IntParam(std::string name, int64_t def, std::string description, Range range = {});
  IntParam(std::string name, int64_t def, std::string description, std::vector<int64_t> allowed);
  int64_t get(const Config& c) const { return c.get_int(name_); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

class BoolParam {
 public:
  BoolParam(std::string name, bool def, std::string description);
  bool get(const Config& c) const { return c.get_bool(name_); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

class RealParam {
 public:
  RealParam(std::string name, double def, std::string description, Range range = {});
  double get(const Config& c) const { return c.get_real(name_); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

class EnumParam {
 public:
  EnumParam(std::string name, std::string def, std::string description,
            std::vector<std::string> choices);
  const std::string& get(const Config& c) const { return c.get_string(name_); }
  // Position of the chosen word in the declaration's choice list.
  std::size_t index(const Config& c) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::vector<std::string> choices_;
};

class StringParam {
 public:
  StringParam(std::string name, std::string def, std::string description);
  const std::string& get(const Config& c) const { return c.get_string(name_); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// Edit distance (Levenshtein), for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace iovsim::core

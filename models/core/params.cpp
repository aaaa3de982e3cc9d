#include "params.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace iovsim::core {

using nlohmann::json;

const char* to_string(ParamType t) {
  switch (t) {
    case ParamType::kInt:
      return "int";
    case ParamType::kBool:
      return "bool";
    case ParamType::kReal:
      return "real";
    case ParamType::kEnum:
      return "enum";
    case ParamType::kString:
      return "string";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Value syntax

std::optional<int64_t> parse_int(std::string_view text) {
  std::string s(text);
  if (s.empty()) return std::nullopt;
  int64_t mult = 1;
  switch (s.back()) {
    case 'k':
    case 'K':
      mult = int64_t{1} << 10;
      break;
    case 'm':
    case 'M':
      mult = int64_t{1} << 20;
      break;
    case 'g':
    case 'G':
      mult = int64_t{1} << 30;
      break;
    case 't':
    case 'T':
      mult = int64_t{1} << 40;
      break;
    default:
      break;
  }
  bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (mult != 1 && !hex) s.pop_back();
  if (s.empty() || s == "-") return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, hex ? 16 : 10);
  if (errno != 0 || end != s.c_str() + s.size()) return std::nullopt;
  if (s[0] == '+' || std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  if (v > std::numeric_limits<int64_t>::max() / mult ||
      v < std::numeric_limits<int64_t>::min() / mult)
    return std::nullopt;
  return static_cast<int64_t>(v) * mult;
}

std::optional<bool> parse_bool(std::string_view text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return std::nullopt;
}

std::optional<double> parse_real(std::string_view text) {
  std::string s(text);
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string format_value(const ParamValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto* d = std::get_if<double>(&v)) {
    std::ostringstream os;
    os << *d;
    return os.str();
  }
  return std::get<std::string>(v);
}

json value_to_json(const ParamValue& v) {
  return std::visit([](const auto& x) { return json(x); }, v);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// ---------------------------------------------------------------------------------------------
// Registry

ParamRegistry& ParamRegistry::instance() {
  static ParamRegistry registry;
  return registry;
}

const ParamInfo& ParamRegistry::add(ParamInfo info) {
  auto it = params_.find(info.name);
  if (it != params_.end()) {
    const ParamInfo& old = it->second;
    if (old.type != info.type || old.default_value != info.default_value ||
        old.choices != info.choices || old.allowed_ints != info.allowed_ints)
      throw std::logic_error("parameter '" + info.name + "' declared twice with different shapes");
    return old;
  }
  std::string name = info.name;
  return params_.emplace(std::move(name), std::move(info)).first->second;
}

const ParamInfo* ParamRegistry::find(std::string_view name) const {
  auto it = params_.find(name);
  return it == params_.end() ? nullptr : &it->second;
}

std::vector<const ParamInfo*> ParamRegistry::all() const {
  std::vector<const ParamInfo*> out;
  for (const auto& [name, info] : params_) out.push_back(&info);
  return out;
}

std::string ParamRegistry::nearest(std::string_view name) const {
  auto last = [](std::string_view s) {
    auto dot = s.rfind('.');
    return dot == std::string_view::npos ? s : s.substr(dot + 1);
  };
  std::string best;
  std::size_t best_score = std::numeric_limits<std::size_t>::max();
  for (const auto& [candidate, info] : params_) {
    std::size_t score = edit_distance(name, candidate);
    // A misplaced but correctly spelled leaf ("iotlb.entries" for "iommu.iotlb.entries") is close.
    if (last(name) == last(candidate)) score = std::min(score, edit_distance(name, candidate) / 2);
    if (score < best_score) best_score = score, best = candidate;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Declarations

namespace {
void check_default(const ParamInfo& info) {
  if (info.name.empty()) throw std::logic_error("parameter declared without a name");
}
}  // namespace

IntParam::IntParam(std::string name, int64_t def, std::string description, Range range)
    : name_(name) {
  ParamInfo info{name, ParamType::kInt, def, std::move(description), range, {}, {}};
  check_default(info);
  ParamRegistry::instance().add(std::move(info));
}

IntParam::IntParam(std::string name, int64_t def, std::string description,
                   std::vector<int64_t> allowed)
    : name_(name) {
  ParamInfo info{name, ParamType::kInt, def, std::move(description), {}, std::move(allowed), {}};
  check_default(info);
  ParamRegistry::instance().add(std::move(info));
}

BoolParam::BoolParam(std::string name, bool def, std::string description) : name_(name) {
  ParamRegistry::instance().add(
      ParamInfo{name, ParamType::kBool, def, std::move(description), {}, {}, {}});
}

RealParam::RealParam(std::string name, double def, std::string description, Range range)
    : name_(name) {
  ParamRegistry::instance().add(
      ParamInfo{name, ParamType::kReal, def, std::move(description), range, {}, {}});
}

EnumParam::EnumParam(std::string name, std::string def, std::string description,
                     std::vector<std::string> choices)
    : name_(name), choices_(choices) {
  if (std::find(choices.begin(), choices.end(), def) == choices.end())
    throw std::logic_error("enum parameter '" + name + "' default is not one of its choices");
  ParamRegistry::instance().add(ParamInfo{
      name, ParamType::kEnum, std::move(def), std::move(description), {}, {}, std::move(choices)});
}

std::size_t EnumParam::index(const Config& c) const {
  const std::string& word = get(c);
  return static_cast<std::size_t>(std::find(choices_.begin(), choices_.end(), word) -
                                  choices_.begin());
}

StringParam::StringParam(std::string name, std::string def, std::string description) : name_(name) {
  ParamRegistry::instance().add(
      ParamInfo{name, ParamType::kString, std::move(def), std::move(description), {}, {}, {}});
}

// ---------------------------------------------------------------------------------------------
// Config

namespace {

std::string quoted(const json& v) {
  return v.dump();
}

std::string join_ints(const std::vector<int64_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s;
}

std::string join_words(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

std::string range_text(const Range& r) {
  std::ostringstream os;
  os << "[" << (r.min ? format_value(*r.min) : std::string("-inf")) << ", "
     << (r.max ? format_value(*r.max) : std::string("inf")) << "]";
  return os.str();
}

// Converts a JSON value (or the JSON string holding --set text) to the parameter's type.
std::optional<ParamValue> convert(const ParamInfo& info, const json& v) {
  switch (info.type) {
    case ParamType::kInt:
      if (v.is_number_integer()) {
        if (v.is_number_unsigned() &&
            v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
          return std::nullopt;
        return ParamValue{v.get<int64_t>()};
      }
      if (v.is_number_float()) {
        double d = v.get<double>();
        if (d != std::floor(d) || std::fabs(d) > 9.0e18) return std::nullopt;
        return ParamValue{static_cast<int64_t>(d)};
      }
      if (v.is_string()) {
        if (auto i = parse_int(v.get<std::string>())) return ParamValue{*i};
      }
      return std::nullopt;
    case ParamType::kBool:
      if (v.is_boolean()) return ParamValue{v.get<bool>()};
      if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1))
        return ParamValue{v.get<int64_t>() == 1};
      if (v.is_string()) {
        if (auto b = parse_bool(v.get<std::string>())) return ParamValue{*b};
      }
      return std::nullopt;
    case ParamType::kReal:
      if (v.is_number()) return ParamValue{v.get<double>()};
      if (v.is_string()) {
        if (auto d = parse_real(v.get<std::string>())) return ParamValue{*d};
      }
      return std::nullopt;
    case ParamType::kEnum:
    case ParamType::kString:
      if (v.is_string()) return ParamValue{v.get<std::string>()};
      if (info.type == ParamType::kEnum && v.is_number()) return ParamValue{v.dump()};
      return std::nullopt;
  }
  return std::nullopt;
}

const char* expected_text(ParamType t) {
  switch (t) {
    case ParamType::kInt:
      return "an integer (e.g. 4096, 0x1000, 4K)";
    case ParamType::kBool:
      return "a boolean (true, false, 1, 0)";
    case ParamType::kReal:
      return "a number";
    case ParamType::kEnum:
      return "one of its words";
    case ParamType::kString:
      return "a string";
  }
  return "?";
}

// "line L, column C" of a byte offset, for JSON parse errors.
std::string position_of(const std::string& text, std::size_t byte) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n')
      ++line, col = 1;
    else
      ++col;
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

}  // namespace

const ParamInfo& Config::info_or_throw(const std::string& name, const std::string& source) const {
  if (const ParamInfo* info = registry_->find(name)) return *info;
  std::string msg = source + ": unknown parameter '" + name + "'";
  std::string near = registry_->nearest(name);
  if (!near.empty()) msg += "; did you mean '" + near + "'?";
  throw ConfigError(msg);
}

void Config::store(const ParamInfo& info, ParamValue v, const std::string& source) {
  const std::string prefix = source + ": parameter '" + info.name + "' = " + format_value(v);
  if (info.type == ParamType::kInt) {
    int64_t i = std::get<int64_t>(v);
    if (!info.allowed_ints.empty() &&
        std::find(info.allowed_ints.begin(), info.allowed_ints.end(), i) == info.allowed_ints.end())
      throw ConfigError(prefix + " is not one of " + join_ints(info.allowed_ints));
    if ((info.range.min && double(i) < *info.range.min) ||
        (info.range.max && double(i) > *info.range.max))
      throw ConfigError(prefix + " is out of range " + range_text(info.range));
  } else if (info.type == ParamType::kReal) {
    double d = std::get<double>(v);
    if ((info.range.min && d < *info.range.min) || (info.range.max && d > *info.range.max))
      throw ConfigError(prefix + " is out of range " + range_text(info.range));
  } else if (info.type == ParamType::kEnum) {
    const auto& w = std::get<std::string>(v);
    if (std::find(info.choices.begin(), info.choices.end(), w) == info.choices.end())
      throw ConfigError(prefix + " is not one of " + join_words(info.choices));
  }
  values_[info.name] = std::move(v);
}

void Config::set_json(const std::string& name, const json& value, const std::string& source) {
  const ParamInfo& info = info_or_throw(name, source);
  auto v = convert(info, value);
  if (!v)
    throw ConfigError(source + ": parameter '" + name + "' expects " + expected_text(info.type) +
                      ", got " + quoted(value));
  store(info, std::move(*v), source);
}

void Config::set(const std::string& name, const std::string& value_text,
                 const std::string& source) {
  set_json(name, json(value_text), source);
}

void Config::set_assignment(const std::string& assignment, const std::string& source) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(source + ": expected KEY=VALUE, got '" + assignment + "'");
  set(assignment.substr(0, eq), assignment.substr(eq + 1), source);
}

void Config::load_json_text(const std::string& text, const std::string& source) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    auto colon = what.rfind(
        ": ");  // drop nlohmann's "[json.exception.parse_error.101] ... at line L" prefix
    throw ConfigError(
        source + ":" + position_of(text, e.byte == 0 ? 0 : e.byte - 1) +
        ": malformed JSON: " + (colon == std::string::npos ? what : what.substr(colon + 2)));
  }
  if (!doc.is_object()) throw ConfigError(source + ": expected a JSON object of parameters");
  // Flatten nested objects into dotted names.
  struct Walker {
    Config& self;
    const std::string& source;
    void walk(const json& obj, const std::string& prefix) {
      for (auto it = obj.begin(); it != obj.end(); ++it) {
        const std::string& key = it.key();
        if (prefix.empty() && !key.empty() && key[0] == '_') continue;  // comment keys
        std::string name = prefix.empty() ? key : prefix + "." + key;
        if (it->is_object() && !self.registry_->find(name))
          walk(*it, name);
        else
          self.set_json(name, *it, source);
      }
    }
  };
  Walker{*this, source}.walk(doc, "");
}

void Config::load_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError(path + ": is a directory, not a configuration file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open configuration file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read configuration file");
  load_json_text(text.str(), path);
}

const ParamValue& Config::value(std::string_view name) const {
  auto it = values_.find(name);
  if (it != values_.end()) return it->second;
  const ParamInfo* info = registry_->find(name);
  if (!info)
    throw std::logic_error("parameter '" + std::string(name) + "' is used but never declared");
  return info->default_value;
}

int64_t Config::get_int(std::string_view name) const {
  return std::get<int64_t>(value(name));
}
bool Config::get_bool(std::string_view name) const {
  return std::get<bool>(value(name));
}
double Config::get_real(std::string_view name) const {
  const ParamValue& v = value(name);
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  return std::get<double>(v);
}
const std::string& Config::get_string(std::string_view name) const {
  return std::get<std::string>(value(name));
}

json Config::to_json() const {
  json out = json::object();
  for (const ParamInfo* info : registry_->all()) out[info->name] = value_to_json(value(info->name));
  return out;
}

}  // namespace iovsim::core

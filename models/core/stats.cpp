#include "stats.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace iovsim::core {

StatGroup::StatGroup(std::string name, StatGroup* parent)
    : name_(std::move(name)), parent_(parent) {
  if (parent_) parent_->children_.push_back(this);
}

StatGroup::~StatGroup() {
  if (parent_) {
    auto& siblings = parent_->children_;
    siblings.erase(std::remove(siblings.begin(), siblings.end(), this), siblings.end());
  }
  for (StatGroup* child : children_) child->parent_ = nullptr;
}

std::string StatGroup::path() const {
  std::string up = parent_ ? parent_->path() : std::string();
  if (name_.empty()) return up;
  return up.empty() ? name_ : up + "." + name_;
}

std::string StatGroup::qualify(const std::string& stat) const {
  std::string p = path();
  return p.empty() ? stat : p + "." + stat;
}

void StatGroup::check_new(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.name == name) throw std::logic_error("statistic '" + qualify(name) + "' declared twice");
}

Counter& StatGroup::add_counter(const std::string& name, const std::string& description) {
  check_new(name);
  auto c = std::make_unique<Counter>();
  Counter& ref = *c;
  entries_.push_back({name, description, std::move(c)});
  return ref;
}

Scalar& StatGroup::add_scalar(const std::string& name, const std::string& description) {
  check_new(name);
  auto s = std::make_unique<Scalar>();
  Scalar& ref = *s;
  entries_.push_back({name, description, std::move(s)});
  return ref;
}

void StatGroup::add_formula(const std::string& name, const std::string& description,
                            std::function<double()> f) {
  check_new(name);
  entries_.push_back({name, description, std::move(f)});
}

Histogram& StatGroup::add_histogram(const std::string& name, const std::string& description,
                                    double resolution) {
  check_new(name);
  auto h = std::make_unique<Histogram>(resolution);
  Histogram& ref = *h;
  entries_.push_back({name, description, std::move(h)});
  return ref;
}

namespace {
// Two stats of the tree flattening to one name would silently overwrite each other.
void put(StatMap& out, const std::string& name, StatValue v) {
  if (!out.emplace(name, v).second)
    throw std::logic_error("two statistics are named '" + name + "'");
}
}  // namespace

void StatGroup::collect(StatMap& out) const {
  for (const Entry& e : entries_) {
    const std::string full = qualify(e.name);
    if (auto* c = std::get_if<std::unique_ptr<Counter>>(&e.stat)) {
      put(out, full, (*c)->value);
    } else if (auto* s = std::get_if<std::unique_ptr<Scalar>>(&e.stat)) {
      put(out, full, (*s)->value);
    } else if (auto* f = std::get_if<std::function<double()>>(&e.stat)) {
      put(out, full, (*f)());
    } else {
      const Histogram& h = *std::get<std::unique_ptr<Histogram>>(e.stat);
      put(out, full + ".count", h.count());
      put(out, full + ".mean", h.mean());
      put(out, full + ".min", h.min());
      put(out, full + ".p50", h.percentile(50));
      put(out, full + ".p90", h.percentile(90));
      put(out, full + ".p99", h.percentile(99));
      put(out, full + ".max", h.max());
    }
  }
  for (const StatGroup* child : children_) child->collect(out);
}

void StatGroup::describe(std::map<std::string, std::string>& out) const {
  for (const Entry& e : entries_) out[qualify(e.name)] = e.description;
  for (const StatGroup* child : children_) child->describe(out);
}

void StatGroup::reset() {
  for (Entry& e : entries_) {
    if (auto* c = std::get_if<std::unique_ptr<Counter>>(&e.stat))
      (*c)->value = 0;
    else if (auto* s = std::get_if<std::unique_ptr<Scalar>>(&e.stat))
      (*s)->value = 0;
    else if (auto* h = std::get_if<std::unique_ptr<Histogram>>(&e.stat))
      (*h)->reset();
  }
  for (StatGroup* child : children_) child->reset();
}

nlohmann::json stats_to_json(const StatMap& stats) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, v] : stats) std::visit([&](auto x) { out[name] = x; }, v);
  return out;
}

std::string stats_to_csv(const StatMap& stats) {
  std::string out = "name,value\n";
  char buf[64];
  for (const auto& [name, v] : stats) {
    if (auto* u = std::get_if<uint64_t>(&v))
      std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(*u));
    else
      std::snprintf(buf, sizeof buf, "%.17g", std::get<double>(v));
    out += name + "," + buf + "\n";
  }
  return out;
}

}  // namespace iovsim::core

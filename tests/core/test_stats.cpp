// Statistics tree: paths, flattening of every stat kind (contract.md §3 names), lifetime of
// groups, and the exact JSON/CSV text scripts parse.
#include <catch2/catch.hpp>

#include <iovsim/core/stats.hpp>

#include <memory>
#include <string>

namespace core = iovsim::core;

namespace {
uint64_t as_u64(const core::StatMap& m, const std::string& k) {
  return std::get<uint64_t>(m.at(k));
}
double as_double(const core::StatMap& m, const std::string& k) {
  return std::get<double>(m.at(k));
}
}  // namespace

TEST_CASE("group paths join names with dots and the root is unnamed", "[stats]") {
  core::StatGroup root;
  core::StatGroup a("a", &root);
  core::StatGroup b("b", &a);
  core::StatGroup c("c", &b);
  CHECK(root.path().empty());
  CHECK(a.path() == "a");
  CHECK(b.path() == "a.b");
  CHECK(c.path() == "a.b.c");
  CHECK(c.parent() == &b);
  CHECK(root.parent() == nullptr);
  // An unnamed intermediate group adds no component.
  core::StatGroup anon("", &a);
  core::StatGroup leaf("leaf", &anon);
  CHECK(leaf.path() == "a.leaf");

  ++c.add_counter("hits", "lookups that hit");
  core::StatMap m;
  root.collect(m);
  REQUIRE(m.size() == 1);
  CHECK(as_u64(m, "a.b.c.hits") == 1);
}

TEST_CASE("counters, scalars, formulas and histograms flatten by full name", "[stats]") {
  core::StatGroup root;
  core::StatGroup iotlb("iotlb", &root);
  core::Counter& hits = iotlb.add_counter("hits", "hits");
  core::Counter& misses = iotlb.add_counter("misses", "misses");
  core::Scalar& gbps = root.add_scalar("throughput_gbps", "throughput");
  iotlb.add_formula("hit_rate", "hits / lookups", [&] {
    return core::ratio(static_cast<double>(hits.value),
                       static_cast<double>(hits.value + misses.value));
  });
  core::Histogram& lat = iotlb.add_histogram("latency_ns", "latency");

  hits += 3;
  ++misses;
  gbps.value = 12.5;
  for (int v = 1; v <= 10; ++v) lat.record(v * 10);

  core::StatMap m;
  root.collect(m);
  CHECK(m.size() == 11);  // 2 counters + 1 scalar + 1 formula + 7 histogram fields
  CHECK(as_u64(m, "iotlb.hits") == 3);
  CHECK(as_u64(m, "iotlb.misses") == 1);
  CHECK(as_double(m, "throughput_gbps") == 12.5);
  CHECK(as_double(m, "iotlb.hit_rate") == 0.75);  // formulas are evaluated at collect time
  CHECK(as_u64(m, "iotlb.latency_ns.count") == 10);
  CHECK(as_double(m, "iotlb.latency_ns.mean") == 55.0);
  CHECK(as_double(m, "iotlb.latency_ns.min") == 10.0);
  CHECK(as_double(m, "iotlb.latency_ns.p50") == 50.0);
  CHECK(as_double(m, "iotlb.latency_ns.p90") == 90.0);
  CHECK(as_double(m, "iotlb.latency_ns.p99") == 100.0);  // rank ceil(9.9) = 10
  CHECK(as_double(m, "iotlb.latency_ns.max") == 100.0);

  ++hits;
  m.clear();
  root.collect(m);
  CHECK(as_double(m, "iotlb.hit_rate") == 0.8);

  std::map<std::string, std::string> d;
  root.describe(d);
  CHECK(d.size() == 5);
  CHECK(d.at("iotlb.hit_rate") == "hits / lookups");
  CHECK(d.at("throughput_gbps") == "throughput");
}

TEST_CASE("ratio() is 0 for a zero denominator", "[stats]") {
  CHECK(core::ratio(5, 0) == 0.0);
  CHECK(core::ratio(0, 0) == 0.0);
  CHECK(core::ratio(3, 4) == 0.75);
  core::StatGroup g("g");
  core::Counter& hits = g.add_counter("hits", "");
  g.add_formula("rate", "", [&] { return core::ratio(static_cast<double>(hits.value), 0); });
  core::StatMap m;
  g.collect(m);
  CHECK(as_double(m, "g.rate") == 0.0);
}

TEST_CASE("declaring a stat name twice in a group is a logic_error", "[stats]") {
  core::StatGroup g("g");
  g.add_counter("x", "");
  CHECK_THROWS_AS(g.add_counter("x", ""), std::logic_error);
  CHECK_THROWS_AS(g.add_scalar("x", ""), std::logic_error);
  CHECK_THROWS_AS(g.add_histogram("x", ""), std::logic_error);
  CHECK_THROWS_AS(g.add_formula("x", "", [] { return 0.0; }), std::logic_error);
  try {
    g.add_counter("x", "");
  } catch (const std::logic_error& e) {
    CHECK_THAT(e.what(), Catch::Matchers::Contains("'g.x'"));
  }
  // The same name in another group is fine.
  core::StatGroup h("h");
  CHECK_NOTHROW(h.add_counter("x", ""));
}

TEST_CASE("a destroyed child group detaches from its parent", "[stats]") {
  core::StatGroup root;
  root.add_counter("top", "");
  {
    core::StatGroup child("child", &root);
    child.add_counter("n", "") += 4;
    core::StatMap m;
    root.collect(m);
    CHECK(m.count("child.n") == 1);
  }
  core::StatMap m;
  root.collect(m);  // must not touch the destroyed child
  CHECK(m.size() == 1);
  CHECK(m.count("top") == 1);

  // The parent going first leaves the child a root.
  auto parent = std::make_unique<core::StatGroup>("p");
  core::StatGroup orphan("o", parent.get());
  CHECK(orphan.path() == "p.o");
  parent.reset();
  CHECK(orphan.parent() == nullptr);
  CHECK(orphan.path() == "o");
}

TEST_CASE("reset zeroes counters, scalars and histograms recursively", "[stats]") {
  core::StatGroup root("r");
  core::StatGroup child("c", &root);
  core::Counter& n = root.add_counter("n", "");
  core::Scalar& s = child.add_scalar("s", "");
  core::Histogram& h = child.add_histogram("h", "");
  double external = 7;
  child.add_formula("f", "", [&] { return external; });
  n += 9;
  s.value = 2.5;
  h.record(3);
  root.reset();
  CHECK(n.value == 0);
  CHECK(s.value == 0.0);
  CHECK(h.count() == 0);
  core::StatMap m;
  root.collect(m);
  CHECK(as_u64(m, "r.n") == 0);
  CHECK(as_u64(m, "r.c.h.count") == 0);
  CHECK(as_double(m, "r.c.h.p99") == 0.0);
  CHECK(as_double(m, "r.c.f") == 7.0);  // formulas derive from state, not reset themselves
}

TEST_CASE("stats_to_json and stats_to_csv exact text", "[stats]") {
  core::StatMap m;
  m["b.count"] = uint64_t{3};
  m["a.rate"] = 0.5;
  m["c"] = uint64_t{18446744073709551615ull};
  m["d.mean"] = 2.0;
  CHECK(core::stats_to_json(m).dump() ==
        R"({"a.rate":0.5,"b.count":3,"c":18446744073709551615,"d.mean":2.0})");
  CHECK(core::stats_to_csv(m) ==
        "name,value\n"
        "a.rate,0.5\n"
        "b.count,3\n"
        "c,18446744073709551615\n"
        "d.mean,2\n");
  // Doubles are printed with round-trip precision.
  core::StatMap third{{"x", 1.0 / 3.0}};
  CHECK(core::stats_to_csv(third) == "name,value\nx,0.33333333333333331\n");
  CHECK(core::stats_to_json(core::StatMap{}).dump() == "{}");
  CHECK(core::stats_to_csv(core::StatMap{}) == "name,value\n");
}

TEST_CASE("two stats flattening to one name are an error, not a silent overwrite") {
  core::StatGroup root;
  root.add_histogram("lat", "a histogram: lat.count, lat.mean, ...");
  core::StatGroup child("lat", &root);
  child.add_counter("count", "collides with the histogram's lat.count");
  core::StatMap out;
  CHECK_THROWS_AS(root.collect(out), std::logic_error);
}

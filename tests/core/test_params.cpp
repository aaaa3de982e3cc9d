// Parameters: value syntax, JSON loading (nested/dotted, layering), and the error messages that
// the CLI prints verbatim: their key names, positions and suggestions are part of the contract.
#include <catch2/catch.hpp>

#include <iovsim/core/params.hpp>

#include <limits>
#include <string>

namespace core = iovsim::core;
using Catch::Matchers::Contains;

namespace {
// Test-only declarations, registered in the global registry like model parameters are.
const core::IntParam kTestInt{"test.int", 5, "test integer", core::Range{0, 100}};
const core::IntParam kTestPow2{"test.pow2", 4, "test allowed list",
                               std::vector<int64_t>{1, 2, 4, 8}};
const core::IntParam kTestBig{"test.big", 0, "test unbounded integer"};
const core::BoolParam kTestFlag{"test.flag", false, "test boolean"};
const core::RealParam kTestRatio{"test.ratio", 0.5, "test real", core::Range{0.0, 1.0}};
const core::EnumParam kTestMode{"test.mode", "lru", "test enum", {"lru", "plru", "fifo"}};
const core::StringParam kTestName{"test.name", "none", "test string"};

// The ConfigError message of f(), or "" when nothing was thrown.
template <typename F>
std::string config_error(F&& f) {
  try {
    f();
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("parse_int accepts decimal, hex and binary suffixes", "[params]") {
  CHECK(core::parse_int("4096") == 4096);
  CHECK(core::parse_int("0") == 0);
  CHECK(core::parse_int("-3") == -3);
  CHECK(core::parse_int("0x1000") == 4096);
  CHECK(core::parse_int("0X1f") == 31);
  CHECK(core::parse_int("4K") == 4096);
  CHECK(core::parse_int("4k") == 4096);
  CHECK(core::parse_int("2M") == 2 * 1024 * 1024);
  CHECK(core::parse_int("1G") == int64_t{1} << 30);
  CHECK(core::parse_int("1T") == int64_t{1} << 40);
  CHECK(core::parse_int("-4K") == -4096);
  CHECK(core::parse_int("9223372036854775807") == std::numeric_limits<int64_t>::max());
  CHECK(core::parse_int("-9223372036854775808") == std::numeric_limits<int64_t>::min());
  // (2^33 - 1) * 2^30 = 2^63 - 2^30 is the largest multiple of 1G that fits.
  const int64_t top = std::numeric_limits<int64_t>::max() - ((int64_t{1} << 30) - 1);
  CHECK(core::parse_int("8589934591G") == top);
}

TEST_CASE("parse_int rejects malformed and overflowing text", "[params]") {
  for (const char* bad : {"",
                          "-",
                          "K",
                          "4X",
                          "4KB",
                          "1.5K",
                          "abc",
                          "0x",
                          "0x10K",
                          "+4",
                          " 4",
                          "4 ",
                          "--4",
                          "-0x10",
                          "0x-1",
                          "0x 1",
                          "0x0x1",
                          "9223372036854775808",
                          "-9223372036854775809",
                          "8589934592G",
                          "0x8000000000000000",
                          "99999999999999999999T"}) {
    INFO("text: '" << bad << "'");
    CHECK_FALSE(core::parse_int(bad).has_value());
  }
}

TEST_CASE("parse_bool accepts true/false/1/0 only", "[params]") {
  CHECK(core::parse_bool("true") == true);
  CHECK(core::parse_bool("1") == true);
  CHECK(core::parse_bool("false") == false);
  CHECK(core::parse_bool("0") == false);
  for (const char* bad : {"yes", "no", "True", "FALSE", "on", "2", ""}) {
    INFO("text: '" << bad << "'");
    CHECK_FALSE(core::parse_bool(bad).has_value());
  }
}

TEST_CASE("parse_real and format_value", "[params]") {
  CHECK(core::parse_real("0.25") == 0.25);
  CHECK(core::parse_real("-2") == -2.0);
  CHECK(core::parse_real("1e3") == 1000.0);
  CHECK_FALSE(core::parse_real("").has_value());
  CHECK_FALSE(core::parse_real("1.5x").has_value());
  CHECK_FALSE(core::parse_real(" 1").has_value());
  CHECK_FALSE(core::parse_real("inf").has_value());
  CHECK_FALSE(core::parse_real("nan").has_value());
  CHECK(core::format_value(core::ParamValue{int64_t{-7}}) == "-7");
  CHECK(core::format_value(core::ParamValue{true}) == "true");
  CHECK(core::format_value(core::ParamValue{0.5}) == "0.5");
  CHECK(core::format_value(core::ParamValue{std::string("fifo")}) == "fifo");
}

TEST_CASE("defaults apply until a value is set", "[params]") {
  core::Config c;
  CHECK_FALSE(c.is_set("test.int"));
  CHECK(kTestInt.get(c) == 5);
  CHECK(kTestFlag.get(c) == false);
  CHECK(kTestRatio.get(c) == 0.5);
  CHECK(kTestMode.get(c) == "lru");
  CHECK(kTestMode.index(c) == 0);
  CHECK(kTestName.get(c) == "none");
  CHECK_THROWS_AS(c.value("test.never_declared"), std::logic_error);
}

TEST_CASE("set and set_assignment parse values by the parameter's type", "[params]") {
  core::Config c;
  c.set("test.big", "4K");
  CHECK(kTestBig.get(c) == 4096);
  c.set("test.big", "0x1000");
  CHECK(kTestBig.get(c) == 4096);
  c.set("test.big", "2M");
  CHECK(kTestBig.get(c) == 2097152);
  c.set("test.big", "1G");
  CHECK(kTestBig.get(c) == 1073741824);
  c.set("test.big", "-12");
  CHECK(kTestBig.get(c) == -12);
  c.set_assignment("test.flag=true");
  CHECK(kTestFlag.get(c) == true);
  c.set_assignment("test.flag=0");
  CHECK(kTestFlag.get(c) == false);
  c.set_assignment("test.flag=1");
  CHECK(kTestFlag.get(c) == true);
  c.set_assignment("test.mode=fifo");
  CHECK(kTestMode.get(c) == "fifo");
  CHECK(kTestMode.index(c) == 2);
  c.set_assignment("test.ratio=0.125");
  CHECK(kTestRatio.get(c) == 0.125);
  c.set_assignment("test.name=a=b");  // only the first '=' separates key and value
  CHECK(kTestName.get(c) == "a=b");
  CHECK(c.is_set("test.name"));
  // An int converts for a real getter.
  CHECK(c.get_real("test.big") == -12.0);
}

TEST_CASE("wrong-typed values are errors naming the key", "[params]") {
  core::Config c;
  std::string e = config_error([&] { c.set("test.int", "4X", "--set"); });
  CHECK_THAT(e, Contains("--set") && Contains("'test.int'") && Contains("4X"));
  e = config_error([&] { c.set("test.int", ""); });
  CHECK_THAT(e, Contains("'test.int'"));
  e = config_error([&] { c.set("test.big", "9223372036854775808"); });
  CHECK_THAT(e, Contains("'test.big'"));
  e = config_error([&] { c.set("test.flag", "yes"); });
  CHECK_THAT(e, Contains("'test.flag'") && Contains("yes"));
  e = config_error([&] { c.load_json_text(R"({"test.flag": "yes"})", "f.json"); });
  CHECK_THAT(e, Contains("f.json") && Contains("'test.flag'"));
  e = config_error([&] { c.load_json_text(R"({"test.int": 4.5})", "f.json"); });
  CHECK_THAT(e, Contains("'test.int'"));
  e = config_error([&] { c.load_json_text(R"({"test.int": true})", "f.json"); });
  CHECK_THAT(e, Contains("'test.int'"));
  e = config_error([&] { c.load_json_text(R"({"test.name": 3})", "f.json"); });
  CHECK_THAT(e, Contains("'test.name'"));
  e = config_error([&] { c.load_json_text(R"({"test": {"int": {"x": 1}}})", "f.json"); });
  CHECK_THAT(e, Contains("'test.int'"));
  e = config_error([&] { c.set_assignment("test.int"); });
  CHECK_THAT(e, Contains("KEY=VALUE"));
  e = config_error([&] { c.set_assignment("=5"); });
  CHECK_THAT(e, Contains("KEY=VALUE"));
  // Nothing above changed the effective values.
  CHECK_FALSE(c.is_set("test.int"));
  CHECK_FALSE(c.is_set("test.flag"));
}

TEST_CASE("range, allowed-list and enum-choice violations are errors", "[params]") {
  core::Config c;
  std::string e = config_error([&] { c.set("test.int", "101"); });
  CHECK_THAT(e, Contains("'test.int' = 101") && Contains("out of range [0, 100]"));
  e = config_error([&] { c.set("test.int", "-1"); });
  CHECK_THAT(e, Contains("'test.int' = -1") && Contains("out of range [0, 100]"));
  // The bounds themselves are inclusive.
  c.set("test.int", "0");
  CHECK(kTestInt.get(c) == 0);
  c.set("test.int", "100");
  CHECK(kTestInt.get(c) == 100);

  e = config_error([&] { c.set("test.pow2", "3"); });
  CHECK_THAT(e, Contains("'test.pow2' = 3") && Contains("is not one of 1, 2, 4, 8"));
  c.set("test.pow2", "8");
  CHECK(kTestPow2.get(c) == 8);

  e = config_error([&] { c.set("test.ratio", "1.5"); });
  CHECK_THAT(e, Contains("'test.ratio'") && Contains("out of range [0, 1]"));

  e = config_error([&] { c.set("test.mode", "random"); });
  CHECK_THAT(e, Contains("'test.mode' = random") && Contains("is not one of lru, plru, fifo"));
  e = config_error([&] { c.set("test.mode", "LRU"); });  // words are case-sensitive
  CHECK_THAT(e, Contains("'test.mode'"));
  CHECK(kTestMode.get(c) == "lru");
}

TEST_CASE("unknown keys suggest the nearest known key", "[params]") {
  core::Config c;
  std::string e = config_error([&] { c.set("test.flagg", "1", "--set"); });
  CHECK_THAT(e, Contains("--set: unknown parameter 'test.flagg'") &&
                    Contains("did you mean 'test.flag'?"));
  e = config_error([&] { c.load_json_text(R"({"test": {"intt": 1}})", "x.json"); });
  CHECK_THAT(e,
             Contains("x.json") && Contains("'test.intt'") && Contains("did you mean 'test.int'?"));
}

TEST_CASE("nearest prefers a matching last component", "[params]") {
  core::ParamRegistry r;
  r.add({"iommu.iotlb.entries", core::ParamType::kInt, int64_t{64}, "d", {}, {}, {}});
  r.add({"iommu.iotlb.ways", core::ParamType::kInt, int64_t{0}, "d", {}, {}, {}});
  r.add({"pcie.mps", core::ParamType::kInt, int64_t{256}, "d", {}, {}, {}});
  // "iotlb.entries" is 6 edits from its full name, halved for the matching leaf.
  CHECK(r.nearest("iotlb.entries") == "iommu.iotlb.entries");
  CHECK(r.nearest("iommu.iotlb.way") == "iommu.iotlb.ways");
  CHECK(r.nearest("pcie.mp") == "pcie.mps");
  CHECK(core::ParamRegistry().nearest("anything").empty());

  core::Config c(r);
  std::string e = config_error([&] { c.set("iotlb.entries", "1"); });
  CHECK_THAT(e, Contains("did you mean 'iommu.iotlb.entries'?"));
}

TEST_CASE("registry: identical re-declaration is allowed, another shape is not", "[params]") {
  core::ParamRegistry r;
  const core::ParamInfo& a = r.add({"x.y", core::ParamType::kInt, int64_t{1}, "d", {}, {}, {}});
  const core::ParamInfo& b = r.add({"x.y", core::ParamType::kInt, int64_t{1}, "d", {}, {}, {}});
  CHECK(&a == &b);
  CHECK_THROWS_AS(r.add({"x.y", core::ParamType::kInt, int64_t{2}, "d", {}, {}, {}}),
                  std::logic_error);
  CHECK_THROWS_AS(r.add({"x.y", core::ParamType::kBool, false, "d", {}, {}, {}}), std::logic_error);
  r.add({"a.b", core::ParamType::kBool, true, "d", {}, {}, {}});
  auto all = r.all();
  REQUIRE(all.size() == 2);
  CHECK(all[0]->name == "a.b");
  CHECK(all[1]->name == "x.y");
  CHECK(r.find("x.y") == &a);
  CHECK(r.find("x") == nullptr);
  // The global registry has the test declarations with their shapes.
  const core::ParamInfo* info = core::ParamRegistry::instance().find("test.mode");
  REQUIRE(info != nullptr);
  CHECK(info->type == core::ParamType::kEnum);
  CHECK(info->choices == std::vector<std::string>{"lru", "plru", "fifo"});
  CHECK(std::string(core::to_string(info->type)) == "enum");
  // An enum whose default is not a choice is a declaration bug.
  CHECK_THROWS_AS(core::EnumParam("test.bad_enum", "x", "d", {"a", "b"}), std::logic_error);
}

TEST_CASE("nested and dotted JSON keys give the same values", "[params]") {
  core::Config nested, dotted;
  nested.load_json_text(R"({"test": {"int": 42, "flag": true, "mode": "plru", "ratio": 0.25,
                                     "name": "n", "big": "4K"}})",
                        "nested.json");
  dotted.load_json_text(R"({"test.int": 42, "test.flag": true, "test.mode": "plru",
                            "test.ratio": 0.25, "test.name": "n", "test.big": "4K"})",
                        "dotted.json");
  for (const core::Config* c : {&nested, &dotted}) {
    CHECK(kTestInt.get(*c) == 42);
    CHECK(kTestFlag.get(*c) == true);
    CHECK(kTestMode.get(*c) == "plru");
    CHECK(kTestRatio.get(*c) == 0.25);
    CHECK(kTestName.get(*c) == "n");
    CHECK(kTestBig.get(*c) == 4096);
  }
  CHECK(nested.to_json() == dotted.to_json());
}

TEST_CASE("later loads and --set override earlier ones", "[params]") {
  core::Config c;
  c.load_json_text(R"({"test.int": 10, "test.mode": "fifo"})", "a.json");
  c.load_json_text(R"({"test": {"int": 20}})", "b.json");
  CHECK(kTestInt.get(c) == 20);
  CHECK(kTestMode.get(c) == "fifo");  // untouched by b.json
  c.set_assignment("test.int=30");
  CHECK(kTestInt.get(c) == 30);
  c.load_json_text(R"({"test.int": 40})", "c.json");
  CHECK(kTestInt.get(c) == 40);
}

TEST_CASE("top-level keys starting with '_' are comments", "[params]") {
  core::Config c;
  c.load_json_text(R"({"_description": "a preset", "_note": {"anything": 1}, "test.int": 7})",
                   "p.json");
  CHECK(kTestInt.get(c) == 7);
  CHECK_FALSE(c.is_set("_description"));
  // Only at the top level: a nested "_x" is an ordinary (here unknown) key.
  std::string e = config_error([&] { c.load_json_text(R"({"test": {"_x": 1}})", "p.json"); });
  CHECK_THAT(e, Contains("unknown parameter 'test._x'"));
}

TEST_CASE("non-object and malformed JSON are errors with source:line:col", "[params]") {
  core::Config c;
  CHECK_THAT(config_error([&] { c.load_json_text("[1, 2]", "arr.json"); }),
             Contains("arr.json") && Contains("JSON object"));
  // The stray '}' is on line 3; "  \"test.flag\": " is 15 characters, so it is column 16.
  const std::string text = "{\n  \"test.int\": 5,\n  \"test.flag\": }\n}\n";
  std::string e = config_error([&] { c.load_json_text(text, "bad.json"); });
  CHECK_THAT(e, Contains("bad.json:3:16:") && Contains("malformed JSON"));
  // A trailing comma: the parser fails on the '}' at line 3, column 1.
  e = config_error([&] { c.load_json_text("{\n  \"test.int\": 5,\n}", "comma.json"); });
  CHECK_THAT(e, Contains("comma.json:3:1:"));
  // Error on the first line: '@' is the 14th character.
  e = config_error([&] { c.load_json_text(R"({"test.int": @})", "one.json"); });
  CHECK_THAT(e, Contains("one.json:1:14:"));
  // The failed loads did not apply the valid entries before the error.
  CHECK_FALSE(c.is_set("test.int"));
}

TEST_CASE("load_file reports unreadable files", "[params]") {
  core::Config c;
  std::string e = config_error([&] { c.load_file("/nonexistent/dir/cfg.json"); });
  CHECK_THAT(e, Contains("/nonexistent/dir/cfg.json"));
}

TEST_CASE("to_json dumps every parameter and round-trips", "[params]") {
  core::Config c;
  c.set("test.int", "77");
  c.set("test.flag", "true");
  c.set("test.mode", "fifo");
  c.set("test.ratio", "0.75");
  c.set("test.name", "hello");
  c.set("test.big", "-2G");
  nlohmann::json j = c.to_json();
  const auto all = core::ParamRegistry::instance().all();
  CHECK(j.size() == all.size());
  for (const core::ParamInfo* info : all) {
    INFO(info->name);
    CHECK(j.contains(info->name));
  }
  CHECK(j["test.int"] == 77);
  CHECK(j["test.flag"] == true);
  CHECK(j["test.mode"] == "fifo");
  CHECK(j["test.ratio"] == 0.75);
  CHECK(j["test.name"] == "hello");
  CHECK(j["test.big"] == -2147483648LL);
  CHECK(j["test.pow2"] == 4);  // defaults are included too

  core::Config back;
  back.load_json_text(j.dump(2), "config.json");
  CHECK(back.to_json() == j);
  CHECK(kTestBig.get(back) == -2147483648LL);
  CHECK(kTestRatio.get(back) == 0.75);
}

TEST_CASE("edit_distance is the Levenshtein distance", "[params]") {
  CHECK(core::edit_distance("", "") == 0);
  CHECK(core::edit_distance("", "abc") == 3);
  CHECK(core::edit_distance("abc", "") == 3);
  CHECK(core::edit_distance("abc", "abc") == 0);
  CHECK(core::edit_distance("kitten", "sitting") == 3);
  CHECK(core::edit_distance("flaw", "lawn") == 2);
  CHECK(core::edit_distance("ab", "ba") == 2);  // a transposition is two edits
  CHECK(core::edit_distance("test.flagg", "test.flag") == 1);
}

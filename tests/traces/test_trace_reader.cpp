// The trace reader and writer (plain C++): the input and capture formats, and an error naming file
// and line for every kind of bad input.
#include <sstream>

#include <catch2/catch.hpp>

#include <iovsim/core/params.hpp>
#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/traces/trace_reader.hpp>

using iovsim::core::ConfigError;
using iovsim::traces::Trace;
using iovsim::traces::TraceFormat;
using iovsim::traces::TraceReader;
using iovsim::traces::TraceReaderOptions;
using iovsim::traces::TraceRecord;

namespace {

Trace read(const std::string& text, TraceReaderOptions options = {}) {
  std::istringstream in(text);
  return TraceReader(options).read(in, "t.csv");
}

// Reading `text` fails with a message containing `needle` (which names the line).
void expect_error(const std::string& text, const std::string& needle,
                  TraceReaderOptions options = {}) {
  INFO("trace:\n" << text);
  try {
    read(text, options);
    FAIL("no error; expected: " << needle);
  } catch (const ConfigError& e) {
    INFO("message: " << e.what());
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}

const std::string kHeader = "time_ns,rid,iova,size,dir\n";

}  // namespace

TEST_CASE("reader: comments, blank lines, CRLF, both rid forms, hex and decimal addresses") {
  const Trace t = read(
      "# made by hand\n"
      "time_ns,rid,iova,size,dir,pasid\r\n"
      "\n"
      "0,01:00.0,0x1000,64,R,\n"
      "  # an indented comment\n"
      "12.5, 257 ,4096,4096,W,7\r\n"
      "12.5,0x0102,0X2000,1,R,0xfffff\n");
  CHECK(t.format == TraceFormat::kInput);
  CHECK(t.source == "t.csv");
  REQUIRE(t.records.size() == 3);
  const TraceRecord& a = t.records[0];
  CHECK(a.time_ps == 0);
  CHECK(a.rid == 0x0100);
  CHECK(a.iova == 0x1000);
  CHECK(a.size == 64);
  CHECK_FALSE(a.write);
  CHECK_FALSE(a.has_pasid);
  CHECK(a.line == 4);
  const TraceRecord& b = t.records[1];
  CHECK(b.time_ps == 12500);
  CHECK(b.rid == 0x0101);
  CHECK(b.iova == 4096);
  CHECK(b.size == 4096);
  CHECK(b.write);
  CHECK(b.has_pasid);
  CHECK(b.pasid == 7);
  CHECK(b.line == 6);
  CHECK(t.records[2].rid == 0x0102);
  CHECK(t.records[2].iova == 0x2000);
  CHECK(t.records[2].pasid == 0xfffff);
}

TEST_CASE("reader: columns in any order, and a complete last line needs no newline") {
  const Trace t = read("dir,size,iova,rid,time_ns\nW,8,0x10,01:02.3,5");
  REQUIRE(t.records.size() == 1);
  CHECK(t.records[0].write);
  CHECK(t.records[0].size == 8);
  CHECK(t.records[0].iova == 0x10);
  CHECK(t.records[0].rid == iovsim::core::make_rid(1, 2, 3));
  CHECK(t.records[0].time_ps == 5000);
}

TEST_CASE("reader: time fields are decimal nanoseconds, rounded to the picosecond") {
  uint64_t ps = 0;
  CHECK(iovsim::traces::parse_time_ns("17", ps));
  CHECK(ps == 17000);
  CHECK(iovsim::traces::parse_time_ns("1.5", ps));
  CHECK(ps == 1500);
  CHECK(iovsim::traces::parse_time_ns("0.0004", ps));
  CHECK(ps == 0);
  CHECK(iovsim::traces::parse_time_ns("0.0005", ps));
  CHECK(ps == 1);
  CHECK(iovsim::traces::parse_time_ns(".25", ps));
  CHECK(ps == 250);
  for (const char* bad : {"", ".", "-1", "1e3", "0x10", "1.2.3", "1234567890123456"})
    CHECK_FALSE(iovsim::traces::parse_time_ns(bad, ps));
  CHECK(iovsim::traces::format_time_ns(1500) == "1.5");
  CHECK(iovsim::traces::format_time_ns(17000) == "17");
  CHECK(iovsim::traces::format_time_ns(1) == "0.001");
}

TEST_CASE("reader: every malformed field is an error naming its line") {
  expect_error(kHeader + "abc,01:00.0,0x0,64,R\n", "t.csv:2: time_ns 'abc' is not");
  expect_error(kHeader + "-5,01:00.0,0x0,64,R\n", "t.csv:2: time_ns '-5'");
  expect_error(kHeader + "0,01:00.0,0x0,64,R\n1,zz,0x0,64,R\n", "t.csv:3: rid 'zz' is not BB:DD.F");
  expect_error(kHeader + "0,01:20.0,0x0,64,R\n", "t.csv:2: rid '01:20.0'");
  expect_error(kHeader + "0,70000,0x0,64,R\n", "t.csv:2: rid '70000'");
  expect_error(kHeader + "0,01:00.0,0xZZ,64,R\n", "t.csv:2: iova '0xZZ' is not");
  expect_error(kHeader + "0,01:00.0,-4096,64,R\n", "t.csv:2: iova '-4096'");
  expect_error(kHeader + "0,01:00.0,0x10000000000000000,64,R\n", "t.csv:2: iova '0x1");
  expect_error(kHeader + "0,01:00.0,0xffffffffffffffc0,128,R\n",
               "t.csv:2: iova 0xffffffffffffffc0 + size 128 wraps");
  expect_error(kHeader + "0,01:00.0,0x0,abc,R\n", "t.csv:2: size 'abc' is not");
  expect_error(kHeader + "0,01:00.0,0x0,R,64\n", "t.csv:2: size 'R' is not");
  expect_error(kHeader + "0,01:00.0,0x0,64,X\n", "t.csv:2: dir 'X' is not R or W");
  expect_error(kHeader + "0,01:00.0,0x0,64,read\n", "t.csv:2: dir 'read'");
  expect_error("time_ns,rid,iova,size,dir,pasid\n0,01:00.0,0x0,64,R,0x100000\n",
               "t.csv:2: pasid '0x100000' is not empty or 0..0xfffff");
}

TEST_CASE("reader: sizes of 0 and above 4 KiB are errors naming the line") {
  expect_error(kHeader + "0,01:00.0,0x0,64,R\n# c\n5,01:00.0,0x0,0,R\n",
               "t.csv:4: size 0 is not in 1..4096 bytes");
  expect_error(kHeader + "0,01:00.0,0x0,4097,W\n", "t.csv:2: size 4097 is not in 1..4096 bytes");
}

TEST_CASE("reader: unsorted times are an error naming the line and both times") {
  expect_error(
      kHeader + "0,01:00.0,0x0,64,R\n10,01:00.0,0x0,64,R\n5,01:00.0,0x0,64,R\n",
      "t.csv:4: time_ns 5 is before line 3's 10: an input trace must be sorted by time_ns");
  // Equal times are sorted.
  CHECK(read(kHeader + "7,01:00.0,0x0,64,R\n7,01:00.0,0x40,64,R\n").records.size() == 2);
}

TEST_CASE("reader: a requester id the player cannot issue from is an error naming the line") {
  TraceReaderOptions o;
  o.min_bus = 1;
  o.max_bus = 8;
  o.bus_range_owner = "root port 0";
  expect_error(kHeader + "0,01:00.0,0x0,64,R\n0,09:00.0,0x0,64,R\n",
               "t.csv:3: unknown requester id 09:00.0: not on the buses 01-08 below root port 0 "
               "(ACS source validation would block its requests)",
               o);
  expect_error(kHeader + "0,0,0x0,64,R\n", "t.csv:2: unknown requester id 00:00.0", o);
  CHECK(read(kHeader + "0,08:1f.7,0x0,64,R\n", o).records.size() == 1);
}

TEST_CASE("reader: wrong field counts and truncated files are errors naming the line") {
  expect_error(kHeader + "0,01:00.0,0x0,64\n1,01:00.0,0x0,64,R\n",
               "t.csv:2: expected 5 fields as in the header, found 4");
  expect_error(kHeader + "0,01:00.0,0x0,64,R,9\n",
               "t.csv:2: expected 5 fields as in the header, found 6");
  expect_error(kHeader + "0,01:00.0,0x0,64,R\n5,01:00.0,0x10",
               "t.csv:3: truncated: the file ends inside this row (3 of 5 fields, no newline)");
  expect_error(kHeader + "0,01:00.0,0x0,64,R\n5,01:00.0,0x10,64,",
               "t.csv:3: truncated: the file ends inside this row (5 of 5 fields");
  // An empty optional pasid at the end of an unterminated last line is not a truncation.
  CHECK(read("time_ns,rid,iova,size,dir,pasid\n0,01:00.0,0x0,64,R,").records.size() == 1);
}

TEST_CASE("reader: header problems and empty traces are errors") {
  expect_error("0,01:00.0,0x0,64,R\n", "t.csv:1: missing header line: expected the columns");
  expect_error("# only a comment\n\n", "t.csv: empty trace: no header line");
  expect_error("", "t.csv: empty trace");
  expect_error("# c\n" + kHeader + "# nothing else\n", "t.csv:3: the trace has no requests");
  expect_error("time_ns,rid,iova,bytes,dir\n", "t.csv:1: unknown column 'bytes'");
  expect_error("time_ns,rid,iova,dir\n", "t.csv:1: missing column 'size'");
  expect_error("time_ns,rid,iova,size,dir,rid\n", "t.csv:1: column 'rid' appears twice");
  expect_error("issue_ns,rid,iova,dir\n",
               "t.csv:1: missing column 'size' in the header (expected issue_ns");
}

TEST_CASE("reader: capture files are recognised, sorted by issue_ns and start at 0") {
  // As trace.capture writes them: in completion order, absolute times, an empty fault column.
  const Trace t = read(
      "issue_ns,done_ns,rid,iova,size,dir,hpa,iotlb,latency_ns,fault\n"
      "2000.000,2090.000,01:00.0,0x3000,64,R,0x1000003000,miss,90.000,\n"
      "1500.500,2100.000,01:00.1,0x1000,128,W,0x1000001000,miss,599.500,\n"
      "2050.000,2101.000,01:00.0,0x3040,64,R,0x1000003040,hit,2.000,0x6\n");
  CHECK(t.format == TraceFormat::kCapture);
  REQUIRE(t.records.size() == 3);
  CHECK(t.records[0].time_ps == 0);
  CHECK(t.records[0].rid == 0x0101);
  CHECK(t.records[0].write);
  CHECK(t.records[0].size == 128);
  CHECK(t.records[0].line == 3);
  CHECK(t.records[1].time_ps == 499500);
  CHECK(t.records[1].iova == 0x3000);
  CHECK(t.records[2].time_ps == 549500);
  CHECK(t.records[2].line == 4);
  // Field errors still name the line.
  expect_error(
      "issue_ns,done_ns,rid,iova,size,dir,hpa,iotlb,latency_ns,fault\n"
      "1.0,2.0,01:00.0,0x0,0,R,0x0,hit,1.0,\n",
      "t.csv:2: size 0");
  expect_error(
      "issue_ns,done_ns,rid,iova,size,dir,hpa,iotlb,latency_ns,fault\n"
      "x,2.0,01:00.0,0x0,64,R,0x0,hit,1.0,\n",
      "t.csv:2: issue_ns 'x'");
}

TEST_CASE("writer: what it writes reads back the same") {
  std::vector<TraceRecord> rs(3);
  rs[0] = {0, 0x1000, 64, 0, 0, 0x0100, false, false};
  rs[1] = {1500, 0xfffff000, 4096, 5, 0, 0x0101, true, true};
  rs[2] = {1000001, 12, 1, 0, 0, 0x0810, false, false};
  std::ostringstream out;
  iovsim::traces::TraceWriter::write(out, rs);
  const Trace t = read(out.str());
  REQUIRE(t.records.size() == 3);
  for (std::size_t i = 0; i < rs.size(); ++i) {
    CHECK(t.records[i].time_ps == rs[i].time_ps);
    CHECK(t.records[i].iova == rs[i].iova);
    CHECK(t.records[i].size == rs[i].size);
    CHECK(t.records[i].rid == rs[i].rid);
    CHECK(t.records[i].write == rs[i].write);
    CHECK(t.records[i].has_pasid == rs[i].has_pasid);
    CHECK(t.records[i].pasid == rs[i].pasid);
  }
  CHECK(out.str().rfind("time_ns,rid,iova,size,dir,pasid\n0,01:00.0,0x1000,64,R,\n", 0) == 0);
}

TEST_CASE("reader: a missing file and a directory are named") {
  try {
    TraceReader().read_file("/nonexistent/t.csv");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("cannot read '/nonexistent/t.csv'") != std::string::npos);
  }
  CHECK_THROWS_AS(TraceReader().read_file("/"), ConfigError);
}

#include "trace_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <ostream>

#include <iovsim/core/params.hpp>
#include <iovsim/core/pcie_ext.hpp>

namespace iovsim::traces {

namespace {

constexpr const char* kInputColumns = "time_ns,rid,iova,size,dir and optionally pasid";
constexpr const char* kCaptureColumns =
    "issue_ns,done_ns,rid,iova,size,dir,hpa,iotlb,latency_ns,fault";

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  for (;;) {
    const auto comma = line.find(',', start);
    fields.push_back(trim(line.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return fields;
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Where each column is in a row; -1 when absent.
struct Columns {
  TraceFormat format = TraceFormat::kInput;
  std::size_t count = 0;
  int time = -1, rid = -1, iova = -1, size = -1, dir = -1, pasid = -1;
  const char* time_name() const { return format == TraceFormat::kCapture ? "issue_ns" : "time_ns"; }
};

class Parser {
 public:
  Parser(const TraceReaderOptions& options, const std::string& name)
      : options_(options), name_(name) {}

  [[noreturn]] void fail(unsigned line, const std::string& what) const {
    throw core::ConfigError(name_ + ":" + std::to_string(line) + ": " + what);
  }

  Columns header(const std::string& text, unsigned line) const {
    const std::vector<std::string> names = split(text);
    uint64_t ignored;
    if (parse_time_ns(names[0], ignored))
      fail(line, "missing header line: expected the columns " + std::string(kInputColumns) +
                     " (found a data row)");
    Columns c;
    c.count = names.size();
    c.format = std::find(names.begin(), names.end(), "issue_ns") != names.end()
                   ? TraceFormat::kCapture
                   : TraceFormat::kInput;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string& n = names[i];
      int* slot = nullptr;
      if (n == c.time_name())
        slot = &c.time;
      else if (n == "rid")
        slot = &c.rid;
      else if (n == "iova")
        slot = &c.iova;
      else if (n == "size")
        slot = &c.size;
      else if (n == "dir")
        slot = &c.dir;
      else if (n == "pasid" && c.format == TraceFormat::kInput)
        slot = &c.pasid;
      if (!slot) {
        // A capture's other columns (and any it gains later) are not needed to replay it.
        if (c.format == TraceFormat::kCapture) continue;
        fail(line, "unknown column '" + n + "' in the header (an input trace has " + kInputColumns +
                       "; a capture file has " + kCaptureColumns + ")");
      }
      if (*slot >= 0) fail(line, "column '" + n + "' appears twice in the header");
      *slot = static_cast<int>(i);
    }
    const std::pair<const char*, int> required[] = {{c.time_name(), c.time},
                                                    {"rid", c.rid},
                                                    {"iova", c.iova},
                                                    {"size", c.size},
                                                    {"dir", c.dir}};
    for (const auto& [n, at] : required)
      if (at < 0)
        fail(line, std::string("missing column '") + n + "' in the header (expected " +
                       (c.format == TraceFormat::kCapture ? kCaptureColumns : kInputColumns) + ")");
    return c;
  }

  TraceRecord row(const Columns& c, const std::string& text, unsigned line, bool no_newline) const {
    const std::vector<std::string> f = split(text);
    // Without a final newline, a row short of fields, or whose last field is empty where a value
    // is required, is where the file was cut.
    const bool last_required =
        c.format == TraceFormat::kInput && static_cast<int>(f.size()) - 1 != c.pasid;
    if (no_newline && (f.size() < c.count || (f.back().empty() && last_required)))
      fail(line, "truncated: the file ends inside this row (" + std::to_string(f.size()) + " of " +
                     std::to_string(c.count) + " fields, no newline)");
    if (f.size() != c.count)
      fail(line, "expected " + std::to_string(c.count) + " fields as in the header, found " +
                     std::to_string(f.size()));
    TraceRecord r;
    r.line = line;
    if (!parse_time_ns(f[c.time], r.time_ps))
      fail(line, std::string(c.time_name()) + " '" + f[c.time] +
                     "' is not a non-negative decimal number of nanoseconds");
    const auto rid = core::parse_rid(f[c.rid]);
    if (!rid) fail(line, "rid '" + f[c.rid] + "' is not BB:DD.F (hex) or an integer 0..65535");
    r.rid = *rid;
    const unsigned bus = core::rid_bus(r.rid);
    if (bus < options_.min_bus || bus > options_.max_bus) {
      char range[16];
      std::snprintf(range, sizeof range, "%02x-%02x", options_.min_bus, options_.max_bus);
      fail(line, "unknown requester id " + core::format_rid(r.rid) + ": not on the buses " + range +
                     " below " + options_.bus_range_owner +
                     " (ACS source validation would block its requests)");
    }
    if (!parse_u64(f[c.iova], r.iova))
      fail(line, "iova '" + f[c.iova] + "' is not a 0x-hex or decimal 64-bit address");
    uint64_t size = 0;
    if (!parse_u64(f[c.size], size))
      fail(line, "size '" + f[c.size] + "' is not a number of bytes");
    if (size == 0 || size > kMaxRequestBytes)
      fail(line, "size " + std::to_string(size) + " is not in 1.." +
                     std::to_string(kMaxRequestBytes) + " bytes");
    r.size = static_cast<uint32_t>(size);
    if (r.iova + size - 1 < r.iova)
      fail(line, "iova " + hex(r.iova) + " + size " + std::to_string(size) +
                     " wraps past the end of the 64-bit address space");
    if (f[c.dir] == "R" || f[c.dir] == "W")
      r.write = f[c.dir] == "W";
    else
      fail(line, "dir '" + f[c.dir] + "' is not R or W");
    if (c.pasid >= 0 && !f[c.pasid].empty()) {
      uint64_t pasid = 0;
      if (!parse_u64(f[c.pasid], pasid) || pasid > 0xFFFFF)
        fail(line, "pasid '" + f[c.pasid] + "' is not empty or 0..0xfffff (20 bits)");
      r.has_pasid = true;
      r.pasid = static_cast<uint32_t>(pasid);
    }
    return r;
  }

 private:
  const TraceReaderOptions& options_;
  const std::string& name_;
};

}  // namespace

bool parse_u64(const std::string& text, uint64_t& value) {
  const bool is_hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  const unsigned base = is_hex ? 16 : 10;
  const std::size_t first = is_hex ? 2 : 0;
  if (text.size() <= first) return false;
  uint64_t v = 0;
  for (std::size_t i = first; i < text.size(); ++i) {
    const char ch = text[i];
    unsigned d;
    if (ch >= '0' && ch <= '9')
      d = static_cast<unsigned>(ch - '0');
    else if (is_hex && ch >= 'a' && ch <= 'f')
      d = static_cast<unsigned>(ch - 'a' + 10);
    else if (is_hex && ch >= 'A' && ch <= 'F')
      d = static_cast<unsigned>(ch - 'A' + 10);
    else
      return false;
    if (v > (UINT64_MAX - d) / base) return false;  // overflow
    v = v * base + d;
  }
  value = v;
  return true;
}

bool parse_time_ns(const std::string& text, uint64_t& ps) {
  const auto dot = text.find('.');
  const std::string whole = text.substr(0, dot);
  const std::string frac = dot == std::string::npos ? "" : text.substr(dot + 1);
  if (whole.empty() && frac.empty()) return false;
  // Up to 10^15 ns (11.6 days): picoseconds stay well inside 64 bits.
  if (whole.size() > 15) return false;
  for (char ch : whole + frac)
    if (ch < '0' || ch > '9') return false;
  uint64_t ns = 0;
  for (char ch : whole) ns = ns * 10 + static_cast<uint64_t>(ch - '0');
  uint64_t sub = 0;  // picoseconds: the first three decimals, rounded half up by the fourth
  for (std::size_t i = 0; i < 3; ++i)
    sub = sub * 10 + (i < frac.size() ? static_cast<uint64_t>(frac[i] - '0') : 0);
  if (frac.size() > 3 && frac[3] >= '5') ++sub;
  ps = ns * 1000 + sub;
  return true;
}

std::string format_time_ns(uint64_t ps) {
  std::string s = std::to_string(ps / 1000);
  if (const uint64_t sub = ps % 1000) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03u", static_cast<unsigned>(sub));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    s += f;
  }
  return s;
}

Trace TraceReader::read(std::istream& in, const std::string& name) const {
  Parser parser(options_, name);
  Trace trace;
  trace.source = name;
  Columns columns;
  bool have_header = false;
  unsigned line_no = 0, prev_line = 0;
  uint64_t prev_time = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    const bool no_newline = in.eof();  // getline stopped at the end of the file, not at '\n'
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string text = trim(line);
    if (text.empty() || text[0] == '#') continue;
    if (!have_header) {
      columns = parser.header(text, line_no);
      trace.format = columns.format;
      have_header = true;
      continue;
    }
    TraceRecord r = parser.row(columns, text, line_no, no_newline);
    if (columns.format == TraceFormat::kInput && !trace.records.empty() && r.time_ps < prev_time)
      parser.fail(line_no, "time_ns " + format_time_ns(r.time_ps) + " is before line " +
                               std::to_string(prev_line) + "'s " + format_time_ns(prev_time) +
                               ": an input trace must be sorted by time_ns (capture files, "
                               "recognised by their issue_ns column, are in completion order "
                               "and are sorted by issue_ns when read)");
    prev_time = r.time_ps;
    prev_line = line_no;
    trace.records.push_back(r);
  }
  if (in.bad())
    throw core::ConfigError(name + ": read error after line " + std::to_string(line_no));
  if (!have_header)
    throw core::ConfigError(name + ": empty trace: no header line (expected the columns " +
                            std::string(kInputColumns) + ")");
  if (trace.records.empty())
    throw core::ConfigError(name + ":" + std::to_string(line_no) +
                            ": the trace has no requests after its header");
  if (trace.format == TraceFormat::kCapture) {
    // Completion order to issue order (stable: equal issue times keep the file's order), and the
    // capture's absolute times to times from the start of the replay.
    std::stable_sort(
        trace.records.begin(), trace.records.end(),
        [](const TraceRecord& a, const TraceRecord& b) { return a.time_ps < b.time_ps; });
    const uint64_t origin = trace.records.front().time_ps;
    for (TraceRecord& r : trace.records) r.time_ps -= origin;
  }
  return trace;
}

Trace TraceReader::read_file(const std::string& path) const {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw core::ConfigError("trace.input: '" + path + "' is a directory, not a trace file");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw core::ConfigError("trace.input: cannot read '" + path + "': " + std::strerror(errno));
  return read(in, path);
}

void TraceWriter::write(std::ostream& out, const std::vector<TraceRecord>& records) {
  const bool pasid =
      std::any_of(records.begin(), records.end(), [](const TraceRecord& r) { return r.has_pasid; });
  out << "time_ns,rid,iova,size,dir" << (pasid ? ",pasid" : "") << "\n";
  for (const TraceRecord& r : records) {
    out << format_time_ns(r.time_ps) << ',' << core::format_rid(r.rid) << ',' << hex(r.iova) << ','
        << r.size << ',' << (r.write ? 'W' : 'R');
    if (pasid) out << ',' << (r.has_pasid ? std::to_string(r.pasid) : std::string());
    out << '\n';
  }
}

}  // namespace iovsim::traces

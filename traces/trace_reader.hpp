// DMA traces (contract.md §4): the reader, with errors naming file and line, and the writer.
//
// Input format (`trace.input`): CSV, a header line naming the columns time_ns, rid, iova, size, dir
// and optionally pasid (any order), then one request per row; lines starting with '#' are comments,
// blank lines are skipped. time_ns: decimal nanoseconds from the start of the workload (fractions
// are rounded to the picosecond); rid: "BB:DD.F" (hex) or an integer; iova: 0x-hex or decimal;
// size: 1..4096 bytes; dir: R or W; pasid: empty or 0..0xFFFFF. Rows must be sorted by time_ns.
//
// Capture files (`trace.capture`, recognised by their issue_ns column) are read too, so a capture
// replays: each row becomes a request at its issue_ns (the other capture columns are ignored). A
// capture is written in completion order, so its rows are sorted by issue_ns (stable) and shifted
// so the first is at time 0.
//
// Plain C++: no SystemC. Every error is a core::ConfigError "FILE:LINE: what" (the CLI exits 2).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace iovsim::traces {

constexpr uint32_t kMaxRequestBytes = 4096;  // a DMA request never exceeds 4 KiB (PCIe MRRS/MPS)

struct TraceRecord {
  uint64_t time_ps = 0;  // when the device issues it, from the start of the workload
  uint64_t iova = 0;
  uint32_t size = 0;
  uint32_t pasid = 0;  // valid when has_pasid
  uint32_t line = 0;   // line in the file, for messages
  uint16_t rid = 0;
  bool write = false;
  bool has_pasid = false;
};

enum class TraceFormat { kInput, kCapture };

struct Trace {
  std::string source;  // the file name, as given
  TraceFormat format = TraceFormat::kInput;
  std::vector<TraceRecord> records;
};

struct TraceReaderOptions {
  // Requester ids the player can issue from: those on buses [min_bus, max_bus] (the bus range
  // below the root port the player sits on; ACS source validation blocks any other). A rid
  // outside is an "unknown requester id" error naming its line.
  unsigned min_bus = 0, max_bus = 255;
  std::string bus_range_owner = "the player's root port";  // for the message
};

class TraceReader {
 public:
  explicit TraceReader(TraceReaderOptions options = {}) : options_(std::move(options)) {}

  // `name` is the file name used in messages. Throws core::ConfigError.
  Trace read(std::istream& in, const std::string& name) const;
  // Throws core::ConfigError also when the file cannot be read.
  Trace read_file(const std::string& path) const;

 private:
  TraceReaderOptions options_;
};

// Writes the input format: header time_ns,rid,iova,size,dir (and pasid when a row has one), one
// line per record (time in ns with picosecond decimals when needed, rid as BB:DD.F, iova in hex).
class TraceWriter {
 public:
  static void write(std::ostream& out, const std::vector<TraceRecord>& records);
};

// Parsers for the fields (exposed for tests and tools); false when malformed or out of range.
bool parse_time_ns(const std::string& text, uint64_t& ps);  // decimal ns, fractions rounded to ps
bool parse_u64(const std::string& text, uint64_t& value);   // 0x-hex or decimal
std::string format_time_ns(uint64_t ps);                    // "1234" or "1234.5"

}  // namespace iovsim::traces

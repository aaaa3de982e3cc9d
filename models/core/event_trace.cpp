#include "event_trace.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <systemc>

#include "pcie_ext.hpp"

namespace iovsim::core {

namespace {
const StringParam kTimeline{
    "trace.timeline", "",
    "Write a timeline of DMA requests, page walks, invalidations and interrupts to this file, in "
    "Chrome/Perfetto trace-event JSON (empty: none)"};
const IntParam kMaxEvents{"trace.timeline_max_events", 1000000,
                          "Events the timeline holds at most; later ones are dropped and counted "
                          "(the file says it was truncated)",
                          Range{1, 1e9}};

void append_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  append_escaped(out, s);
  out += '"';
  return out;
}

// Picoseconds as microseconds (the format's unit) with picosecond precision.
std::string micros(uint64_t ps) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%llu.%06llu", static_cast<unsigned long long>(ps / 1000000),
                static_cast<unsigned long long>(ps % 1000000));
  return buf;
}
}  // namespace

// ---- EventArgs ----------------------------------------------------------------------------------

void EventArgs::key(std::string_view k) {
  text_ += text_.empty() ? "{" : ",";
  text_ += json_string(k);
  text_ += ':';
}

EventArgs& EventArgs::str(std::string_view k, std::string_view value) {
  if (!text_.empty()) text_.pop_back();  // the closing brace
  key(k);
  text_ += json_string(value) + "}";
  return *this;
}

EventArgs& EventArgs::num(std::string_view k, uint64_t value) {
  if (!text_.empty()) text_.pop_back();
  key(k);
  text_ += std::to_string(value) + "}";
  return *this;
}

EventArgs& EventArgs::hex(std::string_view k, uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return str(k, buf);
}

EventArgs& EventArgs::rid(uint16_t requester_id) {
  return str("rid", format_rid(requester_id));
}

// ---- EventTrace ---------------------------------------------------------------------------------

EventTrace::EventTrace(const std::string& path, uint64_t max_events)
    : path_(path), max_events_(max_events) {
  file_ = std::fopen(path.c_str(), "w");
  if (!file_)
    throw ConfigError("trace.timeline: cannot write '" + path + "': " + std::strerror(errno));
  std::fputs("{\"traceEvents\":[\n", file_);
}

EventTrace::~EventTrace() {
  if (active_ == this) active_ = nullptr;
  try {
    finish();
  } catch (const std::exception&) {
    // A destructor must not throw; finish() called explicitly reports the error.
  }
}

std::string EventTrace::path_from(const Config& config) {
  return kTimeline.get(config);
}

std::unique_ptr<EventTrace> EventTrace::from(const Config& config) {
  const std::string& path = kTimeline.get(config);
  if (path.empty()) return nullptr;
  return std::make_unique<EventTrace>(path, static_cast<uint64_t>(kMaxEvents.get(config)));
}

int EventTrace::pid_of(const char* component) {
  auto it = pids_.find(component);
  if (it != pids_.end()) return it->second;
  const int pid = static_cast<int>(pids_.size()) + 1;
  pids_.emplace(component, pid);
  return pid;
}

int EventTrace::tid_for(Track& track, uint64_t start, uint64_t end) {
  // First fit: the first lane all of whose slices have ended by this one's start.
  for (std::size_t i = 0; i < track.lane_end.size(); ++i) {
    if (track.lane_end[i] <= start) {
      track.lane_end[i] = end;
      return track.lane_tid[i];
    }
  }
  track.lane_end.push_back(end);
  track.lane_tid.push_back(next_tid_++);
  return track.lane_tid.back();
}

void EventTrace::slice(const char* component, const char* track, std::string_view name,
                       const char* category, uint64_t start_ps, uint64_t end_ps,
                       const EventArgs& args) {
  if (!file_) return;
  if (end_ps < start_ps) end_ps = start_ps;
  if (written_ >= max_events_) {
    if (dropped_++ == 0) first_dropped_ps_ = start_ps;
    return;
  }
  const int pid = pid_of(component);
  Track& t = tracks_[{pid, track}];
  const int tid = tid_for(t, start_ps, end_ps);
  std::string line = written_ ? ",\n{\"name\":" : "{\"name\":";
  line += json_string(name);
  line += ",\"cat\":";
  line += json_string(category);
  line += ",\"ph\":\"X\",\"ts\":" + micros(start_ps) + ",\"dur\":" + micros(end_ps - start_ps) +
          ",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(tid);
  if (!args.json().empty()) line += ",\"args\":" + args.json();
  line += '}';
  std::fputs(line.c_str(), file_);
  ++written_;
}

void EventTrace::slice_now(const char* component, const char* track, std::string_view name,
                           const char* category, const EventArgs& args) {
  const uint64_t now = sc_core::sc_time_stamp().value();
  slice(component, track, name, category, now, now, args);
}

void EventTrace::finish() {
  if (!file_) return;
  // Metadata: a name for each component (process) and each lane (thread), lanes in order.
  std::string meta;
  auto event = [&](const std::string& body) {
    meta += (written_ || !meta.empty()) ? ",\n" : "";
    meta += body;
  };
  for (const auto& [component, pid] : pids_)
    event("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" + std::to_string(pid) +
          ",\"tid\":0,\"args\":{\"name\":" + json_string(component) + "}}");
  for (const auto& [key, t] : tracks_) {
    for (std::size_t i = 0; i < t.lane_tid.size(); ++i) {
      const std::string name =
          t.lane_tid.size() == 1 ? key.second : key.second + " " + std::to_string(i);
      const std::string ids =
          "\"pid\":" + std::to_string(key.first) + ",\"tid\":" + std::to_string(t.lane_tid[i]);
      event("{\"name\":\"thread_name\",\"ph\":\"M\"," + ids +
            ",\"args\":{\"name\":" + json_string(name) + "}}");
      event("{\"name\":\"thread_sort_index\",\"ph\":\"M\"," + ids +
            ",\"args\":{\"sort_index\":" + std::to_string(t.lane_tid[i]) + "}}");
    }
  }
  if (dropped_) {
    // Where the timeline stops: a global instant event, visible across all tracks.
    event(
        "{\"name\":\"timeline truncated (trace.timeline_max_events)\",\"cat\":\"timeline\","
        "\"ph\":\"i\",\"s\":\"g\",\"ts\":" +
        micros(first_dropped_ps_) + ",\"pid\":0,\"tid\":0}");
  }
  std::fputs(meta.c_str(), file_);
  std::fprintf(file_,
               "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"generator\":\"iovsim\","
               "\"events\":%llu,\"dropped_events\":%llu,\"max_events\":%llu,\"truncated\":%s}}\n",
               static_cast<unsigned long long>(written_), static_cast<unsigned long long>(dropped_),
               static_cast<unsigned long long>(max_events_), dropped_ ? "true" : "false");
  const bool failed = std::ferror(file_) != 0;
  const bool close_failed = std::fclose(file_) != 0;
  file_ = nullptr;
  if (failed || close_failed)
    throw std::runtime_error("trace.timeline: cannot write '" + path_ + "'");
}

}  // namespace iovsim::core

// The timeline export (`trace.timeline`): a process-wide sink for Chrome/Perfetto trace-event JSON
// ({"traceEvents": [...]}, loadable in ui.perfetto.dev or chrome://tracing). Models report slices
// — a DMA request, a page walk, an invalidation, an interrupt — with their simulated start and end;
// the sink writes them as complete ("X") events, one process per component and one thread per
// lane of a track, plus the metadata ("M") events naming them.
//
// Models call it only when a sink is active, so the disabled path is one null check:
//
//   if (auto* tl = core::EventTrace::active())
//     tl->slice("iommu", "walk", "walk", start_ps, end_ps, core::EventArgs().rid(sid).hex("iova",
//     a));
//
// Slices of one track may overlap (requests in flight, concurrent walks): each is put on the first
// lane of its track whose slices have all ended by its start, so no thread holds overlapping slices
// (trace viewers need them nested or disjoint). Events are streamed to the file as they come; at
// most `trace.timeline_max_events` are written, the rest are counted and the file says so
// ("otherData": {"truncated": true, "dropped_events": N}).
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "params.hpp"

namespace iovsim::core {

// The "args" object of an event, built only when the timeline is on.
class EventArgs {
 public:
  EventArgs& str(std::string_view key, std::string_view value);
  EventArgs& num(std::string_view key, uint64_t value);
  EventArgs& hex(std::string_view key, uint64_t value);  // as a "0x…" string
  EventArgs& rid(uint16_t requester_id);                 // "rid": "BB:DD.F"
  const std::string& json() const { return text_; }      // "" or {"k":v,...}

 private:
  void key(std::string_view k);
  std::string text_;
};

class EventTrace {
 public:
  // Opens `path` for writing (ConfigError naming it when it cannot).
  EventTrace(const std::string& path, uint64_t max_events);
  ~EventTrace();  // finishes the file if finish() was not called
  EventTrace(const EventTrace&) = delete;
  EventTrace& operator=(const EventTrace&) = delete;

  // From trace.timeline and trace.timeline_max_events; nullptr when trace.timeline is empty.
  static std::unique_ptr<EventTrace> from(const Config& config);
  static std::string path_from(const Config& config);  // the trace.timeline parameter

  // The sink models report to; nullptr when the timeline is off.
  static EventTrace* active() { return active_; }
  static void set_active(EventTrace* sink) { active_ = sink; }

  // A complete event on `component`'s `track` from start_ps to end_ps (an end before the start
  // is taken as the start: zero length).
  void slice(const char* component, const char* track, std::string_view name, const char* category,
             uint64_t start_ps, uint64_t end_ps, const EventArgs& args = EventArgs());
  // A slice of zero length at the current simulated time (for untimed operations such as a
  // register-based invalidation).
  void slice_now(const char* component, const char* track, std::string_view name,
                 const char* category, const EventArgs& args = EventArgs());

  // Writes the metadata events and closes the JSON document. Idempotent.
  void finish();

  const std::string& path() const { return path_; }
  uint64_t written() const { return written_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t max_events() const { return max_events_; }

 private:
  struct Track {
    std::vector<uint64_t> lane_end;  // latest end of the slices on each lane
    std::vector<int> lane_tid;
  };
  int pid_of(const char* component);
  int tid_for(Track& track, uint64_t start, uint64_t end);

  inline static EventTrace* active_ = nullptr;

  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t max_events_;
  uint64_t written_ = 0, dropped_ = 0;
  uint64_t first_dropped_ps_ = 0;
  std::map<std::string, int> pids_;
  std::map<std::pair<int, std::string>, Track> tracks_;  // by (pid, track name)
  int next_tid_ = 1;
};

// Makes `sink` the active one for the lifetime of the scope (the run), restoring the previous one.
class EventTraceScope {
 public:
  explicit EventTraceScope(EventTrace* sink) : previous_(EventTrace::active()) {
    EventTrace::set_active(sink);
  }
  ~EventTraceScope() { EventTrace::set_active(previous_); }
  EventTraceScope(const EventTraceScope&) = delete;
  EventTraceScope& operator=(const EventTraceScope&) = delete;

 private:
  EventTrace* previous_;
};

}  // namespace iovsim::core

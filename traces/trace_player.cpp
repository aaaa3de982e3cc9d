#include "trace_player.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <queue>

#include <iovsim/core/event_trace.hpp>
#include <iovsim/core/pcie_ext.hpp>
#include <iovsim/pcie/config_request.hpp>

namespace iovsim::traces {

using sc_core::sc_time;

namespace {
const core::IntParam kOutstanding{"trace.outstanding", 32,
                                  "Trace requests the player keeps in flight at most (reads are "
                                  "also limited by pcie.tags)",
                                  core::Range{1, 65536}};

using MinHeap = std::priority_queue<uint64_t, std::vector<uint64_t>, std::greater<uint64_t>>;
}  // namespace

TracePlayerConfig TracePlayerConfig::from(const core::Config& c) {
  TracePlayerConfig t;
  t.outstanding = static_cast<unsigned>(kOutstanding.get(c));
  return t;
}

TracePlayer::TracePlayer(sc_core::sc_module_name name, const TracePlayerConfig& config,
                         std::vector<TraceRecord> records, core::StatGroup* parent_stats)
    : sc_module(name),
      config_(config),
      records_(std::move(records)),
      cfg_(0x19EE, 0x4010, 0xFF0000),
      stats_("workload", parent_stats),
      transactions_(stats_.add_counter("transactions", "Trace requests completed")),
      bytes_(stats_.add_counter("bytes", "Payload bytes of the completed trace requests")),
      errors_(
          stats_.add_counter("errors", "Trace requests completed with an error status (UR, CA)")),
      not_issued_(stats_.add_counter(
          "bme_blocked", "Trace requests not issued: the player's Bus Master Enable was clear")),
      late_(stats_.add_counter(
          "late", "Trace requests issued after their trace time: no slot or tag was free")),
      measured_ns_(stats_.add_scalar("measured_ns", "First issue to last completion (ns)")),
      latency_(stats_.add_histogram(
          "latency_ns",
          "Trace request issued by the player to its completion back at the player "
          "(writes: to the write reaching memory) (ns)")),
      issue_delay_(stats_.add_histogram(
          "issue_delay_ns", "Trace time to actual issue, per request (0 when on time) (ns)")),
      rid_group_("by_rid", &stats_) {
  if (records_.empty()) throw core::ConfigError("trace player: the trace has no requests");
  if (config_.outstanding == 0 || config_.tags == 0)
    throw core::ConfigError("trace player: outstanding and tags must be at least 1");
  stats_.add_formula(
      "throughput_gbps", "Payload bits per simulated nanosecond, first issue to last completion",
      [this] { return core::ratio(8.0 * double(bytes_.value), measured_ns_.value); });
  for (const TraceRecord& r : records_) {
    if (rid_transactions_.count(r.rid)) continue;
    char name[32];
    std::snprintf(name, sizeof name, "%04x.transactions", r.rid);
    rid_transactions_[r.rid] =
        &rid_group_.add_counter(name, "Trace requests of this requester completed");
  }
  cfg_.add_pcie(/*max_payload_supported=*/5);  // 4096 B: enumeration programs the link's MPS
  pcie_in.register_b_transport(this, &TracePlayer::pcie_transport);
  SC_THREAD(run);
}

void TracePlayer::run() {
  std::vector<uint8_t> buffer(kMaxRequestBytes);
  for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(i * 7 + 1);

  tlm::tlm_generic_payload p;
  auto* ext = new core::PcieExtension;  // owned by the payload
  p.set_extension(ext);
  p.set_data_ptr(buffer.data());

  if (start_at_ > sc_core::sc_time_stamp()) wait(start_at_ - sc_core::sc_time_stamp());
  const uint64_t start = sc_core::sc_time_stamp().value();
  // Picoseconds: when each in-flight slot, and each read tag, is free again.
  MinHeap slots, tags;
  for (unsigned s = 0; s < config_.outstanding; ++s) slots.push(start);
  for (unsigned s = 0; s < config_.tags; ++s) tags.push(start);
  const uint64_t quantum = std::max<uint64_t>(tlm::tlm_global_quantum::instance().get().value(), 1);
  uint64_t prev_issue = start, last_done = start, first_issue = 0;
  const uint64_t total = records_.size();

  for (uint64_t i = 0; i < total; ++i) {
    const TraceRecord& r = records_[i];
    if (!cfg_.bus_master()) {
      // A function may not master the bus until software sets Bus Master Enable.
      not_issued_ += total - i;
      log_.error("Bus Master Enable is clear: ", total - i, " trace requests not issued");
      break;
    }
    const uint64_t due = start + r.time_ps;
    uint64_t ready = std::max(slots.top(), prev_issue);  // in trace order
    slots.pop();
    if (!r.write) {
      ready = std::max(ready, tags.top());
      tags.pop();
    }
    const uint64_t issue = std::max(due, ready);
    if (issue > due) ++late_;
    issue_delay_.record(double(issue - due) / 1000.0);
    prev_issue = issue;
    if (i == 0) first_issue = issue;

    uint64_t now = sc_core::sc_time_stamp().value();
    if (issue >= now + quantum) {
      wait(sc_time::from_value(issue - now));  // synchronise: the thread ran a quantum ahead
      now = issue;
    }
    ext->requester_id = r.rid;
    ext->has_pasid = r.has_pasid;
    ext->pasid = r.pasid;
    ext->posted = r.write;
    ext->status = core::CompletionStatus::kSC;
    p.set_command(r.write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    p.set_address(r.iova);
    p.set_data_ptr(buffer.data());
    p.set_data_length(r.size);
    p.set_streaming_width(r.size);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_time delay = sc_time::from_value(issue - now);
    dma->b_transport(p, delay);
    const uint64_t done = now + delay.value();
    slots.push(done);
    if (!r.write) tags.push(done);
    last_done = std::max(last_done, done);

    const bool ok = p.is_response_ok() && ext->status == core::CompletionStatus::kSC;
    if (ok) {
      ++transactions_;
      ++*rid_transactions_[r.rid];
      bytes_ += r.size;
      latency_.record(double(done - issue) / 1000.0);
    } else {
      ++errors_;
      log_.debug("line ", r.line, ": request to 0x", std::hex, r.iova, std::dec, " from ",
                 core::format_rid(r.rid), " completed with ", core::to_string(ext->status));
    }
    if (auto* tl = core::EventTrace::active()) {
      core::EventArgs args;
      args.rid(r.rid).hex("iova", r.iova).num("size", r.size).num("line", r.line);
      if (!ok) args.str("status", core::to_string(ext->status));
      tl->slice("trace_player", "dma", r.write ? "write" : "read", "dma", issue, done, args);
    }
    ++completed_;
    if (progress_ && (completed_ & 0x3fff) == 0) progress_(completed_, total);
  }
  const uint64_t now = sc_core::sc_time_stamp().value();
  if (last_done > now) wait(sc_time::from_value(last_done - now));
  if (completed_) measured_ns_.value = double(last_done - first_issue) / 1000.0;
  finished_ = true;
  if (progress_) progress_(completed_, total);
  finished_event_.notify(sc_core::SC_ZERO_TIME);
}

void TracePlayer::pcie_transport(tlm::tlm_generic_payload& p, sc_time&) {
  const auto* ext = p.get_extension<core::PcieExtension>();
  p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  // Only type 0 configuration requests to function 0 of device 0 on the link: there is no BAR.
  if (ext && ext->config) pcie::serve_type0_config(cfg_, p);
}

}  // namespace iovsim::traces

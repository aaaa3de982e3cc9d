#include "host_memory.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

#include <iovsim/core/bitfield.hpp>

namespace iovsim::memory {

using sc_core::SC_NS;
using sc_core::sc_time;

namespace {
const core::IntParam kSize{"memory.size_bytes", int64_t{1} << 40,
                           "Host physical address space (bytes); only touched pages use memory",
                           core::Range{4096, double(int64_t{1} << 52)}};
const core::IntParam kLatency{"memory.latency_ns", 80,
                              "DRAM access latency seen by the root complex (ns)",
                              core::Range{0, 1e6}};
const core::IntParam kLlcLatency{"memory.llc_latency_ns", 30,
                                 "Latency of an access to a line held in the last-level cache (ns)",
                                 core::Range{0, 1e6}};
const core::RealParam kBandwidth{"memory.bandwidth_gbps", 0,
                                 "Host memory bandwidth over all channels (Gb/s); 0 = unlimited",
                                 core::Range{0, 1e6}};
const core::IntParam kChannels{"memory.channels", 4, "Memory channels sharing the bandwidth",
                               core::Range{1, 64}};
const core::IntParam kInterleave{
    "memory.interleave_bytes", 256,
    "Channel interleaving granule: consecutive bytes mapped to one channel",
    std::vector<int64_t>{64, 128, 256, 512, 1024, 2048, 4096}};
const core::BoolParam kReadsWait{
    "memory.reads_wait_for_writes", false,
    "A read of a line that an earlier write has not committed yet starts when that write commits "
    "(a read may not pass a posted write to the same data); false: it does not wait"};
constexpr unsigned kLineShift = 6;         // 64-byte lines
constexpr std::size_t kCommitting = 4096;  // lines remembered before committed ones are pruned
}  // namespace

HostMemoryConfig HostMemoryConfig::from(const core::Config& c) {
  HostMemoryConfig m;
  m.size_bytes = static_cast<uint64_t>(kSize.get(c));
  m.latency_ns = static_cast<double>(kLatency.get(c));
  m.llc_latency_ns = static_cast<double>(kLlcLatency.get(c));
  m.bandwidth_gbps = kBandwidth.get(c);
  m.channels = static_cast<unsigned>(kChannels.get(c));
  m.interleave_bytes = static_cast<uint64_t>(kInterleave.get(c));
  m.reads_wait_for_writes = kReadsWait.get(c);
  return m;
}

HostMemory::HostMemory(sc_core::sc_module_name name, const HostMemoryConfig& config,
                       core::StatGroup* parent_stats)
    : sc_module(name),
      config_(config),
      store_(config.size_bytes),
      channels_(config.channels, core::Timeline(1)),
      interleave_shift_(core::log2_floor(config.interleave_bytes)),
      dram_latency_(config.latency_ns, SC_NS),
      llc_latency_(config.llc_latency_ns, SC_NS),
      stats_("memory", parent_stats),
      reads_(stats_.add_counter("reads", "Read accesses")),
      writes_(stats_.add_counter("writes", "Write accesses")),
      read_bytes_(stats_.add_counter("read_bytes", "Bytes read")),
      write_bytes_(stats_.add_counter("write_bytes", "Bytes written")),
      warm_accesses_(stats_.add_counter("llc_hits", "Accesses served by the last-level cache")),
      ordered_reads_(stats_.add_counter(
          "ordered_reads", "Reads that waited for an earlier write to their lines to commit")),
      errors_(
          stats_.add_counter("errors", "Accesses outside memory or with unsupported attributes")),
      wait_ns_(stats_.add_scalar("channel_wait_ns",
                                 "Total time accesses waited for a free channel (ns)")) {
  if (!core::is_pow2(config.interleave_bytes))
    throw core::ConfigError("memory.interleave_bytes must be a power of two");
  if (config.bandwidth_gbps > 0)
    // Gb/s is bits per ns: one byte takes 8/bw ns on the whole memory, channels times that on one
    // channel.
    ps_per_byte_per_channel_ = 8.0 * 1000.0 * config.channels / config.bandwidth_gbps;
  stats_.add_formula("channel_utilization",
                     "Fraction of channel capacity used over the simulated time", [this] {
                       double sum = 0;
                       for (const auto& ch : channels_)
                         sum += ch.occupancy(sc_core::sc_time_stamp());
                       return sum / static_cast<double>(channels_.size());
                     });
  in.register_b_transport(this, &HostMemory::b_transport);
  in.register_get_direct_mem_ptr(this, &HostMemory::get_direct_mem_ptr);
  in.register_transport_dbg(this, &HostMemory::transport_dbg);
  cpu.register_b_transport(this, &HostMemory::b_transport);
  cpu.register_get_direct_mem_ptr(this, &HostMemory::get_direct_mem_ptr);
  cpu.register_transport_dbg(this, &HostMemory::transport_dbg);
}

void HostMemory::add_warm_range(uint64_t base, uint64_t size) {
  warm_.emplace_back(base, base + size);
}

bool HostMemory::is_warm(uint64_t addr) const {
  for (const auto& [lo, hi] : warm_)
    if (addr >= lo && addr < hi) return true;
  return false;
}

sc_time HostMemory::transfer_time(uint64_t bytes) const {
  if (ps_per_byte_per_channel_ == 0) return sc_core::SC_ZERO_TIME;
  return sc_time::from_value(static_cast<uint64_t>(std::llround(bytes * ps_per_byte_per_channel_)));
}

sc_time HostMemory::busy_until() const {
  sc_time t = sc_core::SC_ZERO_TIME;
  for (const auto& ch : channels_) t = std::max(t, ch.horizon());
  return t;
}

bool HostMemory::check(tlm::tlm_generic_payload& p) {
  if (p.get_byte_enable_ptr()) {
    p.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
  } else if (p.get_streaming_width() < p.get_data_length()) {
    p.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
  } else if (!store_.contains(p.get_address(), p.get_data_length())) {
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  } else {
    return true;
  }
  ++errors_;
  log_.warn("access to 0x", std::hex, p.get_address(), std::dec, " (", p.get_data_length(),
            " B) rejected: ", p.get_response_string());
  return false;
}

void HostMemory::b_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  if (!check(p)) return;
  const uint64_t addr = p.get_address();
  const unsigned len = p.get_data_length();
  if (p.is_read()) {
    store_.read(addr, p.get_data_ptr(), len);
    ++reads_;
    read_bytes_ += len;
  } else if (p.is_write()) {
    store_.write(addr, p.get_data_ptr(), len);
    ++writes_;
    write_bytes_ += len;
  }
  uint64_t arrival_ps = 0;  // only with reads_wait_for_writes
  if (config_.reads_wait_for_writes) {
    arrival_ps = (sc_core::sc_time_stamp() + delay).value();
    if (p.is_read() && !committing_.empty()) {
      if (const uint64_t wait = write_wait(addr, len, arrival_ps)) {
        ++ordered_reads_;
        delay += sc_time::from_value(wait);
      }
    }
  }
  bool warm = !warm_.empty() && is_warm(addr);
  if (warm) ++warm_accesses_;
  if (ps_per_byte_per_channel_ > 0) {
    const sc_time arrival = sc_core::sc_time_stamp() + delay;
    const sc_time service = transfer_time(len);
    core::Timeline& channel = channels_[(addr >> interleave_shift_) % channels_.size()];
    const sc_time start = channel.acquire(arrival, service);
    wait_ns_.value += (start - arrival).to_seconds() * 1e9;
    delay += (start - arrival) + service;
  }
  delay += warm ? llc_latency_ : dram_latency_;
  if (config_.reads_wait_for_writes && p.is_write())
    record_write(addr, len, arrival_ps, (sc_core::sc_time_stamp() + delay).value());
  p.set_dmi_allowed(true);
  p.set_response_status(tlm::TLM_OK_RESPONSE);
}

uint64_t HostMemory::write_wait(uint64_t addr, unsigned len, uint64_t arrival) const {
  uint64_t wait = 0;
  for (uint64_t line = addr >> kLineShift; line <= (addr + len - 1) >> kLineShift; ++line) {
    const auto it = committing_.find(line);
    // Only a write that arrived first orders the read; a later one (processed earlier by temporal
    // decoupling) does not.
    if (it != committing_.end() && it->second.first <= arrival && it->second.second > arrival)
      wait = std::max(wait, it->second.second - arrival);
  }
  return wait;
}

void HostMemory::record_write(uint64_t addr, unsigned len, uint64_t arrival, uint64_t commit) {
  if (committing_.size() >= std::max(prune_at_, kCommitting)) {
    const uint64_t now = sc_core::sc_time_stamp().value();
    for (auto it = committing_.begin(); it != committing_.end();)
      it = it->second.second <= now ? committing_.erase(it) : std::next(it);
    // Writes still committing stay; the next sweep waits until the map has doubled again.
    prune_at_ = 2 * committing_.size();
  }
  for (uint64_t line = addr >> kLineShift; line <= (addr + len - 1) >> kLineShift; ++line)
    committing_[line] = {arrival, commit};
}

bool HostMemory::get_direct_mem_ptr(tlm::tlm_generic_payload& p, tlm::tlm_dmi& dmi) {
  const uint64_t addr = p.get_address();
  if (!store_.contains(addr, 1)) return false;
  // The backing store is sparse: grant the one page holding addr.
  const uint64_t base = store_.page_base(addr);
  dmi.set_dmi_ptr(store_.page(addr));
  dmi.set_start_address(base);
  dmi.set_end_address(base + store_.page_bytes() - 1);
  dmi.allow_read_write();
  dmi.set_read_latency(dram_latency_);
  dmi.set_write_latency(dram_latency_);
  return true;
}

unsigned int HostMemory::transport_dbg(tlm::tlm_generic_payload& p) {
  const uint64_t addr = p.get_address();
  const unsigned len = p.get_data_length();
  if (!store_.contains(addr, len)) return 0;
  if (p.is_read())
    store_.read(addr, p.get_data_ptr(), len);
  else if (p.is_write())
    store_.write(addr, p.get_data_ptr(), len);
  return len;
}

}  // namespace iovsim::memory

#include "interrupt_controller.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/core/event_trace.hpp>
#include <iovsim/core/irq_timing.hpp>
#include <iovsim/core/pcie_ext.hpp>

namespace iovsim::cpu_stub {

namespace {

const core::IntParam kCount{"cpu.count", 1,
                            "CPUs in the CPU stub, one local APIC each (APIC ids 0..N-1)",
                            core::Range{1, 256}};
const core::RealParam kClockMhz{"cpu.clock_mhz", 2200,
                                "CPU clock (MHz): converts handler cycles to time",
                                core::Range{1, 100000}};
const core::RealParam kDispatchNs{
    "cpu.irq_dispatch_ns", 100,
    "Interrupt entry: APIC accepts the interrupt -> handler's first instruction (ns)",
    core::Range{0, 1e9}};
const core::IntParam kHandlerCycles{
    "cpu.irq_handler_cycles", 2000,
    "Interrupt handler cost (CPU cycles); that CPU takes no other interrupt meanwhile",
    core::Range{0, 1e12}};

constexpr unsigned kMaxCpus = 256;
constexpr std::size_t kKeep = 4096;

// b - a in nanoseconds, 0 when b precedes a (temporal decoupling may reorder stamps slightly).
double span_ns(uint64_t a, uint64_t b) {
  return b > a ? static_cast<double>(b - a) / 1000.0 : 0.0;
}

std::string hex(unsigned value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", digits, value);
  return buf;
}

}  // namespace

InterruptControllerConfig InterruptControllerConfig::from(const core::Config& config) {
  InterruptControllerConfig c;
  c.cpus = static_cast<unsigned>(kCount.get(config));
  c.clock_mhz = kClockMhz.get(config);
  c.dispatch_ns = kDispatchNs.get(config);
  c.handler_cycles = static_cast<uint64_t>(kHandlerCycles.get(config));
  return c;
}

uint64_t InterruptControllerConfig::handler_ps() const {
  return static_cast<uint64_t>(std::llround(static_cast<double>(handler_cycles) * 1e6 / clock_mhz));
}

uint64_t InterruptControllerConfig::dispatch_ps() const {
  return static_cast<uint64_t>(std::llround(dispatch_ns * 1000.0));
}

InterruptController::Apic::Apic(unsigned id, core::StatGroup* parent)
    : stats(std::to_string(id), parent),
      delivered(stats.add_counter("delivered", "Interrupts delivered to this APIC")),
      busy_ns(stats.add_scalar("busy_ns", "Time this CPU spent in interrupt handlers (ns)")) {}

InterruptController::InterruptController(sc_core::sc_module_name name,
                                         core::StatGroup* parent_stats, unsigned cpus)
    : InterruptController(name, parent_stats, [cpus] {
        InterruptControllerConfig c;
        c.cpus = cpus;
        return c;
      }()) {}

InterruptController::InterruptController(sc_core::sc_module_name name,
                                         core::StatGroup* parent_stats,
                                         const InterruptControllerConfig& config)
    : sc_module(name),
      config_(config),
      stats_("irq", parent_stats),
      delivered_(stats_.add_counter(
          "delivered", "Interrupts delivered to the CPU stub's interrupt controllers")),
      malformed_(stats_.add_counter("malformed",
                                    "Writes to the interrupt window that are not a valid MSI")),
      spurious_(stats_.add_counter(
          "spurious", "Interrupts dropped: destination APIC absent, or vector below 32")),
      unexpected_(stats_.add_counter(
          "unexpected", "Interrupts delivered with a vector the destination APIC does not expect")),
      latency_(stats_.add_histogram("latency_ns",
                                    "The device sends the MSI -> the handler starts (ns); "
                                    "arrival -> handler start for MSIs without timing")),
      stage_stats_("stage", &stats_),
      pending_(stage_stats_.add_histogram(
          "pending_ns", "Device decides to interrupt -> the MSI write leaves it (ns)")),
      fabric_(stage_stats_.add_histogram(
          "fabric_ns",
          "MSI sent -> at the interrupt-remapping unit, or at the APIC without remapping (ns)")),
      remap_(stage_stats_.add_histogram("remap_ns",
                                        "Interrupt-remapping unit: MSI received -> resolved (ns)")),
      delivery_(stage_stats_.add_histogram("delivery_ns",
                                           "Interrupt remapped -> arrival at the APIC (ns)")),
      dispatch_(stage_stats_.add_histogram(
          "dispatch_ns", "Arrival at the APIC -> handler starts, queueing included (ns)")),
      apic_stats_("apic", &stats_),
      vector_stats_("vector", &stats_),
      rid_stats_("rid", &stats_) {
  if (config_.cpus < 1 || config_.cpus > kMaxCpus)
    throw std::invalid_argument("InterruptController: cpus must be 1..256");
  if (!(config_.clock_mhz > 0))
    throw std::invalid_argument("InterruptController: clock_mhz must be positive");
  if (config_.dispatch_ns < 0)
    throw std::invalid_argument("InterruptController: dispatch_ns must not be negative");
  apics_.reserve(config_.cpus);
  for (unsigned i = 0; i < config_.cpus; ++i)
    apics_.push_back(std::make_unique<Apic>(i, &apic_stats_));
  msi_in.register_b_transport(this, &InterruptController::b_transport);
  chipset_in.register_b_transport(this, &InterruptController::b_transport);
}

void InterruptController::expect_vector(unsigned apic, unsigned vector) {
  if (apic >= apics_.size() || vector > 0xff)
    throw std::out_of_range("InterruptController::expect_vector: no such APIC or vector");
  apics_[apic]->expected.insert(vector);
}

InterruptController::VectorStats& InterruptController::vector_stats(unsigned vector) {
  auto it = vectors_.find(vector);
  if (it != vectors_.end()) return it->second;
  const std::string name = "0x" + hex(vector, 2);
  VectorStats v;
  v.count = &vector_stats_.add_counter(name + ".count", "Interrupts delivered with this vector");
  v.latency = &vector_stats_.add_histogram(name + ".latency_ns",
                                           "Send -> handler start for this vector (ns)");
  return vectors_.emplace(vector, v).first->second;
}

core::Histogram& InterruptController::rid_latency(uint16_t rid) {
  auto it = rids_.find(rid);
  if (it != rids_.end()) return *it->second;
  core::Histogram& h = rid_stats_.add_histogram(
      hex(rid, 4) + ".latency_ns", "Send -> handler start for this requester's MSIs (ns)");
  rids_.emplace(rid, &h);
  return h;
}

void InterruptController::b_transport(tlm::tlm_generic_payload& p, sc_core::sc_time& delay) {
  const uint64_t addr = p.get_address();
  if (!p.is_write() || p.get_data_length() != 4 || core::bits(addr, 31, 20) != 0xFEE ||
      (addr >> 32) != 0) {
    ++malformed_;
    log_.warn("malformed interrupt write at 0x", std::hex, addr, std::dec, " (",
              p.get_data_length(), " B)");
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  // A posted write: the sender sees success whatever becomes of the interrupt.
  p.set_response_status(tlm::TLM_OK_RESPONSE);

  InterruptMessage m;
  m.address = addr;
  std::memcpy(&m.data, p.get_data_ptr(), 4);
  m.apic_id = static_cast<unsigned>(core::bits(addr, 19, 12));
  m.dest_logical = core::bits(addr, 2, 2) != 0;
  m.redirection_hint = core::bits(addr, 3, 3) != 0;
  m.vector = static_cast<unsigned>(core::bits(m.data, 7, 0));
  m.delivery_mode = static_cast<unsigned>(core::bits(m.data, 10, 8));
  m.level = core::bits(m.data, 15, 15) != 0;
  m.time_ps = (sc_core::sc_time_stamp() + delay).value();

  if (m.apic_id >= apics_.size() || m.vector < 32) {
    ++spurious_;
    log_.debug("spurious interrupt: vector 0x", std::hex, m.vector, " to APIC ", std::dec,
               m.apic_id, " (", apics_.size(), " APICs)");
    return;
  }

  const auto* timing = p.get_extension<core::IrqTiming>();
  if (timing) {
    m.has_timing = true;
    m.send_ps = timing->send_ps;
    m.has_rid = true;
    m.source_rid = timing->source_rid;
  } else if (const auto* ext = p.get_extension<core::PcieExtension>()) {
    m.has_rid = true;
    m.source_rid = ext->requester_id;
  }

  Apic& apic = *apics_[m.apic_id];
  const uint64_t handler_ps = config_.handler_ps();
  const sc_core::sc_time start =
      apic.timeline.acquire(sc_core::sc_time::from_value(m.time_ps + config_.dispatch_ps()),
                            sc_core::sc_time::from_value(handler_ps));
  m.handler_start_ps = start.value();
  m.handler_end_ps = m.handler_start_ps + handler_ps;
  m.unexpected = !apic.expected.empty() && apic.expected.count(m.vector) == 0;

  ++delivered_;
  ++apic.delivered;
  apic.busy_ns.value += static_cast<double>(handler_ps) / 1000.0;
  if (m.unexpected) ++unexpected_;

  // Latency breakdown.
  const uint64_t from = timing ? timing->send_ps : m.time_ps;
  const double latency = span_ns(from, m.handler_start_ps);
  latency_.record(latency);
  if (timing) {
    pending_.record(span_ns(timing->decide_ps, timing->send_ps));
    if (timing->remap_in_ps != 0 || timing->remap_done_ps != 0) {
      fabric_.record(span_ns(timing->send_ps, timing->remap_in_ps));
      remap_.record(span_ns(timing->remap_in_ps, timing->remap_done_ps));
      delivery_.record(span_ns(timing->remap_done_ps, m.time_ps));
    } else {
      fabric_.record(span_ns(timing->send_ps, m.time_ps));
    }
  }
  dispatch_.record(span_ns(m.time_ps, m.handler_start_ps));
  VectorStats& vs = vector_stats(m.vector);
  ++*vs.count;
  vs.latency->record(latency);
  if (m.has_rid) rid_latency(m.source_rid).record(latency);

  if (auto* tl = core::EventTrace::active()) {
    // The handler on its CPU, and the interrupt's way there (send or arrival -> handler start).
    const std::string name = "vector 0x" + hex(m.vector, 2);
    auto args = core::EventArgs().num("apic", m.apic_id);
    if (m.has_rid) args.rid(m.source_rid);
    tl->slice("irq", ("apic " + std::to_string(m.apic_id)).c_str(), name, "interrupt",
              m.handler_start_ps, m.handler_end_ps, args);
    tl->slice("irq", "delivery", name, "interrupt", std::min(from, m.handler_start_ps),
              m.handler_start_ps, args);
  }
  if (received_.size() == kKeep) received_.pop_front();
  received_.push_back(m);
  log_.debug("vector 0x", std::hex, m.vector, " to APIC ", std::dec, m.apic_id, ", handler at ",
             m.handler_start_ps, " ps", m.unexpected ? " (unexpected)" : "");
  for (auto& h : handlers_) h(m);
}

}  // namespace iovsim::cpu_stub

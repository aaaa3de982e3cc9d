#include "root_complex.hpp"

#include <cstring>

#include <iovsim/core/bitfield.hpp>
#include <iovsim/core/pcie_ext.hpp>

namespace iovsim::pcie {

using sc_core::sc_time;

namespace {
const core::RealParam kLatency{
    "rc.latency_ns", 20,
    "Root-complex processing of an upstream request before it reaches memory (ns)",
    core::Range{0, 1e6}};
const core::RealParam kCpuLatency{
    "rc.cpu_latency_ns", 10,
    "Root-complex processing of a CPU access (config or MMIO) before routing (ns)",
    core::Range{0, 1e6}};
const core::IntParam kPorts{"rc.ports", 1, "Root ports (one endpoint below each)",
                            core::Range{1, 16}};
const core::IntParam kBusesPerPort{"rc.buses_per_port", 8,
                                   "Bus numbers each root port owns (SR-IOV VFs may need several)",
                                   core::Range{1, 64}};
const core::IntParam kEcamBase{"rc.ecam_base", 0xE0000000, "Base of the 256 MiB ECAM window",
                               core::Range{0, double(int64_t{1} << 52)}};
const core::BoolParam kAcs{
    "rc.acs_source_validation", true,
    "Block (UR) upstream requests whose requester id is not below their root port"};

// Type 1 registers the root port decodes for downstream routing.
constexpr uint16_t kMemBase = 0x20, kMemLimit = 0x22, kPrefBase = 0x24, kPrefLimit = 0x26,
                   kPrefBaseUpper = 0x28, kPrefLimitUpper = 0x2C, kBridgeControl = 0x3E;
}  // namespace

RootComplexConfig RootComplexConfig::from(const core::Config& c) {
  RootComplexConfig r;
  r.latency_ns = kLatency.get(c);
  r.cpu_latency_ns = kCpuLatency.get(c);
  r.ports = static_cast<unsigned>(kPorts.get(c));
  r.buses_per_port = static_cast<unsigned>(kBusesPerPort.get(c));
  r.ecam_base = static_cast<uint64_t>(kEcamBase.get(c));
  r.acs_source_validation = kAcs.get(c);
  if (r.ports * r.buses_per_port > 255)
    throw core::ConfigError(
        "rc.ports x rc.buses_per_port must leave the bus numbers within 1..255");
  return r;
}

RootComplex::RootComplex(sc_core::sc_module_name name, const RootComplexConfig& config,
                         core::StatGroup* parent_stats)
    : sc_module(name),
      config_(config),
      latency_(config.latency_ns, sc_core::SC_NS),
      cpu_latency_(config.cpu_latency_ns, sc_core::SC_NS),
      stats_("rc", parent_stats),
      requests_(stats_.add_counter("requests",
                                   "Upstream requests received (memory requests and MSI writes)")),
      unsupported_(
          stats_.add_counter("unsupported_requests", "Upstream requests completed with UR")),
      msi_writes_(stats_.add_counter("msi_writes", "Upstream writes to the interrupt window")),
      rid_violations_(stats_.add_counter(
          "rid_violations", "Upstream TLPs whose requester id is not below their root port")),
      bme_blocked_(stats_.add_counter("bme_blocked",
                                      "Upstream requests refused: root port bus mastering off")),
      config_accesses_(
          stats_.add_counter("config_accesses", "CPU configuration reads and writes (ECAM)")),
      mmio_accesses_(
          stats_.add_counter("mmio_accesses", "CPU memory accesses routed to a root port")),
      unclaimed_(
          stats_.add_counter("unclaimed", "CPU accesses no function claimed (UR, reads all ones)")),
      messages_up_(stats_.add_counter(
          "messages_up", "Upstream message TLPs (ATS Invalidate Completions) sent to msg_out")),
      messages_down_(stats_.add_counter(
          "messages_down", "Messages from msg_in (ATS Invalidate Requests) routed down a port")),
      messages_unrouted_(stats_.add_counter(
          "messages_unrouted",
          "Messages dropped: no port holds the target bus, or msg_out is not bound")) {
  for (unsigned i = 0; i < config.ports; ++i) {
    // An Intel root port (Broadwell-EP), class 0x060400 (PCI-to-PCI bridge), with a PCIe
    // capability.
    auto port = std::make_unique<ConfigSpace>(0x8086, 0x6F08, 0x060400, /*header_type=*/1);
    port->add_pcie(/*max_payload_supported=*/1, /*port_type=*/4);
    port->set_raw(kCfgPrimaryBus, 1, 0);
    port->set_raw(kCfgSecondaryBus, 1, secondary_bus(i));
    port->set_raw(kCfgSubordinateBus, 1, subordinate_bus(i));
    // Memory windows (1 MiB granules): base/limit 15:4 writable; prefetchable ones are 64-bit
    // capable.
    port->set_rw_mask(kMemBase, 2, 0xFFF0);
    port->set_rw_mask(kMemLimit, 2, 0xFFF0);
    port->set_raw(kPrefBase, 2, 0x1);
    port->set_raw(kPrefLimit, 2, 0x1);
    port->set_rw_mask(kPrefBase, 2, 0xFFF0);
    port->set_rw_mask(kPrefLimit, 2, 0xFFF0);
    port->set_rw_mask(kPrefBaseUpper, 4, 0xFFFFFFFF);
    port->set_rw_mask(kPrefLimitUpper, 4, 0xFFFFFFFF);
    port->set_rw_mask(kBridgeControl, 2, 0x0FFF);
    ports_.push_back(std::move(port));
  }
  upstream.register_b_transport(this, &RootComplex::upstream_transport);
  upstream.register_transport_dbg(this, &RootComplex::upstream_debug);
  cpu.register_b_transport(this, &RootComplex::cpu_transport);
  msg_in.register_b_transport(this, &RootComplex::message_transport);
  cpu.register_transport_dbg(this, &RootComplex::cpu_debug);
}

// ---- Upstream
// ---------------------------------------------------------------------------------------

void RootComplex::upstream_transport(int port, tlm::tlm_generic_payload& p, sc_time& delay) {
  auto* ext = p.get_extension<core::PcieExtension>();
  if (!ext || ext->message == core::MessageCode::kNone) ++requests_;
  const unsigned i = static_cast<unsigned>(port);
  delay += latency_;
  if (ext) {
    const unsigned bus = core::rid_bus(ext->requester_id);
    if (bus < secondary_bus(i) || bus > subordinate_bus(i)) {
      ++rid_violations_;
      log_.warn("port ", i, ": requester id ", core::format_rid(ext->requester_id),
                " is not below this port", config_.acs_source_validation ? " (blocked)" : "");
      if (config_.acs_source_validation) {
        ext->status = core::CompletionStatus::kUR;
        ++unsupported_;
        p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return;
      }
    }
  }
  if (ext && ext->message != core::MessageCode::kNone) {
    // A message, routed by ID to the host (Bus Master Enable governs memory requests only).
    if (msg_out.size() == 0) {
      ++messages_unrouted_;
      log_.warn("port ", i, ": ", core::to_string(ext->message), " from ",
                core::format_rid(ext->requester_id), " dropped: msg_out is not bound");
      p.set_response_status(tlm::TLM_OK_RESPONSE);  // posted: the sender sees nothing
      return;
    }
    ++messages_up_;
    msg_out->b_transport(p, delay);
    return;
  }
  if (!ports_[i]->bus_master()) {
    ++bme_blocked_;
    ++unsupported_;
    if (ext) ext->status = core::CompletionStatus::kUR;
    p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  const uint64_t addr = p.get_address();
  if (p.is_write() && addr >= kMsiBase && addr < kMsiEnd && msi_out.size() > 0) {
    ++msi_writes_;
    msi_out->b_transport(p, delay);
  } else {
    dma_out->b_transport(p, delay);
  }
  if (!p.is_response_ok()) {
    ++unsupported_;
    if (ext) ext->status = core::CompletionStatus::kUR;
    log_.debug("UR for ", p.is_read() ? "read" : "write", " at 0x", std::hex, addr, std::dec, ": ",
               p.get_response_string());
  }
}

void RootComplex::message_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  const auto* ext = p.get_extension<core::PcieExtension>();
  delay += latency_;
  if (ext && ext->message != core::MessageCode::kNone) {
    const unsigned bus = core::rid_bus(ext->target_id);
    for (unsigned i = 0; i < ports_.size() && i < downstream.size(); ++i) {
      if (bus < secondary_bus(i) || bus > subordinate_bus(i)) continue;
      ++messages_down_;
      downstream[i]->b_transport(p, delay);
      return;
    }
  }
  ++messages_unrouted_;
  log_.debug("message to ", core::format_rid(ext ? ext->target_id : 0),
             " dropped: no root port holds its bus");
  p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
}

unsigned int RootComplex::upstream_debug(int, tlm::tlm_generic_payload& p) {
  return dma_out->transport_dbg(p);
}

// ---- CPU side
// ---------------------------------------------------------------------------------------

void RootComplex::unsupported(tlm::tlm_generic_payload& p) {
  ++unclaimed_;
  if (p.is_read()) std::memset(p.get_data_ptr(), 0xFF, p.get_data_length());
  p.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
}

int RootComplex::port_for_address(uint64_t addr, uint64_t len) const {
  for (unsigned i = 0; i < ports_.size(); ++i) {
    const ConfigSpace& port = *ports_[i];
    if (!port.memory_enabled()) continue;
    const uint64_t mem_base = uint64_t(port.raw(kMemBase, 2) & 0xFFF0) << 16;
    const uint64_t mem_limit = (uint64_t(port.raw(kMemLimit, 2) & 0xFFF0) << 16) | 0xFFFFF;
    if (mem_base <= mem_limit && addr >= mem_base && addr + len - 1 <= mem_limit)
      return static_cast<int>(i);
    const uint64_t pref_base = (uint64_t(port.raw(kPrefBaseUpper, 4)) << 32) |
                               (uint64_t(port.raw(kPrefBase, 2) & 0xFFF0) << 16);
    const uint64_t pref_limit = (uint64_t(port.raw(kPrefLimitUpper, 4)) << 32) |
                                (uint64_t(port.raw(kPrefLimit, 2) & 0xFFF0) << 16) | 0xFFFFF;
    if (pref_base <= pref_limit && addr >= pref_base && addr + len - 1 <= pref_limit)
      return static_cast<int>(i);
  }
  return -1;
}

void RootComplex::config_access(tlm::tlm_generic_payload& p, sc_time& delay) {
  ++config_accesses_;
  const uint64_t offset = p.get_address() - config_.ecam_base;
  const unsigned len = p.get_data_length();
  const unsigned bus = static_cast<unsigned>(offset >> 20), dev = (offset >> 15) & 0x1f,
                 fn = (offset >> 12) & 7;
  const uint16_t reg = static_cast<uint16_t>(offset & 0xfff);
  if (len != 1 && len != 2 && len != 4) return unsupported(p);
  if (bus == 0) {
    // Root ports: device i+1, function 0, on bus 0. Anything else on bus 0 is absent.
    if (fn != 0 || dev < 1 || dev > ports_.size()) return unsupported(p);
    ConfigSpace& port = *ports_[dev - 1];
    uint32_t v = 0;
    if (p.is_read()) {
      v = port.read(reg, len);
      std::memcpy(p.get_data_ptr(), &v, len);
    } else {
      std::memcpy(&v, p.get_data_ptr(), len);
      port.write(reg, len, v);
    }
    p.set_response_status(tlm::TLM_OK_RESPONSE);
    return;
  }
  for (unsigned i = 0; i < ports_.size(); ++i) {
    if (bus < ports_[i]->secondary_bus() || bus > ports_[i]->subordinate_bus() ||
        ports_[i]->secondary_bus() == 0)
      continue;
    if (i >= downstream.size()) return unsupported(p);  // nothing below this port
    // A configuration request routed by ID down port i.
    core::PcieExtension ext;
    ext.config = true;
    ext.requester_id = 0;  // the root complex
    p.set_extension(&ext);
    p.set_address(offset);
    downstream[i]->b_transport(p, delay);
    p.set_address(config_.ecam_base + offset);
    p.clear_extension(&ext);
    if (!p.is_response_ok()) unsupported(p);  // no such function: all ones
    return;
  }
  unsupported(p);
}

void RootComplex::cpu_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
  delay += cpu_latency_;
  const uint64_t addr = p.get_address();
  const uint64_t len = p.get_data_length();
  if (addr >= config_.ecam_base && addr + len <= config_.ecam_base + kEcamBytes)
    return config_access(p, delay);
  for (const auto& [lo, hi] : chipset_)
    if (addr >= lo && addr + len <= hi && chipset_mmio.size() > 0)
      return chipset_mmio->b_transport(p, delay);
  const int port = port_for_address(addr, len);
  if (port < 0 || static_cast<unsigned>(port) >= downstream.size()) return unsupported(p);
  ++mmio_accesses_;
  core::PcieExtension ext;
  ext.requester_id = 0;
  ext.posted = p.is_write();
  p.set_extension(&ext);
  downstream[static_cast<unsigned>(port)]->b_transport(p, delay);
  p.clear_extension(&ext);
  if (!p.is_response_ok()) unsupported(p);
}

unsigned int RootComplex::cpu_debug(tlm::tlm_generic_payload& p) {
  const uint64_t addr = p.get_address();
  for (const auto& [lo, hi] : chipset_)
    if (addr >= lo && addr + p.get_data_length() <= hi && chipset_mmio.size() > 0)
      return chipset_mmio->transport_dbg(p);
  return 0;
}

}  // namespace iovsim::pcie

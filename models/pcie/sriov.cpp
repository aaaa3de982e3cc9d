#include "sriov.hpp"

#include <limits>
#include <stdexcept>
#include <utility>

namespace iovsim::pcie {

namespace {

constexpr unsigned kVfBars = 6;

uint16_t at(uint16_t cap, uint16_t reg) {
  return static_cast<uint16_t>(cap + reg);
}

}  // namespace

SriovFunctions::SriovFunctions(ConfigSpace& pf, uint16_t pf_rid, const SriovConfig& config,
                               VfFactory factory)
    : pf_(pf), pf_rid_(pf_rid), config_(config), factory_(std::move(factory)) {
  if (config_.total_vfs == 0) throw std::invalid_argument("sriov: TotalVFs must be at least 1");
  if (config_.first_vf_offset == 0)
    throw std::invalid_argument("sriov: First VF Offset 0 would give VF 0 the PF's routing id");
  if (config_.vf_stride == 0 && config_.total_vfs > 1)
    throw std::invalid_argument("sriov: VF Stride 0 with more than one VF gives them one id");
  if (!factory_) throw std::invalid_argument("sriov: no VF factory");
  const uint32_t last = uint32_t{pf_rid} + config_.first_vf_offset +
                        uint32_t{config_.vf_stride} * (config_.total_vfs - 1u);
  if (last > 0xFFFF)
    throw std::invalid_argument("sriov: the last VF's routing id would exceed 0xFFFF");
  cap_ = pf_.add_sriov(config_.total_vfs, config_.first_vf_offset, config_.vf_stride,
                       config_.vf_device_id, config_.vf_bars);
  // The hook lives in the PF, which may outlive this object: it checks the token first.
  std::weak_ptr<bool> alive = alive_;
  pf_.on_write([this, alive](uint16_t offset, unsigned size) {
    if (alive.expired()) return;
    // Control (+0x08) through NumVFs (+0x10..0x11); the VF BARs and page size need no action.
    if (offset + size > at(cap_, kSriovCtrl) && offset < at(cap_, kSriovNumVfs + 2)) update();
  });
}

SriovFunctions::~SriovFunctions() = default;

bool SriovFunctions::vf_mse() const {
  return pf_.raw(at(cap_, kSriovCtrl), 2) & kSriovCtrlVfMse;
}

uint16_t SriovFunctions::vf_rid(unsigned i) const {
  if (i >= config_.total_vfs) throw std::out_of_range("sriov: VF index beyond TotalVFs");
  // Validated at construction not to exceed 0xFFFF.
  return static_cast<uint16_t>(pf_rid_ + config_.first_vf_offset + config_.vf_stride * i);
}

std::optional<unsigned> SriovFunctions::vf_index(uint16_t rid) const {
  const long d = long{rid} - pf_rid_ - config_.first_vf_offset;
  if (d < 0 || vfs_.empty()) return std::nullopt;
  if (config_.vf_stride == 0) return d == 0 ? std::optional<unsigned>(0) : std::nullopt;
  if (d % config_.vf_stride != 0) return std::nullopt;
  const auto i = static_cast<unsigned long>(d / config_.vf_stride);
  if (i >= vfs_.size()) return std::nullopt;
  return static_cast<unsigned>(i);
}

ConfigSpace* SriovFunctions::function(uint16_t rid) {
  if (rid == pf_rid_) return &pf_;
  const auto i = vf_index(rid);
  return i ? vfs_[*i].get() : nullptr;
}

std::optional<uint64_t> SriovFunctions::vf_bar_base(unsigned i, unsigned bar) const {
  if (i >= vfs_.size() || bar >= kVfBars || !vf_mse()) return std::nullopt;
  const auto base = pf_.vf_bar_address(bar);
  if (!base) return std::nullopt;
  const uint64_t size = config_.vf_bars[bar].size;
  // base + i * size without overflow: a slice beyond 2^64 decodes nothing.
  if (i != 0 && size > (std::numeric_limits<uint64_t>::max() - *base) / i) return std::nullopt;
  return *base + uint64_t{i} * size;
}

std::optional<SriovFunctions::BarHit> SriovFunctions::vf_bar_hit(uint64_t addr,
                                                                 uint64_t len) const {
  if (vfs_.empty() || !vf_mse()) return std::nullopt;
  for (unsigned n = 0; n < kVfBars; ++n) {
    const auto base = pf_.vf_bar_address(n);
    if (!base || addr < *base) continue;
    const uint64_t size = config_.vf_bars[n].size;
    const uint64_t from_base = addr - *base;
    const uint64_t i = from_base / size;  // the VF whose slice holds addr
    if (i >= vfs_.size()) continue;
    const uint64_t offset = from_base % size;
    if (len > size - offset) continue;  // runs past the VF's BAR
    return BarHit{static_cast<unsigned>(i), n, offset};
  }
  return std::nullopt;
}

bool SriovFunctions::config_access(uint64_t ecam_offset, bool is_read, unsigned len,
                                   uint32_t& value) {
  if (ecam_offset >> 28) return false;  // beyond bus 255
  if ((len != 1 && len != 2 && len != 4) || ecam_offset % len != 0) return false;
  ConfigSpace* cs = function(static_cast<uint16_t>(ecam_offset >> 12));
  if (!cs) return false;
  const auto reg = static_cast<uint16_t>(ecam_offset & 0xFFF);
  if (is_read) {
    value = cs->read(reg, len);
  } else {
    const uint32_t mask = len == 4 ? 0xFFFFFFFFu : (1u << (8 * len)) - 1;
    cs->write(reg, len, value & mask);
  }
  return true;
}

void SriovFunctions::make_vf(ConfigSpace& cs) const {
  cs.set_raw(kCfgVendor, 2, 0xFFFF);
  cs.set_raw(kCfgDevice, 2, 0xFFFF);
  for (unsigned i = 0; i < 6; ++i)
    if (cs.bar_info(i).size != 0) cs.define_bar(i, 0, false);
  cs.set_rw_mask(kCfgCommand, 2, kCmdBusMaster);
  cs.set_raw(kCfgCommand, 2, cs.raw(kCfgCommand, 2) & kCmdBusMaster);
}

void SriovFunctions::update() {
  const uint16_t ctrl_reg = at(cap_, kSriovCtrl), num_reg = at(cap_, kSriovNumVfs);
  if (pf_.raw(num_reg, 2) > config_.total_vfs) pf_.set_raw(num_reg, 2, config_.total_vfs);
  const bool enable = pf_.raw(ctrl_reg, 2) & kSriovCtrlVfEnable;
  // NumVFs only changes while the VFs are off.
  pf_.set_rw_mask(num_reg, 2, enable ? 0 : 0xFFFF);
  if (enable == enabled_) return;
  const unsigned before = num_vfs();
  if (enable) {
    const unsigned n = pf_.raw(num_reg, 2);
    std::vector<std::unique_ptr<ConfigSpace>> vfs;
    vfs.reserve(n);
    try {
      for (unsigned i = 0; i < n; ++i) {
        auto cs = factory_(i);
        if (!cs) throw std::logic_error("sriov: the VF factory returned no configuration space");
        make_vf(*cs);
        vfs.push_back(std::move(cs));
      }
    } catch (...) {
      // VF Enable reads back clear: no VF exists.
      pf_.set_raw(ctrl_reg, 2, pf_.raw(ctrl_reg, 2) & ~kSriovCtrlVfEnable);
      pf_.set_rw_mask(num_reg, 2, 0xFFFF);
      throw;
    }
    vfs_ = std::move(vfs);
  } else {
    vfs_.clear();
  }
  enabled_ = enable;
  const unsigned now = num_vfs();
  if (before == now) return;
  for (std::size_t i = 0; i < hooks_.size(); ++i) hooks_[i](before, now);
}

}  // namespace iovsim::pcie

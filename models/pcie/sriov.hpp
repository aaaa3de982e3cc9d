// A physical function's SR-IOV virtual functions, device side, plain C++ (vtd-pcie.md §5): the
// PF's SR-IOV capability, and the VFs it creates when software writes NumVFs and sets VF Enable,
// each with its own routing id (PF RID + First VF Offset + VF Stride * i, 16-bit arithmetic: it can
// carry into the next bus), its own configuration space, and its slice of the VF BARs (VF i's BAR
// n = VF BARn base + i * size, decoded while VF MSE is set). Clearing VF Enable removes them.
//
// A device model (the SR-IOV NIC) owns one: it routes configuration requests for the PF's and the
// VFs' routing ids here, asks which VF a memory request hits, and observes VF Enable through
// on_change().
//
// Register semantics (where the spec leaves room, the choice made):
// - NumVFs is writable only while VF Enable is clear (the spec leaves a write while it is set
//   undefined: here it is ignored, the VF set never changes under software); a value above TotalVFs
//   (also undefined) is clamped to TotalVFs, which is what reads back.
// - First VF Offset and VF Stride are read-only and fixed at construction: they do not change with
//   NumVFs or ARI Capable Hierarchy (the spec allows both; a fixed layout is a valid choice).
//   ARI Capable Hierarchy is stored and has no effect.
// - VF Enable 0 -> 1 creates NumVFs VFs through the factory, 1 -> 0 removes them all.
// - VF MSE alone gates the VF BARs (the PF's Command memory-space bit does not).
// - Each VF's configuration space is made to look like a VF's whatever the factory built: header
//   vendor/device read 0xFFFF, header BARs are removed (read 0: VF BARs live in the PF's SR-IOV
//   capability), and in Command only Bus Master Enable is writable (memory space reads 0, VF MSE
//   governs; the other bits are the PF's business).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "config_space.hpp"

namespace iovsim::pcie {

// SR-IOV capability register offsets (from the capability) and control bits.
constexpr uint16_t kSriovCtrl = 0x08, kSriovInitialVfs = 0x0C, kSriovTotalVfs = 0x0E,
                   kSriovNumVfs = 0x10, kSriovFirstVfOffset = 0x14, kSriovVfStride = 0x16,
                   kSriovVfDevice = 0x1A, kSriovSupportedPageSizes = 0x1C,
                   kSriovSystemPageSize = 0x20, kSriovVfBar0 = 0x24;
constexpr uint16_t kSriovCtrlVfEnable = 1u << 0, kSriovCtrlVfMse = 1u << 3,
                   kSriovCtrlAriHierarchy = 1u << 4;

struct SriovConfig {
  uint16_t total_vfs = 0;
  uint16_t first_vf_offset = 1;
  uint16_t vf_stride = 1;
  uint16_t vf_device_id = 0;
  std::array<BarInfo, 6> vf_bars{};  // sizes per VF
};

class SriovFunctions {
 public:
  // Builds VF i's configuration space (header vendor/device 0xFFFF, its capabilities: MSI-X, PCI
  // Express, ...). Called when VFs are enabled.
  using VfFactory = std::function<std::unique_ptr<ConfigSpace>(unsigned vf)>;

  // Adds the SR-IOV capability to `pf` (whose routing id is pf_rid). std::invalid_argument when a
  // VF routing id would exceed 0xFFFF or total_vfs is 0.
  // Also std::invalid_argument for First VF Offset 0 (VF 0 would be the PF), VF Stride 0 with more
  // than one VF, or an empty factory; add_sriov's exceptions for the VF BARs. `pf` must outlive
  // this object; writes to `pf` after this object is gone no longer reach it.
  SriovFunctions(ConfigSpace& pf, uint16_t pf_rid, const SriovConfig& config, VfFactory factory);
  ~SriovFunctions();
  // The PF's write hook refers to this object: it stays where it was built.
  SriovFunctions(const SriovFunctions&) = delete;
  SriovFunctions& operator=(const SriovFunctions&) = delete;

  uint16_t pf_rid() const { return pf_rid_; }
  const SriovConfig& config() const { return config_; }
  uint16_t sriov_offset() const { return cap_; }  // the capability's offset in the PF
  // VFs currently enabled (0 while VF Enable is clear).
  unsigned num_vfs() const { return static_cast<unsigned>(vfs_.size()); }
  // Whether VF Enable is set (it can be with NumVFs 0: no VFs).
  bool vf_enabled() const { return enabled_; }
  bool vf_mse() const;
  // Routing id of VF i (i < TotalVFs, else std::out_of_range) by the formula, with the programmed
  // offset/stride (fixed: those configured).
  uint16_t vf_rid(unsigned i) const;
  // The PF's or an enabled VF's configuration space; nullptr for any other routing id.
  ConfigSpace* function(uint16_t rid);
  // The index of the enabled VF with this routing id.
  std::optional<unsigned> vf_index(uint16_t rid) const;
  ConfigSpace& vf(unsigned i) { return *vfs_.at(i); }  // std::out_of_range unless enabled
  // VF i's BAR n base while VF i is enabled, VF MSE is set and the VF BAR is programmed (nullopt
  // also when it would lie beyond 2^64).
  std::optional<uint64_t> vf_bar_base(unsigned i, unsigned bar) const;
  struct BarHit {
    unsigned vf = 0, bar = 0;
    uint64_t offset = 0;  // from the VF's BAR base
  };
  // Which enabled VF's BAR [addr, addr+len) falls in (VF MSE set); computed from each VF BAR
  // region (base + i * size), so O(1) in the number of VFs.
  std::optional<BarHit> vf_bar_hit(uint64_t addr, uint64_t len) const;

  // A configuration request routed by ID: `ecam_offset` = bus[27:20] dev[19:15] fn[14:12]
  // reg[11:0]. Returns false (Unsupported Request) when no function of this device has that
  // routing id or the access is not a naturally aligned 1, 2 or 4 bytes.
  bool config_access(uint64_t ecam_offset, bool is_read, unsigned len, uint32_t& value);

  // Called after VFs were created or removed: (VFs before, VFs now). Not called when VF Enable
  // changes with NumVFs 0 (nothing created or removed).
  void on_change(std::function<void(unsigned before, unsigned now)> hook) {
    hooks_.push_back(std::move(hook));
  }

 private:
  void update();  // after a PF config write: VF Enable / NumVFs
  void make_vf(ConfigSpace& cs) const;

  ConfigSpace& pf_;
  uint16_t pf_rid_;
  SriovConfig config_;
  VfFactory factory_;
  uint16_t cap_ = 0;
  std::vector<std::unique_ptr<ConfigSpace>> vfs_;
  std::vector<std::function<void(unsigned, unsigned)>> hooks_;
  bool enabled_ = false;  // VF Enable as last seen
  // The PF's write hook, which outlives this object inside the PF, holds a weak_ptr to it: expired
  // once this object is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace iovsim::pcie

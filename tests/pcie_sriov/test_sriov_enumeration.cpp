// The CPU stub's enumeration of SR-IOV devices against a fake machine: ECAM accesses routed through
// bridges by the bus numbers software programmed, as type 1 configuration requests are, to
// endpoints and to an SR-IOV device (pcie::SriovFunctions) that claims its PF's and VFs' routing
// ids on every bus below its bridge. Results are checked against what the device saw.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/cpu_stub/host_access.hpp>
#include <iovsim/cpu_stub/pci_enumerator.hpp>
#include <iovsim/pcie/config_space.hpp>
#include <iovsim/pcie/sriov.hpp>

using namespace iovsim::cpu_stub;
using iovsim::pcie::BarInfo;
using iovsim::pcie::ConfigSpace;
using iovsim::pcie::SriovConfig;
using iovsim::pcie::SriovFunctions;
namespace pcie = iovsim::pcie;

namespace {

constexpr uint64_t kEcam = 0xE0000000, kEcamSize = 256ull << 20;
constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024;
constexpr int kRoot = -1;

uint16_t rid(unsigned bus, unsigned dev, unsigned fn) {
  return uint16_t(bus << 8 | dev << 3 | fn);
}

// The fake machine: bridges (type 1 ConfigSpaces) and devices, each under a parent bridge or the
// root bus. An access to bus B is a type 0 request on the segment whose number is B, and is
// forwarded down every bridge whose secondary..subordinate range holds B; below the last bridge
// the devices on that segment get it (a device decides by bus/dev/fn whether it answers, as an
// SR-IOV device claims its VFs' buses). Unanswered reads are all ones; only aligned dwords.
class FakeMachine : public HostAccess {
 public:
  // (segment bus, ECAM offset, read?, value) -> answered?
  using Device = std::function<bool(uint8_t, uint64_t, bool, uint32_t&)>;

  int add_bridge(int parent, uint8_t dev, ConfigSpace cs) {
    bridges_.push_back({parent, dev, std::make_unique<ConfigSpace>(std::move(cs))});
    return static_cast<int>(bridges_.size() - 1);
  }
  ConfigSpace& bridge(int id) { return *bridges_.at(id).cs; }
  void add_device(int parent, Device d) { devices_.push_back({parent, std::move(d)}); }
  // A single-function endpoint at (segment bus):dev.0.
  ConfigSpace& add_endpoint(int parent, uint8_t dev, ConfigSpace cs) {
    endpoints_.push_back(std::make_unique<ConfigSpace>(std::move(cs)));
    ConfigSpace* ep = endpoints_.back().get();
    add_device(parent, [ep, dev](uint8_t seg, uint64_t off, bool read, uint32_t& v) {
      if ((off >> 20) != seg || ((off >> 15) & 31) != dev || ((off >> 12) & 7) != 0) return false;
      if (read)
        v = ep->read(uint16_t(off & 0xFFF), 4);
      else
        ep->write(uint16_t(off & 0xFFF), 4, v);
      return true;
    });
    return *ep;
  }

  uint64_t mmio_read(uint64_t addr, unsigned size) override {
    uint32_t v = 0;
    return route(kRoot, 0, offset(addr, size), true, v) ? v : 0xFFFFFFFFu;
  }
  void mmio_write(uint64_t addr, unsigned size, uint64_t value) override {
    if (value >> 32) throw std::logic_error("4-byte write with upper bits set");
    ++writes;
    uint32_t v = static_cast<uint32_t>(value);
    route(kRoot, 0, offset(addr, size), false, v);
  }
  void mem_read(uint64_t, void*, std::size_t) override {
    throw std::logic_error("enumeration touched host memory");
  }
  void mem_write(uint64_t, const void*, std::size_t) override {
    throw std::logic_error("enumeration touched host memory");
  }

  unsigned writes = 0;

 private:
  struct Bridge {
    int parent;
    uint8_t dev;
    std::unique_ptr<ConfigSpace> cs;
  };
  static uint64_t offset(uint64_t addr, unsigned size) {
    if (size != 4 || (addr & 3) != 0) throw std::logic_error("config access not an aligned dword");
    if (addr < kEcam || addr - kEcam >= kEcamSize) throw std::logic_error("access outside ECAM");
    return addr - kEcam;
  }
  bool route(int parent, uint8_t seg, uint64_t off, bool read, uint32_t& v) {
    const auto bus = uint8_t(off >> 20);
    for (std::size_t i = 0; i < bridges_.size(); ++i) {
      Bridge& b = bridges_[i];
      if (b.parent != parent) continue;
      if (bus == seg && ((off >> 15) & 31) == b.dev && ((off >> 12) & 7) == 0) {
        if (read)
          v = b.cs->read(uint16_t(off & 0xFFF), 4);
        else
          b.cs->write(uint16_t(off & 0xFFF), 4, v);
        return true;
      }
      const uint8_t sec = b.cs->secondary_bus(), sub = b.cs->subordinate_bus();
      if (bus != seg && sec != 0 && sec <= bus && bus <= sub)
        return route(static_cast<int>(i), sec, off, read, v);
    }
    for (auto& [p, d] : devices_)
      if (p == parent && d(seg, off, read, v)) return true;
    return false;
  }

  std::vector<Bridge> bridges_;
  std::vector<std::pair<int, Device>> devices_;
  std::vector<std::unique_ptr<ConfigSpace>> endpoints_;
};

// Memory and prefetchable windows writable, as the root complex's ports have them.
ConfigSpace root_port(uint16_t device) {
  ConfigSpace c(0x8086, device, 0x060400, 1);
  c.add_pcie(1, 4);
  c.set_rw_mask(0x20, 4, 0xFFF0FFF0);
  c.set_rw_mask(0x24, 4, 0xFFF0FFF0);
  c.set_rw_mask(0x28, 4, 0xFFFFFFFF);
  c.set_rw_mask(0x2C, 4, 0xFFFFFFFF);
  return c;
}

ConfigSpace endpoint(uint16_t device, uint64_t bar0) {
  ConfigSpace c(0x1af4, device, 0x010802);
  c.define_bar(0, bar0, false);
  c.add_pcie(1);
  return c;
}

std::array<BarInfo, 6> vf_bars() {
  std::array<BarInfo, 6> bars{};
  bars[0] = {16 * kKiB, true, true};
  bars[2] = {4 * kKiB, false, false};
  return bars;
}

// An 82599-like SR-IOV NIC: PF BAR0 512 KiB 64-bit prefetchable, BAR2 16 KiB; PCI Express, MSI-X,
// ARI and SR-IOV (First VF Offset 0x80, VF Stride 2, VF Device ID 0x10ED); each VF has PCI Express
// and MSI-X. It claims configuration requests by routing id on any bus that reaches it.
struct SriovNic {
  ConfigSpace pf{0x8086, 0x10FB, 0x020000};
  std::unique_ptr<SriovFunctions> sriov;
  bool hide_vfs = false;          // VFs do not answer configuration requests
  unsigned mse_while_sizing = 0;  // VF MSE set while a VF BAR held all ones

  SriovNic(uint16_t pf_rid, uint16_t total_vfs, uint16_t offset = 0x80, uint16_t stride = 2,
           std::array<BarInfo, 6> bars = vf_bars(), bool bar2_is64 = false) {
    pf.define_bar(0, 512 * kKiB, true, true);
    pf.define_bar(2, 16 * kKiB, bar2_is64);
    pf.add_pcie(2);
    pf.add_msix(64, 2, 0, 2, 0x2000);
    pf.add_ari(0);
    SriovConfig c;
    c.total_vfs = total_vfs;
    c.first_vf_offset = offset;
    c.vf_stride = stride;
    c.vf_device_id = 0x10ED;
    c.vf_bars = bars;
    sriov = std::make_unique<SriovFunctions>(pf, pf_rid, c, [](unsigned) {
      auto vf = std::make_unique<ConfigSpace>(0x8086, 0x10ED, 0x020000);
      vf->add_pcie(2);
      vf->add_msix(3, 0, 0, 0, 0x2000);
      return vf;
    });
    pf.on_write([this](uint16_t, unsigned) {
      if (!sriov->vf_mse()) return;
      for (unsigned n = 0; n < 6; ++n)
        if (sriov->config().vf_bars[n].size != 0 && !pf.vf_bar_address(n)) ++mse_while_sizing;
    });
  }
  FakeMachine::Device device() {
    return [this](uint8_t, uint64_t off, bool read, uint32_t& v) {
      if (hide_vfs && uint16_t(off >> 12) != sriov->pf_rid()) return false;
      return sriov->config_access(off, read, 4, v);
    };
  }
  uint16_t reg(uint16_t r) const { return uint16_t(sriov->sriov_offset() + r); }
};

// 00:01.0 -> 01:00.0 an endpoint; 00:02.0 -> 02:00.0 the SR-IOV NIC (200 VFs, the last on bus 4);
// 00:03.0 -> 05:00.0 an endpoint. Firmware left every root port unnumbered.
struct Platform {
  FakeMachine m;
  int rp1, rp2, rp3;
  ConfigSpace *ep1, *ep5;
  SriovNic nic{rid(2, 0, 0), 200};

  Platform() {
    rp1 = m.add_bridge(kRoot, 1, root_port(0x3001));
    rp2 = m.add_bridge(kRoot, 2, root_port(0x3002));
    rp3 = m.add_bridge(kRoot, 3, root_port(0x3003));
    ep1 = &m.add_endpoint(rp1, 0, endpoint(0x1001, 1 * kMiB));
    m.add_device(rp2, nic.device());
    ep5 = &m.add_endpoint(rp3, 0, endpoint(0x1005, 64 * kKiB));
  }
};

EnumeratorOptions options() {
  EnumeratorOptions o;
  o.ecam_base = kEcam;
  return o;
}

uint64_t ecam(uint16_t r, uint16_t reg) {
  return kEcam + (uint64_t{r} << 12 | reg);
}

struct Range {
  std::string who;
  uint64_t base, end;
};

// Every BAR and VF BAR region recorded, for overlap checks.
std::vector<Range> ranges(const PciEnumerator& e) {
  std::vector<Range> out;
  for (const auto& f : e.functions()) {
    if (f.is_vf) continue;  // inside the PF's regions
    for (const auto& b : f.bars)
      out.push_back(
          {std::to_string(f.rid()) + " BAR" + std::to_string(b.index), b.base, b.base + b.size});
    if (f.sriov)
      for (const auto& b : f.sriov->vf_bars)
        out.push_back({std::to_string(f.rid()) + " VF BAR" + std::to_string(b.index), b.base,
                       b.base + b.size * f.sriov->total_vfs});
  }
  return out;
}

// The VF BARs every VF i of `nic` should have: base + i * size from the PF's VF BAR registers.
void check_vfs(const PciEnumerator& e, SriovNic& nic, FakeMachine& m, unsigned n) {
  const PciFunctionInfo* pf = e.find(nic.sriov->pf_rid());
  REQUIRE(pf);
  REQUIRE(pf->sriov);
  CHECK(pf->sriov->num_vfs == n);
  CHECK(nic.sriov->num_vfs() == n);
  const auto& fns = e.functions();
  const auto at = std::find_if(fns.begin(), fns.end(), [&](const auto& f) { return &f == pf; });
  REQUIRE(fns.end() - at > static_cast<long>(n));
  for (unsigned i = 0; i < n; ++i) {
    const uint16_t r = uint16_t(nic.sriov->pf_rid() + 0x80 + 2 * i);
    INFO("VF " << i);
    const PciFunctionInfo* vf = e.find(r);
    REQUIRE(vf);
    CHECK(vf == &at[1 + i]);  // right after the PF, by index
    CHECK(vf->rid() == r);
    CHECK(vf->is_vf);
    CHECK(vf->pf_rid == nic.sriov->pf_rid());
    CHECK(vf->vf_index == i);
    CHECK(vf->vendor == 0x8086);
    CHECK(vf->device == 0x10ED);
    CHECK(vf->class_code == 0x020000);
    CHECK(vf->header_type == 0);
    CHECK_FALSE(vf->sriov);
    CHECK(vf->mps == pf->mps);
    const ConfigSpace& cs = nic.sriov->vf(i);
    CHECK(vf->capabilities == std::vector<std::pair<uint8_t, uint16_t>>{
                                  {pcie::kCapPcie, cs.find_capability(pcie::kCapPcie)},
                                  {pcie::kCapMsix, cs.find_capability(pcie::kCapMsix)}});
    CHECK(vf->ext_capabilities.empty());
    CHECK(cs.bus_master());
    REQUIRE(vf->bars.size() == 2);
    CHECK(vf->bars[0].index == 0);
    CHECK(vf->bars[0].size == 16 * kKiB);
    CHECK(vf->bars[0].is64);
    CHECK(vf->bars[0].prefetchable);
    CHECK(vf->bars[0].base == pf->sriov->vf_bars[0].base + i * 16 * kKiB);
    CHECK(vf->bars[1].index == 2);
    CHECK(vf->bars[1].size == 4 * kKiB);
    CHECK(vf->bars[1].base == pf->sriov->vf_bars[1].base + i * 4 * kKiB);
    // What the device decodes agrees.
    CHECK(nic.sriov->vf_bar_base(i, 0) == vf->bars[0].base);
    CHECK(nic.sriov->vf_bar_base(i, 2) == vf->bars[1].base);
    const auto hit = nic.sriov->vf_bar_hit(vf->bars[1].base + 4 * kKiB - 4, 4);
    CHECK((hit && hit->vf == i && hit->bar == 2));
    // Readable over ECAM at its routing id: vendor/device all ones, a class code.
    CHECK(m.mmio_read(ecam(r, 0x00), 4) == 0xFFFFFFFF);
    CHECK(m.mmio_read(ecam(r, 0x08), 4) == 0x02000000);
  }
}

}  // namespace

TEST_CASE("SR-IOV enumeration reserves the VF buses and VF BAR regions", "[pcie_sriov]") {
  Platform p;
  const EnumeratorOptions o = options();
  PciEnumerator e(p.m, o);
  e.enumerate();

  // Bus numbers: the NIC's VFs can reach bus 4 (0x0200 + 0x80 + 2 * 199 = 0x040E), so its port
  // covers [02-04] and the next port gets bus 5.
  CHECK(p.m.bridge(p.rp1).secondary_bus() == 1);
  CHECK(p.m.bridge(p.rp1).subordinate_bus() == 1);
  CHECK(p.m.bridge(p.rp2).secondary_bus() == 2);
  CHECK(p.m.bridge(p.rp2).subordinate_bus() == 4);
  CHECK(p.m.bridge(p.rp3).secondary_bus() == 5);
  CHECK(p.m.bridge(p.rp3).subordinate_bus() == 5);
  REQUIRE(e.find(rid(0, 2, 0)));
  CHECK(e.find(rid(0, 2, 0))->subordinate_bus == 4);
  REQUIRE(e.find(rid(5, 0, 0)));
  CHECK(e.find(rid(5, 0, 0))->device == 0x1005);
  CHECK(e.functions().size() == 6);

  const PciFunctionInfo* pf = e.find(rid(2, 0, 0));
  REQUIRE(pf);
  REQUIRE(pf->sriov);
  const PciSriovInfo& s = *pf->sriov;
  const ConfigSpace& cs = p.nic.pf;
  CHECK(s.cap == p.nic.sriov->sriov_offset());
  CHECK(s.total_vfs == 200);
  CHECK(s.initial_vfs == 200);
  CHECK(s.first_vf_offset == 0x80);
  CHECK(s.vf_stride == 2);
  CHECK(s.vf_device == 0x10ED);
  CHECK(s.last_vf_bus == 4);
  CHECK(s.num_vfs == 0);
  CHECK(s.ari_hierarchy);  // ARI capability, below a port, the bus's first PF
  CHECK(cs.read(p.nic.reg(pcie::kSriovCtrl), 2) == pcie::kSriovCtrlAriHierarchy);
  CHECK(cs.read(p.nic.reg(pcie::kSriovNumVfs), 2) == 0);  // back to 0 after the bus count
  CHECK(cs.read(p.nic.reg(pcie::kSriovSystemPageSize), 4) == 1);
  CHECK(p.nic.sriov->num_vfs() == 0);
  CHECK(p.nic.mse_while_sizing == 0);

  // VF BARs: sized through the capability, regions of 200 x size aligned to one VF's size, placed
  // with the PF's BARs by alignment then size from the group's 1 MiB boundary (01:00.0's 1 MiB BAR
  // has the first): PF BAR0 512K, VF BAR0 200 x 16K, PF BAR2 16K, VF BAR2 200 x 4K.
  REQUIRE(s.vf_bars.size() == 2);
  CHECK(s.vf_bars[0].index == 0);
  CHECK(s.vf_bars[0].size == 16 * kKiB);
  CHECK(s.vf_bars[0].is64);
  CHECK(s.vf_bars[0].prefetchable);
  CHECK(s.vf_bars[1].index == 2);
  CHECK(s.vf_bars[1].size == 4 * kKiB);
  CHECK_FALSE(s.vf_bars[1].is64);
  REQUIRE(pf->bars.size() == 2);
  CHECK(pf->bars[0].base == 0xC0100000);
  CHECK(s.vf_bars[0].base == 0xC0180000);
  CHECK(pf->bars[1].base == 0xC04A0000);  // 0xC0180000 + 200 * 16K
  CHECK(s.vf_bars[1].base == 0xC04A4000);
  CHECK(e.find(rid(5, 0, 0))->bars[0].base == 0xC0600000);  // next group, next 1 MiB
  for (const auto& b : s.vf_bars) {
    INFO("VF BAR" << b.index);
    CHECK(b.base % b.size == 0);
    CHECK(cs.vf_bar_address(b.index) == b.base);  // programmed into the capability
    CHECK(b.base >= o.mmio_base);
    CHECK(b.base + b.size * 200 <= o.mmio_base + o.mmio_size);
  }
  CHECK(cs.read(p.nic.reg(pcie::kSriovVfBar0), 4) == (0xC0180000 | 0xC));
  CHECK(cs.read(p.nic.reg(pcie::kSriovVfBar0 + 4), 4) == 0);
  const auto all = ranges(e);
  for (std::size_t i = 0; i < all.size(); ++i)
    for (std::size_t j = i + 1; j < all.size(); ++j) {
      INFO(all[i].who << " vs " << all[j].who);
      CHECK((all[i].end <= all[j].base || all[j].end <= all[i].base));
    }
  // The port's memory window covers the PF's BARs and both VF regions: [0xC0100000, 0xC05FFFFF].
  CHECK(p.m.bridge(p.rp2).read(0x20, 4) == 0xC050C010);
  // VF Enable is clear: no VF decodes yet.
  CHECK(p.nic.sriov->vf_bar_hit(0xC0180000, 4) == std::nullopt);
}

TEST_CASE(
    "SR-IOV: enabling N VFs yields exactly the routing ids and BAR addresses the formula gives "
    "(with a carry into the next bus), each enumerated, and disabling removes them",
    "[pcie_sriov]") {
  Platform p;
  PciEnumerator e(p.m, options());
  e.enumerate();
  const std::size_t before = e.functions().size();
  const uint16_t pf_rid = rid(2, 0, 0);

  const auto& vfs = e.enable_sriov(pf_rid, 200);
  REQUIRE(vfs.size() == 200);
  for (unsigned i = 0; i < 200; ++i) {
    CHECK(vfs[i].rid() == 0x0280 + 2 * i);
    CHECK(vfs[i].vf_index == i);
    CHECK(vfs[i].bars.at(0).base == 0xC0180000 + i * 16 * kKiB);
    CHECK(vfs[i].bars.at(1).base == 0xC04A4000 + i * 4 * kKiB);
  }
  // The carries: VF 63 is the last on bus 2, VF 64 the first on bus 3, VF 199 at 04:01.6.
  CHECK(vfs[63].rid() == rid(2, 0x1f, 6));
  CHECK(vfs[64].rid() == rid(3, 0, 0));
  CHECK(vfs[192].rid() == rid(4, 0, 0));
  CHECK(vfs[199].rid() == rid(4, 1, 6));
  CHECK(e.functions().size() == before + 200);
  check_vfs(e, p.nic, p.m, 200);
  const uint16_t ctrl =
      pcie::kSriovCtrlVfEnable | pcie::kSriovCtrlVfMse | pcie::kSriovCtrlAriHierarchy;
  CHECK(p.nic.pf.read(p.nic.reg(pcie::kSriovCtrl), 2) == ctrl);
  CHECK(p.nic.pf.read(p.nic.reg(pcie::kSriovNumVfs), 2) == 200);
  const PciFunctionInfo* pf = e.find(pf_rid);
  REQUIRE(pf);
  CHECK(pf->sriov->num_vfs == 200);
  CHECK(pf->sriov->first_vf_offset == 0x80);
  CHECK(pf->sriov->vf_stride == 2);

  e.disable_sriov(pf_rid);
  CHECK(e.functions().size() == before);
  for (unsigned i = 0; i < 200; ++i) CHECK(e.find(uint16_t(0x0280 + 2 * i)) == nullptr);
  CHECK(std::none_of(e.functions().begin(), e.functions().end(),
                     [](const auto& f) { return f.is_vf; }));
  CHECK(p.nic.sriov->num_vfs() == 0);
  CHECK(p.nic.pf.read(p.nic.reg(pcie::kSriovCtrl), 2) == pcie::kSriovCtrlAriHierarchy);
  CHECK(p.nic.pf.read(p.nic.reg(pcie::kSriovNumVfs), 2) == 0);
  CHECK(e.find(pf_rid)->sriov->num_vfs == 0);
  CHECK(p.m.mmio_read(ecam(0x0280, 0x08), 4) == 0xFFFFFFFF);  // VF 0 is gone
  const unsigned writes = p.m.writes;
  e.disable_sriov(pf_rid);  // nothing enabled: nothing happens
  CHECK(p.m.writes == writes);

  // And again, fewer: all on the PF's bus.
  const auto& again = e.enable_sriov(pf_rid, 3);
  REQUIRE(again.size() == 3);
  CHECK(again[2].rid() == rid(2, 0x10, 4));
  check_vfs(e, p.nic, p.m, 3);
  CHECK(e.find(rid(2, 0x10, 6)) == nullptr);
}

TEST_CASE("SR-IOV enable_sriov and disable_sriov refuse bad arguments", "[pcie_sriov]") {
  Platform p;
  PciEnumerator e(p.m, options());
  CHECK_THROWS_AS(e.enable_sriov(rid(2, 0, 0), 1), std::invalid_argument);  // not enumerated
  e.enumerate();
  const unsigned writes = p.m.writes;
  CHECK_THROWS_AS(e.enable_sriov(rid(9, 0, 0), 1), std::invalid_argument);  // nothing there
  CHECK_THROWS_AS(e.enable_sriov(rid(1, 0, 0), 1), std::invalid_argument);  // no SR-IOV
  CHECK_THROWS_AS(e.enable_sriov(rid(0, 2, 0), 1), std::invalid_argument);  // a bridge
  CHECK_THROWS_AS(e.enable_sriov(rid(2, 0, 0), 0), std::invalid_argument);
  CHECK_THROWS_AS(e.enable_sriov(rid(2, 0, 0), 201), std::invalid_argument);
  CHECK_THROWS_AS(e.disable_sriov(rid(9, 0, 0)), std::invalid_argument);
  CHECK_THROWS_AS(e.disable_sriov(rid(1, 0, 0)), std::invalid_argument);
  CHECK(p.m.writes == writes);  // nothing was written
  CHECK(p.nic.sriov->num_vfs() == 0);

  e.enable_sriov(rid(2, 0, 0), 4);
  const unsigned enabled = p.m.writes;
  CHECK_THROWS_AS(e.enable_sriov(rid(2, 0, 0), 4), std::invalid_argument);     // already enabled
  CHECK_THROWS_AS(e.enable_sriov(rid(2, 0x10, 0), 1), std::invalid_argument);  // a VF
  CHECK_THROWS_AS(e.disable_sriov(rid(2, 0x10, 0)), std::invalid_argument);
  CHECK(p.m.writes == enabled);
  CHECK(p.nic.sriov->num_vfs() == 4);
  try {
    e.enable_sriov(rid(2, 0, 0), 8);
    FAIL("no exception");
  } catch (const std::invalid_argument& err) {
    CHECK(std::string(err.what()).find("02:00.0") != std::string::npos);
  }
}

TEST_CASE("SR-IOV enable_sriov fails cleanly when VFs cannot be reached", "[pcie_sriov]") {
  Platform p;
  PciEnumerator e(p.m, options());
  e.enumerate();
  const std::size_t before = e.functions().size();
  const uint16_t ctrl = p.nic.reg(pcie::kSriovCtrl), num = p.nic.reg(pcie::kSriovNumVfs);

  SECTION("a VF that does not answer") {
    p.nic.hide_vfs = true;
    CHECK_THROWS_AS(e.enable_sriov(rid(2, 0, 0), 8), std::runtime_error);
  }
  SECTION("a VF beyond the buses the port covers") {
    // A device whose First VF Offset changed after the scan (the spec lets it vary): VF 0 would
    // be 0x0200 + 0x400 = 06:00.0, beyond the port's [02-04].
    p.nic.pf.set_raw(p.nic.reg(pcie::kSriovFirstVfOffset), 2, 0x400);
    try {
      e.enable_sriov(rid(2, 0, 0), 1);
      FAIL("no exception");
    } catch (const std::runtime_error& err) {
      CHECK(std::string(err.what()).find("06:00.0") != std::string::npos);
    }
  }
  SECTION("a VF routing id beyond 0xFFFF") {
    p.nic.pf.set_raw(p.nic.reg(pcie::kSriovFirstVfOffset), 2, 0xFF00);
    CHECK_THROWS_AS(e.enable_sriov(rid(2, 0, 0), 1), std::runtime_error);
  }
  SECTION("a zero First VF Offset") {
    p.nic.pf.set_raw(p.nic.reg(pcie::kSriovFirstVfOffset), 2, 0);
    CHECK_THROWS_AS(e.enable_sriov(rid(2, 0, 0), 1), std::runtime_error);
  }
  // Nothing stays enabled or recorded.
  CHECK(p.nic.pf.read(ctrl, 2) == pcie::kSriovCtrlAriHierarchy);
  CHECK(p.nic.pf.read(num, 2) == 0);
  CHECK(p.nic.sriov->num_vfs() == 0);
  CHECK(e.functions().size() == before);
  CHECK(e.find(rid(2, 0, 0))->sriov->num_vfs == 0);
}

TEST_CASE("SR-IOV enable_sriov refuses a VF routing id another function has", "[pcie_sriov]") {
  // A PF on bus 0 (no bridge above it) at 00:04.0, First VF Offset 4, VF Stride 4: VF 0 is
  // 00:04.4, VF 1 would be 00:05.0, a root port.
  FakeMachine m;
  SriovNic nic(rid(0, 4, 0), 4, 4, 4);
  m.add_device(kRoot, nic.device());
  const int rp = m.add_bridge(kRoot, 5, root_port(0x3010));
  m.add_endpoint(rp, 0, endpoint(0x1001, 4 * kKiB));
  PciEnumerator e(m, options());
  e.enumerate();
  const PciFunctionInfo* pf = e.find(rid(0, 4, 0));
  REQUIRE(pf);
  REQUIRE(pf->sriov);
  CHECK_FALSE(pf->sriov->ari_hierarchy);  // on bus 0: no ARI hierarchy
  CHECK(pf->sriov->last_vf_bus == 0);
  CHECK(m.bridge(rp).secondary_bus() == 1);
  const std::size_t before = e.functions().size();
  try {
    e.enable_sriov(rid(0, 4, 0), 2);
    FAIL("no exception");
  } catch (const std::runtime_error& err) {
    CHECK(std::string(err.what()).find("00:05.0") != std::string::npos);
  }
  CHECK(nic.sriov->num_vfs() == 0);
  CHECK(nic.pf.read(nic.reg(pcie::kSriovNumVfs), 2) == 0);
  CHECK(e.functions().size() == before);
  const auto& one = e.enable_sriov(rid(0, 4, 0), 1);
  REQUIRE(one.size() == 1);
  CHECK(one[0].rid() == rid(0, 4, 4));
  CHECK(nic.sriov->vf(0).bus_master());
}

TEST_CASE("SR-IOV VF buses within a firmware-numbered port", "[pcie_sriov]") {
  // Like the root complex: the port is numbered by firmware. PF 01:00.0, 200 VFs: the last at
  // 0x0100 + 0x80 + 2 * 199 = 0x030E, bus 3.
  FakeMachine m;
  ConfigSpace port = root_port(0x3010);
  unsigned sub = 8;
  SECTION("a range that holds the VF buses is kept") {}
  SECTION("a range too small is widened") {
    sub = 1;
  }
  port.write(0x18, 4, sub << 16 | 1u << 8);
  const int rp = m.add_bridge(kRoot, 1, std::move(port));
  SriovNic nic(rid(1, 0, 0), 200);
  m.add_device(rp, nic.device());
  PciEnumerator e(m, options());
  e.enumerate();
  CHECK(m.bridge(rp).secondary_bus() == 1);
  CHECK(m.bridge(rp).subordinate_bus() == std::max(sub, 3u));
  REQUIRE(e.find(rid(1, 0, 0)));
  CHECK(e.find(rid(1, 0, 0))->sriov->last_vf_bus == 3);
  const auto& vfs = e.enable_sriov(rid(1, 0, 0), 200);
  REQUIRE(vfs.size() == 200);
  CHECK(vfs.back().rid() == 0x030E);
  check_vfs(e, nic, m, 200);
}

TEST_CASE("SR-IOV VFs are listed under their PF's bus", "[pcie_sriov]") {
  Platform p;
  PciEnumerator e(p.m, options());
  e.enumerate();
  const std::string before = e.listing();
  INFO(before);
  CHECK(before.find("02:00.0 8086:10fb class 020000 mps 256 mrrs 512 sriov 0/200 VFs") !=
        std::string::npos);
  CHECK(before.find(
            "VF BAR0 64-bit prefetchable [0x00000000c0180000-0x00000000c049ffff] 16K x 200") !=
        std::string::npos);
  CHECK(before.find("VF BAR2 32-bit [0xc04a4000-0xc056bfff] 4K x 200") != std::string::npos);
  CHECK(before.find(" VF 0 of") == std::string::npos);

  e.enable_sriov(rid(2, 0, 0), 200);
  const std::string l = e.listing();
  INFO(l);
  CHECK(l.find("sriov 200/200 VFs") != std::string::npos);
  CHECK(l.find("02:10.0 8086:10ed class 020000 mps 256 mrrs 512 VF 0 of 02:00.0") !=
        std::string::npos);
  CHECK(l.find("BAR0 64-bit prefetchable [0x00000000c0180000-0x00000000c0183fff] 16K") !=
        std::string::npos);
  CHECK(l.find("03:00.0 8086:10ed class 020000 mps 256 mrrs 512 VF 64 of 02:00.0") !=
        std::string::npos);
  CHECK(l.find("04:01.6 8086:10ed class 020000 mps 256 mrrs 512 VF 199 of 02:00.0") !=
        std::string::npos);
  // Bus 2 under port 00:02.0, then the VF-only buses 3 and 4 at its level, then port 00:03.0.
  const auto bus2 = l.find("[0000:02]"), bus3 = l.find("[0000:03]"), bus4 = l.find("[0000:04]");
  REQUIRE(bus2 != std::string::npos);
  REQUIRE(bus3 != std::string::npos);
  REQUIRE(bus4 != std::string::npos);
  CHECK(l.find("00:02.0") < bus2);
  CHECK(bus2 < l.find("02:00.0"));
  CHECK(l.find("02:1f.6") < bus3);
  CHECK(bus3 < l.find("03:00.0"));
  CHECK(l.find("03:1f.6") < bus4);
  CHECK(bus4 < l.find("04:00.0"));
  CHECK(l.find("04:01.6") < l.find("00:03.0"));
  // The bus headers line up: same indentation for 02, 03 and 04.
  const auto indent = [&](std::size_t pos) { return pos - l.rfind('\n', pos); };
  CHECK(indent(bus3) == indent(bus2));
  CHECK(indent(bus4) == indent(bus2));

  e.disable_sriov(rid(2, 0, 0));
  CHECK(e.listing() == before);
}

TEST_CASE("SR-IOV a rescan disables VFs left enabled", "[pcie_sriov]") {
  Platform p;
  PciEnumerator e(p.m, options());
  e.enumerate();
  e.enable_sriov(rid(2, 0, 0), 70);
  REQUIRE(p.nic.sriov->num_vfs() == 70);
  e.enumerate();
  CHECK(p.nic.sriov->num_vfs() == 0);
  CHECK(e.functions().size() == 6);
  CHECK(e.find(rid(2, 0x10, 0)) == nullptr);
  CHECK(e.find(rid(2, 0, 0))->sriov->vf_bars[0].base == 0xC0180000);
  CHECK(p.nic.mse_while_sizing == 0);
  e.enable_sriov(rid(2, 0, 0), 70);
  check_vfs(e, p.nic, p.m, 70);
}

TEST_CASE("SR-IOV VF BAR regions must fit the MMIO window", "[pcie_sriov]") {
  FakeMachine m;
  const int rp = m.add_bridge(kRoot, 1, root_port(0x3010));
  std::array<BarInfo, 6> big{};
  big[0] = {1 * kMiB, false, false};  // 1 MiB per VF, 200 VFs: 200 MiB
  SriovNic nic(rid(1, 0, 0), 200, 0x80, 2, big);
  m.add_device(rp, nic.device());
  EnumeratorOptions o = options();
  o.mmio_size = 128 * kMiB;
  PciEnumerator e(m, o);
  try {
    e.enumerate();
    FAIL("no exception");
  } catch (const std::runtime_error& err) {
    const std::string what = err.what();
    INFO(what);
    CHECK(what.find("VF BAR0") != std::string::npos);
    CHECK(what.find("01:00.0") != std::string::npos);
  }
  CHECK(nic.pf.vf_bar_address(0) == 0);  // nothing was placed
  o.mmio_size = 256 * kMiB;
  PciEnumerator fits(m, o);
  fits.enumerate();
  CHECK(nic.pf.vf_bar_address(0) == o.mmio_base);  // the largest alignment goes first
}

TEST_CASE("SR-IOV 64-bit VF BARs above 4 GiB", "[pcie_sriov]") {
  FakeMachine m;
  const int rp = m.add_bridge(kRoot, 1, root_port(0x3010));
  std::array<BarInfo, 6> bars{};
  bars[0] = {64 * kMiB, true, true};
  SriovNic nic(rid(1, 0, 0), 64, 0x80, 2, bars, true);
  m.add_device(rp, nic.device());
  EnumeratorOptions o = options();
  o.mmio_base = 0x40'0000'0000;
  o.mmio_size = 0x2'0000'0000;
  PciEnumerator e(m, o);
  e.enumerate();
  CHECK(nic.pf.vf_bar_address(0) == 0x40'0000'0000);
  CHECK(nic.pf.read(nic.reg(pcie::kSriovVfBar0 + 4), 4) == 0x40);
  // The port's 64-bit prefetchable window covers the 4 GiB region: base 0x40_0000_0000, limit
  // 0x40_FFFF_FFFF (the PF's BARs follow it).
  CHECK(m.bridge(rp).read(0x28, 4) == 0x40);
  CHECK(m.bridge(rp).read(0x2C, 4) == 0x41);
  const auto& vfs = e.enable_sriov(rid(1, 0, 0), 64);
  CHECK(vfs.back().bars.at(0).base == 0x40'0000'0000 + 63 * 64 * kMiB);
  CHECK(nic.sriov->vf_bar_base(63, 0) == 0x40'0000'0000 + 63 * 64 * kMiB);
}

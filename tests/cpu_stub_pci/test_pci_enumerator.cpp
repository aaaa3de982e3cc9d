// PCI enumeration against a fake machine: ECAM accesses land in pcie::ConfigSpace objects the test
// builds, routed through the bridges by the bus numbers software programmed, as type 1 config
// cycles are. Results are checked against the ConfigSpace objects (what the device saw), not only
// against what the enumerator recorded.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <iovsim/cpu_stub/host_access.hpp>
#include <iovsim/cpu_stub/pci_enumerator.hpp>
#include <iovsim/pcie/config_space.hpp>

using namespace iovsim::cpu_stub;
using iovsim::pcie::BarInfo;
using iovsim::pcie::ConfigSpace;

namespace {

constexpr uint64_t kEcam = 0xE0000000, kEcamSize = 256ull << 20;
constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024;
constexpr int kRoot = -1;  // parent of the functions on bus 0

// The fake machine. Each function hangs off a parent bridge (or the root bus); a config access to
// bus B reaches bus 0 directly and any other bus through the bridges whose secondary..subordinate
// range holds B, so bus numbers the enumerator assigns are what make functions reachable. Absent
// functions read all ones and ignore writes. Only aligned 4-byte ECAM accesses are accepted.
class FakePci : public HostAccess {
 public:
  struct Node {
    int parent;
    uint8_t dev, fn;
    ConfigSpace cs;
  };

  // Adds a function under `parent` (kRoot or a bridge's id); returns its id.
  int add(int parent, uint8_t dev, uint8_t fn, ConfigSpace cs) {
    const int id = static_cast<int>(nodes_.size());
    nodes_.emplace(id, Node{parent, dev, fn, std::move(cs)});
    ConfigSpace& added = nodes_.at(id).cs;
    // Memory decode must be off whenever a BAR holds all ones (being sized: bar_address() has no
    // address then).
    added.on_write([this, &added](uint16_t, unsigned) {
      if (!added.memory_enabled()) return;
      for (unsigned i = 0; i < (added.header_type() == 1 ? 2u : 6u); ++i)
        if (added.bar_info(i).size != 0 && !added.bar_address(i)) ++decode_while_sizing;
    });
    return id;
  }
  ConfigSpace& cs(int id) { return nodes_.at(id).cs; }

  uint64_t mmio_read(uint64_t addr, unsigned size) override {
    ConfigSpace* c = decode(addr, size);
    ++reads;
    return c ? c->read(uint16_t(addr & 0xFFF), 4) : 0xFFFFFFFFu;
  }
  void mmio_write(uint64_t addr, unsigned size, uint64_t value) override {
    ConfigSpace* c = decode(addr, size);
    ++writes;
    if (value >> 32) throw std::logic_error("4-byte write with upper bits set");
    if (c) c->write(uint16_t(addr & 0xFFF), 4, static_cast<uint32_t>(value));
  }
  void mem_read(uint64_t, void*, std::size_t) override {
    throw std::logic_error("enumeration touched host memory");
  }
  void mem_write(uint64_t, const void*, std::size_t) override {
    throw std::logic_error("enumeration touched host memory");
  }

  unsigned reads = 0, writes = 0, decode_while_sizing = 0;

 private:
  ConfigSpace* decode(uint64_t addr, unsigned size) {
    if (size != 4 || (addr & 3) != 0) throw std::logic_error("config access not an aligned dword");
    if (addr < kEcam || addr - kEcam >= kEcamSize) throw std::logic_error("access outside ECAM");
    const uint64_t off = addr - kEcam;
    return route(kRoot, 0, uint8_t(off >> 20), uint8_t(off >> 15 & 31), uint8_t(off >> 12 & 7));
  }
  // Finds (bus, dev, fn) on the segment below `parent`, whose number is `segment_bus`.
  ConfigSpace* route(int parent, uint8_t segment_bus, uint8_t bus, uint8_t dev, uint8_t fn) {
    for (auto& [id, n] : nodes_) {
      if (n.parent != parent) continue;
      if (bus == segment_bus && n.dev == dev && n.fn == fn) return &n.cs;
      const uint8_t sec = n.cs.secondary_bus(), sub = n.cs.subordinate_bus();
      if (bus != segment_bus && n.cs.header_type() == 1 && sec != 0 && sec <= bus && bus <= sub)
        return route(id, sec, bus, dev, fn);
    }
    return nullptr;
  }

  std::map<int, Node> nodes_;
};

ConfigSpace endpoint(uint16_t vendor, uint16_t device, uint32_t class_code, bool mf = false) {
  return ConfigSpace(vendor, device, class_code, 0, mf);
}
ConfigSpace root_port(uint16_t device) {
  ConfigSpace c(0x8086, device, 0x060400, 1);
  c.add_pcie(1, 4);
  return c;
}
// Firmware-style bus numbers, written the way software would.
void number_bridge(ConfigSpace& c, uint8_t primary, uint8_t secondary, uint8_t subordinate) {
  c.write(0x18, 4, uint32_t{subordinate} << 16 | uint32_t{secondary} << 8 | primary);
}

std::string bdf_of(const PciFunctionInfo& f) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02x:%02x.%x", unsigned{f.bus}, unsigned{f.dev}, unsigned{f.fn});
  return buf;
}

uint16_t rid(unsigned bus, unsigned dev, unsigned fn) {
  return uint16_t(bus << 8 | dev << 3 | fn);
}

// The platform most tests use:
//   00:00.0, 00:00.1, 00:00.3  a multi-function NIC (function 2 missing)
//   00:02.0                    a single-function NVMe device (a stray 00:02.1 decodes too)
//   00:05.1                    a function 1 without function 0: invisible
//   00:1c.0 -> 04:00.0         a root port firmware left unnumbered, an endpoint behind it
//   00:1d.0 -> 03:00.0         a root port firmware numbered [03-03], an endpoint behind it
struct Platform {
  FakePci m;
  int nic0, nic1, nic3, nvme, stray, orphan, rp_new, ep_new, rp_fw, ep_fw;
  // Capability offsets as the ConfigSpace objects placed them.
  std::map<int, std::vector<std::pair<uint8_t, uint16_t>>> caps;
  std::map<int, std::vector<std::pair<uint16_t, uint16_t>>> ext_caps;
  std::map<int, unsigned> mpss;  // max payload supported, bytes

  Platform() {
    {
      ConfigSpace c = endpoint(0x8086, 0x1000, 0x020000, true);
      c.define_bar(0, 1 * kMiB, true, true);
      c.define_bar(2, 16 * kKiB, false);
      const uint16_t e = c.add_pcie(2), msi = c.add_msi(3, true, true),
                     msix = c.add_msix(16, 2, 0, 2, 0x1000);
      const uint16_t ari = c.add_ari(1), ats = c.add_ats(0);
      nic0 = m.add(kRoot, 0, 0, std::move(c));
      caps[nic0] = {{0x10, e}, {0x05, msi}, {0x11, msix}};
      ext_caps[nic0] = {{0x0E, ari}, {0x0F, ats}};
      mpss[nic0] = 512;
    }
    {
      ConfigSpace c = endpoint(0x8086, 0x1001, 0x020000, true);
      c.define_bar(0, 64 * kKiB, false);
      const uint16_t e = c.add_pcie(0), ari = c.add_ari(3);
      nic1 = m.add(kRoot, 0, 1, std::move(c));
      caps[nic1] = {{0x10, e}};
      ext_caps[nic1] = {{0x0E, ari}};
      mpss[nic1] = 128;
    }
    {
      ConfigSpace c = endpoint(0x8086, 0x1003, 0x028000, true);  // conventional PCI: no caps
      c.define_bar(1, 4 * kKiB, false);
      nic3 = m.add(kRoot, 0, 3, std::move(c));
      caps[nic3] = {};
      ext_caps[nic3] = {};
    }
    {
      ConfigSpace c = endpoint(0x1af4, 0x1041, 0x010802);
      c.define_bar(0, 16 * kKiB, true);
      c.define_bar(4, 8 * kMiB, true, true);
      const uint16_t e = c.add_pcie(1), pasid = c.add_pasid(20);
      // Firmware left junk in the upper half of BAR0 and memory decode on.
      c.write(0x14, 4, 0x00000123);
      c.write(0x04, 2, 0x0002);
      nvme = m.add(kRoot, 2, 0, std::move(c));
      caps[nvme] = {{0x10, e}};
      ext_caps[nvme] = {{0x1B, pasid}};
      mpss[nvme] = 256;
    }
    stray = m.add(kRoot, 2, 1, endpoint(0x1af4, 0x1042, 0x010802));
    orphan = m.add(kRoot, 5, 1, endpoint(0x1234, 0x5678, 0xff0000));
    {
      ConfigSpace c = root_port(0x2000);
      c.define_bar(0, 256, false);
      rp_new = m.add(kRoot, 0x1c, 0, std::move(c));
      caps[rp_new] = {{0x10, m.cs(rp_new).find_capability(0x10)}};
      ext_caps[rp_new] = {};
      mpss[rp_new] = 256;
    }
    {
      ConfigSpace c = endpoint(0x144d, 0xa808, 0x010802);
      c.define_bar(0, 16 * kKiB, true);
      const uint16_t e = c.add_pcie(5), msix = c.add_msix(32, 0, 0x2000, 0, 0x3000);
      const uint16_t ats = c.add_ats(4);
      // Error bits the device reported: RW1C, the enumerator must not clear them.
      c.set_raw(0x06, 2, c.raw(0x06, 2) | 0x8000);
      c.set_raw(uint16_t(e + 0xA), 2, 0x0001);
      ep_new = m.add(rp_new, 0, 0, std::move(c));
      caps[ep_new] = {{0x10, e}, {0x11, msix}};
      ext_caps[ep_new] = {{0x0F, ats}};
      mpss[ep_new] = 4096;
    }
    {
      ConfigSpace c = root_port(0x2001);
      number_bridge(c, 0, 3, 3);
      rp_fw = m.add(kRoot, 0x1d, 0, std::move(c));
      caps[rp_fw] = {{0x10, m.cs(rp_fw).find_capability(0x10)}};
      ext_caps[rp_fw] = {};
      mpss[rp_fw] = 256;
    }
    {
      ConfigSpace c = endpoint(0x10ec, 0x8168, 0x020000);
      c.define_bar(0, 4 * kKiB, false);
      c.define_bar(2, 16 * kKiB, true, true);
      const uint16_t e = c.add_pcie(1);
      ep_fw = m.add(rp_fw, 0, 0, std::move(c));
      caps[ep_fw] = {{0x10, e}};
      ext_caps[ep_fw] = {};
      mpss[ep_fw] = 256;
    }
  }

  // Where each built function should be found (the stray and the orphan should not).
  std::map<uint16_t, int> expected() const {
    return {{rid(0, 0, 0), nic0},  {rid(0, 0, 1), nic1},      {rid(0, 0, 3), nic3},
            {rid(0, 2, 0), nvme},  {rid(0, 0x1c, 0), rp_new}, {rid(0, 0x1d, 0), rp_fw},
            {rid(3, 0, 0), ep_fw}, {rid(4, 0, 0), ep_new}};
  }
};

EnumeratorOptions options() {
  EnumeratorOptions o;
  o.ecam_base = kEcam;
  return o;
}

// BARs as recorded against the ConfigSpace behind each function: placement and programming.
void check_bars(FakePci& m, const std::map<uint16_t, int>& where, const PciEnumerator& e,
                const EnumeratorOptions& o) {
  struct Placed {
    std::string who;
    uint64_t base, size;
  };
  std::vector<Placed> placed;
  for (const auto& f : e.functions()) {
    ConfigSpace& cs = m.cs(where.at(f.rid()));
    INFO(bdf_of(f));
    // Exactly the implemented BARs, in index order, sized as defined.
    std::vector<unsigned> defined;
    for (unsigned i = 0; i < (cs.header_type() == 1 ? 2u : 6u); ++i)
      if (cs.bar_info(i).size != 0) defined.push_back(i);
    REQUIRE(f.bars.size() == defined.size());
    for (std::size_t k = 0; k < f.bars.size(); ++k) {
      const PciBar& bar = f.bars[k];
      const BarInfo& info = cs.bar_info(bar.index);
      INFO("BAR" << bar.index);
      CHECK(bar.index == defined[k]);
      CHECK(bar.size == info.size);
      CHECK(bar.is64 == info.is64);
      CHECK(bar.prefetchable == info.prefetchable);
      CHECK(bar.base % bar.size == 0);
      CHECK(bar.base >= o.mmio_base);
      CHECK(bar.base + bar.size <= o.mmio_base + o.mmio_size);
      CHECK(cs.bar_address(bar.index) == bar.base);
      const uint16_t reg = uint16_t(0x10 + 4 * bar.index);
      CHECK((cs.read(reg, 4) & ~0xFu) == uint32_t(bar.base));
      if (bar.is64) CHECK(cs.read(uint16_t(reg + 4), 4) == uint32_t(bar.base >> 32));
      if (!bar.is64) CHECK(bar.base + bar.size <= (uint64_t{1} << 32));
      placed.push_back({bdf_of(f) + " BAR" + std::to_string(bar.index), bar.base, bar.size});
    }
  }
  for (std::size_t i = 0; i < placed.size(); ++i)
    for (std::size_t j = i + 1; j < placed.size(); ++j) {
      INFO(placed[i].who << " vs " << placed[j].who);
      CHECK((placed[i].base + placed[i].size <= placed[j].base ||
             placed[j].base + placed[j].size <= placed[i].base));
    }
}

}  // namespace

TEST_CASE("pci enumeration finds exactly the functions present", "[pci_enum]") {
  Platform p;
  PciEnumerator e(p.m, options());
  const auto& fns = e.enumerate();
  const auto expected = p.expected();

  std::set<uint16_t> found;
  for (const auto& f : fns) {
    INFO(bdf_of(f));
    CHECK(found.insert(f.rid()).second);  // no duplicates
    REQUIRE(expected.count(f.rid()) == 1);
    const ConfigSpace& cs = p.m.cs(expected.at(f.rid()));
    CHECK(f.vendor == cs.vendor());
    CHECK(f.device == cs.read(0x02, 2));
    CHECK(f.class_code == cs.read(0x08, 4) >> 8);
    CHECK(f.header_type == cs.header_type());
    CHECK(f.multifunction == cs.multifunction());
    CHECK(e.find(f.rid()) == &f);
  }
  CHECK(found.size() == expected.size());
  CHECK(e.find(rid(0, 2, 1)) == nullptr);  // 00:02.0 is single-function
  CHECK(e.find(rid(0, 5, 1)) == nullptr);  // no function 0 at 00:05
  CHECK(e.functions().size() == fns.size());

  // Scan order: bus 0 by dev.fn, then the buses below its bridges.
  std::vector<uint16_t> order;
  for (const auto& f : fns) order.push_back(f.rid());
  CHECK(order == std::vector<uint16_t>{rid(0, 0, 0), rid(0, 0, 1), rid(0, 0, 3), rid(0, 2, 0),
                                       rid(0, 0x1c, 0), rid(0, 0x1d, 0), rid(3, 0, 0),
                                       rid(4, 0, 0)});
}

TEST_CASE("pci enumeration keeps firmware bus numbers and numbers the rest", "[pci_enum]") {
  Platform p;
  PciEnumerator e(p.m, options());
  e.enumerate();

  // Firmware's [03-03] stays; the unnumbered port gets the next bus after every firmware range.
  const ConfigSpace& fw = p.m.cs(p.rp_fw);
  CHECK(fw.secondary_bus() == 3);
  CHECK(fw.subordinate_bus() == 3);
  const ConfigSpace& assigned = p.m.cs(p.rp_new);
  CHECK(assigned.read(0x18, 1) == 0);  // primary
  CHECK(assigned.secondary_bus() == 4);
  CHECK(assigned.subordinate_bus() == 4);

  const PciFunctionInfo* a = e.find(rid(0, 0x1c, 0));
  REQUIRE(a);
  CHECK(a->secondary_bus == 4);
  CHECK(a->subordinate_bus == 4);
  const PciFunctionInfo* b = e.find(rid(0, 0x1d, 0));
  REQUIRE(b);
  CHECK(b->secondary_bus == 3);
  CHECK(b->subordinate_bus == 3);
}

TEST_CASE("pci enumeration numbers nested unnumbered bridges depth first", "[pci_enum]") {
  // Root port 00:01.0 -> switch upstream port -> two downstream ports -> one endpoint each.
  FakePci m;
  const int rp = m.add(kRoot, 1, 0, root_port(0x3000));
  ConfigSpace up(0x10b5, 0x8747, 0x060400, 1);
  up.add_pcie(2, 5);
  const int usp = m.add(rp, 0, 0, std::move(up));
  int dsp[2], ep[2];
  for (int i = 0; i < 2; ++i) {
    ConfigSpace d(0x10b5, 0x8747, 0x060400, 1);
    d.add_pcie(2, 6);
    dsp[i] = m.add(usp, uint8_t(i), 0, std::move(d));
    ConfigSpace c = endpoint(0x1b36, uint16_t(0x10 + i), 0x010802);
    c.define_bar(0, 16 * kKiB, true);
    ep[i] = m.add(dsp[i], 0, 0, std::move(c));
  }
  PciEnumerator e(m, options());
  e.enumerate();

  auto check_numbers = [&](int id, unsigned pri, unsigned sec, unsigned sub) {
    INFO("bridge " << id);
    CHECK(m.cs(id).read(0x18, 1) == pri);
    CHECK(m.cs(id).secondary_bus() == sec);
    CHECK(m.cs(id).subordinate_bus() == sub);
  };
  check_numbers(rp, 0, 1, 4);
  check_numbers(usp, 1, 2, 4);
  check_numbers(dsp[0], 2, 3, 3);
  check_numbers(dsp[1], 2, 4, 4);
  REQUIRE(e.functions().size() == 6);
  REQUIRE(e.find(rid(3, 0, 0)));
  REQUIRE(e.find(rid(4, 0, 0)));
  CHECK(e.find(rid(3, 0, 0))->device == 0x10);
  CHECK(e.find(rid(4, 0, 0))->device == 0x11);
  CHECK(e.find(rid(0, 1, 0))->subordinate_bus == 4);
  const std::map<uint16_t, int> where{{rid(0, 1, 0), rp},     {rid(1, 0, 0), usp},
                                      {rid(2, 0, 0), dsp[0]}, {rid(2, 1, 0), dsp[1]},
                                      {rid(3, 0, 0), ep[0]},  {rid(4, 0, 0), ep[1]}};
  check_bars(m, where, e, options());
}

TEST_CASE("pci enumeration sizes and places BARs", "[pci_enum]") {
  Platform p;
  const EnumeratorOptions o = options();
  PciEnumerator e(p.m, o);
  e.enumerate();
  check_bars(p.m, p.expected(), e, o);
  CHECK(p.m.decode_while_sizing == 0);

  // Largest first from the window's base: the 8 MiB BAR comes first, the 1 MiB one next.
  const PciFunctionInfo* nvme = e.find(rid(0, 2, 0));
  REQUIRE(nvme);
  REQUIRE(nvme->bars.size() == 2);
  CHECK(nvme->bars[1].index == 4);
  CHECK(nvme->bars[1].base == o.mmio_base);
  CHECK(nvme->bars[0].is64);
  CHECK(p.m.cs(p.nvme).read(0x14, 4) == 0);  // firmware's junk upper half overwritten
  const PciFunctionInfo* nic = e.find(rid(0, 0, 0));
  REQUIRE(nic);
  CHECK(nic->bars[0].base == o.mmio_base + 8 * kMiB);
}

TEST_CASE("pci enumeration programs both halves of 64-bit BARs above 4 GiB", "[pci_enum]") {
  FakePci m;
  ConfigSpace c = endpoint(0x15b3, 0x101b, 0x020000);
  c.define_bar(0, 32 * kMiB, true, true);
  c.define_bar(2, 64 * kKiB, true);
  const int id = m.add(kRoot, 3, 0, std::move(c));
  EnumeratorOptions o = options();
  o.mmio_base = 0x40'0000'0000;
  o.mmio_size = 0x1'0000'0000;
  PciEnumerator e(m, o);
  e.enumerate();
  check_bars(m, {{rid(0, 3, 0), id}}, e, o);
  CHECK(m.cs(id).read(0x14, 4) == 0x40);
  CHECK(m.cs(id).read(0x1C, 4) == 0x40);
  CHECK(m.cs(id).bar_address(2) == 0x40'0000'0000 + 32 * kMiB);

  SECTION("a 32-bit BAR cannot go there") {
    FakePci m2;
    ConfigSpace d = endpoint(0x15b3, 0x101c, 0x020000);
    d.define_bar(0, 4 * kKiB, false);
    m2.add(kRoot, 4, 0, std::move(d));
    PciEnumerator e2(m2, o);
    CHECK_THROWS_AS(e2.enumerate(), std::runtime_error);
  }
}

TEST_CASE("pci enumeration programs MPS and MRRS", "[pci_enum]") {
  Platform p;
  EnumeratorOptions o = options();
  unsigned want_mps = 256, want_mrrs = 512;
  SECTION("defaults") {}
  SECTION("larger") {
    o.mps = want_mps = 1024;
    o.mrrs = want_mrrs = 4096;
  }
  SECTION("smallest") {
    o.mps = want_mps = 128;
    o.mrrs = want_mrrs = 128;
  }
  PciEnumerator e(p.m, o);
  e.enumerate();
  for (const auto& [r, id] : p.expected()) {
    const PciFunctionInfo* f = e.find(r);
    REQUIRE(f);
    INFO(bdf_of(*f));
    ConfigSpace& cs = p.m.cs(id);
    const uint16_t cap = cs.find_capability(0x10);
    if (cap == 0) {
      CHECK(f->mps == 0);
      CHECK(f->mrrs == 0);
      continue;
    }
    const unsigned expect_mps = std::min(want_mps, p.mpss.at(id));
    // The Device Control field itself, not only ConfigSpace::mps() (which clamps on its own).
    const uint32_t ctl = cs.read(uint16_t(cap + 8), 2);
    CHECK((128u << ((ctl >> 5) & 7)) == expect_mps);
    CHECK((128u << ((ctl >> 12) & 7)) == want_mrrs);
    CHECK(cs.mps() == expect_mps);
    CHECK(cs.mrrs() == want_mrrs);
    CHECK(f->mps == expect_mps);
    CHECK(f->mrrs == want_mrrs);
    CHECK((ctl & 0x10) != 0);  // relaxed ordering: other Device Control bits kept
  }
  // RW1C Device Status bit survived the Device Control write.
  const uint16_t cap = p.m.cs(p.ep_new).find_capability(0x10);
  CHECK(p.m.cs(p.ep_new).raw(uint16_t(cap + 0xA), 2) == 0x0001);
}

TEST_CASE("pci enumeration enables memory space and bus mastering", "[pci_enum]") {
  Platform p;
  EnumeratorOptions o = options();
  bool enable = true;
  SECTION("enabled") {}
  SECTION("disabled") {
    o.enable = enable = false;
  }
  PciEnumerator e(p.m, o);
  e.enumerate();
  for (const auto& [r, id] : p.expected()) {
    INFO("rid " << r);
    const ConfigSpace& cs = p.m.cs(id);
    if (enable) {
      CHECK(cs.memory_enabled());
      CHECK(cs.bus_master());
    } else {
      // Left as firmware had it: only 00:02.0 had decode on.
      CHECK(cs.memory_enabled() == (id == p.nvme));
      CHECK_FALSE(cs.bus_master());
    }
  }
  CHECK(p.m.cs(p.ep_new).raw(0x06, 2) & 0x8000);  // RW1C status error bit not cleared
  CHECK_FALSE(p.m.cs(p.stray).memory_enabled());
  CHECK_FALSE(p.m.cs(p.orphan).memory_enabled());
  CHECK(p.m.decode_while_sizing == 0);
}

TEST_CASE("pci enumeration lists capabilities in list order", "[pci_enum]") {
  Platform p;
  PciEnumerator e(p.m, options());
  e.enumerate();
  for (const auto& [r, id] : p.expected()) {
    const PciFunctionInfo* f = e.find(r);
    REQUIRE(f);
    INFO(bdf_of(*f));
    CHECK(f->capabilities == p.caps.at(id));
    CHECK(f->ext_capabilities == p.ext_caps.at(id));
  }
  // Spot check against the ConfigSpace's own lookups.
  const PciFunctionInfo* nic = e.find(rid(0, 0, 0));
  REQUIRE(nic);
  REQUIRE(nic->capabilities.size() == 3);
  CHECK(nic->capabilities[1].second == p.m.cs(p.nic0).find_capability(0x05));
  CHECK(nic->ext_capabilities[1].second == p.m.cs(p.nic0).find_ext_capability(0x0F));
}

TEST_CASE("pci enumeration fails when the MMIO window is too small", "[pci_enum]") {
  Platform p;
  EnumeratorOptions o = options();
  o.mmio_size = 8 * kMiB;  // the NVMe device's 8 MiB BAR fits, the NIC's 1 MiB one then does not
  PciEnumerator e(p.m, o);
  try {
    e.enumerate();
    FAIL("no exception");
  } catch (const std::runtime_error& err) {
    const std::string what = err.what();
    INFO(what);
    CHECK(what.find("00:00.0") != std::string::npos);
    CHECK(what.find("8086:1000") != std::string::npos);
  }
  // Nothing was placed: every BAR still reads as firmware left it.
  CHECK(p.m.cs(p.nvme).bar_address(4) == 0);
  CHECK(p.m.cs(p.nic0).bar_address(0) == 0);
  CHECK(p.m.cs(p.nvme).read(0x14, 4) == 0x123);
}

TEST_CASE("pci enumeration rejects options it cannot program", "[pci_enum]") {
  FakePci m;
  EnumeratorOptions o = options();
  o.mps = 100;
  CHECK_THROWS_AS(PciEnumerator(m, o), std::invalid_argument);
  o = options();
  o.mrrs = 8192;
  CHECK_THROWS_AS(PciEnumerator(m, o), std::invalid_argument);
  o = options();
  o.mmio_size = 0;
  CHECK_THROWS_AS(PciEnumerator(m, o), std::invalid_argument);
}

TEST_CASE("pci enumeration listing shows the tree", "[pci_enum]") {
  Platform p;
  PciEnumerator e(p.m, options());
  CHECK(e.listing().empty());
  e.enumerate();
  const std::string l = e.listing();
  INFO(l);
  for (const auto& f : e.functions()) {
    char ids[16];
    std::snprintf(ids, sizeof ids, "%04x:%04x", unsigned{f.vendor}, unsigned{f.device});
    CHECK(l.find(bdf_of(f) + " " + ids) != std::string::npos);
    for (const auto& bar : f.bars) {
      char range[64];
      if (bar.is64)
        std::snprintf(range, sizeof range, "[0x%016llx-0x%016llx]", (unsigned long long)bar.base,
                      (unsigned long long)(bar.base + bar.size - 1));
      else
        std::snprintf(range, sizeof range, "[0x%08llx-0x%08llx]", (unsigned long long)bar.base,
                      (unsigned long long)(bar.base + bar.size - 1));
      CHECK(l.find(range) != std::string::npos);
    }
  }
  CHECK(l.find("[0000:00]") == 0);
  CHECK(l.find("[0000:03]") != std::string::npos);
  CHECK(l.find("[0000:04]") != std::string::npos);
  CHECK(l.find("bridge [04-04]") != std::string::npos);
  CHECK(l.find("class 010802") != std::string::npos);
  // Each bus below its bridge: bus 4 under 00:1c.0, bus 3 under 00:1d.0 which comes after it.
  CHECK(l.find("00:1c.0") < l.find("[0000:04]"));
  CHECK(l.find("[0000:04]") < l.find("04:00.0"));
  CHECK(l.find("04:00.0") < l.find("00:1d.0"));
  CHECK(l.find("00:1d.0") < l.find("[0000:03]"));
  CHECK(l.find("[0000:03]") < l.find("03:00.0"));
  CHECK(l.find("00:02.1") == std::string::npos);
  CHECK(l.find("00:05.1") == std::string::npos);
}

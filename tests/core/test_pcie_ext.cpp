// PCIe TLM extension: routing-id helpers, "BB:DD.F" text forms (trace files use them), the spec
// encodings of AT and completion status, and that the extension travels with a generic payload.
#include <catch2/catch.hpp>

#include <iovsim/core/pcie_ext.hpp>

#include <memory>
#include <string>

namespace core = iovsim::core;

TEST_CASE("make_rid packs bus[15:8] dev[7:3] fn[2:0]", "[pcie_ext]") {
  CHECK(core::make_rid(0, 0, 0) == 0x0000);
  CHECK(core::make_rid(1, 0, 0) == 0x0100);
  CHECK(core::make_rid(0x3a, 0x1f, 7) == 0x3aff);
  CHECK(core::make_rid(0xff, 0x1f, 7) == 0xffff);
  CHECK(core::make_rid(0, 2, 1) == 0x0011);
  // Out-of-width fields are truncated, not carried into the neighbours.
  CHECK(core::make_rid(0x100, 0x20, 8) == 0x0000);
  const uint16_t rid = core::make_rid(0x82, 0x03, 5);
  CHECK(rid == 0x821d);
  CHECK(core::rid_bus(rid) == 0x82);
  CHECK(core::rid_dev(rid) == 0x03);
  CHECK(core::rid_fn(rid) == 5);
  CHECK(core::rid_devfn(rid) == 0x1d);
}

TEST_CASE("format_rid prints lspci style", "[pcie_ext]") {
  CHECK(core::format_rid(core::make_rid(1, 0, 0)) == "01:00.0");
  CHECK(core::format_rid(core::make_rid(0x3a, 0x1f, 7)) == "3a:1f.7");
  CHECK(core::format_rid(0) == "00:00.0");
  CHECK(core::format_rid(0xffff) == "ff:1f.7");
}

TEST_CASE("parse_rid accepts BB:DD.F hex and integers", "[pcie_ext]") {
  CHECK(core::parse_rid("3a:1f.7") == core::make_rid(0x3a, 0x1f, 7));
  CHECK(core::parse_rid("01:00.0") == 0x0100);
  CHECK(core::parse_rid("1:2.3") == core::make_rid(1, 2, 3));
  CHECK(core::parse_rid("3A:1F.7") == 0x3aff);
  CHECK(core::parse_rid("256") == 256);
  CHECK(core::parse_rid("0") == 0);
  CHECK(core::parse_rid("65535") == 0xffff);
  CHECK(core::parse_rid("0x100") == 256);
  CHECK(core::parse_rid("0XFFFF") == 0xffff);
  // Round trip over every id.
  for (unsigned rid = 0; rid <= 0xffff; rid += 97) {
    INFO("rid " << rid);
    CHECK(core::parse_rid(core::format_rid(static_cast<uint16_t>(rid))) == rid);
  }
}

TEST_CASE("parse_rid rejects malformed and out-of-range text", "[pcie_ext]") {
  for (const char* bad : {"",
                          "3a",
                          "3a:1f",
                          "3a:1f.",
                          ":1f.7",
                          "3a:.7",
                          "3a:20.0",
                          "3a:1f.8",
                          "100:00.0",
                          "3a:1f.7x",
                          "3a:1f.7.1",
                          "3g:00.0",
                          "0000:3a:1f.7",
                          "65536",
                          "-1",
                          "+1",
                          " 1",
                          "1 ",
                          "0x",
                          "0x10000",
                          "0xg",
                          "12ab",
                          "1e3",
                          "99999999999999999999999"}) {
    INFO("text: '" << bad << "'");
    CHECK_FALSE(core::parse_rid(bad).has_value());
  }
}

TEST_CASE("AddressType and CompletionStatus use the spec encodings", "[pcie_ext]") {
  CHECK(static_cast<int>(core::AddressType::kUntranslated) == 0);
  CHECK(static_cast<int>(core::AddressType::kTranslationRequest) == 1);
  CHECK(static_cast<int>(core::AddressType::kTranslated) == 2);
  CHECK(static_cast<int>(core::CompletionStatus::kSC) == 0);
  CHECK(static_cast<int>(core::CompletionStatus::kUR) == 1);
  CHECK(static_cast<int>(core::CompletionStatus::kCRS) == 2);
  CHECK(static_cast<int>(core::CompletionStatus::kCA) == 4);
  CHECK(std::string(core::to_string(core::AddressType::kTranslated)) == "translated");
  CHECK(std::string(core::to_string(core::CompletionStatus::kUR)) == "UR");
  CHECK(std::string(core::to_string(core::CompletionStatus::kCA)) == "CA");
}

namespace {
core::PcieExtension sample() {
  core::PcieExtension e;
  e.requester_id = core::make_rid(3, 4, 5);
  e.has_pasid = true;
  e.pasid = 0xABCDE;
  e.privileged = true;
  e.execute = true;
  e.at = core::AddressType::kTranslated;
  e.posted = true;
  e.status = core::CompletionStatus::kCA;
  return e;
}

void check_same(const core::PcieExtension& a, const core::PcieExtension& b) {
  CHECK(a.requester_id == b.requester_id);
  CHECK(a.has_pasid == b.has_pasid);
  CHECK(a.pasid == b.pasid);
  CHECK(a.privileged == b.privileged);
  CHECK(a.execute == b.execute);
  CHECK(a.at == b.at);
  CHECK(a.posted == b.posted);
  CHECK(a.status == b.status);
}
}  // namespace

TEST_CASE("clone and copy_from copy every field", "[pcie_ext]") {
  const core::PcieExtension src = sample();
  // The base's destructor is protected: own the clone through its concrete type.
  std::unique_ptr<core::PcieExtension> c(dynamic_cast<core::PcieExtension*>(src.clone()));
  REQUIRE(c != nullptr);
  check_same(*c, src);
  CHECK(c->requester_id == 0x0325);
  CHECK(c->pasid == 0xABCDE);

  core::PcieExtension dst;  // defaults: all zero / false / untranslated / SC
  CHECK(dst.requester_id == 0);
  CHECK_FALSE(dst.has_pasid);
  CHECK(dst.at == core::AddressType::kUntranslated);
  CHECK(dst.status == core::CompletionStatus::kSC);
  dst.copy_from(src);
  check_same(dst, src);
}

TEST_CASE("the extension rides on a generic payload", "[pcie_ext]") {
  tlm::tlm_generic_payload gp;
  CHECK(gp.get_extension<core::PcieExtension>() == nullptr);
  auto* ext = new core::PcieExtension(sample());
  gp.set_extension(ext);  // the payload owns it from here (no memory manager: freed in ~gp)
  CHECK(gp.get_extension<core::PcieExtension>() == ext);

  // deep_copy_from clones into an empty payload and copy_from()s into one that has an extension.
  tlm::tlm_generic_payload fresh;
  fresh.deep_copy_from(gp);
  auto* cloned = fresh.get_extension<core::PcieExtension>();
  REQUIRE(cloned != nullptr);
  CHECK(cloned != ext);
  check_same(*cloned, *ext);

  tlm::tlm_generic_payload used;
  auto* existing = new core::PcieExtension;
  used.set_extension(existing);
  used.deep_copy_from(gp);
  CHECK(used.get_extension<core::PcieExtension>() == existing);
  check_same(*existing, *ext);

  // A completer writes the status back on the same object the initiator reads.
  gp.get_extension<core::PcieExtension>()->status = core::CompletionStatus::kUR;
  CHECK(ext->status == core::CompletionStatus::kUR);
}

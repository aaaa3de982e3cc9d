// The PCIe TLM extension: what a TLP carries besides address, command and data. Every transaction a
// PCIe function issues has one; the root complex, the IOMMU and the link read it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <tlm>

namespace iovsim::core {

// TLP Address Type field (PCIe AT[1:0]).
enum class AddressType : uint8_t {
  kUntranslated = 0b00,
  kTranslationRequest = 0b01,
  kTranslated = 0b10,
};

// Completion Status field of a completion TLP.
enum class CompletionStatus : uint8_t {
  kSC = 0,   // successful completion
  kUR = 1,   // unsupported request
  kCRS = 2,  // configuration request retry status
  kCA = 4,   // completer abort
};

const char* to_string(AddressType at);
const char* to_string(CompletionStatus cs);

class PcieExtension : public tlm::tlm_extension<PcieExtension> {
 public:
  uint16_t requester_id = 0;  // bus[15:8] | dev[7:3] | fn[2:0]
  bool has_pasid = false;
  uint32_t pasid = 0;  // 20 bits, valid when has_pasid
  bool privileged = false;
  bool execute = false;
  AddressType at = AddressType::kUntranslated;
  bool posted = false;  // memory writes (and MSIs) are posted: no completion
  // A configuration request (CfgRd/CfgWr) routed by ID: the address is the ECAM offset
  // bus[27:20] dev[19:15] fn[14:12] register[11:0].
  bool config = false;
  // Set by the completer (or by the IOMMU when it blocks a request).
  CompletionStatus status = CompletionStatus::kSC;

  tlm::tlm_extension_base* clone() const override { return new PcieExtension(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override {
    *this = static_cast<const PcieExtension&>(other);
  }
};

// Routing id helpers (requester id / source id).
constexpr uint16_t make_rid(unsigned bus, unsigned dev, unsigned fn) {
  return static_cast<uint16_t>(((bus & 0xff) << 8) | ((dev & 0x1f) << 3) | (fn & 0x7));
}
constexpr unsigned rid_bus(uint16_t rid) {
  return rid >> 8;
}
constexpr unsigned rid_dev(uint16_t rid) {
  return (rid >> 3) & 0x1f;
}
constexpr unsigned rid_fn(uint16_t rid) {
  return rid & 0x7;
}
constexpr unsigned rid_devfn(uint16_t rid) {
  return rid & 0xff;
}

// "BB:DD.F" in hex, as lspci prints it.
std::string format_rid(uint16_t rid);
// Accepts "BB:DD.F" (hex) or an integer (decimal or 0x-hex); nullopt when malformed or out of
// range.
std::optional<uint16_t> parse_rid(std::string_view text);

}  // namespace iovsim::core

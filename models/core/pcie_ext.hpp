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

// Message TLPs (Msg/MsgD, routed by ID to target_id) the models exchange. MSIs are memory writes,
// not messages. The values are the PCIe message codes; kNone (not a message) stands in for 0x00,
// Unlock, which no model sends.
enum class MessageCode : uint8_t {
  kNone = 0x00,
  // MsgD, host -> device: invalidate the translations of [address, address + size) that the
  // function caches; 8-byte body (core/ats_format.hpp), ITag in `itag`.
  kAtsInvalidateRequest = 0x01,
  // Msg, device -> host: the function has completed the invalidations whose ITags are set in
  // `itag_vector`; `completion_count` completions per ITag are sent in all.
  kAtsInvalidateCompletion = 0x02,
};

const char* to_string(AddressType at);
const char* to_string(CompletionStatus cs);
const char* to_string(MessageCode code);

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
  // A message (posted, a write command): routed by ID to target_id, not by address. requester_id
  // is the sender (the root complex, 00:00.0, for requests from the host).
  MessageCode message = MessageCode::kNone;
  uint16_t target_id = 0;
  uint8_t itag = 0;              // Invalidate Request: ITag, 0..31
  uint32_t itag_vector = 0;      // Invalidate Completion: bit i = ITag i completed
  uint8_t completion_count = 1;  // Invalidate Completion: CC, 3 bits, 0 encodes 8

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

// The ATS transactions a device exchanges with the host, as TLM payloads with the PCIe extension
// (vtd-pcie.md §6): translation requests it sends (a read with AT = 01, answered by 8-byte
// translation completion entries), Invalidate Requests it receives on its PCIe target socket, and
// Invalidate Completions it sends upstream like a posted write. Builders and parsers, so a device
// model needs no bit twiddling of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <tlm>

#include <iovsim/core/ats_format.hpp>
#include <iovsim/core/pcie_ext.hpp>

namespace iovsim::pcie {

// The requester id the host's ATS messages carry (the root complex, 00:00.0).
constexpr uint16_t kHostRid = 0x0000;

struct InvalidateRequest {
  uint16_t function = 0;          // the target: the function whose cache is invalidated
  uint16_t requester = kHostRid;  // who asked: the completion goes back to it
  uint8_t itag = 0;
  core::ats::Range range;  // untranslated addresses
  bool global = false;
};

// The Invalidate Request in a payload that arrived on a device's PCIe target socket; nullopt when
// the payload is not one (then it is an ordinary config or memory request) or when its body is not
// 8 bytes.
std::optional<InvalidateRequest> parse_invalidate_request(const tlm::tlm_generic_payload& p);

// Makes p an Invalidate Completion from `function` to `requester` for the ITags set in
// itag_vector (CC = completion_count: 1 for a function that answers each request once). `ext` is
// filled and attached to p; the caller owns both and clears the extension after the call.
void make_invalidate_completion(tlm::tlm_generic_payload& p, core::PcieExtension& ext,
                                uint16_t function, uint16_t requester, uint32_t itag_vector,
                                unsigned completion_count = 1);

// Makes p a translation request from `rid` for `entries` consecutive translations starting at the
// page holding iova: a read of 8 * entries bytes into data (which the caller owns). `ext` as above.
void make_translation_request(tlm::tlm_generic_payload& p, core::PcieExtension& ext, uint16_t rid,
                              uint64_t iova, uint8_t* data, unsigned entries = 1);

// The completion entries a successful translation request returned (empty when it failed: UR).
std::vector<core::ats::TranslationEntry> parse_translation_completion(
    const tlm::tlm_generic_payload& p);

}  // namespace iovsim::pcie

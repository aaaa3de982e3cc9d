#include "ats_messages.hpp"

#include <iovsim/core/bitfield.hpp>

namespace iovsim::pcie {

namespace ats = core::ats;

std::optional<InvalidateRequest> parse_invalidate_request(const tlm::tlm_generic_payload& p) {
  const auto* ext = p.get_extension<core::PcieExtension>();
  if (!ext || ext->message != core::MessageCode::kAtsInvalidateRequest) return std::nullopt;
  if (!p.is_write() || p.get_data_length() != 8 || !p.get_data_ptr()) return std::nullopt;
  const auto body = ats::InvalidateRequestBody::decode(core::load_le<uint64_t>(p.get_data_ptr()));
  InvalidateRequest r;
  r.function = ext->target_id;
  r.requester = ext->requester_id;
  r.itag = ext->itag;
  r.range = body.range;
  r.global = body.global;
  return r;
}

void make_invalidate_completion(tlm::tlm_generic_payload& p, core::PcieExtension& ext,
                                uint16_t function, uint16_t requester, uint32_t itag_vector,
                                unsigned completion_count) {
  ext = core::PcieExtension{};
  ext.requester_id = function;
  ext.target_id = requester;
  ext.posted = true;
  ext.message = core::MessageCode::kAtsInvalidateCompletion;
  ext.itag_vector = itag_vector;
  ext.completion_count = static_cast<uint8_t>(completion_count & 7);
  p.set_extension(&ext);
  // A Msg without data: ITag vector and CC travel in the header (the extension).
  static unsigned char no_data[1];
  p.set_command(tlm::TLM_WRITE_COMMAND);
  p.set_address(0);
  p.set_data_ptr(no_data);
  p.set_data_length(0);
  p.set_streaming_width(0);
  p.set_byte_enable_ptr(nullptr);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
}

void make_translation_request(tlm::tlm_generic_payload& p, core::PcieExtension& ext, uint16_t rid,
                              uint64_t iova, uint8_t* data, unsigned entries) {
  ext = core::PcieExtension{};
  ext.requester_id = rid;
  ext.at = core::AddressType::kTranslationRequest;
  p.set_extension(&ext);
  p.set_command(tlm::TLM_READ_COMMAND);
  p.set_address(core::align_down(iova, uint64_t{1} << ats::kPageShift));
  p.set_data_ptr(data);
  p.set_data_length(8 * entries);
  p.set_streaming_width(8 * entries);
  p.set_byte_enable_ptr(nullptr);
  p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
}

std::vector<ats::TranslationEntry> parse_translation_completion(const tlm::tlm_generic_payload& p) {
  std::vector<ats::TranslationEntry> out;
  const auto* ext = p.get_extension<core::PcieExtension>();
  if (!p.is_response_ok() || (ext && ext->status != core::CompletionStatus::kSC)) return out;
  for (unsigned off = 0; off + 8 <= p.get_data_length(); off += 8)
    out.push_back(ats::TranslationEntry::decode(core::load_le<uint64_t>(p.get_data_ptr() + off)));
  return out;
}

}  // namespace iovsim::pcie

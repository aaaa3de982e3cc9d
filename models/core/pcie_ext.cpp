#include "pcie_ext.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace iovsim::core {

const char* to_string(AddressType at) {
  switch (at) {
    case AddressType::kUntranslated:
      return "untranslated";
    case AddressType::kTranslationRequest:
      return "translation-request";
    case AddressType::kTranslated:
      return "translated";
  }
  return "reserved";
}

const char* to_string(CompletionStatus cs) {
  switch (cs) {
    case CompletionStatus::kSC:
      return "SC";
    case CompletionStatus::kUR:
      return "UR";
    case CompletionStatus::kCRS:
      return "CRS";
    case CompletionStatus::kCA:
      return "CA";
  }
  return "reserved";
}

const char* to_string(MessageCode code) {
  switch (code) {
    case MessageCode::kNone:
      return "none";
    case MessageCode::kAtsInvalidateRequest:
      return "ats-invalidate-request";
    case MessageCode::kAtsInvalidateCompletion:
      return "ats-invalidate-completion";
  }
  return "reserved";
}

std::string format_rid(uint16_t rid) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02x:%02x.%x", rid_bus(rid), rid_dev(rid), rid_fn(rid));
  return buf;
}

namespace {
// Parses all of text as an unsigned number in base; false when empty, malformed or > max.
bool parse_number(std::string_view text, int base, unsigned long max, unsigned long& out) {
  if (text.empty() || text.size() > 20) return false;
  std::string s(text);
  for (char c : s)
    if (!(base == 16 ? std::isxdigit(static_cast<unsigned char>(c))
                     : std::isdigit(static_cast<unsigned char>(c))))
      return false;
  out = std::strtoul(s.c_str(), nullptr, base);
  return out <= max;
}
}  // namespace

std::optional<uint16_t> parse_rid(std::string_view text) {
  unsigned long bus, dev, fn, v;
  auto colon = text.find(':');
  if (colon != std::string_view::npos) {
    auto dot = text.find('.', colon);
    if (dot == std::string_view::npos) return std::nullopt;
    if (!parse_number(text.substr(0, colon), 16, 0xff, bus) ||
        !parse_number(text.substr(colon + 1, dot - colon - 1), 16, 0x1f, dev) ||
        !parse_number(text.substr(dot + 1), 16, 7, fn))
      return std::nullopt;
    return make_rid(bus, dev, fn);
  }
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    if (!parse_number(text.substr(2), 16, 0xffff, v)) return std::nullopt;
  } else if (!parse_number(text, 10, 0xffff, v)) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(v);
}

}  // namespace iovsim::core

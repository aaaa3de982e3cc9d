#include "presets.hpp"

#include <nlohmann/json.hpp>

namespace iovsim::platforms {

const EmbeddedPreset* find_preset(const std::string& name) {
  for (const EmbeddedPreset& p : embedded_presets())
    if (name == p.name) return &p;
  return nullptr;
}

std::string preset_description(const EmbeddedPreset& preset) {
  auto doc = nlohmann::json::parse(preset.json, nullptr, false);
  if (doc.is_object() && doc.contains("_description") && doc["_description"].is_string())
    return doc["_description"].get<std::string>();
  return "";
}

}  // namespace iovsim::platforms

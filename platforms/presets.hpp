// The shipped platform presets (platforms/presets/*.json), embedded in the library at build time so
// that `iovsim` needs no file beside it. A preset is a configuration file; its top-level
// "_description" is the one line `iovsim presets` shows.
#pragma once

#include <string>
#include <vector>

namespace iovsim::platforms {

struct EmbeddedPreset {
  const char* name;
  const char* json;
};

const std::vector<EmbeddedPreset>& embedded_presets();
// nullptr when no preset has that name.
const EmbeddedPreset* find_preset(const std::string& name);
std::string preset_description(const EmbeddedPreset& preset);

}  // namespace iovsim::platforms

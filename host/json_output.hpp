// json_output.hpp: the JSON helpers of `inspect --json`. The provider catalogue itself (`list --json`,
// serve's /v1/providers) is core's: provhost/core/catalogue.hpp.
#pragma once

#include <provhost/core/catalogue.hpp>
#include <string_view>

namespace provhost::host {

using JsonWriter = core::CatalogueWriter;
using core::write_provider_members;

inline void write_string(JsonWriter &writer, std::string_view text) { core::write_catalogue_string(writer, text); }

}  // namespace provhost::host

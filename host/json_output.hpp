// json_output.hpp: the JSON that `list --json` and `inspect --json` print (and `serve` answers).
#pragma once

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <provhost/core/registry.hpp>
#include <string>
#include <string_view>

namespace provhost::host {

using JsonWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void write_string(JsonWriter &writer, std::string_view text);

// The members of one provider's object (without the braces), as the README's `list --json` documents them:
// name, version, file, abi, working, url, description, default_model, models, aliases, capabilities.
void write_provider_members(JsonWriter &writer, const core::LoadedProvider &provider);

// {"file": ..., "reason": ...}
void write_rejected(JsonWriter &writer, const core::RejectedPlugin &rejected);

// The object `list --json` prints and `serve` answers on /v1/providers:
// {"providers": [...], "rejected": [...]}.
std::string providers_json(const core::Registry &registry);

}  // namespace provhost::host

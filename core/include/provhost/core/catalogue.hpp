// catalogue.hpp: what the loaded providers offer, as every front end shows it. `list --json` and
// serve's /v1/providers print the same object, and serve's /v1/models is built from the same model
// entries, so the CLI and the server cannot drift apart.
#pragma once

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <memory>
#include <provhost/core/registry.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::core {

using CatalogueWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

// A JSON string that stays valid when `text` is not UTF-8 (file names and loader messages are
// bytes): bytes outside ASCII then become '?'.
void write_catalogue_string(CatalogueWriter &writer, std::string_view text);

// The members of one provider's object (without the braces): name, version, file, abi, working,
// url, description, default_model, models, aliases, capabilities.
void write_provider_members(CatalogueWriter &writer, const LoadedProvider &provider);

// {"providers": [...], "rejected": [{"file", "reason"}]}, indented by two spaces: of the registry's
// current snapshot, or of a given one.
std::string providers_json(const Registry &registry);
std::string providers_json(const RegistrySnapshot &snapshot);

// One model a client may ask for, and the provider that answers for it.
struct ModelEntry {
  std::string id;
  std::string owner;
  bool operator==(const ModelEntry &) const = default;
};

// Each model of a working provider once under its own name (owned by the first working provider
// listing it), then every model once per provider as "Provider/model": the ids a request can reach. A provider that
// lists no models counts its default one.
std::vector<ModelEntry> model_catalogue(const std::vector<ProviderPtr> &providers);
std::vector<ModelEntry> model_catalogue(const std::vector<std::unique_ptr<LoadedProvider>> &providers);

}  // namespace provhost::core

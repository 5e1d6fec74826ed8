#include <provhost/core/catalogue.hpp>
#include <provhost/core/plugin_loader.hpp>
#include <provhost/text.hpp>
#include <set>

namespace provhost::core {

void write_catalogue_string(CatalogueWriter &writer, std::string_view text) {
  if (provhost::is_utf8(text)) {
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    return;
  }
  std::string ascii(text);
  for (char &c : ascii) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  }
  writer.String(ascii.data(), static_cast<rapidjson::SizeType>(ascii.size()));
}

void write_provider_members(CatalogueWriter &writer, const LoadedProvider &provider) {
  const ProviderMeta &meta = provider.meta;
  writer.Key("name");
  write_catalogue_string(writer, meta.name);
  writer.Key("version");
  write_catalogue_string(writer, meta.version);
  writer.Key("file");
  write_catalogue_string(writer, provider.file.string());
  writer.Key("abi");
  write_catalogue_string(writer, format_abi_version(provider.abi_negotiated));
  writer.Key("working");
  writer.Bool(meta.working);
  writer.Key("url");
  write_catalogue_string(writer, meta.url);
  writer.Key("description");
  write_catalogue_string(writer, meta.description);
  writer.Key("default_model");
  write_catalogue_string(writer, meta.default_model);
  writer.Key("models");
  writer.StartArray();
  for (const auto &model : meta.models) write_catalogue_string(writer, model);
  writer.EndArray();
  writer.Key("aliases");
  writer.StartObject();
  for (const auto &[alias, model] : meta.aliases) {
    write_catalogue_string(writer, alias);
    write_catalogue_string(writer, model);
  }
  writer.EndObject();
  writer.Key("capabilities");
  writer.StartArray();
  for (const auto &capability : meta.capabilities) write_catalogue_string(writer, capability);
  writer.EndArray();
}

std::string providers_json(const Registry &registry) { return providers_json(*registry.snapshot()); }

std::string providers_json(const RegistrySnapshot &snapshot) {
  rapidjson::StringBuffer buffer;
  CatalogueWriter writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartObject();
  writer.Key("providers");
  writer.StartArray();
  for (const auto &provider : snapshot.providers) {
    writer.StartObject();
    write_provider_members(writer, *provider);
    writer.EndObject();
  }
  writer.EndArray();
  writer.Key("rejected");
  writer.StartArray();
  for (const auto &rejected : snapshot.rejected) {
    writer.StartObject();
    writer.Key("file");
    write_catalogue_string(writer, rejected.file.string());
    writer.Key("reason");
    write_catalogue_string(writer, rejected.reason);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

namespace {

template <class Providers>
std::vector<ModelEntry> catalogue_of(const Providers &providers) {
  auto models_of = [](const ProviderMeta &meta) {
    std::vector<std::string> models = meta.models;
    if (models.empty() && !meta.default_model.empty()) models.push_back(meta.default_model);
    return models;
  };
  std::vector<ModelEntry> entries;
  std::set<std::string, std::less<>> listed;
  // A plain id reaches only working providers (resolution skips the others); Provider/model
  // reaches any provider, so only those are listed for a provider that is not working.
  for (const auto &provider : providers) {
    if (!provider->meta.working) continue;
    for (auto &model : models_of(provider->meta)) {
      if (listed.insert(model).second) entries.push_back({std::move(model), provider->meta.name});
    }
  }
  for (const auto &provider : providers) {
    for (const auto &model : models_of(provider->meta))
      entries.push_back({provider->meta.name + "/" + model, provider->meta.name});
  }
  return entries;
}

}  // namespace

std::vector<ModelEntry> model_catalogue(const std::vector<ProviderPtr> &providers) { return catalogue_of(providers); }

std::vector<ModelEntry> model_catalogue(const std::vector<std::unique_ptr<LoadedProvider>> &providers) {
  return catalogue_of(providers);
}

}  // namespace provhost::core

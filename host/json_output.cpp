#include "json_output.hpp"

#include <provhost/core/plugin_loader.hpp>

namespace provhost::host {

void write_string(JsonWriter &writer, std::string_view text) {
  if (core::is_valid_utf8(text)) {
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    return;
  }
  // File names and loader messages are bytes, not necessarily UTF-8; JSON output must stay valid.
  std::string ascii(text);
  for (char &c : ascii) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  }
  writer.String(ascii.data(), static_cast<rapidjson::SizeType>(ascii.size()));
}

void write_provider_members(JsonWriter &writer, const core::LoadedProvider &provider) {
  const core::ProviderMeta &meta = provider.meta;
  writer.Key("name");
  write_string(writer, meta.name);
  writer.Key("version");
  write_string(writer, meta.version);
  writer.Key("file");
  write_string(writer, provider.file.string());
  writer.Key("abi");
  write_string(writer, core::format_abi_version(provider.abi_negotiated));
  writer.Key("working");
  writer.Bool(meta.working);
  writer.Key("url");
  write_string(writer, meta.url);
  writer.Key("description");
  write_string(writer, meta.description);
  writer.Key("default_model");
  write_string(writer, meta.default_model);
  writer.Key("models");
  writer.StartArray();
  for (const auto &model : meta.models) write_string(writer, model);
  writer.EndArray();
  writer.Key("aliases");
  writer.StartObject();
  for (const auto &[alias, model] : meta.aliases) {
    write_string(writer, alias);
    write_string(writer, model);
  }
  writer.EndObject();
  writer.Key("capabilities");
  writer.StartArray();
  for (const auto &capability : meta.capabilities) write_string(writer, capability);
  writer.EndArray();
}

void write_rejected(JsonWriter &writer, const core::RejectedPlugin &rejected) {
  writer.StartObject();
  writer.Key("file");
  write_string(writer, rejected.file.string());
  writer.Key("reason");
  write_string(writer, rejected.reason);
  writer.EndObject();
}

std::string providers_json(const core::Registry &registry) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartObject();
  writer.Key("providers");
  writer.StartArray();
  for (const auto &provider : registry.providers()) {
    writer.StartObject();
    write_provider_members(writer, *provider);
    writer.EndObject();
  }
  writer.EndArray();
  writer.Key("rejected");
  writer.StartArray();
  for (const auto &rejected : registry.rejected()) write_rejected(writer, rejected);
  writer.EndArray();
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

}  // namespace provhost::host

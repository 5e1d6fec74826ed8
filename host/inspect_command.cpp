// provhost inspect FILE|NAME [--json]: one plugin in full, like gst-inspect: its file, the ABI
// negotiated, every metadata field, every model, alias and capability.
#include <algorithm>
#include <iostream>
#include <memory>
#include <provhost/core/plugin_loader.hpp>
#include <provhost/core/registry.hpp>
#include <provhost/text.hpp>

#include "commands.hpp"
#include "json_output.hpp"

namespace provhost::host {
namespace {

// A path names a file; a bare word names a provider.
bool names_a_file(const std::string &target) {
  return target.find('/') != std::string::npos || core::has_library_suffix(target);
}

uintmax_t plugin_file_size(const std::filesystem::path &file) {
  std::error_code error;
  uintmax_t size = std::filesystem::file_size(file, error);
  return error ? 0 : size;
}

void field(std::string_view label, std::string_view value) {
  std::cout << "  " << label << std::string(label.size() < 20 ? 20 - label.size() : 1, ' ')
            << (value.empty() ? "-" : value) << '\n';
}

void print_text(const core::LoadedProvider &provider) {
  const core::ProviderMeta &meta = provider.meta;
  std::cout << "Provider:\n";
  field("Name", meta.name);
  field("Version", meta.version);
  field("Description", meta.description);
  field("URL", meta.url);
  field("Working", meta.working ? "yes" : "no");
  field("Default model", meta.default_model);
  std::cout << "\nPlugin file:\n";
  field("File", one_line(provider.file.string()));
  field("Size", std::to_string(plugin_file_size(provider.file)) + " bytes");
  field("ABI offered", core::format_abi_version(provider.abi_offered));
  field("ABI negotiated", core::format_abi_version(provider.abi_negotiated));

  std::cout << "\nModels (" << meta.models.size() << "):\n";
  if (meta.models.empty()) std::cout << "  (any model: the provider lists none)\n";
  for (const auto &model : meta.models)
    std::cout << "  " << model << (model == meta.default_model ? "  (default)" : "") << '\n';

  std::cout << "\nAliases (" << meta.aliases.size() << "):\n";
  if (meta.aliases.empty()) std::cout << "  (none)\n";
  for (const auto &[alias, model] : meta.aliases) std::cout << "  " << alias << " -> " << model << '\n';

  std::cout << "\nCapabilities (" << meta.capabilities.size() << "):\n";
  if (meta.capabilities.empty()) std::cout << "  (none)\n";
  for (const auto &capability : meta.capabilities) std::cout << "  " << capability << '\n';
}

void print_json(const core::LoadedProvider &provider) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartObject();
  write_provider_members(writer, provider);
  writer.Key("size");
  writer.Uint64(plugin_file_size(provider.file));
  writer.Key("abi_offered");
  write_string(writer, core::format_abi_version(provider.abi_offered));
  writer.EndObject();
  std::cout << buffer.GetString() << '\n';
}

// Why `name` is not among the loaded providers, in one line.
std::string not_found(const core::Registry &registry, const std::string &name) {
  // A rejected provhost-<name>.so is most likely what the user meant.
  for (const auto &rejected : registry.rejected()) {
    if (provhost::iequals(rejected.file.filename().string(), core::plugin_file_name(name)))
      return one_line(rejected.file.string()) + " was rejected: " + one_line(rejected.reason);
  }
  std::string message = "no provider named \"" + name + "\"";
  if (registry.providers().empty()) return message + "; no providers are loaded";
  message += "; loaded providers:";
  for (const auto &provider : registry.providers()) message += " " + provider->meta.name;
  return message;
}

int run_inspect(const GlobalOptions &global, const std::string &target, bool json) {
  core::Registry registry(host_settings(global));
  core::ProviderPtr provider;
  if (names_a_file(target)) {
    isolate_plugins(registry, global);
    provider = registry.load_file(target);
    if (!provider) {
      std::cerr << "provhost: " << one_line(target) << " was rejected: " << one_line(registry.rejected().back().reason)
                << '\n';
      return exit_usage;
    }
  } else {
    load_plugins(registry, global);
    provider = registry.find(target);
    if (!provider) {
      std::cerr << "provhost: " << not_found(registry, target) << '\n';
      return exit_usage;
    }
  }
  if (json)
    print_json(*provider);
  else
    print_text(*provider);
  return exit_ok;
}

}  // namespace

Command add_inspect_command(CLI::App &app, const GlobalOptions &global) {
  auto target = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App *inspect = app.add_subcommand("inspect", "Show one plugin in full: a provider's NAME or a plugin FILE");
  inspect->add_option("plugin", *target, "Provider name, or path to a plugin file")->required()->type_name("FILE|NAME");
  inspect->add_flag("--json", *json, "Print one JSON object");
  return {inspect, [&global, target, json] { return run_inspect(global, *target, *json); }};
}

}  // namespace provhost::host

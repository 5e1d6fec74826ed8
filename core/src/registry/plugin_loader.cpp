#include "provhost/core/plugin_loader.hpp"

#include <algorithm>
#include <cstddef>
#include <provhost/text.hpp>
#include <system_error>
#include <unordered_set>

#include "platform.hpp"
#include "provhost/core/host_services.hpp"
#include "provhost/core/plugin_abi.hpp"

namespace provhost::core {
namespace {

// The last field of each struct that an ABI 1.0 plugin must provide; later fields are optional and
// treated as absent when struct_size stops short of them.
constexpr size_t end_of(size_t offset, size_t size) { return offset + size; }
constexpr size_t provider_required_size =
    end_of(offsetof(ph_provider, session_close), sizeof(ph_provider::session_close));
constexpr size_t info_required_size = end_of(offsetof(ph_provider_info, model_count), sizeof(size_t));

bool valid_provider_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool has_control_character(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Copies a borrowed string; false when it is malformed (a NULL pointer with a size, not UTF-8, or
// with a control character: metadata is printed on terminals, where one could forge lines).
bool copy_str(ph_str in, std::string &out) {
  if (!in.data && in.size) return false;
  out.assign(in.data ? in.data : "", in.data ? in.size : 0);
  return provhost::is_utf8(out) && !has_control_character(out);
}

std::optional<std::string> copy_field(ph_str in, std::string &out, std::string_view field) {
  if (copy_str(in, out)) return std::nullopt;
  if (!in.data) return std::string(field) + " has a NULL pointer and a size of " + std::to_string(in.size);
  if (!provhost::is_utf8(out)) return std::string(field) + " is not valid UTF-8";
  return std::string(field) + " contains a control character";
}

std::optional<std::string> check_count(size_t count, size_t limit, std::string_view field) {
  if (count <= limit) return std::nullopt;
  return "the provider lists " + std::to_string(count) + " " + std::string(field) + ", more than the limit of " +
         std::to_string(limit) + " (--max-models)";
}

std::optional<std::string> check_length(ph_str in, size_t limit, std::string_view field, std::string_view option) {
  if (in.size <= limit) return std::nullopt;
  return std::string(field) + " is " + std::to_string(in.size) + " bytes long, more than the limit of " +
         std::to_string(limit) + (option.empty() ? "" : " (" + std::string(option) + ")");
}

template <class Item>
std::optional<std::string> check_array(const Item *items, size_t count, std::string_view field) {
  if (!items && count) return std::string(field) + " is NULL but its count is " + std::to_string(count);
  return std::nullopt;
}

std::optional<std::string> copy_strings(const ph_str *items, size_t count, std::vector<std::string> &out,
                                        std::string_view field, size_t max_length) {
  if (auto error = check_array(items, count, field)) return error;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string item = std::string(field) + "[" + std::to_string(i) + "]";
    if (auto error = check_length(items[i], max_length, item, "--max-model-name")) return error;
    std::string value;
    if (!copy_str(items[i], value) || value.empty())
      return std::string(field) + "[" + std::to_string(i) + "] is empty or malformed";
    out.push_back(std::move(value));
  }
  return std::nullopt;
}

// What keeps a loaded plugin alive: its library, closed (after the provider's deinit) before the
// host services it was given go away.
struct ServedLibrary {
  ServedLibrary(std::string initial_name, std::shared_ptr<const HostSettings> settings)
      : services(std::move(initial_name), std::move(settings)) {}
  HostServices services;
  std::unique_ptr<PluginLibrary> library;
};

}  // namespace

std::string format_abi_version(uint32_t version) {
  return std::to_string(PH_VERSION_MAJOR(version)) + "." + std::to_string(PH_VERSION_MINOR(version));
}

std::optional<std::string> check_abi_answer(uint32_t offered, uint32_t answered) {
  if (PH_VERSION_MAJOR(answered) != PH_VERSION_MAJOR(offered)) {
    return "plugin speaks ABI " + format_abi_version(answered) + "; this host speaks " +
           std::to_string(PH_VERSION_MAJOR(offered)) + ".x";
  }
  if (PH_VERSION_MINOR(answered) > PH_VERSION_MINOR(offered)) {
    return "plugin answered ABI " + format_abi_version(answered) + ", newer than the " + format_abi_version(offered) +
           " this host offered";
  }
  return std::nullopt;
}

std::optional<std::string> validate_provider(const ph_provider *provider, ProviderMeta &meta,
                                             const MetadataLimits &limits) {
  if (!provider) return "the plugin returned no provider (NULL)";
  if (provider->struct_size < provider_required_size) {
    return "ph_provider.struct_size is " + std::to_string(provider->struct_size) + ", smaller than the " +
           std::to_string(provider_required_size) + " bytes ABI 1.0 requires";
  }
  const ph_provider_info *info = provider->info;
  if (!info) return "the provider has no info (NULL)";
  if (info->struct_size < info_required_size) {
    return "ph_provider_info.struct_size is " + std::to_string(info->struct_size) + ", smaller than the " +
           std::to_string(info_required_size) + " bytes ABI 1.0 requires";
  }

  ProviderMeta out;
  if (!info->name.data && !info->name.size) return "the provider's name is NULL";
  if (!info->name.size) return "the provider's name is empty";
  if (auto error = check_length(info->name, limits.max_provider_name, "the provider's name", "")) return error;
  if (info->name.data && !valid_provider_name(view(info->name)))
    return "invalid provider name " + in_quotes(one_line(view(info->name))) + " (allowed: A-Z a-z 0-9 _ -)";
  if (auto error = copy_field(info->name, out.name, "name")) return error;

  if (const char *missing = missing_session_function(*provider))
    return "required function " + std::string(missing) + " is NULL";

  if (auto error = copy_field(info->version, out.version, "version")) return error;
  if (auto error = copy_field(info->description, out.description, "description")) return error;
  if (auto error = copy_field(info->url, out.url, "url")) return error;
  out.working = info->working != 0;
  if (auto error = check_length(info->default_model, limits.max_model_name, "default_model", "--max-model-name"))
    return error;
  if (auto error = copy_field(info->default_model, out.default_model, "default_model")) return error;
  if (auto error = check_count(info->model_count, limits.max_models, "models")) return error;
  if (auto error = copy_strings(info->models, info->model_count, out.models, "models", limits.max_model_name))
    return error;
  if (PH_HAS_FIELD(info, ph_provider_info, alias_count)) {
    if (auto error = check_count(info->alias_count, limits.max_models, "aliases")) return error;
    if (auto error = check_array(info->aliases, info->alias_count, "aliases")) return error;
    for (size_t i = 0; i < info->alias_count; ++i) {
      const std::string item = "aliases[" + std::to_string(i) + "]";
      if (auto error = check_length(info->aliases[i].alias, limits.max_model_name, item, "--max-model-name"))
        return error;
      if (auto error = check_length(info->aliases[i].model, limits.max_model_name, item, "--max-model-name"))
        return error;
      std::string alias, model;
      if (!copy_str(info->aliases[i].alias, alias) || !copy_str(info->aliases[i].model, model) || alias.empty() ||
          model.empty())
        return "aliases[" + std::to_string(i) + "] is empty or malformed";
      out.aliases.emplace_back(std::move(alias), std::move(model));
    }
  }
  if (PH_HAS_FIELD(info, ph_provider_info, capability_count)) {
    if (auto error = check_count(info->capability_count, limits.max_models, "capabilities")) return error;
    if (auto error = copy_strings(info->capabilities, info->capability_count, out.capabilities, "capabilities",
                                  limits.max_model_name))
      return error;
  }

  if (!out.models.empty()) {
    if (out.default_model.empty()) return "the provider lists models but no default model";
    // A set, so that checking every alias costs linear time however many models there are.
    const std::unordered_set<std::string_view> models(out.models.begin(), out.models.end());
    if (!models.count(out.default_model))
      return "default model " + in_quotes(out.default_model) + " is not among its models";
    for (const auto &[alias, model] : out.aliases) {
      if (!models.count(model)) return "alias " + in_quotes(alias) + " points at unknown model " + in_quotes(model);
    }
  }
  meta = std::move(out);
  return std::nullopt;
}

bool is_plugin_file_name(std::string_view file_name) {
  constexpr std::string_view prefix = "provhost-";
  static const std::string suffix = platform::shared_library_suffix();
  return file_name.size() > prefix.size() + suffix.size() && file_name.substr(0, prefix.size()) == prefix &&
         file_name.substr(file_name.size() - suffix.size()) == suffix;
}

std::vector<std::filesystem::path> split_path_list(std::string_view list) {
  std::vector<std::filesystem::path> folders;
  const char separator = platform::path_list_separator();
  while (!list.empty()) {
    size_t end = list.find(separator);
    std::string_view folder = list.substr(0, end);
    if (!folder.empty()) folders.emplace_back(folder);
    list = end == std::string_view::npos ? std::string_view() : list.substr(end + 1);
  }
  return folders;
}

std::optional<std::filesystem::path> default_plugin_folder() {
  std::optional<std::filesystem::path> executable = platform::executable_path();
  if (!executable) return std::nullopt;
  return (executable->parent_path() / ".." / "lib" / "provhost" / "plugins").lexically_normal();
}

std::vector<std::filesystem::path> plugin_search_path(const std::vector<std::filesystem::path> &plugin_dirs) {
  std::vector<std::filesystem::path> folders = plugin_dirs;
  if (auto folder = default_plugin_folder()) folders.push_back(std::move(*folder));
  return folders;
}

std::vector<std::filesystem::path> plugin_files(const std::filesystem::path &folder) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  std::filesystem::directory_iterator it(folder, error), end;
  for (; !error && it != end; it.increment(error)) {
    if (!is_plugin_file_name(it->path().filename().string())) continue;
    std::error_code status_error;
    if (std::filesystem::is_regular_file(it->path(), status_error)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end(),
            [](const auto &a, const auto &b) { return a.filename().string() < b.filename().string(); });
  return files;
}

std::string plugin_id(const std::filesystem::path &file) {
  std::string id = file.filename().string();
  constexpr std::string_view prefix = "provhost-";
  if (id.starts_with(prefix)) id.erase(0, prefix.size());
  const std::string suffix = platform::shared_library_suffix();
  if (id.size() > suffix.size() && id.ends_with(suffix)) id.erase(id.size() - suffix.size());
  return id;
}

PluginLoad load_plugin(const std::filesystem::path &file, std::shared_ptr<const HostSettings> settings,
                       const std::string &instance) {
  PluginLoad result;
  auto served = std::make_shared<ServedLibrary>(instance.empty() ? plugin_id(file) : instance, std::move(settings));
  PluginLibraryLoad load = load_plugin_library(file, *served->services.table(), PH_ABI_VERSION,
                                               served->services.settings().metadata, instance);
  if (!load.library) {
    result.error = std::move(load.error);
    return result;
  }
  served->services.set_provider_name(load.meta.name);
  served->library = std::move(load.library);

  auto loaded = std::make_unique<LoadedProvider>();
  loaded->meta = std::move(load.meta);
  loaded->file = file;
  loaded->instance = instance;
  loaded->abi_offered = served->library->offered_version();
  loaded->abi_negotiated = served->library->negotiated_version();
  loaded->abi = served->library->provider();
  loaded->library = std::move(served);
  result.provider = std::move(loaded);
  return result;
}

}  // namespace provhost::core

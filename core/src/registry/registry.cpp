#include "provhost/core/registry.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <provhost/text.hpp>

#include "platform.hpp"
#include "provhost/core/plugin_loader.hpp"

namespace provhost::core {

bool ProviderMeta::has_capability(std::string_view capability) const {
  return std::find(capabilities.begin(), capabilities.end(), capability) != capabilities.end();
}

struct Registry::State {
  std::vector<std::unique_ptr<LoadedProvider>> providers;
  std::vector<RejectedPlugin> rejected;
  // Every file tried: the same file reached through two folders or a symlink is loaded once.
  std::map<platform::FileIdentity, const LoadedProvider *> files_seen;
  std::shared_ptr<const HostSettings> settings;
  ResolutionPreferences preferences;
};

Registry::Registry(std::shared_ptr<const HostSettings> settings) : state_(std::make_unique<State>()) {
  state_->settings = std::move(settings);
}

Registry::~Registry() {
  // Later plugins go first, the reverse of loading, as with any stack of resources.
  while (!state_->providers.empty()) state_->providers.pop_back();
}

void Registry::load(const std::vector<std::filesystem::path> &folders) {
  for (const auto &folder : folders) {
    for (const auto &file : plugin_files(folder)) load_file(file);
  }
}

const LoadedProvider *Registry::load_file(const std::filesystem::path &file) {
  std::string error;
  std::optional<platform::FileIdentity> identity = platform::file_identity(file, error);
  if (!identity) {
    state_->rejected.push_back({file, "cannot read the file: " + error});
    return nullptr;
  }
  auto [seen, first_time] = state_->files_seen.try_emplace(*identity, nullptr);
  if (!first_time) return seen->second;

  PluginLoad load = load_plugin(file, state_->settings);
  if (!load.provider) {
    state_->rejected.push_back({file, load.error});
    return nullptr;
  }
  if (auto error = add(std::move(load.provider))) {
    state_->rejected.push_back({file, *error});
    return nullptr;
  }
  seen->second = state_->providers.back().get();
  return seen->second;
}

std::optional<std::string> Registry::add(std::unique_ptr<LoadedProvider> provider) {
  if (const LoadedProvider *earlier = find(provider->meta.name)) {
    return "duplicate provider name \"" + provider->meta.name + "\": already loaded from " + earlier->file.string();
  }
  state_->providers.push_back(std::move(provider));
  return std::nullopt;
}

void Registry::set_preferences(ResolutionPreferences preferences) { state_->preferences = std::move(preferences); }

const ResolutionPreferences &Registry::preferences() const { return state_->preferences; }

const std::vector<std::unique_ptr<LoadedProvider>> &Registry::providers() const { return state_->providers; }

const std::vector<RejectedPlugin> &Registry::rejected() const { return state_->rejected; }

const LoadedProvider *Registry::find(std::string_view name) const {
  for (const auto &provider : state_->providers) {
    if (iequals(provider->meta.name, name)) return provider.get();
  }
  return nullptr;
}

std::string plugin_file_name(std::string_view id) {
  return "provhost-" + std::string(id) + platform::shared_library_suffix();
}

bool has_library_suffix(std::string_view path) {
  const std::string suffix = platform::shared_library_suffix();
  return path.size() > suffix.size() && path.ends_with(suffix);
}

}  // namespace provhost::core

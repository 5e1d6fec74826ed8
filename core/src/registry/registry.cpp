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
  std::optional<IsolationOptions> isolation;

  // The slot for `file`'s outcome when it was not seen before (by any path), else nullptr; a file
  // that cannot be looked at is rejected.
  const LoadedProvider **first_sight(const std::filesystem::path &file);
  // Takes one file's outcome: the provider registered, or the file rejected with its reason.
  const LoadedProvider *take(const std::filesystem::path &file, PluginLoad load, Registry &registry);
};

Registry::Registry(std::shared_ptr<const HostSettings> settings) : state_(std::make_unique<State>()) {
  state_->settings = std::move(settings);
}

Registry::~Registry() {
  // Later plugins go first, the reverse of loading, as with any stack of resources.
  while (!state_->providers.empty()) state_->providers.pop_back();
}

void Registry::load(const std::vector<std::filesystem::path> &folders) {
  if (!state_->isolation) {
    for (const auto &folder : folders) {
      for (const auto &file : plugin_files(folder)) load_file(file);
    }
    return;
  }
  // Out of process, the files are scanned together (in parallel, through the cache), then taken
  // in order, so that load order and duplicate names come out as in this process.
  std::vector<std::filesystem::path> files;
  std::vector<const LoadedProvider **> outcomes;
  for (const auto &folder : folders) {
    for (const auto &file : plugin_files(folder)) {
      if (const LoadedProvider **outcome = state_->first_sight(file)) {
        files.push_back(file);
        outcomes.push_back(outcome);
      }
    }
  }
  std::vector<PluginLoad> loads = scan_plugins(files, *state_->isolation);
  for (size_t i = 0; i < files.size(); ++i) *outcomes[i] = state_->take(files[i], std::move(loads[i]), *this);
}

const LoadedProvider **Registry::State::first_sight(const std::filesystem::path &file) {
  std::string error;
  std::optional<platform::FileIdentity> identity = platform::file_identity(file, error);
  if (!identity) {
    rejected.push_back({file, "cannot read the file: " + error});
    return nullptr;
  }
  auto [seen, first_time] = files_seen.try_emplace(*identity, nullptr);
  return first_time ? &seen->second : nullptr;
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
  PluginLoad load = state_->isolation ? std::move(scan_plugins({file}, *state_->isolation).front())
                                      : load_plugin(file, state_->settings);
  seen->second = state_->take(file, std::move(load), *this);
  return seen->second;
}

const LoadedProvider *Registry::State::take(const std::filesystem::path &file, PluginLoad load, Registry &registry) {
  if (!load.provider) {
    rejected.push_back({file, load.error});
    return nullptr;
  }
  if (auto error = registry.add(std::move(load.provider))) {
    rejected.push_back({file, *error});
    return nullptr;
  }
  return providers.back().get();
}

void Registry::load_instances(const std::vector<InstanceSpec> &instances) {
  for (const InstanceSpec &spec : instances) {
    const LoadedProvider *plugin = find(spec.plugin);
    if (!plugin || !plugin->instance.empty() || !plugin->meta.has_capability("instances")) {
      state_->rejected.push_back({plugin ? plugin->file : std::filesystem::path(spec.plugin),
                                  "instance " + in_quotes(one_line(spec.name)) + ": no loaded plugin " +
                                      in_quotes(one_line(spec.plugin)) + " makes instances"});
      continue;
    }
    const std::filesystem::path file = plugin->file;
    PluginLoad load = state_->isolation ? scan_instance(file, spec.name, state_->settings, *state_->isolation)
                                        : load_plugin(file, state_->settings, spec.name);
    if (!load.provider) load.error = "instance " + in_quotes(one_line(spec.name)) + ": " + load.error;
    state_->take(file, std::move(load), *this);
  }
}

std::optional<std::string> Registry::add(std::unique_ptr<LoadedProvider> provider) {
  if (const LoadedProvider *earlier = find(provider->meta.name)) {
    return "duplicate provider name \"" + provider->meta.name + "\": already loaded from " + earlier->file.string();
  }
  state_->providers.push_back(std::move(provider));
  return std::nullopt;
}

void Registry::use_isolation(IsolationOptions options) { state_->isolation = std::move(options); }

const IsolationOptions *Registry::isolation() const { return state_->isolation ? &*state_->isolation : nullptr; }

const std::shared_ptr<const HostSettings> &Registry::settings() const { return state_->settings; }

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

#include "provhost/core/registry.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <provhost/text.hpp>
#include <set>

#include "platform.hpp"
#include "provhost/core/plugin_loader.hpp"

namespace provhost::core {

bool ProviderMeta::has_capability(std::string_view capability) const {
  return std::find(capabilities.begin(), capabilities.end(), capability) != capabilities.end();
}

ProviderPtr RegistrySnapshot::find(std::string_view name) const {
  for (const auto &provider : providers) {
    if (iequals(provider->meta.name, name)) return provider;
  }
  return nullptr;
}

bool RegistrySnapshot::holds(const LoadedProvider *provider) const {
  return std::any_of(providers.begin(), providers.end(),
                     [provider](const auto &held) { return held.get() == provider; });
}

const char *to_string(PluginEvent::Kind kind) {
  switch (kind) {
    case PluginEvent::Kind::added:
      return "added";
    case PluginEvent::Kind::replaced:
      return "replaced";
    case PluginEvent::Kind::removed:
      return "removed";
    case PluginEvent::Kind::rejected:
      return "rejected";
  }
  return "changed";
}

namespace {

std::optional<FileVersion> version_of(const std::filesystem::path &file, std::string &error) {
  std::optional<platform::FileIdentity> identity = platform::file_identity(file, error);
  if (!identity) return std::nullopt;
  return FileVersion{identity->device, identity->file, identity->size, identity->mtime_ns};
}

bool same_file(const FileVersion &a, const FileVersion &b) { return a.device == b.device && a.inode == b.inode; }

// Events for one file whose new version was loaded (or rejected) in place of `before` (null: new).
void file_events(const PluginFile *before, const PluginFile &after, std::vector<PluginEvent> &events) {
  const std::vector<ProviderPtr> none;
  const std::vector<ProviderPtr> &old_providers = before ? before->providers : none;
  if (after.rejection.empty() && after.providers == old_providers) return;  // left for the next rescan
  if (!after.rejection.empty()) {
    PluginEvent event{PluginEvent::Kind::rejected, after.file, "", "", "", after.rejection};
    if (!old_providers.empty()) {
      event.provider = old_providers.front()->meta.name;
      event.version = old_providers.front()->meta.version;
    }
    events.push_back(std::move(event));
    if (after.providers == old_providers) return;
  }
  auto named = [](const std::vector<ProviderPtr> &providers, const std::string &name) -> ProviderPtr {
    for (const auto &provider : providers) {
      if (iequals(provider->meta.name, name)) return provider;
    }
    return nullptr;
  };
  for (const auto &provider : after.providers) {
    if (ProviderPtr old = named(old_providers, provider->meta.name)) {
      events.push_back({PluginEvent::Kind::replaced, after.file, provider->meta.name, provider->meta.version,
                        old->meta.version, ""});
    } else {
      events.push_back({PluginEvent::Kind::added, after.file, provider->meta.name, provider->meta.version, "", ""});
    }
  }
  for (const auto &old : old_providers) {
    if (!named(after.providers, old->meta.name))
      events.push_back({PluginEvent::Kind::removed, after.file, old->meta.name, old->meta.version, "", ""});
  }
}

}  // namespace

struct Registry::State {
  std::atomic<std::shared_ptr<const RegistrySnapshot>> current{std::make_shared<const RegistrySnapshot>()};
  std::mutex changing;  // one change at a time; readers never take it
  std::shared_ptr<const HostSettings> settings;
  ResolutionPreferences preferences;
  std::optional<IsolationOptions> isolation;
  bool pin = false;
  // ABI 1.1 instances: made again whenever their plugin's file is loaded, so that a replaced plugin's
  // instances are its new version's. Those that failed are rejected under the instance's name.
  std::vector<InstanceSpec> instances;
  std::map<std::string, RejectedPlugin> instance_rejections;  // by lower-cased instance name

  // Loads each file, out of process (one scan, in parallel, through the cache) or here, and pins
  // the version loaded (platform::pin_file) so that its sessions run that version whatever
  // happens to the file (with pin_versions()); `versions` become those of the files as pinned. A
  // load with neither provider nor error is a file that changed while it was being loaded.
  std::vector<PluginLoad> load_files(const std::vector<std::filesystem::path> &files,
                                     std::vector<FileVersion *> versions) const;
  // Publishes `files` as the next snapshot: a provider whose name an earlier file already gave
  // is refused, the others are served in file order.
  std::shared_ptr<const RegistrySnapshot> publish(std::vector<PluginFile> files);
  // The files of `folders` not among `known` (by identity, so that a file reached through two
  // folders or a link counts once), added to `files` and loaded; unreadable ones are rejected.
  void load_new(const std::vector<std::filesystem::path> &paths, std::vector<PluginFile> &files);
  // The configured instances of the plugin `file` just loaded, made (in this process, or scanned in a
  // worker given the configuration) and added to its providers after the plugin's own.
  void make_instances(PluginFile &file);
};

namespace {

std::string lowered(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

void Registry::State::make_instances(PluginFile &file) {
  if (file.providers.empty()) return;
  const ProviderPtr plugin = file.providers.front();
  if (!plugin->instance.empty() || !plugin->meta.has_capability(PH_CAP_INSTANCES)) return;
  const std::filesystem::path from = plugin->load_path.empty() ? plugin->file : plugin->load_path;
  for (const InstanceSpec &spec : instances) {
    if (!iequals(spec.plugin, plugin->meta.name)) continue;
    PluginLoad load =
        isolation ? scan_instance(from, spec.name, settings, *isolation) : load_plugin(from, settings, spec.name);
    if (!load.provider) {
      instance_rejections[lowered(spec.name)] = {file.file,
                                                 "instance " + in_quotes(one_line(spec.name)) + ": " + load.error};
      continue;
    }
    instance_rejections.erase(lowered(spec.name));
    load.provider->file = file.file;
    load.provider->load_path = plugin->load_path;
    load.provider->pin = plugin->pin;
    file.providers.push_back(std::move(load.provider));
  }
}

std::vector<PluginLoad> Registry::State::load_files(const std::vector<std::filesystem::path> &files,
                                                    std::vector<FileVersion *> versions) const {
  std::vector<PluginLoad> loads;
  std::vector<std::shared_ptr<const platform::PinnedFile>> pins(files.size());
  if (isolation) {
    // Pinned first, then scanned by their own paths, which the scan cache knows them by. A file
    // replaced in between may have been scanned as its next version: it is left for the next rescan.
    for (size_t i = 0; pin && i < files.size(); ++i) pins[i] = platform::pin_file(files[i]);
    loads = scan_plugins(files, *isolation);
    for (size_t i = 0; i < files.size(); ++i) {
      if (!pins[i]) continue;
      const platform::FileIdentity &id = pins[i]->identity;
      *versions[i] = FileVersion{id.device, id.file, id.size, id.mtime_ns};
      std::string error;
      std::optional<FileVersion> now = version_of(files[i], error);
      if (!now || !(*now == *versions[i])) loads[i] = PluginLoad{};
    }
  } else {
    for (size_t i = 0; i < files.size(); ++i) {
      // Loaded through the pin: the dynamic loader takes a path it loaded before for the library
      // it already has, which a replaced file is not.
      if (pin) pins[i] = platform::pin_file(files[i]);
      if (const auto &pinned = pins[i]) {
        const platform::FileIdentity &id = pinned->identity;
        *versions[i] = FileVersion{id.device, id.file, id.size, id.mtime_ns};
      }
      loads.push_back(load_plugin(pins[i] ? pins[i]->path : files[i], settings));
      if (loads.back().provider) loads.back().provider->file = files[i];
    }
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (!loads[i].provider || !pins[i]) continue;
    loads[i].provider->load_path = pins[i]->path;
    loads[i].provider->pin = pins[i];
  }
  return loads;
}

std::shared_ptr<const RegistrySnapshot> Registry::State::publish(std::vector<PluginFile> files) {
  auto next = std::make_shared<RegistrySnapshot>();
  next->generation = current.load()->generation + 1;
  std::map<std::string, const PluginFile *> names;  // lower-cased name -> the file that has it
  for (PluginFile &file : files) {
    std::vector<ProviderPtr> kept;
    for (auto &provider : file.providers) {
      auto [earlier, fresh] = names.try_emplace(lowered(provider->meta.name), &file);
      if (!fresh) {
        file.rejection = "duplicate provider name \"" + provider->meta.name + "\": already loaded from " +
                         earlier->second->file.string();
        continue;
      }
      kept.push_back(std::move(provider));
    }
    file.providers = std::move(kept);
    next->providers.insert(next->providers.end(), file.providers.begin(), file.providers.end());
    if (!file.rejection.empty()) next->rejected.push_back({file.file, file.rejection});
  }
  for (const auto &[name, rejection] : instance_rejections) next->rejected.push_back(rejection);
  next->files = std::move(files);
  std::shared_ptr<const RegistrySnapshot> published = std::move(next);
  current.store(published);
  return published;
}

void Registry::State::load_new(const std::vector<std::filesystem::path> &paths, std::vector<PluginFile> &files) {
  std::vector<FileVersion> seen;
  for (const auto &file : files) seen.push_back(file.version);
  std::vector<std::filesystem::path> to_load;
  std::vector<size_t> slots;
  for (const auto &path : paths) {
    std::string error;
    std::optional<FileVersion> version = version_of(path, error);
    if (!version) {
      files.push_back({path, {}, {}, "cannot read the file: " + error});
      continue;
    }
    if (std::any_of(seen.begin(), seen.end(), [&](const FileVersion &v) { return same_file(v, *version); })) continue;
    seen.push_back(*version);
    slots.push_back(files.size());
    files.push_back({path, *version, {}, ""});
    to_load.push_back(path);
  }
  std::vector<FileVersion *> versions;
  for (size_t slot : slots) versions.push_back(&files[slot].version);
  std::vector<PluginLoad> loads = load_files(to_load, versions);
  for (size_t i = 0; i < loads.size(); ++i) {
    PluginFile &file = files[slots[i]];
    if (loads[i].provider) {
      file.providers.push_back(std::move(loads[i].provider));
      make_instances(file);
    } else if (loads[i].error.empty())
      file.rejection = "the file changed while it was being loaded";
    else
      file.rejection = std::move(loads[i].error);
  }
}

Registry::Registry(std::shared_ptr<const HostSettings> settings) : state_(std::make_unique<State>()) {
  state_->settings = std::move(settings);
}

// The snapshot goes with the state; each provider is unloaded once nothing else holds it.
Registry::~Registry() = default;

namespace {

std::vector<std::filesystem::path> plugin_files_of(const std::vector<std::filesystem::path> &folders) {
  std::vector<std::filesystem::path> paths;
  for (const auto &folder : folders) {
    for (auto &file : plugin_files(folder)) paths.push_back(std::move(file));
  }
  return paths;
}

}  // namespace

void Registry::load(const std::vector<std::filesystem::path> &folders) {
  std::lock_guard lock(state_->changing);
  std::vector<PluginFile> files = state_->current.load()->files;
  state_->load_new(plugin_files_of(folders), files);
  state_->publish(std::move(files));
}

void Registry::load_until(const std::vector<std::filesystem::path> &folders, std::string_view name) {
  std::lock_guard lock(state_->changing);
  std::vector<PluginFile> files = state_->current.load()->files;
  auto yields_name = [&](const PluginFile &file) {
    return std::any_of(file.providers.begin(), file.providers.end(),
                       [&](const ProviderPtr &provider) { return iequals(provider->meta.name, name); });
  };
  if (std::none_of(files.begin(), files.end(), yields_name)) {
    for (const auto &path : plugin_files_of(folders)) {
      const size_t loaded_before = files.size();
      state_->load_new({path}, files);
      if (std::any_of(files.begin() + static_cast<std::ptrdiff_t>(loaded_before), files.end(), yields_name)) break;
    }
  }
  state_->publish(std::move(files));
}

ProviderPtr Registry::load_file(const std::filesystem::path &file) {
  std::lock_guard lock(state_->changing);
  std::vector<PluginFile> files = state_->current.load()->files;
  std::string error;
  if (std::optional<FileVersion> version = version_of(file, error)) {
    for (const auto &known : files) {
      if (same_file(known.version, *version)) return known.providers.empty() ? nullptr : known.providers.front();
    }
  }
  size_t slot = files.size();
  state_->load_new({file}, files);
  auto published = state_->publish(std::move(files));
  const PluginFile &loaded = published->files[slot];
  return loaded.providers.empty() ? nullptr : loaded.providers.front();
}

std::vector<PluginEvent> Registry::rescan(const std::vector<std::filesystem::path> &folders,
                                          const std::vector<std::filesystem::path> &unsettled) {
  std::lock_guard lock(state_->changing);
  const std::shared_ptr<const RegistrySnapshot> before = state_->current.load();
  std::map<std::filesystem::path, const PluginFile *> earlier;
  for (const auto &file : before->files) earlier.emplace(file.file, &file);
  const std::set<std::filesystem::path> still_written(unsettled.begin(), unsettled.end());

  std::vector<PluginFile> files;
  std::vector<FileVersion> seen;
  std::vector<std::filesystem::path> to_load;
  std::vector<size_t> slots;
  for (const auto &folder : folders) {
    for (const auto &path : plugin_files(folder)) {
      auto found = earlier.find(path);
      const PluginFile *old = found == earlier.end() ? nullptr : found->second;
      if (still_written.count(path)) {
        if (old) files.push_back(*old);
        continue;
      }
      std::string error;
      std::optional<FileVersion> version = version_of(path, error);
      if (!version) continue;  // gone since the folder was listed: removed
      if (std::any_of(seen.begin(), seen.end(), [&](const FileVersion &v) { return same_file(v, *version); })) continue;
      seen.push_back(*version);
      if (old && old->version == *version) {
        files.push_back(*old);
        continue;
      }
      slots.push_back(files.size());
      files.push_back({path, *version, {}, ""});
      to_load.push_back(path);
    }
  }
  std::vector<FileVersion *> versions;
  for (size_t slot : slots) versions.push_back(&files[slot].version);
  std::vector<PluginLoad> loads = state_->load_files(to_load, versions);
  for (size_t i = 0; i < loads.size(); ++i) {
    PluginFile &file = files[slots[i]];
    if (loads[i].provider) {
      file.providers.push_back(std::move(loads[i].provider));
      state_->make_instances(file);
      continue;
    }
    if (loads[i].error.empty()) {
      // Changed while it was loaded: as it was before, and looked at again by the next rescan.
      file.version = FileVersion{};
      if (auto old = earlier.find(file.file); old != earlier.end()) file.providers = old->second->providers;
      continue;
    }
    file.rejection = std::move(loads[i].error);
    // A broken new version does not take the working old one down.
    if (auto old = earlier.find(file.file); old != earlier.end()) file.providers = old->second->providers;
  }

  std::set<std::filesystem::path> present;
  for (const auto &file : files) present.insert(file.file);
  const std::shared_ptr<const RegistrySnapshot> after = state_->publish(std::move(files));
  std::vector<PluginEvent> events;
  for (size_t slot : slots) {
    const PluginFile &file = after->files[slot];
    auto old = earlier.find(file.file);
    file_events(old == earlier.end() ? nullptr : old->second, file, events);
  }
  for (const auto &old : before->files) {
    if (present.count(old.file)) continue;
    for (const auto &provider : old.providers)
      events.push_back({PluginEvent::Kind::removed, old.file, provider->meta.name, provider->meta.version, "", ""});
  }
  return events;
}

void Registry::load_instances(const std::vector<InstanceSpec> &instances) {
  std::lock_guard lock(state_->changing);
  state_->instances = instances;
  state_->instance_rejections.clear();
  std::vector<PluginFile> files = state_->current.load()->files;
  for (PluginFile &file : files) {
    // Made again from scratch: instances made before are dropped first.
    std::erase_if(file.providers, [](const ProviderPtr &provider) { return !provider->instance.empty(); });
    state_->make_instances(file);
  }
  for (const InstanceSpec &spec : instances) {
    const bool made = std::any_of(files.begin(), files.end(), [&](const PluginFile &file) {
      return std::any_of(file.providers.begin(), file.providers.end(),
                         [&](const ProviderPtr &provider) { return iequals(provider->instance, spec.name); });
    });
    if (made || state_->instance_rejections.count(lowered(spec.name))) continue;
    state_->instance_rejections[lowered(spec.name)] = {
        std::filesystem::path(spec.plugin), "instance " + in_quotes(one_line(spec.name)) + ": no loaded plugin " +
                                                in_quotes(one_line(spec.plugin)) + " makes instances"};
  }
  state_->publish(std::move(files));
}

std::optional<std::string> Registry::add(std::unique_ptr<LoadedProvider> provider) {
  std::lock_guard lock(state_->changing);
  std::shared_ptr<const RegistrySnapshot> current = state_->current.load();
  if (ProviderPtr earlier = current->find(provider->meta.name)) {
    return "duplicate provider name \"" + provider->meta.name + "\": already loaded from " + earlier->file.string();
  }
  std::vector<PluginFile> files = current->files;
  std::filesystem::path file = provider->file;
  files.push_back({std::move(file), {}, {std::move(provider)}, ""});
  state_->publish(std::move(files));
  return std::nullopt;
}

std::shared_ptr<const RegistrySnapshot> Registry::snapshot() const { return state_->current.load(); }

void Registry::pin_versions() { state_->pin = true; }

void Registry::use_isolation(IsolationOptions options) { state_->isolation = std::move(options); }

const IsolationOptions *Registry::isolation() const { return state_->isolation ? &*state_->isolation : nullptr; }

const std::shared_ptr<const HostSettings> &Registry::settings() const { return state_->settings; }

void Registry::set_preferences(ResolutionPreferences preferences) { state_->preferences = std::move(preferences); }

const ResolutionPreferences &Registry::preferences() const { return state_->preferences; }

std::vector<ProviderPtr> Registry::providers() const { return snapshot()->providers; }

std::vector<RejectedPlugin> Registry::rejected() const { return snapshot()->rejected; }

ProviderPtr Registry::find(std::string_view name) const { return snapshot()->find(name); }

std::string plugin_file_name(std::string_view id) {
  return "provhost-" + std::string(id) + platform::shared_library_suffix();
}

bool has_library_suffix(std::string_view path) {
  const std::string suffix = platform::shared_library_suffix();
  return path.size() > suffix.size() && path.ends_with(suffix);
}

}  // namespace provhost::core

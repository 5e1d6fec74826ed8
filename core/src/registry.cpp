#include "provhost/core/registry.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <provhost/text.hpp>

#include "provhost/core/plugin_loader.hpp"

namespace provhost::core {

bool ProviderMeta::has_capability(std::string_view capability) const {
  return std::find(capabilities.begin(), capabilities.end(), capability) != capabilities.end();
}

struct Registry::State {
  std::vector<std::unique_ptr<LoadedProvider>> providers;
  std::vector<RejectedPlugin> rejected;
  // (device, inode) of every file tried: the same file reached through two folders or a symlink is
  // loaded once.
  std::map<std::pair<dev_t, ino_t>, const LoadedProvider *> files_seen;
};

Registry::Registry() : state_(std::make_unique<State>()) {}

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
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) {
    state_->rejected.push_back({file, "cannot read the file: " + std::string(std::strerror(errno))});
    return nullptr;
  }
  auto [seen, first_time] = state_->files_seen.try_emplace({info.st_dev, info.st_ino}, nullptr);
  if (!first_time) return seen->second;

  PluginLoad load = load_plugin(file);
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

const std::vector<std::unique_ptr<LoadedProvider>> &Registry::providers() const { return state_->providers; }

const std::vector<RejectedPlugin> &Registry::rejected() const { return state_->rejected; }

const LoadedProvider *Registry::find(std::string_view name) const {
  for (const auto &provider : state_->providers) {
    if (iequals(provider->meta.name, name)) return provider.get();
  }
  return nullptr;
}

}  // namespace provhost::core

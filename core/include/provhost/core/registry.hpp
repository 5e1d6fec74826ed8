// registry.hpp: the loaded providers, the files that were rejected and why, and model resolution.
#pragma once

#include <provhost/provhost.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <provhost/core/error.hpp>
#include <provhost/core/isolation.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace provhost::core {

struct HostSettings;

// A provider's metadata, copied out of the plugin at load time.
struct ProviderMeta {
  std::string name;
  std::string version;
  std::string description;
  std::string url;
  bool working = false;
  std::string default_model;
  std::vector<std::string> models;
  std::vector<std::pair<std::string, std::string>> aliases;  // alias -> model
  std::vector<std::string> capabilities;

  bool has_capability(std::string_view capability) const;
};

// One provider plugin that loaded and passed validation. Scanned in a worker process (see
// Registry::use_isolation), it has metadata only: `abi` and `library` are null.
struct LoadedProvider {
  ProviderMeta meta;
  std::filesystem::path file;
  uint32_t abi_offered = 0;     // the version the host offered
  uint32_t abi_negotiated = 0;  // the version the plugin answered
  std::string instance;         // ABI 1.1: the configured instance this provider was made for; "" for the plugin's own
  const ph_provider *abi = nullptr;
  std::shared_ptr<void> library;  // keeps the shared library loaded while anything uses `abi`
};

// A file in a plugin folder that looked like a plugin (provhost-*.so) but was not loaded.
struct RejectedPlugin {
  std::filesystem::path file;
  std::string reason;  // one line
};

// An instance the user configured (ABI 1.1): another provider made by the plugin of provider `plugin`, which
// declares the capability "instances", named `name` and configured under that name.
struct InstanceSpec {
  std::string plugin;  // the plugin's own provider name, e.g. "OpenAICompatible" (case-insensitive)
  std::string name;    // the instance's provider name, e.g. "Groq"
};

// A provider and the concrete model to ask it for.
struct Resolution {
  const LoadedProvider *provider = nullptr;
  std::string model;
};

// The outcome of resolving what the user asked for: candidates in the order to try them, or why
// there are none.
struct ResolveResult {
  std::vector<Resolution> candidates;
  std::string error;  // one line; set when candidates is empty
  enum class Kind { ok, unknown_provider, model_not_found } kind = Kind::ok;
};

// The user's say in resolution when no provider is named (the configuration's provider_order and
// [models] chains). Provider names match case-insensitively; models exactly as requested.
struct ResolutionPreferences {
  std::vector<std::string> provider_order;  // tried first, in this order; the others follow in load order
  // Model -> the only providers to try for it, in this order.
  std::map<std::string, std::vector<std::string>, std::less<>> model_providers;
};

// Owns the loaded plugins. Destroying it unloads them, newest first: each provider's deinit, then
// its library is closed. Destroy it only after every session of its providers has closed.
class Registry {
 public:
  // `settings` are what every plugin's host services answer (null: the defaults).
  explicit Registry(std::shared_ptr<const HostSettings> settings = nullptr);
  ~Registry();
  Registry(const Registry &) = delete;
  Registry &operator=(const Registry &) = delete;

  // Loads every provhost-*.so in the folders, in order (files by name within a folder). Files that
  // fail are recorded in rejected(); this never throws for a bad plugin.
  void load(const std::vector<std::filesystem::path> &folders);

  // Loads one file, whatever its name (for `inspect FILE`). The provider, or nullptr when the file
  // was rejected (the reason is in rejected()).
  const LoadedProvider *load_file(const std::filesystem::path &file);

  // Makes each instance from the plugin of its `plugin` provider, loaded before (in this process, or scanned in a
  // worker given the configuration). An instance that fails is recorded in rejected() with the plugin's file.
  void load_instances(const std::vector<InstanceSpec> &instances);

  // Registers a provider that is already loaded (load_file's last step; tests use it directly).
  // nullopt, or why it was refused: another provider already has its name.
  std::optional<std::string> add(std::unique_ptr<LoadedProvider> provider);

  // From now on, plugin files are loaded in worker processes (scanned, with the cache), never in
  // this one, and engines on this registry run sessions in workers too (ProcessBackend).
  void use_isolation(IsolationOptions options);
  // The options of use_isolation(); nullptr when plugins are loaded in this process.
  const IsolationOptions *isolation() const;
  // What every plugin's host services answer.
  const std::shared_ptr<const HostSettings> &settings() const;

  // Applies to every later resolve().
  void set_preferences(ResolutionPreferences preferences);
  const ResolutionPreferences &preferences() const;

  const std::vector<std::unique_ptr<LoadedProvider>> &providers() const;
  const std::vector<RejectedPlugin> &rejected() const;

  // By name, case-insensitively; nullptr when absent.
  const LoadedProvider *find(std::string_view name) const;

  // provider "" and model "Provider/model" name the provider too. With a provider: that provider
  // and its resolved model. Without: every working provider that lists the model (all working
  // providers with their default model when the model is empty), in load order, or as the
  // preferences say: only the model's own providers in their order when it has a chain, else the
  // provider order first. A provider that lists no models accepts any model. A "Provider/" prefix
  // counts only when it names a loaded provider, since model names may contain '/' themselves.
  ResolveResult resolve(std::string_view provider, std::string_view model) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A provider's own resolution of a model name: "" -> the default model, an alias -> its target, a
// listed model -> itself. Returns false (with a one-line reason naming the valid models) when the
// provider lists models and this is not one of them.
Result<std::string> resolve_model(const ProviderMeta &provider, std::string_view requested);

// The folders to search, in order: `plugin_dirs` (the host's configuration gathers --plugin-dir,
// PROVHOST_PLUGIN_PATH and the configuration file's), then the default folder next to the
// executable (../lib/provhost/plugins relative to bin/provhost).
std::vector<std::filesystem::path> plugin_search_path(const std::vector<std::filesystem::path> &plugin_dirs);

// The file a plugin of `id` is found as: "provhost-<id>" and the system's library suffix.
std::string plugin_file_name(std::string_view id);

// True when `path` ends with the system's library suffix (".so" here).
bool has_library_suffix(std::string_view path);

}  // namespace provhost::core

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
// Registry::use_isolation), it has metadata only: `abi` and `library` are null. Each load of a file
// is a new object, so an object is one *version* of a plugin: what a chat holds for its life, and
// what session workers are keyed on.
struct LoadedProvider {
  ProviderMeta meta;
  std::filesystem::path file;
  uint32_t abi_offered = 0;     // the version the host offered
  uint32_t abi_negotiated = 0;  // the version the plugin answered
  std::string instance;         // ABI 1.1: the configured instance this provider was made for; "" for the plugin's own
  const ph_provider *abi = nullptr;
  std::shared_ptr<void> library;  // keeps the shared library loaded while anything uses `abi`
  // Where a session worker loads this version from: a path that still names it after `file` was
  // replaced or removed, kept valid by `pin` ("" when the system has none: `file` itself).
  std::filesystem::path load_path;
  std::shared_ptr<const void> pin;
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

// Shared, because a snapshot, the chats that started on it and their session workers each keep
// the version they use: a reload never pulls a provider out from under any of them.
using ProviderPtr = std::shared_ptr<const LoadedProvider>;

// What makes one version of a file different from the next: the same path replaced by `mv` has
// another inode, rewritten in place another size or modification time.
struct FileVersion {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileVersion &) const = default;
};

// One plugin file as a snapshot holds it: the providers it yielded (a list: one file may yield
// several), and why it was rejected when it was. A file whose new version was rejected keeps
// serving its previous providers and carries the new version's reason too.
struct PluginFile {
  std::filesystem::path file;
  FileVersion version;
  std::vector<ProviderPtr> providers;
  std::string rejection;  // one line; "" when the file's current version loaded
};

// The registry's state at one moment. Immutable once published: readers hold it as long as they
// like while the registry moves on to the next one.
struct RegistrySnapshot {
  std::uint64_t generation = 0;        // 0 for the empty registry, then one more per change
  std::vector<PluginFile> files;       // in search order
  std::vector<ProviderPtr> providers;  // every file's, in load order
  std::vector<RejectedPlugin> rejected;

  // By name, case-insensitively; null when absent.
  ProviderPtr find(std::string_view name) const;
  // Whether this very version is among the providers.
  bool holds(const LoadedProvider *provider) const;
};

// One change a rescan found, for the log, the access log and /metrics.
struct PluginEvent {
  enum class Kind { added, replaced, removed, rejected };
  Kind kind = Kind::added;
  std::filesystem::path file;
  std::string provider;          // "" for a rejected file that served nothing
  std::string version;           // the new version (added, replaced), the old one (removed)
  std::string previous_version;  // replaced only
  std::string reason;            // rejected only: one line
};
const char *to_string(PluginEvent::Kind kind);

// A provider and the concrete model to ask it for.
struct Resolution {
  ProviderPtr provider;
  std::string model;
};

// The outcome of resolving what the user asked for: candidates in the order to try them, or why
// there are none.
struct ResolveResult {
  std::vector<Resolution> candidates;
  std::string error;  // one line; set when candidates is empty
  enum class Kind { ok, unknown_provider, model_not_found, lacks_capability } kind = Kind::ok;
};

// `resolved` with only the candidates that declare every capability of `required`, in their order; a failure of
// kind lacks_capability, naming the first capability no remaining candidate declares, when none is left. A failed
// resolution stays as it was.
ResolveResult keep_declaring(ResolveResult resolved, const std::vector<std::string> &required);

// The user's say in resolution when no provider is named (the configuration's provider_order and
// [models] chains). Provider names match case-insensitively; models exactly as requested.
struct ResolutionPreferences {
  std::vector<std::string> provider_order;  // tried first, in this order; the others follow in load order
  // Model -> the only providers to try for it, in this order.
  std::map<std::string, std::vector<std::string>, std::less<>> model_providers;
};

// Owns the loaded plugins as a snapshot that each change replaces whole (atomically): readers on
// any thread take the current one and keep it, so nothing they hold is invalidated by a reload. A
// plugin's library is closed when the last snapshot, chat or session worker holding its version lets
// go of it. Changes (load, add, rescan) are serialised among themselves.
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

  // As load(), for a command that can use the provider `name` only: files are loaded in order until
  // one yields it, the one load() would keep under that name (the first); the files after it are
  // left alone, each a dlopen saved when plugins load in this process. All are loaded when none yields it.
  void load_until(const std::vector<std::filesystem::path> &folders, std::string_view name);

  // Loads one file, whatever its name (for `inspect FILE`). The provider, or null when the file
  // was rejected (the reason is in rejected()).
  ProviderPtr load_file(const std::filesystem::path &file);

  // Looks at the folders again and publishes what changed as a new snapshot: new files are loaded,
  // files with another version (inode, size, modification time) loaded again, removed files
  // dropped. A new version that fails leaves the old one serving, with the reason among the
  // rejected. Files in `unsettled` (still being written) keep whatever they had. Unchanged files
  // are not loaded again. Returns what changed, in file order.
  std::vector<PluginEvent> rescan(const std::vector<std::filesystem::path> &folders,
                                  const std::vector<std::filesystem::path> &unsettled = {});

  // The current snapshot; thread-safe, never null.
  std::shared_ptr<const RegistrySnapshot> snapshot() const;

  // Makes each instance from the plugin of its `plugin` provider, loaded before (in this process, or scanned in a
  // worker given the configuration). An instance that fails is recorded in rejected() with the plugin's file.
  void load_instances(const std::vector<InstanceSpec> &instances);

  // Registers a provider that is already loaded (load_file's last step; tests use it directly).
  // nullopt, or why it was refused: another provider already has its name.
  std::optional<std::string> add(std::unique_ptr<LoadedProvider> provider);

  // From now on, plugin files are loaded in worker processes (scanned, with the cache), never in
  // this one, and engines on this registry run sessions in workers too (ProcessBackend).
  void use_isolation(IsolationOptions options);
  // From now on, each loaded version's file is held open (a descriptor per provider), so that its
  // sessions run that version even after the file was replaced or removed: for a registry whose
  // folders change under it (serve's). Without it, a worker loads whatever the path holds.
  void pin_versions();
  // The options of use_isolation(); nullptr when plugins are loaded in this process.
  const IsolationOptions *isolation() const;
  // What every plugin's host services answer.
  const std::shared_ptr<const HostSettings> &settings() const;

  // Applies to every later resolve().
  void set_preferences(ResolutionPreferences preferences);
  const ResolutionPreferences &preferences() const;

  // The current snapshot's (copies: they stay valid whatever happens next).
  std::vector<ProviderPtr> providers() const;
  std::vector<RejectedPlugin> rejected() const;

  // By name, case-insensitively, in the current snapshot; null when absent.
  ProviderPtr find(std::string_view name) const;

  // provider "" and model "Provider/model" name the provider too. With a provider: that provider
  // and its resolved model. Without: every working provider that lists the model (all working
  // providers with their default model when the model is empty), in load order, or as the
  // preferences say: only the model's own providers in their order when it has a chain, else the
  // provider order first. A provider that lists no models accepts any model. A "Provider/" prefix
  // counts only when it names a loaded provider, since model names may contain '/' themselves.
  // Resolution reads one snapshot throughout, and the candidates keep their versions.
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

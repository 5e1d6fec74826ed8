// plugin_loader.hpp: finding plugin files, loading one, and the checks that decide whether it is
// accepted. The Registry uses these; they are public so that each rule can be tested on its own.
#pragma once

#include <provhost/provhost.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "provhost/core/host_services.hpp"
#include "provhost/core/isolation.hpp"
#include "provhost/core/registry.hpp"

namespace provhost::core {

// "1.0" for PH_MAKE_VERSION(1, 0).
std::string format_abi_version(uint32_t version);

// The host's half of the version handshake: nullopt when the plugin's answer can be used with a
// host that offered `offered`, or the one-line reason to reject it.
std::optional<std::string> check_abi_answer(uint32_t offered, uint32_t answered);

// Checks a provider descriptor against the ABI rules and `limits` and copies its metadata into
// `meta`. Reads each field only when struct_size covers it; checks each count and length before
// copying what it counts. Strings must be UTF-8 without control characters. nullopt when valid,
// else the reason (one line, plugin strings in it escaped).
std::optional<std::string> validate_provider(const ph_provider *provider, ProviderMeta &meta,
                                             const MetadataLimits &limits = {});

// True for "provhost-<name>" and the system's library suffix, ".so" here (a file name, not a path).
bool is_plugin_file_name(std::string_view file_name);

// A search-path variable's value (PROVHOST_PLUGIN_PATH) as folders: split at the system's
// separator (':' here), empty entries skipped.
std::vector<std::filesystem::path> split_path_list(std::string_view list);

// ../lib/provhost/plugins next to the running executable; nullopt when its location is unknown.
std::optional<std::filesystem::path> default_plugin_folder();

// The plugin files in `folder`, sorted by name; none when the folder does not exist.
std::vector<std::filesystem::path> plugin_files(const std::filesystem::path &folder);

// Loads one plugin file: dlopen, entry, handshake, validation. Exactly one of the two is set.
struct PluginLoad {
  std::unique_ptr<LoadedProvider> provider;
  std::string error;  // one line
};
// `settings` are what the plugin's host services answer (null: the defaults). With an `instance` (ABI 1.1), the
// provider made for that instance, its host services named so from the start.
PluginLoad load_plugin(const std::filesystem::path &file, std::shared_ptr<const HostSettings> settings = nullptr,
                       const std::string &instance = {});

// The name a plugin's configuration is read under while its entry runs, before it named its provider: the
// file's name without "provhost-" and the library suffix ("ylokh" for provhost-ylokh.so).
std::string plugin_id(const std::filesystem::path &file);

// Loads each file in a worker process of its own (a few at a time, each within the scan timeout)
// unless the scan cache has its answer; one PluginLoad per file, in order. A provider that loaded
// this way has metadata only (no `abi`, no `library`). A file that crashed, hung or exited is
// rejected with how ("crashed while loading: SIGSEGV", "did not finish loading in 5 s", "exited
// with status 0 while loading"). Implemented in core/src/isolation/scanner.cpp.
std::vector<PluginLoad> scan_plugins(const std::vector<std::filesystem::path> &files, const IsolationOptions &options);

// Loads `file` for `instance` in a session worker given `settings` (an instance's metadata comes from its
// configuration, so it is neither scanned without it nor cached), within the scan timeout, and ends the worker.
PluginLoad scan_instance(const std::filesystem::path &file, const std::string &instance,
                         const std::shared_ptr<const HostSettings> &settings, const IsolationOptions &options);

}  // namespace provhost::core

// The plugins as the configuration says: what list, inspect, validate (in the executable) and chat,
// serve (in the engine module) all start with; linked into both (see engine_module.hpp).
#include "commands.hpp"
#include "config/instances.hpp"

namespace provhost::host {

std::shared_ptr<const core::HostSettings> host_settings(const GlobalOptions &global) {
  return config::host_settings(global.config);
}

std::vector<std::filesystem::path> plugin_folders(const GlobalOptions &global) {
  return config::plugin_folders(global.config);
}

void isolate_plugins(core::Registry &registry, const GlobalOptions &global) {
  if (auto isolation = config::isolation_options(global.config)) registry.use_isolation(std::move(*isolation));
}

void load_plugins(core::Registry &registry, const GlobalOptions &global, std::string_view only_provider) {
  isolate_plugins(registry, global);
  registry.set_preferences(config::resolution_preferences(global.config));
  std::vector<core::InstanceSpec> instances = config::instance_specs(global.config);
  // Scanned out of process, every file is one look in the scan cache, cheaper all at once; and a
  // configured instance may be the provider asked for, made by any file's plugin.
  const bool in_process = registry.isolation() == nullptr;
  if (!only_provider.empty() && in_process && instances.empty())
    registry.load_until(plugin_folders(global), only_provider);
  else
    registry.load(plugin_folders(global));
  registry.load_instances(instances);
}

}  // namespace provhost::host

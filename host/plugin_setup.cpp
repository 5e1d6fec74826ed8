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

void load_plugins(core::Registry &registry, const GlobalOptions &global) {
  isolate_plugins(registry, global);
  registry.set_preferences(config::resolution_preferences(global.config));
  registry.load(plugin_folders(global));
  registry.load_instances(config::instance_specs(global.config));
}

}  // namespace provhost::host

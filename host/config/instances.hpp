// instances.hpp: the providers a user configures for a plugin that makes instances (ABI 1.1; the bundled
// OpenAICompatible): the file's [[instances]], else those PROVHOST_INSTANCES names; and what each instance's
// plugin reads through get_config under the instance's name.
#pragma once

#include <provhost/core/host_services.hpp>
#include <provhost/core/registry.hpp>
#include <vector>

#include "config.hpp"

namespace provhost::host::config {

// The plugin an instance from the environment is made by.
inline constexpr std::string_view default_instance_plugin = "OpenAICompatible";

// Completes config.instances from `environment`: when the file configured none, PROVHOST_INSTANCES ("Groq,Local")
// names them, each made by OpenAICompatible with its base_url, api_key_env and models (comma-separated) from
// PROVHOST_<NAME>_BASE_URL, PROVHOST_<NAME>_API_KEY_ENV and PROVHOST_<NAME>_MODELS, checked as the file's are.
// Then each instance's key is read from the variable it names (the key itself is never in the file). Throws
// Error for a bad value.
void resolve_instances(const Environment &environment, Config &config);

// Each instance's values as its plugin reads them: base_url, models (comma-separated), api_key, under the
// instance's name (PROVHOST_<NAME>_BASE_URL, ...), unless a provider value of the same name was given.
void add_instance_values(const Config &config, core::HostSettings &settings);

// The instances for core::Registry::load_instances.
std::vector<core::InstanceSpec> instance_specs(const Config &config);

}  // namespace provhost::host::config

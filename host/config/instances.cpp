#include "instances.hpp"

#include <provhost/text.hpp>

#include "validation.hpp"

namespace provhost::host::config {
namespace {

std::optional<std::string> value_of(const Environment &environment, const std::string &name) {
  auto found = environment.find(name);
  if (found == environment.end() || found->second.empty()) return std::nullopt;
  return found->second;
}

// "a, b,,c" -> {"a", "b", "c"}.
std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> items;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) items.emplace_back(item);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return items;
}

Instance instance_from_environment(const Environment &environment, const std::string &name) {
  constexpr const char *listing = "PROVHOST_INSTANCES";
  if (!is_provider_name(name))
    throw Error(std::string(listing) + ": invalid provider name " + in_quotes(one_line(name)) +
                " (allowed: A-Z a-z 0-9 _ -)");
  Instance instance;
  instance.name = name;
  instance.plugin = std::string(default_instance_plugin);
  instance.source = {Source::Kind::environment, listing};
  const std::string base_url_variable = core::config_variable(name, "base_url");
  std::optional<std::string> base_url = value_of(environment, base_url_variable);
  if (!base_url)
    throw Error(std::string(listing) + " names " + in_quotes(name) + " but " + base_url_variable + " is unset");
  if (auto error = check_base_url(*base_url)) throw Error(base_url_variable + ": " + *error);
  instance.base_url = *base_url;
  const std::string key_variable = core::config_variable(name, "api_key_env");
  if (auto key_env = value_of(environment, key_variable)) {
    if (!is_variable_name(*key_env))
      throw Error(key_variable +
                  " must be the name of an environment variable (A-Z a-z 0-9 _, not starting with a digit)");
    instance.api_key_env = *key_env;
  }
  if (auto models = value_of(environment, core::config_variable(name, "models"))) instance.models = split_list(*models);
  return instance;
}

void set_unless_given(core::HostSettings &settings, const std::string &instance, std::string_view key,
                      const std::string &value) {
  if (value.empty()) return;
  settings.provider_config.try_emplace(core::config_variable(instance, key), value);
}

}  // namespace

void resolve_instances(const Environment &environment, Config &config) {
  if (config.instances.empty()) {
    if (auto names = value_of(environment, "PROVHOST_INSTANCES")) {
      for (const std::string &name : split_list(*names))
        config.instances.push_back(instance_from_environment(environment, name));
    }
  }
  for (Instance &instance : config.instances) {
    if (instance.api_key_env.empty()) continue;
    instance.api_key = value_of(environment, instance.api_key_env).value_or("");
  }
}

void add_instance_values(const Config &config, core::HostSettings &settings) {
  for (const Instance &instance : config.instances) {
    set_unless_given(settings, instance.name, "base_url", instance.base_url);
    std::string models;
    for (const std::string &model : instance.models) models += (models.empty() ? "" : ",") + model;
    set_unless_given(settings, instance.name, "models", models);
    set_unless_given(settings, instance.name, "api_key", instance.api_key);
  }
}

std::vector<core::InstanceSpec> instance_specs(const Config &config) {
  std::vector<core::InstanceSpec> specs;
  for (const Instance &instance : config.instances) specs.push_back({instance.plugin, instance.name});
  return specs;
}

}  // namespace provhost::host::config

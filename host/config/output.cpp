// `provhost config`'s two renderings of the effective configuration. Secrets never leave the
// process: they are replaced with "****" before anything is written.
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <provhost/core/plugin_loader.hpp>
#include <sstream>

#include "config.hpp"
#include "limits.hpp"

namespace provhost::host::config {
namespace {

constexpr const char *mask = "****";

std::string masked(const std::string &value, bool secret) { return secret && !value.empty() ? mask : value; }

// A proxy URL with its user and password, if any, masked: "http://****@proxy:3128".
std::string masked_proxy(const std::string &proxy) {
  size_t authority = proxy.find("://");
  authority = authority == std::string::npos ? 0 : authority + 3;
  size_t at = proxy.find('@', authority);
  if (at == std::string::npos || proxy.find('/', authority) < at) return proxy;
  return proxy.substr(0, authority) + mask + proxy.substr(at);
}

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string toml_number(double value) {
  if (value == std::floor(value) && std::fabs(value) < 1e15) return std::to_string(static_cast<long long>(value));
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string toml_strings(const std::vector<std::string> &items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + toml_string(items[i]);
  return out + "]";
}

// The key as TOML writes it: bare when it can be, quoted otherwise.
std::string toml_key(std::string_view key) {
  bool bare = !key.empty() && std::all_of(key.begin(), key.end(),
                                          [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
  return bare ? std::string(key) : toml_string(key);
}

class TextWriter {
 public:
  void line(std::string_view key, const std::string &value, const Source &source) {
    out_ << toml_key(key) << " = " << value << "  # " << source.describe() << "\n";
  }
  void header(const std::string &name) { out_ << "\n[" << name << "]\n"; }
  void raw(const std::string &text) { out_ << text; }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

std::string source_name(const Source &source) {
  return source.kind == Source::Kind::default_value ? "default" : source.name;
}

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void json_string(Writer &writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void json_value(Writer &writer, const std::string &value, const Source &source) {
  writer.StartObject();
  writer.Key("value");
  json_string(writer, value);
  writer.Key("source");
  json_string(writer, source_name(source));
  writer.EndObject();
}

void json_value(Writer &writer, std::uint64_t value, const Source &source) {
  writer.StartObject();
  writer.Key("value");
  writer.Uint64(value);
  writer.Key("source");
  json_string(writer, source_name(source));
  writer.EndObject();
}

void json_value(Writer &writer, bool value, const Source &source) {
  writer.StartObject();
  writer.Key("value");
  writer.Bool(value);
  writer.Key("source");
  json_string(writer, source_name(source));
  writer.EndObject();
}

void json_value(Writer &writer, double value, const Source &source) {
  writer.StartObject();
  writer.Key("value");
  writer.Double(value);
  writer.Key("source");
  json_string(writer, source_name(source));
  writer.EndObject();
}
void json_value(Writer &writer, const std::vector<std::string> &value, const Source &source) {
  writer.StartObject();
  writer.Key("value");
  writer.StartArray();
  for (const auto &item : value) json_string(writer, item);
  writer.EndArray();
  writer.Key("source");
  json_string(writer, source_name(source));
  writer.EndObject();
}

// Provider values whose provider is known go under [providers.<Name>]; those known only by their
// variable (set in the environment alone) under [environment].
bool has_provider(const ProviderValue &entry) { return !entry.provider.empty(); }

std::map<std::string, std::vector<const ProviderValue *>> values_by_provider(const Config &config) {
  std::map<std::string, std::vector<const ProviderValue *>> providers;
  for (const auto &[variable, entry] : config.provider_values) {
    if (has_provider(entry)) providers[entry.provider].push_back(&entry);
  }
  return providers;
}

std::string default_folder() {
  auto folder = core::default_plugin_folder();
  return folder ? folder->string() : "";
}

}  // namespace

std::string to_text(const Config &config) {
  TextWriter out;
  out.raw("# provhost's effective configuration; precedence: command line > environment > file > default\n");
  if (config.file.empty())
    out.raw("# configuration file: none (neither XDG_CONFIG_HOME nor HOME is set)\n");
  else
    out.raw("# configuration file: " + config.file.string() + (config.file_loaded ? "" : " (not found)") + "\n");

  out.raw("\nplugin_dirs = [\n");
  for (const auto &folder : config.plugin_dirs)
    out.raw("  " + toml_string(folder.value.string()) + ",  # " + folder.source.describe() + "\n");
  out.raw("]  # then the default folder: " + default_folder() + "\n");
  out.line("proxy", toml_string(masked_proxy(config.proxy.value)), config.proxy.source);
  out.line("log_level", toml_string(config.log_level.value), config.log_level.source);
  out.line("backoff_scale", toml_number(config.backoff_scale.value), config.backoff_scale.source);
  out.line("provider_order", toml_strings(config.provider_order.value), config.provider_order.source);
  const IsolationSettings &isolation = config.isolation;
  out.line("isolation", toml_string(isolation.mode.value), isolation.mode.source);
  out.line("scan_timeout", toml_number(isolation.scan_timeout.value), isolation.scan_timeout.source);
  out.line("scan_jobs", std::to_string(isolation.scan_jobs.value), isolation.scan_jobs.source);
  out.line("plugin_timeout", toml_number(isolation.plugin_timeout.value), isolation.plugin_timeout.source);
  out.line("plugin_memory", std::to_string(isolation.plugin_memory.value), isolation.plugin_memory.source);
  out.line("plugin_cache", toml_string(isolation.plugin_cache.value.string()), isolation.plugin_cache.source);

  out.header("timeouts");
  out.line("total", toml_number(config.timeouts.total.value), config.timeouts.total.source);
  out.line("connect", toml_number(config.timeouts.connect.value), config.timeouts.connect.source);
  out.line("first_byte", toml_number(config.timeouts.first_byte.value), config.timeouts.first_byte.source);
  out.line("idle", toml_number(config.timeouts.idle.value), config.timeouts.idle.source);

  out.header("upstreams");
  for (const auto &[variable, upstream] : config.upstreams)
    out.line(upstream.name, toml_string(upstream.origin.value), upstream.origin.source);

  out.header("limits");
  for (const auto &[option, value] : effective_limits(config))
    out.line(option->key, std::to_string(value.value), value.source);

  const ServeSettings &serve = config.serve;
  out.header("serve");
  out.line("listen", toml_string(serve.listen.value), serve.listen.source);
  out.line("api_key", toml_string(masked(serve.api_key.value, true)), serve.api_key.source);
  out.line("client_timeout", toml_number(serve.client_timeout.value), serve.client_timeout.source);
  out.line("shutdown_timeout", toml_number(serve.shutdown_timeout.value), serve.shutdown_timeout.source);
  out.line("max_body", std::to_string(serve.max_body.value), serve.max_body.source);
  out.line("quiet", serve.quiet.value ? "true" : "false", serve.quiet.source);
  out.line("drop_unsupported_params", serve.drop_unsupported_params.value ? "true" : "false",
           serve.drop_unsupported_params.source);
  out.line("max_header_bytes", std::to_string(serve.max_header_bytes.value), serve.max_header_bytes.source);
  out.line("max_connections", std::to_string(serve.max_connections.value), serve.max_connections.source);
  out.line("max_stream_backlog", std::to_string(serve.max_stream_backlog.value), serve.max_stream_backlog.source);
  out.line("cors_origins", toml_strings(serve.cors_origins.value), serve.cors_origins.source);
  out.line("allowed_hosts", toml_strings(serve.allowed_hosts.value), serve.allowed_hosts.source);
  out.line("plugin_rescan", toml_number(serve.plugin_rescan.value), serve.plugin_rescan.source);
  out.line("plugin_settle", toml_number(serve.plugin_settle.value), serve.plugin_settle.source);

  for (const auto &[provider, entries] : values_by_provider(config)) {
    out.header("providers." + toml_key(provider));
    for (const ProviderValue *entry : entries)
      out.line(entry->key, toml_string(masked(entry->value.value, is_secret(entry->key))), entry->value.source);
  }
  bool environment_header = false;
  for (const auto &[variable, entry] : config.provider_values) {
    if (has_provider(entry)) continue;
    if (!environment_header) {
      out.header("environment");
      out.raw("# provider values known only as PROVHOST_<PROVIDER>_<KEY>\n");
      environment_header = true;
    }
    out.line(variable, toml_string(masked(entry.value.value, is_secret(variable))), entry.value.source);
  }

  if (!config.model_fallbacks.empty()) out.header("models");
  for (const auto &[model, providers] : config.model_fallbacks)
    out.raw(toml_string(model) + " = " + toml_strings(providers.value) + "  # " + providers.source.describe() + "\n");

  for (const Instance &instance : config.instances) {
    out.raw("\n[[instances]]  # " + instance.source.describe() + "\n");
    out.raw("name = " + toml_string(instance.name) + "\n");
    out.raw("plugin = " + toml_string(instance.plugin) + "\n");
    out.raw("base_url = " + toml_string(instance.base_url) + "\n");
    if (!instance.api_key_env.empty()) out.raw("api_key_env = " + toml_string(instance.api_key_env) + "\n");
    out.raw("models = " + toml_strings(instance.models) + "\n");
  }
  return out.str();
}

std::string to_json(const Config &config) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartObject();
  writer.Key("file");
  if (config.file.empty())
    writer.Null();
  else
    json_string(writer, config.file.string());
  writer.Key("file_loaded");
  writer.Bool(config.file_loaded);

  writer.Key("plugin_dirs");
  writer.StartArray();
  for (const auto &folder : config.plugin_dirs) json_value(writer, folder.value.string(), folder.source);
  writer.EndArray();
  writer.Key("default_plugin_dir");
  json_string(writer, default_folder());
  writer.Key("proxy");
  json_value(writer, masked_proxy(config.proxy.value), config.proxy.source);
  writer.Key("log_level");
  json_value(writer, config.log_level.value, config.log_level.source);
  writer.Key("backoff_scale");
  json_value(writer, config.backoff_scale.value, config.backoff_scale.source);
  writer.Key("provider_order");
  json_value(writer, config.provider_order.value, config.provider_order.source);
  const IsolationSettings &isolation = config.isolation;
  writer.Key("isolation");
  json_value(writer, isolation.mode.value, isolation.mode.source);
  writer.Key("scan_timeout");
  json_value(writer, isolation.scan_timeout.value, isolation.scan_timeout.source);
  writer.Key("scan_jobs");
  json_value(writer, static_cast<double>(isolation.scan_jobs.value), isolation.scan_jobs.source);
  writer.Key("plugin_timeout");
  json_value(writer, isolation.plugin_timeout.value, isolation.plugin_timeout.source);
  writer.Key("plugin_memory");
  json_value(writer, static_cast<double>(isolation.plugin_memory.value), isolation.plugin_memory.source);
  writer.Key("plugin_cache");
  json_value(writer, isolation.plugin_cache.value.string(), isolation.plugin_cache.source);

  writer.Key("timeouts");
  writer.StartObject();
  for (const auto &[name, value] :
       {std::pair{"total", &config.timeouts.total}, std::pair{"connect", &config.timeouts.connect},
        std::pair{"first_byte", &config.timeouts.first_byte}, std::pair{"idle", &config.timeouts.idle}}) {
    writer.Key(name);
    json_value(writer, value->value, value->source);
  }
  writer.EndObject();

  writer.Key("upstreams");
  writer.StartObject();
  for (const auto &[variable, upstream] : config.upstreams) {
    json_string(writer, upstream.name);
    json_value(writer, upstream.origin.value, upstream.origin.source);
  }
  writer.EndObject();

  writer.Key("limits");
  writer.StartObject();
  for (const auto &[option, value] : effective_limits(config)) {
    json_string(writer, option->key);
    json_value(writer, value.value, value.source);
  }
  writer.EndObject();

  const ServeSettings &serve = config.serve;
  writer.Key("serve");
  writer.StartObject();
  auto member = [&writer](const char *key, const auto &setting) {
    writer.Key(key);
    json_value(writer, setting.value, setting.source);
  };
  member("listen", serve.listen);
  writer.Key("api_key");
  json_value(writer, masked(serve.api_key.value, true), serve.api_key.source);
  member("client_timeout", serve.client_timeout);
  member("shutdown_timeout", serve.shutdown_timeout);
  member("max_body", serve.max_body);
  member("quiet", serve.quiet);
  member("drop_unsupported_params", serve.drop_unsupported_params);
  member("max_header_bytes", serve.max_header_bytes);
  member("max_connections", serve.max_connections);
  member("max_stream_backlog", serve.max_stream_backlog);
  member("cors_origins", serve.cors_origins);
  member("allowed_hosts", serve.allowed_hosts);
  member("plugin_rescan", serve.plugin_rescan);
  member("plugin_settle", serve.plugin_settle);
  writer.EndObject();

  writer.Key("providers");
  writer.StartObject();
  for (const auto &[provider, entries] : values_by_provider(config)) {
    json_string(writer, provider);
    writer.StartObject();
    for (const ProviderValue *entry : entries) {
      json_string(writer, entry->key);
      json_value(writer, masked(entry->value.value, is_secret(entry->key)), entry->value.source);
    }
    writer.EndObject();
  }
  writer.EndObject();

  writer.Key("environment");
  writer.StartObject();
  for (const auto &[variable, entry] : config.provider_values) {
    if (has_provider(entry)) continue;
    json_string(writer, variable);
    json_value(writer, masked(entry.value.value, is_secret(variable)), entry.value.source);
  }
  writer.EndObject();

  writer.Key("models");
  writer.StartObject();
  for (const auto &[model, providers] : config.model_fallbacks) {
    json_string(writer, model);
    json_value(writer, providers.value, providers.source);
  }
  writer.EndObject();

  writer.Key("instances");
  writer.StartArray();
  for (const Instance &instance : config.instances) {
    writer.StartObject();
    for (const auto &[key, value] :
         {std::pair{"name", &instance.name}, std::pair{"plugin", &instance.plugin},
          std::pair{"base_url", &instance.base_url}, std::pair{"api_key_env", &instance.api_key_env}}) {
      writer.Key(key);
      json_string(writer, *value);
    }
    writer.Key("models");
    writer.StartArray();
    for (const auto &model : instance.models) json_string(writer, model);
    writer.EndArray();
    writer.Key("source");
    json_string(writer, source_name(instance.source));
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

}  // namespace provhost::host::config

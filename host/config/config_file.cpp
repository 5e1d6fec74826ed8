// The configuration file: TOML read with toml++, checked key by key. Any mistake (syntax, an
// unknown key, a wrong type, a bad value) is one Error naming the file, line and column, so that a
// typo is never silently ignored.
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <provhost/core/host_services.hpp>
#include <provhost/text.hpp>
#include <set>

#include "config.hpp"
#include "limits.hpp"
#include "validation.hpp"

namespace provhost::host::config {
namespace {

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

class FileReader {
 public:
  FileReader(const std::filesystem::path &file, Config &config, const UpstreamParsers &parsers)
      : file_(file), file_name_(file.filename().string()), config_(config), parsers_(parsers) {}

  void read(const toml::table &root) {
    for (auto &&[key, node] : root) {
      const std::string name(key.str());
      if (name == "plugin_dirs") {
        for (const std::string &folder : strings(node, name)) {
          std::filesystem::path path(folder);
          // Relative to the file, so that a file means the same whatever the working folder.
          if (path.is_relative()) path = (file_.parent_path() / path).lexically_normal();
          config_.plugin_dirs.push_back({path, source_of(node)});
        }
      } else if (name == "proxy") {
        std::string proxy = string(node, name);
        if (auto error = check_proxy(proxy)) fail(node, "proxy: " + *error);
        config_.proxy.set(proxy, source_of(node));
      } else if (name == "log_level") {
        std::string level = string(node, name);
        if (!log_level_from_name(level))
          fail(node, "log_level must be debug, info, warning or error, got " + in_quotes(level));
        config_.log_level.set(level, source_of(node));
      } else if (name == "backoff_scale") {
        config_.backoff_scale.set(number(node, name, "a number >= 0"), source_of(node));
      } else if (name == "provider_order") {
        std::vector<std::string> order = strings(node, name);
        for (size_t i = 0; i < order.size(); ++i) check_provider_name(*node.as_array()->get(i), order[i]);
        config_.provider_order.set(std::move(order), source_of(node));
      } else if (name == "timeouts") {
        read_timeouts(table(node, name));
      } else if (name == "limits") {
        read_limits(table(node, name));
      } else if (name == "upstreams") {
        read_upstreams(table(node, name));
      } else if (name == "serve") {
        read_serve(table(node, name));
      } else if (name == "providers") {
        read_providers(table(node, name));
      } else if (name == "models") {
        read_models(table(node, name));
      } else if (name == "instances") {
        read_instances(node);
      } else if (name == "isolation") {
        std::string mode = string(node, name);
        if (auto error = check_isolation(mode)) fail(node, *error);
        config_.isolation.mode.set(mode, source_of(node));
      } else if (name == "scan_timeout" || name == "plugin_timeout") {
        auto &target = name == "scan_timeout" ? config_.isolation.scan_timeout : config_.isolation.plugin_timeout;
        target.set(number(node, name, "a number of seconds > 0", true), source_of(node));
      } else if (name == "scan_jobs") {
        double jobs = number(node, name, "a whole number from 1 to 256", true);
        if (jobs != std::floor(jobs) || jobs > 256) fail(node, name + " must be a whole number from 1 to 256");
        config_.isolation.scan_jobs.set(static_cast<std::uint64_t>(jobs), source_of(node));
      } else if (name == "plugin_memory") {
        std::optional<std::uint64_t> bytes = node.is_string() ? parse_bytes(node.as_string()->get())
                                             : node.is_integer() && node.as_integer()->get() >= 0
                                                 ? std::optional<std::uint64_t>(node.as_integer()->get())
                                                 : std::nullopt;
        if (!bytes || (*bytes != 0 && *bytes < minimum_plugin_memory))
          fail(node, "plugin_memory must be 0 or at least 64M (bytes, or a string with K, M, G)");
        config_.isolation.plugin_memory.set(*bytes, source_of(node));
      } else if (name == "plugin_cache") {
        std::filesystem::path folder(string(node, name));
        if (folder != "off" && folder.is_relative()) folder = (file_.parent_path() / folder).lexically_normal();
        config_.isolation.plugin_cache.set(folder, source_of(node));
      } else {
        unknown(key, "");
      }
    }
  }

 private:
  [[noreturn]] void fail(const toml::source_region &where, const std::string &what) const {
    throw Error("error: " + file_.string() + ":" + std::to_string(where.begin.line) + ":" +
                std::to_string(where.begin.column) + ": " + one_line(what));
  }
  [[noreturn]] void fail(const toml::node &node, const std::string &what) const { fail(node.source(), what); }
  [[noreturn]] void unknown(const toml::key &key, const std::string &table_name) const {
    std::string full = table_name.empty() ? std::string(key.str()) : table_name + "." + std::string(key.str());
    fail(key.source(), "unknown key " + in_quotes(full));
  }

  Source source_of(const toml::node &node) const {
    return {Source::Kind::file, file_name_ + ":" + std::to_string(node.source().begin.line)};
  }

  const toml::table &table(const toml::node &node, const std::string &name) const {
    if (!node.is_table()) fail(node, name + " must be a table");
    return *node.as_table();
  }
  std::string string(const toml::node &node, const std::string &name) const {
    if (!node.is_string()) fail(node, name + " must be a string");
    return node.as_string()->get();
  }
  std::vector<std::string> strings(const toml::node &node, const std::string &name) const {
    if (!node.is_array()) fail(node, name + " must be an array of strings");
    std::vector<std::string> out;
    for (const toml::node &item : *node.as_array()) {
      if (!item.is_string() || item.as_string()->get().empty())
        fail(item, name + " must be an array of non-empty strings");
      out.push_back(item.as_string()->get());
    }
    return out;
  }
  // A number of any TOML kind, at least 0 (or above 0 when `positive`), finite and at most 1e9.
  double number(const toml::node &node, const std::string &name, const std::string &expected,
                bool positive = false) const {
    double value = 0;
    if (const auto *integer = node.as_integer())
      value = static_cast<double>(integer->get());
    else if (const auto *floating = node.as_floating_point())
      value = floating->get();
    else
      fail(node, name + " must be " + expected);
    if (!std::isfinite(value) || value < 0 || (positive && value == 0) || value > 1e9)
      fail(node, name + " must be " + expected);
    return value;
  }
  void check_provider_name(const toml::node &where, const std::string &name) const {
    if (!is_provider_name(name))
      fail(where, "invalid provider name " + in_quotes(name) + " (allowed: A-Z a-z 0-9 _ -)");
  }
  void check_provider_name(const toml::key &where, const std::string &name) const {
    if (!is_provider_name(name))
      fail(where.source(), "invalid provider name " + in_quotes(name) + " (allowed: A-Z a-z 0-9 _ -)");
  }

  void read_timeouts(const toml::table &timeouts) {
    const std::string seconds = "a number of seconds >= 0";
    for (auto &&[key, node] : timeouts) {
      const std::string name(key.str()), full = "timeouts." + name;
      Value<double> *target = name == "total"        ? &config_.timeouts.total
                              : name == "connect"    ? &config_.timeouts.connect
                              : name == "first_byte" ? &config_.timeouts.first_byte
                              : name == "idle"       ? &config_.timeouts.idle
                                                     : nullptr;
      if (!target) unknown(key, "timeouts");
      target->set(number(node, full, seconds), source_of(node));
    }
  }

  void read_upstreams(const toml::table &upstreams) {
    for (auto &&[key, node] : upstreams) {
      const std::string name(key.str());
      check_provider_name(key, name);
      core::Result<std::string> origin = parsers_.origin(string(node, "upstreams." + name));
      if (!origin) fail(node, "upstreams." + name + ": " + origin.error().detail);
      config_.upstreams[upstream_variable(name)] = {name, {*origin, source_of(node)}};
    }
  }

  void read_limits(const toml::table &limits) {
    for (auto &&[key, node] : limits) {
      const std::string name(key.str());
      const auto &options = limit_options();
      if (std::none_of(options.begin(), options.end(), [&](const LimitOption &o) { return o.key == name; }))
        unknown(key, "limits");
      const auto *count = node.as_integer();
      if (!count || count->get() <= 0) fail(node, "limits." + name + " must be a whole number > 0");
      config_.limits[name].set(static_cast<std::uint64_t>(count->get()), source_of(node));
    }
  }

  void read_serve(const toml::table &serve) {
    ServeSettings &settings = config_.serve;
    for (auto &&[key, node] : serve) {
      const std::string name(key.str()), full = "serve." + name;
      if (name == "listen") {
        std::string listen = string(node, full);
        if (auto error = check_listen(listen)) fail(node, full + ": " + *error);
        settings.listen.set(listen, source_of(node));
      } else if (name == "api_key") {
        settings.api_key.set(string(node, full), source_of(node));
      } else if (name == "client_timeout") {
        settings.client_timeout.set(number(node, full, "a number of seconds > 0", true), source_of(node));
      } else if (name == "shutdown_timeout") {
        settings.shutdown_timeout.set(number(node, full, "a number of seconds >= 0"), source_of(node));
      } else if (name == "plugin_rescan" || name == "plugin_settle") {
        auto &target = name == "plugin_rescan" ? settings.plugin_rescan : settings.plugin_settle;
        target.set(number(node, full, "a number of seconds >= 0"), source_of(node));
      } else if (name == "max_body") {
        const auto *bytes = node.as_integer();
        if (!bytes || bytes->get() <= 0) fail(node, full + " must be a number of bytes > 0");
        settings.max_body.set(static_cast<std::uint64_t>(bytes->get()), source_of(node));
      } else if (name == "quiet" || name == "drop_unsupported_params") {
        if (!node.is_boolean()) fail(node, full + " must be true or false");
        (name == "quiet" ? settings.quiet : settings.drop_unsupported_params)
            .set(node.as_boolean()->get(), source_of(node));
      } else if (name == "max_header_bytes" || name == "max_connections" || name == "max_stream_backlog") {
        const auto *count = node.as_integer();
        if (!count || count->get() <= 0) fail(node, full + " must be a whole number > 0");
        auto &target = name == "max_header_bytes"  ? settings.max_header_bytes
                       : name == "max_connections" ? settings.max_connections
                                                   : settings.max_stream_backlog;
        target.set(static_cast<std::uint64_t>(count->get()), source_of(node));
      } else if (name == "cors_origins" || name == "allowed_hosts") {
        const bool origins = name == "cors_origins";
        std::vector<std::string> items = strings(node, full);
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (auto error = origins ? check_cors_origin(items[i]) : check_allowed_host(items[i]))
            fail(*node.as_array()->get(i), full + ": " + *error);
        }
        (origins ? settings.cors_origins : settings.allowed_hosts).set(std::move(items), source_of(node));
      } else {
        unknown(key, "serve");
      }
    }
  }

  void read_providers(const toml::table &providers) {
    for (auto &&[provider_key, provider_node] : providers) {
      const std::string provider(provider_key.str());
      check_provider_name(provider_key, provider);
      for (auto &&[key, node] : table(provider_node, "providers." + provider)) {
        const std::string name(key.str());
        std::string value = string(node, "providers." + provider + "." + name);
        config_.provider_values[core::config_variable(provider, name)] = {provider, name, {value, source_of(node)}};
      }
    }
  }

  void read_models(const toml::table &models) {
    for (auto &&[key, node] : models) {
      const std::string model(key.str()), full = "models." + in_quotes(model);
      std::vector<std::string> providers = strings(node, full);
      if (providers.empty()) fail(node, full + " must list at least one provider");
      for (size_t i = 0; i < providers.size(); ++i) check_provider_name(*node.as_array()->get(i), providers[i]);
      config_.model_fallbacks.emplace_back(model, Value<std::vector<std::string>>{providers, source_of(node)});
    }
  }

  void read_instances(const toml::node &node) {
    const toml::array *instances = node.as_array();
    if (!instances || !instances->is_array_of_tables())
      fail(node, "instances must be an array of tables ([[instances]])");
    std::set<std::string> names;
    for (size_t index = 0; index < instances->size(); ++index) {
      const toml::table &table = *instances->get(index)->as_table();
      const std::string where = "instances[" + std::to_string(index) + "]";
      Instance instance;
      instance.source = source_of(table);
      for (auto &&[key, value] : table) {
        const std::string name(key.str()), full = where + "." + name;
        if (name == "name") {
          instance.name = string(value, full);
          check_provider_name(value, instance.name);
        } else if (name == "plugin") {
          instance.plugin = string(value, full);
          check_provider_name(value, instance.plugin);
        } else if (name == "base_url") {
          instance.base_url = string(value, full);
          if (auto error = check_base_url(instance.base_url)) fail(value, full + ": " + *error);
        } else if (name == "api_key_env") {
          instance.api_key_env = string(value, full);
          if (!is_variable_name(instance.api_key_env))
            fail(value,
                 full + " must be the name of an environment variable (A-Z a-z 0-9 _, not starting with a digit)");
        } else if (name == "models") {
          instance.models = strings(value, full);
        } else {
          unknown(key, where);
        }
      }
      for (const auto &[field, present] :
           {std::pair{"name", !instance.name.empty()}, std::pair{"plugin", !instance.plugin.empty()},
            std::pair{"base_url", !instance.base_url.empty()}}) {
        if (!present) fail(table, where + " has no " + field);
      }
      std::string folded = upstream_variable(instance.name);
      if (!names.insert(folded).second)
        fail(table, where + ": another instance is already named " + in_quotes(instance.name));
      config_.instances.push_back(std::move(instance));
    }
  }

  const std::filesystem::path &file_;
  const std::string file_name_;
  Config &config_;
  const UpstreamParsers &parsers_;
};

}  // namespace

void read_config_file(const std::filesystem::path &file, Config &config, const UpstreamParsers &parsers) {
  std::error_code ignored;
  if (std::filesystem::is_directory(file, ignored))
    throw Error("error: cannot read configuration file " + file.string() + ": it is a directory");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("error: cannot read configuration file " + file.string() + ": " + std::strerror(errno));
  std::string text(std::istreambuf_iterator<char>(in), {});
  if (in.bad()) throw Error("error: cannot read configuration file " + file.string() + ": " + std::strerror(errno));
  toml::table root;
  try {
    root = toml::parse(text, file.string());
  } catch (const toml::parse_error &e) {
    const toml::source_region &where = e.source();
    throw Error("error: " + file.string() + ":" + std::to_string(where.begin.line) + ":" +
                std::to_string(where.begin.column) + ": " + one_line(std::string(e.description())));
  }
  FileReader(file, config, parsers).read(root);
}

}  // namespace provhost::host::config

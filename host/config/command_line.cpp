#include "command_line.hpp"

#include "limits.hpp"
#include "validation.hpp"

namespace provhost::host::config {
namespace {

const CLI::Validator seconds(
    [](const std::string &text) {
      return parse_seconds(text) ? std::string() : "expected seconds (a number >= 0), got " + text;
    },
    "");

const CLI::Validator memory_size(
    [](const std::string &text) {
      auto bytes = parse_bytes(text);
      return bytes && (*bytes == 0 || *bytes >= minimum_plugin_memory)
                 ? std::string()
                 : "expected 0 or at least 64M (bytes, or with K, M, G), got " + text;
    },
    "");

// An option that is recorded only when given, so that a lower source's value survives otherwise.
template <class T>
CLI::Option *add_optional(CLI::App &command, const std::string &name, std::optional<T> &target,
                          const std::string &description) {
  return command.add_option_function<T>(
      name, [&target](const T &value) { target = value; }, description);
}

}  // namespace

void add_global_options(CLI::App &app, CommandLine &command_line) {
  app.add_option_function<std::string>(
         "--config", [&command_line](const std::string &file) { command_line.config_file = file; },
         "Read the configuration from FILE (default: $XDG_CONFIG_HOME/provhost/config.toml, when it exists)")
      ->type_name("FILE");
  app.add_option("--plugin-dir", command_line.plugin_dirs, "Look for plugins in DIR first (repeatable)")
      ->type_name("DIR")
      ->expected(1)
      ->take_all();
  app.add_option("--upstream", command_line.upstreams, "Send provider NAME's requests to origin URL (repeatable)")
      ->type_name("NAME=URL")
      ->expected(1)
      ->take_all();
  add_limit_flags(app, command_line.limits, false);
  add_isolation_options(app, command_line);
}

void add_isolation_options(CLI::App &app, CommandLine &command_line) {
  add_optional(app, "--isolation", command_line.isolation,
               "Run plugin code in worker processes (process, the default) or in provhost itself (none)")
      ->type_name("MODE")
      ->check(CLI::IsMember({"process", "none"}));
  add_optional(app, "--scan-timeout", command_line.scan_timeout,
               "Seconds a plugin file may take to load for its metadata (default 5)")
      ->type_name("SEC")
      ->check(CLI::PositiveNumber);
  add_optional(app, "--scan-jobs", command_line.scan_jobs, "Plugin files loaded at once, each in a worker (default 4)")
      ->type_name("N")
      ->check(CLI::Range(1, 256));
  add_optional(app, "--plugin-timeout", command_line.plugin_timeout,
               "Seconds a plugin may take over one batch of calls before its worker is killed (default 10)")
      ->type_name("SEC")
      ->check(CLI::PositiveNumber);
  add_optional(app, "--plugin-memory", command_line.plugin_memory,
               "Memory a plugin worker may map, in bytes or with K, M, G; 0 = no limit (default 1G)")
      ->type_name("BYTES")
      ->check(memory_size);
  add_optional(app, "--plugin-cache", command_line.plugin_cache,
               "Folder of the plugin scan cache, or 'off' (default $XDG_CACHE_HOME/provhost, ~/.cache/provhost)")
      ->type_name("DIR");
}

void add_engine_options(CLI::App &command, CommandLine &command_line) {
  add_optional(command, "--timeout", command_line.timeout,
               "Give up after SEC seconds in all; a plugin may only shorten it (default 120)")
      ->type_name("SEC")
      ->check(seconds);
  add_optional(command, "--connect-timeout", command_line.connect_timeout,
               "Seconds to wait for a connection (default 10)")
      ->type_name("SEC")
      ->check(seconds);
  add_optional(command, "--first-byte-timeout", command_line.first_byte_timeout,
               "Seconds to wait for the first byte (default 60)")
      ->type_name("SEC")
      ->check(seconds);
  add_optional(command, "--idle-timeout", command_line.idle_timeout,
               "Seconds without data before a stream is stalled (default 30)")
      ->type_name("SEC")
      ->check(seconds);
  add_optional(command, "--proxy", command_line.proxy,
               "Proxy URL: http://, socks5://, socks5h:// (default: the proxy variables)")
      ->type_name("URL");
  add_limit_flags(command, command_line.limits, true);
}

void add_serve_options(CLI::App &serve, CommandLine &command_line) {
  add_optional(serve, "--listen", command_line.listen,
               "Address to listen on; port 0 picks a free one (default 127.0.0.1:8080)")
      ->type_name("HOST:PORT");
  add_optional(serve, "--api-key", command_line.api_key,
               "Require 'Authorization: Bearer KEY' (default: PROVHOST_API_KEY)")
      ->type_name("KEY");
  add_optional(serve, "--client-timeout", command_line.client_timeout,
               "Seconds a client may take to send a request, stay idle, or accept a write (default 30)")
      ->type_name("SEC")
      ->check(CLI::PositiveNumber);
  add_optional(serve, "--shutdown-timeout", command_line.shutdown_timeout,
               "Seconds that answers in flight may take to finish after SIGINT or SIGTERM (default 30)")
      ->type_name("SEC")
      ->check(CLI::NonNegativeNumber);
  add_optional(serve, "--max-body", command_line.max_body, "Largest request body accepted, in bytes (default 4194304)")
      ->type_name("BYTES")
      ->check(CLI::PositiveNumber);
  serve.add_flag("--quiet", command_line.quiet, "No access log on stderr");
  serve.add_flag("--drop-unsupported-params", command_line.drop_unsupported_params,
                 "Ignore request parameters no provider delivers (n > 1, logprobs, tools when no candidate "
                 "provider declares them, ...) with a warning in the log, instead of answering 400 "
                 "unsupported_parameter");
  add_optional(serve, "--max-header-bytes", command_line.max_header_bytes,
               "Largest request header accepted, in bytes (default 16384)")
      ->type_name("BYTES")
      ->check(CLI::PositiveNumber);
  add_optional(serve, "--max-connections", command_line.max_connections,
               "Client connections open at once; beyond it a new one gets a 503 (default 1024)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  add_optional(serve, "--max-stream-backlog", command_line.max_stream_backlog,
               "Bytes of answer a streaming client may lag behind before it is cut (default 1048576)")
      ->type_name("BYTES")
      ->check(CLI::PositiveNumber);
  serve
      .add_option("--cors-origin", command_line.cors_origins,
                  "Let web pages from ORIGIN (https://host[:port], or * for any) call the API (repeatable)")
      ->type_name("ORIGIN")
      ->expected(1)
      ->take_all();
  serve
      .add_option("--allowed-host", command_line.allowed_hosts,
                  "Answer requests for Host NAME too when listening on loopback (repeatable)")
      ->type_name("NAME")
      ->expected(1)
      ->take_all();
  add_optional(serve, "--plugin-rescan", command_line.plugin_rescan,
               "Seconds between rescans of the plugin folders, behind the system's change reports; 0 = none "
               "(default 10; SIGHUP rescans at once)")
      ->type_name("SEC")
      ->check(CLI::NonNegativeNumber);
  add_optional(serve, "--plugin-settle", command_line.plugin_settle,
               "Seconds a new or changed plugin file must stay unchanged before it is loaded (default 0.5)")
      ->type_name("SEC")
      ->check(CLI::NonNegativeNumber);
}

}  // namespace provhost::host::config

// provhost serve, in the engine module (engine_module.hpp): its options come from the configuration
// (host/config/), then the serve library (provhost/serve/serve.hpp) does the rest.
#include <cmath>
#include <iostream>
#include <provhost/core/chat.hpp>
#include <provhost/core/recording.hpp>
#include <provhost/serve/serve.hpp>

#include "engine_module.hpp"

namespace provhost::host {
namespace {

std::chrono::milliseconds milliseconds(double seconds) {
  return std::chrono::milliseconds(std::llround(seconds * 1000));
}

}  // namespace

int run_serve(const GlobalOptions &global, const ServeOptions &options) {
  const config::ServeSettings &settings = global.config.serve;
  std::string error;
  serve::ServerOptions server_options;
  auto endpoint = serve::parse_listen(settings.listen.value, error);
  if (!endpoint) {
    std::cerr << "provhost: --listen: " << error << "\n";
    return exit_usage;
  }
  server_options.listen = *endpoint;
  // An empty key given on purpose would silently turn authentication off.
  if (settings.api_key.value.empty() && settings.api_key.source.kind != config::Source::Kind::default_value) {
    std::cerr << "provhost: the API key (" << settings.api_key.source.describe()
              << ") is empty: leave it out to serve without a key\n";
    return exit_usage;
  }
  if (settings.api_key.value.empty() && !endpoint->address().is_loopback()) {
    std::cerr << "provhost: warning: serving on " << settings.listen.value
              << " without an API key: anyone who can reach it can use every provider\n";
  }
  server_options.api_key = settings.api_key.value;
  server_options.client_timeout = milliseconds(settings.client_timeout.value);
  server_options.shutdown_timeout = milliseconds(settings.shutdown_timeout.value);
  server_options.max_body_bytes = static_cast<std::size_t>(settings.max_body.value);
  server_options.max_header_bytes = static_cast<std::size_t>(settings.max_header_bytes.value);
  server_options.max_connections = static_cast<std::size_t>(settings.max_connections.value);
  server_options.max_stream_backlog = static_cast<std::size_t>(settings.max_stream_backlog.value);
  server_options.cross_site = {settings.cors_origins.value, settings.allowed_hosts.value};
  server_options.access_log = !settings.quiet.value;
  server_options.drop_unsupported_params = settings.drop_unsupported_params.value;

  core::Registry registry(host_settings(global));
  registry.pin_versions();  // the folders are watched: files change under the versions in use
  load_plugins(registry, global);
  for (const auto &rejected : registry.rejected()) {
    std::cerr << "provhost: skipped " << rejected.file.string() << ": " << rejected.reason << "\n";
  }
  if (registry.providers().empty()) std::cerr << "provhost: warning: no providers loaded\n";
  serve::PluginWatchSettings watch;
  watch.folders = plugin_folders(global);
  watch.options.rescan_period = milliseconds(settings.plugin_rescan.value);
  watch.options.settle = milliseconds(settings.plugin_settle.value);
  try {
    core::EngineOptions engine_options = config::engine_options(global.config);
    if (!options.record_dir.empty()) engine_options.recorder = core::har_folder_recorder(options.record_dir);
    serve::run(registry, std::move(engine_options), std::move(server_options), watch);
  } catch (const serve::ListenError &e) {
    std::cerr << "provhost: cannot listen on " << settings.listen.value << ": " << e.code().message() << "\n";
    return exit_internal_error;
  }
  return exit_ok;
}

}  // namespace provhost::host

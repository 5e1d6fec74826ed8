// provhost serve: its options, then the serve library (provhost/serve/serve.hpp) does the rest.
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <provhost/core/chat.hpp>
#include <provhost/core/retry.hpp>
#include <provhost/core/upstream.hpp>
#include <provhost/serve/serve.hpp>

#include "commands.hpp"

namespace provhost::host {
namespace {

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";
  std::string api_key;
  double client_timeout_sec = 30;
  double shutdown_timeout_sec = 30;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  bool quiet = false;
};

std::chrono::milliseconds milliseconds(double seconds) {
  return std::chrono::milliseconds(std::llround(seconds * 1000));
}

int run_serve(const GlobalOptions &global, const ServeOptions &options) {
  std::string error;
  serve::ServerOptions server_options;
  auto endpoint = serve::parse_listen(options.listen, error);
  if (!endpoint) {
    std::cerr << "provhost: --listen: " << error << "\n";
    return exit_usage;
  }
  server_options.listen = *endpoint;
  server_options.api_key = options.api_key;
  if (const char *key = std::getenv("PROVHOST_API_KEY"); server_options.api_key.empty() && key) {
    server_options.api_key = key;
  }
  server_options.client_timeout = milliseconds(options.client_timeout_sec);
  server_options.shutdown_timeout = milliseconds(options.shutdown_timeout_sec);
  server_options.max_body_bytes = options.max_body_bytes;
  server_options.access_log = !options.quiet;

  core::EngineOptions engine_options;
  auto upstreams = core::parse_upstreams(upstream_origins(global), error);
  auto backoff_scale = upstreams ? core::backoff_scale_from_environment(error) : std::nullopt;
  if (!upstreams || !backoff_scale) {
    std::cerr << "provhost: " << error << "\n";
    return exit_usage;
  }
  engine_options.upstreams = std::move(*upstreams);
  engine_options.backoff_scale = *backoff_scale;

  core::Registry registry;
  load_plugins(registry, global);
  for (const auto &rejected : registry.rejected()) {
    std::cerr << "provhost: skipped " << rejected.file.string() << ": " << rejected.reason << "\n";
  }
  if (registry.providers().empty()) std::cerr << "provhost: warning: no providers loaded\n";
  try {
    serve::run(registry, std::move(engine_options), std::move(server_options));
  } catch (const serve::ListenError &e) {
    std::cerr << "provhost: cannot listen on " << options.listen << ": " << e.code().message() << "\n";
    return exit_internal_error;
  }
  return exit_ok;
}

}  // namespace

Command add_serve_command(CLI::App &app, const GlobalOptions &global) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App *serve = app.add_subcommand("serve", "Serve every loaded provider through an OpenAI-compatible HTTP API");
  serve->add_option("--listen", options->listen, "Address to listen on (port 0 picks a free one)")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  serve->add_option("--api-key", options->api_key, "Require 'Authorization: Bearer KEY' (default: PROVHOST_API_KEY)")
      ->type_name("KEY");
  serve
      ->add_option("--client-timeout", options->client_timeout_sec,
                   "Seconds a client may take to send a request, stay idle, or accept a write")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve
      ->add_option("--shutdown-timeout", options->shutdown_timeout_sec,
                   "Seconds that answers in flight may take to finish after SIGINT or SIGTERM")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve->add_option("--max-body", options->max_body_bytes, "Largest request body accepted, in bytes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  serve->add_flag("--quiet", options->quiet, "No access log on stderr");
  return {serve, [&global, options] { return run_serve(global, *options); }};
}

}  // namespace provhost::host

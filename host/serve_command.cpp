// provhost serve: the OpenAI-compatible HTTP server over every loaded provider (serve_server.hpp).
// The engine runs on its own thread, the server on this one; SIGINT or SIGTERM drains the server
// (a second one cuts it short), then the process exits 0.
#include <sys/resource.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/retry.hpp>
#include <provhost/core/upstream.hpp>
#include <thread>

#include "commands.hpp"
#include "json_output.hpp"
#include "serve_openai.hpp"
#include "serve_server.hpp"

namespace provhost::host {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";
  std::string api_key;
  double client_timeout_sec = 30;
  double shutdown_timeout_sec = 30;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  bool quiet = false;
};

// HOST:PORT, [IPv6]:PORT or :PORT (on 127.0.0.1); a host name is resolved to its first address.
std::optional<tcp::endpoint> parse_listen(const std::string &text, std::string &error) {
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos) {
      error = "expected [IPv6]:PORT, got \"" + text + "\"";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      error = "expected HOST:PORT, got \"" + text + "\"";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) host = "127.0.0.1";
  char *end = nullptr;
  long number = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end || number < 0 || number > 65535) {
    error = "the port in \"" + text + "\" must be a number from 0 to 65535";
    return std::nullopt;
  }
  net::io_context io;
  boost::system::error_code ec;
  auto results = tcp::resolver(io).resolve(host, port, tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    error = "cannot resolve \"" + host + "\": " + ec.message();
    return std::nullopt;
  }
  return results.begin()->endpoint();
}

std::string url_of(const tcp::endpoint &endpoint) {
  auto address = endpoint.address();
  std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return "http://" + host + ":" + std::to_string(endpoint.port());
}

// Every stream holds a client socket and an upstream one: the default soft limit of 1024 open
// files would cap the server near 500 streams.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::chrono::milliseconds milliseconds(double seconds) {
  return std::chrono::milliseconds(std::llround(seconds * 1000));
}

int run_serve(const GlobalOptions &global, const ServeOptions &options) {
  std::string error;
  serve::ServerOptions server_options;
  auto endpoint = parse_listen(options.listen, error);
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
  auto backoff_scale = upstreams ? backoff_scale_from_environment(error) : std::nullopt;
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
  serve::Catalog catalog{serve::models_json(registry.providers(), std::time(nullptr)), providers_json(registry)};

  // A reader of the access log or of stdout that goes away must not end the server.
  std::signal(SIGPIPE, SIG_IGN);
  raise_open_file_limit();
  core::Engine engine(registry, std::move(engine_options));
  net::io_context io(1);
  std::optional<serve::Server> server;
  try {
    auto submit = [&engine](core::ChatSpec spec, std::shared_ptr<core::ChatSink> sink) {
      return engine.submit(std::move(spec), std::move(sink));
    };
    server.emplace(io, server_options, submit, std::move(catalog));
  } catch (const boost::system::system_error &e) {
    std::cerr << "provhost: cannot listen on " << options.listen << ": " << e.code().message() << "\n";
    return exit_internal_error;
  }
  std::thread engine_thread([&engine] { engine.run(); });

  net::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int) {
    if (ec) return;
    server->shutdown();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  server->start([&signals] { signals.cancel(); });
  std::cout << "listening on " << url_of(server->local_endpoint()) << std::endl;

  io.run();
  engine.stop();
  engine_thread.join();
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

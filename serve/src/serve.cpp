#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <optional>
#include <provhost/core/catalogue.hpp>
#include <provhost/core/plugin_watch.hpp>
#include <provhost/serve/openai.hpp>
#include <provhost/serve/serve.hpp>
#include <thread>

namespace provhost::serve {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

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

Catalog catalog_of(const core::RegistrySnapshot &loaded) {
  const std::vector<core::ModelEntry> models = core::model_catalogue(loaded.providers);
  const std::time_t now = std::time(nullptr);
  return {models_json(models, now), core::providers_json(loaded),
          std::any_of(loaded.providers.begin(), loaded.providers.end(),
                      [](const auto &provider) { return provider->meta.working; }),
          model_objects(models, now)};
}

}  // namespace

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

void run(core::Registry &registry, core::EngineOptions engine_options, ServerOptions options,
         const PluginWatchSettings &watch) {
  Catalog catalog = catalog_of(*registry.snapshot());
  const LogWriter log = options.log;
  const bool access_log = options.access_log;

  // A reader of the access log or of stdout that goes away must not end the server.
  std::signal(SIGPIPE, SIG_IGN);
  raise_open_file_limit();
  core::Engine engine(registry, std::move(engine_options));
  net::io_context io(1);
  auto submit = [&engine](core::ChatSpec spec, std::shared_ptr<core::ChatSink> sink) {
    return engine.submit(std::move(spec), std::move(sink));
  };
  std::optional<Server> server;
  try {
    auto resolve = [&registry](std::string_view provider, std::string_view model) {
      return registry.resolve(provider, model);
    };
    server.emplace(io, std::move(options), submit, resolve, std::move(catalog));
  } catch (const boost::system::system_error &e) {
    throw ListenError(e.code());
  }
  std::thread engine_thread([&engine] { engine.run(); });

  net::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int) {
    if (ec) return;
    server->shutdown();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  // The watcher's thread publishes new snapshots; the engine resolves each chat on the one current
  // when it starts, and the catalog endpoints answer from the one the watcher saw last.
  std::optional<core::PluginWatcher> watcher;
  if (!watch.folders.empty()) {
    watcher.emplace(registry, watch.folders, watch.options, [&](const std::vector<core::PluginEvent> &events) {
      server->set_catalog(catalog_of(*registry.snapshot()));
      for (const auto &event : events) {
        server->metrics().plugin_event(core::to_string(event.kind));
        log(plugin_event_line(event));
        if (access_log) log(plugin_access_line(event));
      }
    });
  }
  net::signal_set hangup(io, SIGHUP);
  std::function<void(boost::system::error_code, int)> on_hangup = [&](boost::system::error_code ec, int) {
    if (ec) return;
    if (watcher) watcher->rescan();
    hangup.async_wait(on_hangup);
  };
  hangup.async_wait(on_hangup);

  server->start([&signals, &hangup] {
    signals.cancel();
    hangup.cancel();
  });
  std::cout << "listening on " << url_of(server->local_endpoint()) << std::endl;

  io.run();
  watcher.reset();
  engine.stop();
  engine_thread.join();
}

}  // namespace provhost::serve

// server.hpp: the OpenAI-compatible HTTP server of `provhost serve`, on Boost.Beast.
//
// One io_context thread serves every connection (the engine has the other core); chats run on the
// engine's thread and reach their connection through a ChatBridge, so nothing blocks either loop.
// The parts: HttpConnection (HTTP only), Router (the route table), the handlers (one per
// endpoint), ChatBridge (a chat's answer as JSON or server-sent events) and the access log.
//
// Limits: request headers and body sizes (431, 413, both known before the body is read), open
// connections (503 at once beyond it), a client timeout for reading a request, for an idle
// keep-alive connection and for every write (a client that stops reading is dropped and its chat
// cancelled), and a bound on what a streaming client may lag behind. Host, Origin and CORS are
// checked as cross_site.hpp says, the key and Content-Type before the body too (router.hpp).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <provhost/serve/access_log.hpp>
#include <provhost/serve/catalog.hpp>
#include <provhost/serve/chat_bridge.hpp>
#include <provhost/serve/cross_site.hpp>
#include <provhost/serve/metrics.hpp>
#include <string>

namespace provhost::serve {

struct ServerOptions {
  boost::asio::ip::tcp::endpoint listen{boost::asio::ip::make_address("127.0.0.1"), 8080};
  std::string api_key;  // "" = no authentication
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  std::size_t max_connections = 1024;  // open client connections; beyond it a new one gets a 503
  CrossSiteOptions cross_site;
  std::chrono::milliseconds client_timeout{30'000};
  std::size_t max_stream_backlog = 1024 * 1024;  // bytes of events a slow client may lag behind
  std::chrono::milliseconds shutdown_timeout{30'000};
  bool drop_unsupported_params = false;  // ignore (and log) parameters no provider delivers, instead of a 400
  bool access_log = true;                // one line per request, and one per chat warning
  LogWriter log = write_to_stderr;       // where those lines go
};

struct ServerState;

class Server {
 public:
  // Binds at once (throws boost::system::system_error when it cannot); serves once start() is called
  // and the io_context runs. `resolve` tells which providers a request could go to (see
  // route_gated_parameters), as the engine behind `submit` resolves them.
  Server(boost::asio::io_context &io, ServerOptions options, SubmitChat submit, ResolveCandidates resolve,
         Catalog catalog);
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const;

  // What the catalog endpoints answer from now on (the plugin folders changed); thread-safe.
  void set_catalog(Catalog catalog);
  // Counters of the server, for what happens beside requests (plugin events).
  Metrics &metrics();

  // Begins accepting; `on_stopped` runs once, on the io_context, when shutdown has finished.
  void start(std::function<void()> on_stopped = {});

  // Stops accepting and closes idle connections; requests in flight finish (streams included) until
  // the shutdown timeout, after which the rest are cut. When the last connection has closed the
  // server holds no more work, so io_context::run returns. A second call cuts at once.
  void shutdown();

 private:
  std::shared_ptr<ServerState> state_;
};

}  // namespace provhost::serve

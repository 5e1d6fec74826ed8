#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <optional>
#include <provhost/serve/handlers.hpp>
#include <provhost/serve/http_connection.hpp>
#include <provhost/serve/router.hpp>
#include <provhost/serve/server.hpp>
#include <unordered_set>
#include <vector>

namespace provhost::serve {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

HttpLimits limits_of(const ServerOptions &options) {
  return {options.max_header_bytes, options.max_body_bytes, options.client_timeout};
}

}  // namespace

struct ServerState : HttpService, std::enable_shared_from_this<ServerState> {
  ServerState(net::io_context &io, ServerOptions options, SubmitChat submit, ResolveCandidates resolve, Catalog catalog)
      : io(io),
        options(std::move(options)),
        catalog(std::make_shared<LiveCatalog>(std::move(catalog))),
        router(routes(std::move(submit), std::move(resolve)), this->options.api_key,
               CrossSitePolicy(this->options.listen.address(), this->options.cross_site)),
        acceptor(io),
        shutdown_timer(io),
        accept_retry(io) {}

  std::vector<Route> routes(SubmitChat submit, ResolveCandidates resolve) {
    ChatBridge::Settings chat_settings{options.max_stream_backlog, options.access_log ? options.log : LogWriter(),
                                       metrics};
    return {
        {http::verb::post, "/v1/chat/completions",
         chat_completions_handler(submit, resolve, chat_settings, options.drop_unsupported_params), true, true},
        {http::verb::post, "/v1/responses",
         responses_handler(std::move(submit), std::move(resolve), chat_settings, options.drop_unsupported_params), true,
         true},
        {http::verb::get, "/v1/models", models_handler(catalog)},
        {http::verb::get, "/v1/models/*", model_handler(catalog)},
        {http::verb::get, "/v1/providers", providers_handler(catalog)},
        {http::verb::get, "/metrics", metrics_handler(metrics)},
        {http::verb::get, "/health", health_handler([this] { return draining; }), false},
        {http::verb::get, "/health/ready", health_ready_handler([this] { return draining; }, catalog), false},
    };
  }

  bool on_request_header(const std::shared_ptr<HttpConnection> &connection, const HttpRequest &header) override {
    return router.screen(connection, header);
  }

  void on_request(const std::shared_ptr<HttpConnection> &connection, HttpRequest request) override {
    router.dispatch(connection, request);
  }

  void on_unreadable_request(const std::shared_ptr<HttpConnection> &connection, RequestProblem problem,
                             std::string_view detail) override {
    switch (problem) {
      case RequestProblem::body_too_large:
        return respond_error(
            *connection, {413, "The request body is larger than " + std::to_string(options.max_body_bytes) + " bytes.",
                          "invalid_request_error", "", "request_too_large"});
      case RequestProblem::headers_too_large:
        return respond_error(*connection, {431, "The request headers are too large.", "invalid_request_error", "", ""});
      case RequestProblem::malformed:
        return respond_error(*connection, {400, "Malformed HTTP request: " + std::string(detail) + ".",
                                           "invalid_request_error", "", ""});
      case RequestProblem::length_required:
        return respond_error(*connection, {411, "Send the request body with a Content-Length, not a Transfer-Encoding.",
                                           "invalid_request_error", "", ""});
    }
  }

  void on_exchange_end(const ExchangeSummary &summary) override {
    if (options.access_log) options.log(access_line(summary));
  }

  void on_connection_open(HttpConnection &connection) override { connections.insert(&connection); }

  void on_connection_closed(HttpConnection &connection) override {
    connections.erase(&connection);
    stop_if_drained();
  }

  void accept();
  void shutdown();
  void cut_all();
  void stop_if_drained();
  std::vector<std::shared_ptr<HttpConnection>> open_connections();

  net::io_context &io;
  const ServerOptions options;
  bool draining = false;
  const std::shared_ptr<Metrics> metrics = std::make_shared<Metrics>();  // before router: its routes use it
  const std::shared_ptr<LiveCatalog> catalog;                            // before router too
  const Router router;
  tcp::acceptor acceptor;
  net::steady_timer shutdown_timer;
  net::steady_timer accept_retry;
  std::chrono::milliseconds accept_backoff{0};  // > 0 while accept fails
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::function<void()> on_stopped;
  std::unordered_set<HttpConnection *> connections;
  bool stopped = false;
};

// Beyond this wait, a failing accept (out of descriptors) is retried no less often.
constexpr std::chrono::milliseconds longest_accept_backoff{1000};

void ServerState::accept() {
  acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
    if (self->draining || ec == net::error::operation_aborted) return;
    if (!ec) {
      if (self->accept_backoff.count() > 0) {
        self->accept_backoff = {};
        std::fprintf(stderr, "provhost serve: accepting connections again\n");
      }
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto connection = std::make_shared<HttpConnection>(std::move(socket), limits_of(self->options), self);
      if (self->connections.size() >= self->options.max_connections) {
        connection->start_refused(http::status::service_unavailable,
                                  error_json({503, "The server has too many connections open; try again later.",
                                              "server_error", "", "too_many_connections"}),
                                  "application/json");
      } else {
        connection->start();
      }
      return self->accept();
    }
    // Out of file descriptors, say: the connections already open go on, new ones wait in the
    // backlog until a retry (retrying at once would spin). Said once, not at every retry.
    if (self->accept_backoff.count() == 0) {
      std::fprintf(stderr, "provhost serve: accept: %s; retrying until it works\n", ec.message().c_str());
      self->accept_backoff = std::chrono::milliseconds(50);
    } else {
      self->accept_backoff = std::min(self->accept_backoff * 2, longest_accept_backoff);
    }
    self->accept_retry.expires_after(self->accept_backoff);
    self->accept_retry.async_wait([self](error_code ec) {
      if (!ec && !self->draining) self->accept();
    });
  });
}

// The set holds plain pointers (a connection removes itself as it is destroyed); callers hold them
// while they act, since closing one may destroy it.
std::vector<std::shared_ptr<HttpConnection>> ServerState::open_connections() {
  std::vector<std::shared_ptr<HttpConnection>> open;
  for (auto *connection : connections) {
    if (auto held = connection->weak_from_this().lock()) open.push_back(std::move(held));
  }
  return open;
}

void ServerState::shutdown() {
  if (draining) return cut_all();
  draining = true;
  error_code ignored;
  acceptor.close(ignored);
  for (auto &connection : open_connections()) connection->drain();
  shutdown_timer.expires_after(options.shutdown_timeout);
  shutdown_timer.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->cut_all();
  });
  stop_if_drained();
}

void ServerState::cut_all() {
  for (auto &connection : open_connections()) connection->cut("shutdown");
}

void ServerState::stop_if_drained() {
  if (!draining || stopped || !connections.empty()) return;
  stopped = true;
  shutdown_timer.cancel();
  accept_retry.cancel();
  work.reset();
  if (on_stopped) on_stopped();
}

Server::Server(net::io_context &io, ServerOptions options, SubmitChat submit, ResolveCandidates resolve,
               Catalog catalog)
    : state_(std::make_shared<ServerState>(io, std::move(options), std::move(submit), std::move(resolve),
                                           std::move(catalog))) {
  auto &acceptor = state_->acceptor;
  acceptor.open(state_->options.listen.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  acceptor.bind(state_->options.listen);
  acceptor.listen(net::socket_base::max_listen_connections);
}

Server::~Server() = default;

tcp::endpoint Server::local_endpoint() const { return state_->acceptor.local_endpoint(); }

void Server::set_catalog(Catalog catalog) { state_->catalog->set(std::move(catalog)); }

Metrics &Server::metrics() { return *state_->metrics; }

void Server::start(std::function<void()> on_stopped) {
  state_->on_stopped = std::move(on_stopped);
  state_->work.emplace(state_->io.get_executor());
  state_->accept();
}

void Server::shutdown() {
  net::post(state_->io, [state = state_] { state->shutdown(); });
}

}  // namespace provhost::serve

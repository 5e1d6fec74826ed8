#include <provhost/serve/handlers.hpp>

namespace provhost::serve {

RouteHandler metrics_handler(std::shared_ptr<const Metrics> metrics) {
  return [metrics = std::move(metrics)](const std::shared_ptr<HttpConnection> &connection, HttpRequest &) {
    connection->respond(http::status::ok, metrics->text(), "text/plain; version=0.0.4; charset=utf-8");
  };
}

}  // namespace provhost::serve

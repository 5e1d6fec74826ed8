#include <provhost/serve/handlers.hpp>

namespace provhost::serve {

RouteHandler health_handler(std::function<bool()> draining) {
  return [draining = std::move(draining)](const std::shared_ptr<HttpConnection> &connection, HttpRequest &) {
    if (draining()) return respond_json(*connection, http::status::service_unavailable, R"({"status":"draining"})");
    respond_json(*connection, http::status::ok, R"({"status":"ok"})");
  };
}

}  // namespace provhost::serve

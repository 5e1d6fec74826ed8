#include <provhost/serve/handlers.hpp>

namespace provhost::serve {

RouteHandler health_handler(std::function<bool()> draining) {
  return [draining = std::move(draining)](const std::shared_ptr<HttpConnection> &connection, HttpRequest &) {
    if (draining()) return respond_json(*connection, http::status::service_unavailable, R"({"status":"draining"})");
    respond_json(*connection, http::status::ok, R"({"status":"ok"})");
  };
}

RouteHandler health_ready_handler(std::function<bool()> draining, std::shared_ptr<const LiveCatalog> catalog) {
  return [draining = std::move(draining), catalog = std::move(catalog)](
             const std::shared_ptr<HttpConnection> &connection, HttpRequest &) {
    if (draining()) return respond_json(*connection, http::status::service_unavailable, R"({"status":"draining"})");
    if (!catalog->get()->any_working_provider) {
      return respond_json(*connection, http::status::service_unavailable, R"({"status":"no working provider"})");
    }
    respond_json(*connection, http::status::ok, R"({"status":"ready"})");
  };
}

}  // namespace provhost::serve

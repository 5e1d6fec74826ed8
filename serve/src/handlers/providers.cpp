#include <provhost/serve/handlers.hpp>

namespace provhost::serve {

RouteHandler providers_handler(std::shared_ptr<const LiveCatalog> catalog) {
  return [catalog = std::move(catalog)](const std::shared_ptr<HttpConnection> &connection, HttpRequest &) {
    respond_json(*connection, http::status::ok, catalog->get()->providers_json);
  };
}

}  // namespace provhost::serve

#include <provhost/serve/handlers.hpp>

namespace provhost::serve {

RouteHandler providers_handler(std::string providers_json) {
  return
      [providers_json = std::move(providers_json)](const std::shared_ptr<HttpConnection> &connection, HttpRequest &) {
        respond_json(*connection, http::status::ok, providers_json);
      };
}

}  // namespace provhost::serve

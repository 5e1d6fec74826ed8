#include <provhost/serve/handlers.hpp>

namespace provhost::serve {

RouteHandler models_handler(std::string models_json) {
  return [models_json = std::move(models_json)](const std::shared_ptr<HttpConnection> &connection, HttpRequest &) {
    respond_json(*connection, http::status::ok, models_json);
  };
}

}  // namespace provhost::serve

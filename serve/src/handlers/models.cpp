#include <algorithm>
#include <provhost/serve/handlers.hpp>

namespace provhost::serve {

RouteHandler models_handler(std::shared_ptr<const LiveCatalog> catalog) {
  return [catalog = std::move(catalog)](const std::shared_ptr<HttpConnection> &connection, HttpRequest &) {
    respond_json(*connection, http::status::ok, catalog->get()->models_json);
  };
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX sequences decoded; a '%' that starts none is kept as it is.
std::string percent_decoded(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace

RouteHandler model_handler(std::shared_ptr<const LiveCatalog> catalog) {
  return [catalog = std::move(catalog)](const std::shared_ptr<HttpConnection> &connection, HttpRequest &request) {
    constexpr std::string_view prefix = "/v1/models/";
    std::string_view target(request.target().data(), request.target().size());
    target = target.substr(0, target.find('?'));
    const std::string id = percent_decoded(target.substr(std::min(prefix.size(), target.size())));
    const std::shared_ptr<const Catalog> current = catalog->get();
    auto found = current->model_objects.find(id);
    if (found == current->model_objects.end()) return respond_error(*connection, model_not_found_error(id));
    respond_json(*connection, http::status::ok, found->second);
  };
}

}  // namespace provhost::serve

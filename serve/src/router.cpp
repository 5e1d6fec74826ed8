#include <provhost/serve/access_log.hpp>
#include <provhost/serve/router.hpp>
#include <provhost/text.hpp>
#include <utility>

namespace provhost::serve {
namespace {

namespace beast = boost::beast;

std::string_view std_view(beast::string_view s) { return {s.data(), s.size()}; }

// Secrets are compared in time independent of where they differ.
bool same_secret(std::string_view given, std::string_view expected) {
  if (expected.empty()) return false;
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    difference |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  }
  return difference == 0;
}

// application/json, with or without parameters (charset=utf-8, say).
bool is_json(std::string_view content_type) {
  std::string_view media_type = provhost::trim(content_type.substr(0, content_type.find(';')));
  return provhost::iequals(media_type, "application/json");
}

}  // namespace

void respond_json(HttpConnection &connection, http::status status, std::string body) {
  connection.respond(status, std::move(body), "application/json");
}

void respond_error(HttpConnection &connection, const ApiError &error, std::string_view allow) {
  connection.respond(static_cast<http::status>(error.status), error_json(error), "application/json", allow);
}

Router::Router(std::vector<Route> routes, std::string api_key, CrossSitePolicy cross_site)
    : routes_(std::move(routes)), api_key_(std::move(api_key)), cross_site_(std::move(cross_site)) {}

namespace {

bool path_matches(std::string_view pattern, std::string_view path) {
  if (!pattern.ends_with("/*")) return pattern == path;
  pattern.remove_suffix(1);
  return path.size() > pattern.size() && path.starts_with(pattern);
}

}  // namespace

const Route *Router::find(std::string_view path, http::verb method, bool &path_known, bool &path_needs_key) const {
  const Route *match = nullptr;
  path_known = false;
  path_needs_key = false;
  for (const auto &route : routes_) {
    if (!path_matches(route.path, path)) continue;
    path_known = true;
    path_needs_key = path_needs_key || route.needs_key;
    if (route.method == method || (method == http::verb::head && route.method == http::verb::get)) match = &route;
  }
  return match;
}

std::string Router::allowed_methods(std::string_view path) const {
  std::string allowed;
  for (const auto &route : routes_) {
    if (!path_matches(route.path, path)) continue;
    if (!allowed.empty()) allowed += ", ";
    allowed += std_view(http::to_string(route.method));
    if (route.method == http::verb::get) allowed += ", HEAD";
  }
  return allowed + ", OPTIONS";
}

bool Router::screen(const std::shared_ptr<HttpConnection> &connection, const HttpRequest &header) const {
  if (auto error = cross_site_.check_host(header)) {
    respond_error(*connection, *error);
    return false;
  }
  const auto origin = cross_site_.check_origin(header);
  const std::string_view origin_text = std_view(header[http::field::origin]);
  if (origin == CrossSitePolicy::Origin::refused) {
    respond_error(*connection, {403,
                                "Requests from origin " + printable(origin_text) +
                                    " are not allowed; allow an origin with --cors-origin.",
                                "invalid_request_error", "", "origin_not_allowed"});
    return false;
  }
  if (origin == CrossSitePolicy::Origin::listed) {
    connection->add_response_header("Access-Control-Allow-Origin", cross_site_.allow_origin(origin_text));
    connection->add_response_header("Access-Control-Expose-Headers", std::string(cors_exposed_headers));
    connection->add_response_header("Vary", "Origin");
  }

  std::string_view target = std_view(header.target());
  std::string_view path = target.substr(0, target.find('?'));
  bool path_known = false, path_needs_key = false;
  const Route *match = find(path, header.method(), path_known, path_needs_key);
  if (!path_known) {
    respond_error(
        *connection,
        {404, "Unknown request URL: " + printable(std_view(header.method_string())) + " " + printable(path) + ".",
         "invalid_request_error", "", "unknown_url"});
    return false;
  }
  // A browser's preflight never carries the key: it asks whether the real request may be sent.
  if (header.method() == http::verb::options && origin != CrossSitePolicy::Origin::none &&
      header.count(http::field::access_control_request_method) > 0) {
    connection->add_response_header("Access-Control-Allow-Methods", allowed_methods(path));
    connection->add_response_header("Access-Control-Allow-Headers", std::string(cors_allowed_headers));
    connection->add_response_header("Access-Control-Max-Age", std::to_string(preflight_max_age));
    connection->respond(http::status::no_content, {}, {});
    return false;
  }
  // A path that needs the key says nothing more (not even its methods) to a client without it.
  if ((match ? match->needs_key : path_needs_key) && !authorised(*connection, header)) return false;
  if (header.method() == http::verb::options) {
    connection->respond(http::status::no_content, {}, {}, allowed_methods(path));
    return false;
  }
  if (!match) {
    const std::string allowed = allowed_methods(path);
    respond_error(*connection,
                  {405,
                   "Method " + printable(std_view(header.method_string())) + " is not allowed on " + printable(path) +
                       "; use " + allowed + ".",
                   "invalid_request_error", "", "method_not_allowed"},
                  allowed);
    return false;
  }
  if (match->json_body && !is_json(std_view(header[http::field::content_type]))) {
    respond_error(*connection, {415, "Send the request body as 'Content-Type: application/json'.",
                                "invalid_request_error", "", "unsupported_media_type"});
    return false;
  }
  return true;
}

void Router::dispatch(const std::shared_ptr<HttpConnection> &connection, HttpRequest &request) const {
  std::string_view target = std_view(request.target());
  bool path_known = false, path_needs_key = false;
  const Route *match = find(target.substr(0, target.find('?')), request.method(), path_known, path_needs_key);
  // screen() let the request through, so its route exists; a request it never saw is not answered
  // by a handler that relies on its checks.
  if (!match) return respond_error(*connection, {500, "The request was not screened.", "server_error", "", ""});
  match->handler(connection, request);
}

bool Router::authorised(HttpConnection &connection, const HttpRequest &request) const {
  if (api_key_.empty()) return true;
  std::string_view given = std_view(request[http::field::authorization]);
  if (given.empty()) {
    respond_error(connection, {401, "You didn't provide an API key. Send it as the header 'Authorization: Bearer KEY'.",
                               "invalid_request_error", "", "invalid_api_key"});
    return false;
  }
  constexpr std::string_view scheme = "Bearer ";
  const beast::string_view scheme_name(scheme.data(), scheme.size());
  if (given.size() < scheme.size() || !beast::iequals(beast::string_view(given.data(), scheme.size()), scheme_name) ||
      !same_secret(given.substr(scheme.size()), api_key_)) {
    respond_error(connection, {401, "Incorrect API key provided.", "invalid_request_error", "", "invalid_api_key"});
    return false;
  }
  return true;
}

}  // namespace provhost::serve

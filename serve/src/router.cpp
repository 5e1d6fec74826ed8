#include <provhost/serve/access_log.hpp>
#include <provhost/serve/router.hpp>
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

}  // namespace

void respond_json(HttpConnection &connection, http::status status, std::string body) {
  connection.respond(status, std::move(body), "application/json");
}

void respond_error(HttpConnection &connection, const ApiError &error, std::string_view allow) {
  connection.respond(static_cast<http::status>(error.status), error_json(error), "application/json", allow);
}

Router::Router(std::vector<Route> routes, std::string api_key)
    : routes_(std::move(routes)), api_key_(std::move(api_key)) {}

void Router::dispatch(const std::shared_ptr<HttpConnection> &connection, HttpRequest &request) const {
  std::string_view target = std_view(request.target());
  std::string_view path = target.substr(0, target.find('?'));
  const Route *match = nullptr;
  bool path_known = false, path_needs_key = false;
  for (const auto &route : routes_) {
    if (route.path != path) continue;
    path_known = true;
    path_needs_key = path_needs_key || route.needs_key;
    if (route.method == request.method()) match = &route;
  }
  if (!path_known) {
    return respond_error(
        *connection,
        {404, "Unknown request URL: " + printable(std_view(request.method_string())) + " " + printable(path) + ".",
         "invalid_request_error", "", "unknown_url"});
  }
  // A path that needs the key says nothing more (not even its methods) to a client without it.
  if ((match ? match->needs_key : path_needs_key) && !authorised(*connection, request)) return;
  if (!match) {
    std::string allowed;
    for (const auto &route : routes_) {
      if (route.path != path) continue;
      if (!allowed.empty()) allowed += ", ";
      allowed += std_view(http::to_string(route.method));
    }
    return respond_error(*connection,
                         {405,
                          "Method " + printable(std_view(request.method_string())) + " is not allowed on " +
                              printable(path) + "; use " + allowed + ".",
                          "invalid_request_error", "", "method_not_allowed"},
                         allowed);
  }
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

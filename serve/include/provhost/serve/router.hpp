// router.hpp: the table of endpoints and the dispatcher in front of it. Each route is a method, a
// path, its handler, whether it needs the API key and whether its body is JSON. From the table and
// a request's header alone (before its body is read) the router answers a foreign Host (421) or
// Origin (403, cross_site.hpp), a CORS preflight (204), an unknown path (404), a missing or wrong
// key (401), a known path with another method (405 with Allow) and a body that is not JSON (415),
// in OpenAI's error shape. HEAD is answered wherever GET is.
#pragma once

#include <functional>
#include <memory>
#include <provhost/serve/cross_site.hpp>
#include <provhost/serve/http_connection.hpp>
#include <provhost/serve/openai.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::serve {

using RouteHandler = std::function<void(const std::shared_ptr<HttpConnection> &connection, HttpRequest &request)>;

struct Route {
  http::verb method;
  std::string
      path;  // exact, or ending in "/*": that folder's paths (the rest, one character or more, is the handler's)
  RouteHandler handler;
  bool needs_key = true;   // when the server has an API key
  bool json_body = false;  // the body must be sent as application/json (a charset parameter is fine)
};

class Router {
 public:
  // `api_key` "" lets every request through.
  Router(std::vector<Route> routes, std::string api_key, CrossSitePolicy cross_site = {});

  // Every check a header allows; false when it has answered (the request goes no further).
  bool screen(const std::shared_ptr<HttpConnection> &connection, const HttpRequest &header) const;
  // Runs the handler of a request screen() let through.
  void dispatch(const std::shared_ptr<HttpConnection> &connection, HttpRequest &request) const;

 private:
  const Route *find(std::string_view path, http::verb method, bool &path_known, bool &path_needs_key) const;
  std::string allowed_methods(std::string_view path) const;
  bool authorised(HttpConnection &connection, const HttpRequest &request) const;

  std::vector<Route> routes_;
  std::string api_key_;
  CrossSitePolicy cross_site_;
};

// The two ways an endpoint answers: a JSON body, or an error in OpenAI's shape.
void respond_json(HttpConnection &connection, http::status status, std::string body);
void respond_error(HttpConnection &connection, const ApiError &error, std::string_view allow = {});

}  // namespace provhost::serve

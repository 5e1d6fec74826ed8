// router.hpp: the table of endpoints and the dispatcher in front of it. Each route is a method, a
// path, its handler and whether it needs the API key; from the table alone the dispatcher answers
// an unknown path (404), a known path with another method (405 with Allow) and a missing or wrong
// key (401), in OpenAI's error shape.
#pragma once

#include <functional>
#include <memory>
#include <provhost/serve/http_connection.hpp>
#include <provhost/serve/openai.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::serve {

using RouteHandler = std::function<void(const std::shared_ptr<HttpConnection> &connection, HttpRequest &request)>;

struct Route {
  http::verb method;
  std::string path;
  RouteHandler handler;
  bool needs_key = true;  // when the server has an API key
};

class Router {
 public:
  // `api_key` "" lets every request through.
  Router(std::vector<Route> routes, std::string api_key);

  void dispatch(const std::shared_ptr<HttpConnection> &connection, HttpRequest &request) const;

 private:
  bool authorised(HttpConnection &connection, const HttpRequest &request) const;

  std::vector<Route> routes_;
  std::string api_key_;
};

// The two ways an endpoint answers: a JSON body, or an error in OpenAI's shape.
void respond_json(HttpConnection &connection, http::status status, std::string body);
void respond_error(HttpConnection &connection, const ApiError &error, std::string_view allow = {});

}  // namespace provhost::serve

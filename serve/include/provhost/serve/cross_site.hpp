// cross_site.hpp: who may talk to `serve` from a browser. A web page can make the browser send
// requests to 127.0.0.1 (a "simple" text/plain POST needs no preflight), and with DNS rebinding a
// page on attacker.example can even read the answers, since the browser takes the server for the
// attacker's own. Three checks close that, before a request's body is read:
//   - Host: exactly one; when listening on loopback it must name this machine (127.0.0.1,
//     localhost, [::1]) or a name given with --allowed-host, whatever the port: a rebound name is
//     the attacker's, never one of these.
//   - Origin (browsers send it on every cross-origin request and on every POST): the request's own
//     origin (http:// plus its Host) or one listed with --cors-origin ("*" = any); else 403.
//   - CORS: answers to a listed origin carry Access-Control-Allow-Origin, and a preflight (OPTIONS
//     with Access-Control-Request-Method) is answered 204 with the methods and headers allowed.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <provhost/serve/http_connection.hpp>
#include <provhost/serve/openai.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::serve {

struct CrossSiteOptions {
  std::vector<std::string> cors_origins;   // "scheme://host[:port]" each, or "*"
  std::vector<std::string> allowed_hosts;  // names a Host header may give besides the loopback ones
};

// How long a browser may reuse a preflight's answer (seconds): two hours, Chromium's own cap.
inline constexpr int preflight_max_age = 7200;

// The request headers a browser may send after a preflight: the ones OpenAI's clients send.
inline constexpr std::string_view cors_allowed_headers = "authorization, content-type, x-request-id";

// Response headers a page may read besides the basic ones.
inline constexpr std::string_view cors_exposed_headers = "x-request-id, retry-after";

class CrossSitePolicy {
 public:
  // `listen_address` decides whether Host is checked: only on loopback, where nobody but this
  // machine's browsers can reach the server and every legitimate Host is known.
  CrossSitePolicy(const boost::asio::ip::address &listen_address, const CrossSiteOptions &options);
  // Lets everything through (no Host or Origin checks): for servers not exposed to browsers.
  CrossSitePolicy() = default;

  // The error for a Host header that is missing (HTTP/1.1), doubled or not this server's.
  std::optional<ApiError> check_host(const HttpRequest &request) const;

  enum class Origin { none, same, listed, refused };
  // The request's Origin header judged against its Host and the --cors-origin list.
  Origin check_origin(const HttpRequest &request) const;

  // The value of Access-Control-Allow-Origin for a listed `origin`.
  std::string allow_origin(std::string_view origin) const;

 private:
  bool enforced_ = false;
  bool check_host_name_ = false;
  bool any_origin_ = false;
  std::vector<std::string> cors_origins_;   // lower case
  std::vector<std::string> allowed_hosts_;  // lower case
};

// "host" of "host", "host:port", "[v6]" or "[v6]:port", lower-cased; "" when it is not one of these.
std::string host_name_of(std::string_view authority);

}  // namespace provhost::serve

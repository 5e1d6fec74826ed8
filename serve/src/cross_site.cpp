#include <algorithm>
#include <provhost/serve/cross_site.hpp>
#include <provhost/text.hpp>

namespace provhost::serve {
namespace {

std::string_view std_view(boost::beast::string_view s) { return {s.data(), s.size()}; }

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c); });
  return out;
}

bool contains(const std::vector<std::string> &names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_port(std::string_view digits) {
  return !digits.empty() && digits.size() <= 5 &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

ApiError host_error(int status, std::string message) {
  return ApiError{status, std::move(message), "invalid_request_error", "", "invalid_host"};
}

}  // namespace

std::string host_name_of(std::string_view authority) {
  std::string_view name = authority;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return {};
    name = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !is_port(rest.substr(1)))) return {};
  } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    name = authority.substr(0, colon);
    if (!is_port(authority.substr(colon + 1))) return {};
  }
  const bool plain = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_' || c == '[' || c == ']' || c == ':';
  });
  if (name.empty() || !plain) return {};
  return lower(name);
}

CrossSitePolicy::CrossSitePolicy(const boost::asio::ip::address &listen_address, const CrossSiteOptions &options)
    : enforced_(true), check_host_name_(listen_address.is_loopback()) {
  for (const auto &origin : options.cors_origins) {
    if (origin == "*") any_origin_ = true;
    cors_origins_.push_back(lower(origin));
  }
  allowed_hosts_ = {"127.0.0.1", "localhost", "[::1]"};
  for (const auto &host : options.allowed_hosts) allowed_hosts_.push_back(lower(host));
}

std::optional<ApiError> CrossSitePolicy::check_host(const HttpRequest &request) const {
  const auto count = request.count(http::field::host);
  if (count > 1) return host_error(400, "Send exactly one Host header.");
  // HTTP/1.0 predates Host; browsers always send it, so its absence is no cross-site risk.
  if (count == 0) {
    if (request.version() >= 11) return host_error(400, "Send a Host header.");
    return std::nullopt;
  }
  if (!enforced_ || !check_host_name_) return std::nullopt;
  std::string name = host_name_of(provhost::trim(std_view(request[http::field::host])));
  if (contains(allowed_hosts_, name)) return std::nullopt;
  return host_error(
      421, "This server answers to 127.0.0.1, localhost and [::1] only; name other hosts with --allowed-host.");
}

CrossSitePolicy::Origin CrossSitePolicy::check_origin(const HttpRequest &request) const {
  if (request.count(http::field::origin) == 0) return Origin::none;
  if (!enforced_) return Origin::same;
  if (request.count(http::field::origin) > 1) return Origin::refused;
  std::string origin = lower(provhost::trim(std_view(request[http::field::origin])));
  if (any_origin_ || contains(cors_origins_, origin)) return Origin::listed;
  std::string own = "http://" + lower(provhost::trim(std_view(request[http::field::host])));
  return origin == own ? Origin::same : Origin::refused;
}

std::string CrossSitePolicy::allow_origin(std::string_view origin) const {
  return any_origin_ ? std::string("*") : std::string(origin);
}

}  // namespace provhost::serve

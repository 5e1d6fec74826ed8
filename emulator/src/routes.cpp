#include "routes.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <array>
#include <limits>

#include "openai_compatible.hpp"

namespace provhost::emulator::detail {

namespace http = boost::beast::http;

namespace {

struct Endpoint {
  http::verb method;
  std::string_view path;
  Route route;
  Step step;
};

constexpr std::array<Endpoint, 6> endpoints = {{
    {http::verb::post, "/api/gpt/", Route::koala, Step::answer},
    {http::verb::post, "/v1/chat/completions", Route::ylokh, Step::answer},
    {http::verb::get, "/", Route::chatgptfree, Step::page},
    {http::verb::post, "/wp-admin/admin-ajax.php", Route::chatgptfree, Step::answer},
    {http::verb::post, "/api/openai/v1/chat/completions", Route::freenetfly, Step::answer},
    {http::verb::post, "/v3/chat-anonymous", Route::flowgpt, Step::answer},
}};

constexpr std::string_view cloudflare_page =
    R"(<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>)"
    R"(<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta name="robots" content="noindex,nofollow">)"
    R"(</head><body><div class="main-wrapper" role="main"><div class="main-content"><h1 class="zone-name-title h1">)"
    R"(Checking if the site connection is secure</h1><noscript><div id="challenge-error-title">)"
    R"(Enable JavaScript and cookies to continue</div></noscript></div></div><script>(function(){window._cf_chl_opt=)"
    R"({cvId: '3',cType: 'managed',cRay: '8a1b2c3d4e5f6071'};}());</script></body></html>)";

constexpr std::string_view bad_gateway_page =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

Reply whole(std::shared_ptr<const Wire> wire, After after = After::next_request) {
  const std::size_t size = wire->bytes.size();
  return {std::move(wire), size, after};
}

std::string chatgptfree_page(const State &state, Fault fault) {
  std::string page =
      "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<meta charset=\"UTF-8\">\n"
      "<title>ChatGPT Free &#8211; Chat with AI</title>\n</head>\n<body class=\"page-template-default page\">\n"
      "<div class=\"wpaicg-chat-shortcode\" data-user-bg-color=\"#444654\" data-fontsize=\"13\"";
  if (fault != Fault::no_post_id) page += " data-post-id=\"" + state.post_id() + "\"";
  page += " data-url=\"https://chatgptfree.ai/chat/\" data-bot-id=\"0\" data-type=\"shortcode\"";
  if (fault != Fault::no_nonce) page += " data-nonce=\"" + state.nonce() + "\"";
  page +=
      " data-speech=\"\" data-voice=\"\">\n<div class=\"wpaicg-chat-shortcode-content\"></div>\n</div>\n"
      "</body>\n</html>\n";
  return page;
}

std::optional<Reply> fault_reply(State &state, Fault fault) {
  switch (fault) {
    case Fault::rate_limit:
      return small_reply(429, "application/json", R"({"error":{"message":"Too many requests"}})",
                         Head{0, {{"Retry-After", "1"}}});
    case Fault::cloudflare:
      return small_reply(403, "text/html; charset=UTF-8", cloudflare_page,
                         Head{0, {{"cf-mitigated", "challenge"}, {"CF-RAY", "8a1b2c3d4e5f6071-FRA"}}});
    case Fault::server_error:
      return json_error(500, "Internal server error");
    case Fault::bad_gateway:
      return small_reply(502, "text/html", bad_gateway_page);
    case Fault::reset:
    case Fault::fail_first:
      return Reply{nullptr, 0, After::reset};
    case Fault::stale_nonce:
      // What WordPress's check_ajax_referer() answers for an expired nonce.
      state.rotate_nonce();
      return small_reply(403, "text/html; charset=UTF-8", "-1");
    default:
      return std::nullopt;
  }
}

Reply answer_reply(State &state, Answer answer, Fault fault) {
  switch (fault) {
    case Fault::truncate:
      return whole(state.answer(answer, Shape::truncated));
    case Fault::malformed:
      return whole(state.answer(answer, Shape::malformed));
    case Fault::cut:
    case Fault::stall: {
      auto wire = state.answer(answer, Shape::whole);
      const std::size_t middle = wire->middle();
      return {std::move(wire), middle, fault == Fault::cut ? After::close : After::stall};
    }
    default:
      return whole(state.answer(answer, Shape::whole));
  }
}

RecordedRequest recorded(const Request &request) {
  RecordedRequest entry;
  entry.method = std::string(request.method_string());
  entry.path = std::string(request.target());
  entry.body = request.body();
  for (const auto &field : request) entry.headers.emplace_back(field.name_string(), field.value());
  return entry;
}

}  // namespace

Answer answer_for(Route route, bool stream, bool chatgptfree_json) {
  switch (route) {
    case Route::koala:
      return Answer::koala;
    case Route::ylokh:
      return stream ? Answer::ylokh_stream : Answer::ylokh_json;
    case Route::chatgptfree:
      return chatgptfree_json ? Answer::chatgptfree_json : Answer::chatgptfree_sse;
    case Route::freenetfly:
      return Answer::freenetfly;
    case Route::flowgpt:
      return Answer::flowgpt;
  }
  return Answer::koala;
}

Reply small_reply(int status, std::string_view content_type, std::string_view body, const Head &extra) {
  Head head;
  head.status = status;
  head.headers.emplace_back("Content-Type", content_type);
  head.headers.insert(head.headers.end(), extra.headers.begin(), extra.headers.end());
  return whole(std::make_shared<const Wire>(frame(head, body, false, std::numeric_limits<std::size_t>::max())));
}

Reply json_error(int status, std::string_view message) {
  return small_reply(status, "application/json", R"({"error":{"message":)" + json_string(message) + "}}");
}

Reply respond(State &state, const Request &request) {
  const std::string_view target = request.target();
  const std::size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query = question == std::string_view::npos ? "" : target.substr(question + 1);
  constexpr std::string_view control_prefix = "/__emulator/";
  if (path.starts_with(control_prefix))
    return respond_control(state, request, path.substr(control_prefix.size()), query);

  state.record(recorded(request));
  if (path == openai_compatible_path) return respond_openai_compatible(state, request);

  auto endpoint = std::find_if(endpoints.begin(), endpoints.end(),
                               [&](const Endpoint &e) { return e.path == path && e.method == request.method(); });
  if (endpoint == endpoints.end()) {
    auto known = std::find_if(endpoints.begin(), endpoints.end(), [&](const Endpoint &e) { return e.path == path; });
    if (known != endpoints.end())
      return small_reply(405, "application/json", R"({"error":{"message":"Method Not Allowed"}})",
                         Head{0, {{"Allow", std::string(http::to_string(known->method))}}});
    return json_error(404, "no route for " + std::string(request.method_string()) + " " + std::string(path));
  }

  bool stream = true;
  if (endpoint->route == Route::chatgptfree && endpoint->step == Step::answer) {
    const std::string_view form = request.body();
    if (form_field(form, "action") != "wpaicg_chat_shortcode_message") return small_reply(400, "text/html", "0");
    if (form_field(form, "_wpnonce") != state.nonce()) return small_reply(403, "text/html; charset=UTF-8", "-1");
  } else if (endpoint->route != Route::chatgptfree) {
    rapidjson::Document body;
    body.Parse(request.body().data(), request.body().size());
    if (body.HasParseError() || !body.IsObject()) return json_error(400, "the request body is not a JSON object");
    if (endpoint->route == Route::ylokh) {
      auto member = body.FindMember("stream");
      stream = member != body.MemberEnd() && member->value.IsBool() && member->value.GetBool();
    }
  }

  const Fault fault = state.take_fault(endpoint->route, endpoint->step);
  if (auto reply = fault_reply(state, fault)) return *reply;
  if (endpoint->step == Step::page) return small_reply(200, "text/html; charset=UTF-8", chatgptfree_page(state, fault));
  return answer_reply(state, answer_for(endpoint->route, stream, state.chatgptfree_json_answer()), fault);
}

Reply raw_answer(State &state, Route route, bool stream) {
  return whole(state.answer(answer_for(route, stream, state.chatgptfree_json_answer()), Shape::whole));
}

}  // namespace provhost::emulator::detail

namespace provhost::emulator {

std::string_view answer_path(std::string_view route) {
  const auto parsed = detail::parse_route(route);
  if (!parsed) throw std::invalid_argument("unknown route \"" + std::string(route) + "\"");
  // ChatgptFree's page comes first: the answer is asked for on a route's last endpoint.
  std::string_view path;
  for (const detail::Endpoint &endpoint : detail::endpoints)
    if (endpoint.route == *parsed && endpoint.step == detail::Step::answer) path = endpoint.path;
  return path;
}

}  // namespace provhost::emulator

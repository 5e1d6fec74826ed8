#include <ctime>
#include <optional>
#include <provhost/serve/handlers.hpp>
#include <provhost/serve/responses.hpp>
#include <variant>

namespace provhost::serve {
namespace {

using ParseChat = std::variant<ChatRequest, ApiError> (*)(std::string_view body);
using MakeFormat = std::unique_ptr<AnswerFormat> (*)(const ChatRequest &request);

// Both chat endpoints: read the body, refuse (or drop) unsupported parameters, and answer through a
// ChatBridge in the endpoint's format.
RouteHandler chat_endpoint(ParseChat parse, MakeFormat make_format, SubmitChat submit, ResolveCandidates resolve,
                           ChatBridge::Settings settings, bool drop_unsupported_params) {
  return [=, submit = std::move(submit), resolve = std::move(resolve), settings = std::move(settings)](
             const std::shared_ptr<HttpConnection> &connection, HttpRequest &request) {
    auto parsed = parse(request.body());
    request.body() = {};
    if (auto *error = std::get_if<ApiError>(&parsed)) return respond_error(*connection, *error);
    auto &chat = std::get<ChatRequest>(parsed);
    // Only a request with tools or a response format pays for a resolution here.
    std::optional<ApiError> refused;
    if (!chat.gated.empty()) refused = route_gated_parameters(chat, resolve(chat.spec.provider, chat.spec.model));
    if (!chat.unsupported.empty()) {
      if (!drop_unsupported_params) return respond_error(*connection, unsupported_parameter_error(chat.unsupported));
      std::string names;
      for (const auto &name : chat.unsupported) names += (names.empty() ? "" : ", ") + name;
      const std::string warning = "ignored unsupported parameters: " + names;
      if (settings.warnings) settings.warnings(warning_line(connection->peer(), connection->request_id(), "", warning));
      // The client hears it too: X-Provhost-Warning, not the standard Warning header, which RFC 9111 retired.
      connection->add_response_header("X-Provhost-Warning", warning);
    }
    if (refused) return respond_error(*connection, *refused);
    auto bridge = std::make_shared<ChatBridge>(connection, new_identity(chat.spec.model, std::time(nullptr)),
                                               chat.spec.stream, make_format(chat), settings);
    connection->set_responder(bridge);
    connection->watch_for_hangup();
    bridge->start(submit, std::move(chat.spec));
  };
}

}  // namespace

RouteHandler chat_completions_handler(SubmitChat submit, ResolveCandidates resolve, ChatBridge::Settings settings,
                                      bool drop_unsupported_params) {
  return chat_endpoint(
      parse_chat_request, [](const ChatRequest &request) { return chat_completion_format(request.include_usage); },
      std::move(submit), std::move(resolve), std::move(settings), drop_unsupported_params);
}

RouteHandler responses_handler(SubmitChat submit, ResolveCandidates resolve, ChatBridge::Settings settings,
                               bool drop_unsupported_params) {
  return chat_endpoint(
      parse_responses_request, [](const ChatRequest &) { return responses_format(); }, std::move(submit),
      std::move(resolve), std::move(settings), drop_unsupported_params);
}

}  // namespace provhost::serve

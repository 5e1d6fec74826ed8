#include <ctime>
#include <provhost/serve/handlers.hpp>
#include <variant>

namespace provhost::serve {

RouteHandler chat_completions_handler(SubmitChat submit, ChatBridge::Settings settings, bool drop_unsupported_params) {
  return [submit = std::move(submit), settings = std::move(settings), drop_unsupported_params](
             const std::shared_ptr<HttpConnection> &connection, HttpRequest &request) {
    auto parsed = parse_chat_request(request.body());
    request.body() = {};
    if (auto *error = std::get_if<ApiError>(&parsed)) return respond_error(*connection, *error);
    auto &chat = std::get<ChatRequest>(parsed);
    if (!chat.unsupported.empty()) {
      if (!drop_unsupported_params) return respond_error(*connection, unsupported_parameter_error(chat.unsupported));
      if (settings.warnings) {
        std::string names;
        for (const auto &name : chat.unsupported) names += (names.empty() ? "" : ", ") + name;
        settings.warnings(warning_line(connection->peer(), "-", "", "ignored unsupported parameters: " + names));
      }
    }
    auto bridge = std::make_shared<ChatBridge>(connection, new_identity(chat.spec.model, std::time(nullptr)),
                                               chat.spec.stream, chat.include_usage, settings);
    connection->set_responder(bridge);
    connection->watch_for_hangup();
    bridge->start(submit, std::move(chat.spec));
  };
}

}  // namespace provhost::serve

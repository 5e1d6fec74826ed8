// CppEcho: a complete provider plugin in C++, for a small streaming "echo" protocol:
//
//   POST https://echo.example.com/v1/echo         the last user message as the body (text/plain)
//   Authorization: Bearer KEY                     when the configuration has api_key
//   200, text/event-stream:  data: <text>         a piece of the answer (several data lines: joined by \n)
//                            event: error         the upstream failed; its data is the reason
//                            event: done          the end of the answer
//
// Build it out of tree against the installed SDK (see CMakeLists.txt).
#include <provhost/framing.hpp>
#include <provhost/provider.hpp>

namespace {

using namespace provhost;

ProviderInfo echo_info() {
  ProviderInfo info;
  info.name = "CppEcho";
  info.description = "Echoes the last user message as server-sent events";
  info.url = "https://echo.example.com";
  info.default_model = "echo-1";
  info.models = {"echo-1"};
  info.capabilities = {capability::stream};
  return info;
}

std::string joined(const std::vector<std::string> &lines) {
  std::string text;
  for (const std::string &line : lines) text += (text.empty() ? "" : "\n") + line;
  return text;
}

class EchoSession : public Session {
 public:
  EchoSession(const ChatRequest &request, Events events, const ProviderContext &context)
      : Session(events), api_key_(context.host.config("api_key")) {
    for (const Message &message : request.messages) {
      if (message.role == "user") prompt_ = message.content;
    }
    if (prompt_.empty()) throw ProviderError(Failure::bad_request, "CppEcho needs a user message");
  }

  std::optional<HttpRequest> next_request() override {
    if (sent_) return std::nullopt;  // one request answers the chat
    sent_ = true;
    HttpRequest request;
    request.method = "POST";
    request.url = "https://echo.example.com/v1/echo";
    request.headers = {{"Content-Type", "text/plain; charset=utf-8"}, {"Accept", "text/event-stream"}};
    if (!api_key_.empty()) request.headers.push_back({"Authorization", "Bearer " + api_key_});
    request.body = prompt_;
    return request;
  }

  void on_body(std::string_view chunk) override {
    sse_.feed(chunk, [this](const SseEvent &event) { take(event); });
  }

  // Without "event: done" the answer is cut short: leaving finish() uncalled makes the host say so.
  void on_response_end() override {
    sse_.finish([this](const SseEvent &event) { take(event); });
  }

 private:
  void take(const SseEvent &event) {
    // One chunk may hold events after the end; the ABI allows nothing after finish or error.
    if (events().finished() || events().failed()) return;
    if (event.event == "done") {
      events().finish();
    } else if (event.event == "error") {
      events().error(Failure::upstream, "upstream error: " + joined(event.data));
    } else {
      events().text(repair_utf8(joined(event.data)));  // text must be UTF-8, whatever the upstream sent
    }
  }

  std::string api_key_;
  std::string prompt_;
  bool sent_ = false;
  SseFramer sse_;
};

}  // namespace

using CppEcho = SimpleProvider<EchoSession, echo_info>;
PROVHOST_PLUGIN(CppEcho)

// live_plugin.cpp: the provider the live plugin folder tests drop in, replace and remove. It is
// built several times from this one source (tests/live/CMakeLists.txt): as "Live" version 1.0 and
// as "Live" version 2.0, both installed as provhost-live.so in folders of their own, and as
// "Steady". A chat asks the upstream for GET /<model> and passes the body on as text; at the end
// of the response it adds "<name> <version>", so the text shows which version finished the chat.
#include <provhost/provider.hpp>

namespace {

class LiveSession : public provhost::Session {
 public:
  LiveSession(const provhost::ChatRequest &chat, provhost::Events events, const provhost::ProviderContext &)
      : Session(events), path_("/" + chat.model) {}

  std::optional<provhost::HttpRequest> next_request() override {
    if (sent_) return std::nullopt;
    sent_ = true;
    provhost::HttpRequest request;
    request.method = "GET";
    request.url = "http://live.invalid" + path_;
    return request;
  }

  void on_body(std::string_view chunk) override { events().text(chunk); }

  void on_response_end() override {
    events().text(LIVE_NAME " " LIVE_VERSION);
    events().finish();
  }

 private:
  std::string path_;
  bool sent_ = false;
};

provhost::ProviderInfo live_info() {
  provhost::ProviderInfo info;
  info.name = LIVE_NAME;
  info.version = LIVE_VERSION;
  info.description = "A test provider for live plugin folders";
  info.url = "http://live.invalid";
  info.default_model = "go";
  info.models = {"go", "hold"};  // the upstream answers /go at once and holds /hold until released
  info.capabilities = {"stream", "no_stream"};
  return info;
}

}  // namespace

using LiveProvider = provhost::SimpleProvider<LiveSession, live_info>;

PROVHOST_PLUGIN(LiveProvider)

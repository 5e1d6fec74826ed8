// Built with the C++ helper; its session throws while reading the answer. The helper must turn
// the exception into an error event, so the host sees an ordinary failure.
#include <provhost/provider.hpp>
#include <stdexcept>

namespace {

class ThrowingSession : public provhost::Session {
 public:
  using Session::Session;
  std::optional<provhost::HttpRequest> next_request() override {
    if (sent_) return std::nullopt;
    sent_ = true;
    provhost::HttpRequest request;
    request.method = "POST";
    request.url = "https://thrower.invalid/v1/chat/completions";
    request.headers = {{"Content-Type", "application/json"}};
    request.body = R"({"model":"any","stream":true,"messages":[{"role":"user","content":"hi"}]})";
    return request;
  }
  void on_body(std::string_view) override { throw std::runtime_error("the session exploded"); }

 private:
  bool sent_ = false;
};

class ThrowingProvider : public provhost::Provider {
 public:
  using Provider::Provider;
  provhost::ProviderInfo info() const override {
    provhost::ProviderInfo info;
    info.name = "Thrower";
    info.description = "Throws from its session, through the C++ helper";
    info.url = "https://thrower.invalid";
    info.working = false;  // only with -p
    info.default_model = "any";
    return info;
  }
  std::unique_ptr<provhost::Session> open(const provhost::ChatRequest &, provhost::Events events) override {
    return std::make_unique<ThrowingSession>(events);
  }
};

}  // namespace

PROVHOST_PLUGIN(ThrowingProvider)

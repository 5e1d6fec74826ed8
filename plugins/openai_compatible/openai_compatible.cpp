// OpenAICompatible: any OpenAI-compatible chat-completions endpoint (OpenAI, Groq, OpenRouter, llama.cpp's
// server, Ollama, vLLM, another provhost), one provider per configured instance: see README.md.
#include <provhost/openai/chat_completion.hpp>
#include <provhost/provider.hpp>

namespace {

using namespace provhost;

std::vector<std::string> split_models(std::string_view list) {
  std::vector<std::string> models;
  for (size_t comma; !list.empty(); list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1)) {
    comma = list.find(',');
    if (std::string_view model = trim(list.substr(0, comma)); !model.empty()) models.emplace_back(model);
  }
  return models;
}

class CompatibleSession final : public Session {
 public:
  CompatibleSession(const ChatRequest &request, Events events, HttpRequest http)
      : Session(events), reader_(request.stream), request_(std::move(http)) {
    if (request.messages.empty()) throw ProviderError(Failure::bad_request, "the conversation has no messages");
    request_.body = openai::chat_request_body(request, request.model);
  }
  std::optional<HttpRequest> next_request() override {
    if (sent_) return std::nullopt;
    sent_ = true;
    return request_;
  }
  void on_body(std::string_view chunk) override { reader_.feed(chunk, events()); }
  void on_response_end() override { reader_.finish(events()); }

 private:
  openai::ChatCompletionReader reader_;
  HttpRequest request_;
  bool sent_ = false;
};

class CompatibleProvider final : public Provider {
 public:
  explicit CompatibleProvider(const Host &host) : Provider(host) {
    if (host.instance().empty()) {  // the plugin's own provider only makes the configured instances
      info_ = {"OpenAICompatible",
               "1.0.0",
               "Makes a provider of each configured OpenAI-compatible endpoint",
               "https://platform.openai.com/docs/api-reference/chat",
               false,
               "",
               {},
               {},
               {capability::instances}};
      return;
    }
    std::string base_url = host.config("base_url");
    while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
    if (base_url.empty()) throw std::runtime_error("instance " + host.instance() + " has no base_url");
    request_.method = "POST";
    request_.url = base_url + "/chat/completions";
    request_.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream, application/json"}};
    if (std::string key = host.config("api_key"); !key.empty())
      request_.headers.push_back({"Authorization", "Bearer " + key});
    info_.name = host.instance();
    info_.description = "OpenAI-compatible endpoint " + base_url;
    info_.url = base_url;
    info_.models = split_models(host.config("models"));
    if (!info_.models.empty()) info_.default_model = info_.models.front();
    info_.capabilities = {capability::stream,
                          capability::no_stream,
                          capability::message_history,
                          capability::system_message,
                          capability::param_stop,
                          capability::param_max_tokens,
                          capability::param_temperature,
                          capability::param_top_p,
                          capability::param_tools,
                          capability::param_response_format};
  }
  ProviderInfo info() const override { return info_; }
  std::unique_ptr<Session> open(const ChatRequest &request, Events events) override {
    if (host().instance().empty())
      throw ProviderError(Failure::bad_request, "OpenAICompatible answers through its configured instances only");
    return std::make_unique<CompatibleSession>(request, events, request_);
  }

 private:
  ProviderInfo info_;
  HttpRequest request_;  // all but the body, the same for every chat of this instance
};

}  // namespace

PROVHOST_PLUGIN(CompatibleProvider)

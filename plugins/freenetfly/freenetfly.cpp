// FreeNetfly: an OpenAI-style streamed chat-completions POST that the host retries on connection errors and
// timeouts; the answer is SSE with delta chunks, ended by `data: [DONE]`. See README.md.
#include <provhost/framing.hpp>
#include <provhost/openai/json.hpp>
#include <provhost/openai/openai_stream.hpp>
#include <provhost/plugins/messages.hpp>
#include <provhost/plugins/single_request.hpp>
#include <provhost/provider.hpp>

namespace {

using namespace provhost;
using namespace provhost::plugins;
using namespace provhost::openai;

constexpr const char *kOrigin = "https://free.netfly.top";

ProviderInfo freenetfly_info() {
  ProviderInfo info;
  info.name = "FreeNetfly";
  info.description = "free.netfly.top, OpenAI-compatible (gpt4free's FreeNetfly)";
  info.url = kOrigin;
  info.working = true;
  info.default_model = "gpt-3.5-turbo";
  info.models = {"gpt-3.5-turbo", "gpt-4"};
  info.capabilities = {capability::stream, capability::message_history, capability::system_message};
  return info;
}

// ---- Request building ----------------------------------------------------------------------------------

// The original retried its POST itself; here the host does, by this policy.
RetryPolicy retry_policy() {
  RetryPolicy retry;
  retry.max_attempts = 5;
  retry.initial_backoff_ms = 2000;
  retry.backoff_multiplier = 2;
  retry.retry_on = PH_RETRY_ON_CONNECT_ERROR | PH_RETRY_ON_TIMEOUT;
  return retry;
}

HttpRequest chat_request(const ChatRequest &chat, const ProviderInfo &info) {
  require_messages(chat);
  rapidjson::Document body(rapidjson::kObjectType);
  auto &allocator = body.GetAllocator();
  body.AddMember("messages", messages_array(chat.messages, allocator), allocator);
  body.AddMember("stream", true, allocator);
  body.AddMember("model", json_string(upstream_model(info, chat.model), allocator), allocator);
  body.AddMember("temperature", 0.5, allocator);
  body.AddMember("presence_penalty", 0, allocator);
  body.AddMember("frequency_penalty", 0, allocator);
  body.AddMember("top_p", 1, allocator);

  HttpRequest request;
  request.method = "POST";
  request.url = std::string(kOrigin) + "/api/openai/v1/chat/completions";
  request.headers = {
      {"accept", "application/json, text/event-stream"},
      {"accept-language", "en-US,en;q=0.9"},
      {"content-type", "application/json"},
      {"dnt", "1"},
      {"origin", kOrigin},
      {"referer", std::string(kOrigin) + "/"},
      {"sec-ch-ua", "\"Not/A)Brand\";v=\"8\", \"Chromium\";v=\"126\""},
      {"sec-ch-ua-mobile", "?0"},
      {"sec-ch-ua-platform", "\"Linux\""},
      {"sec-fetch-dest", "empty"},
      {"sec-fetch-mode", "cors"},
      {"sec-fetch-site", "same-origin"},
      {"user-agent",
       "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"},
  };
  request.body = to_json(body);
  request.timeout_ms = 60'000;
  request.retry = retry_policy();
  return request;
}

// ---- Answer parsing ------------------------------------------------------------------------------------

class FreeNetflySession : public SingleRequestSession {
 public:
  FreeNetflySession(const ChatRequest &chat, Events events, const ProviderContext &provider)
      : SingleRequestSession(events, chat_request(chat, provider.info)) {}

  void on_body(std::string_view chunk) override { stream_.feed(chunk, events()); }

  // An event still open at the end is read like any other; without [DONE] there is no finish.
  void on_response_end() override { stream_.finish(events()); }

 private:
  OpenAiStreamReader stream_;
};

}  // namespace

using FreeNetfly = SimpleProvider<FreeNetflySession, freenetfly_info>;

PROVHOST_PLUGIN(FreeNetfly)

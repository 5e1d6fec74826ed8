// Ylokh: an OpenAI-style chat-completions POST, answered either as an SSE stream of delta chunks ended by
// `data: [DONE]` or, without streaming, as one JSON completion. See README.md.
#include <provhost/framing.hpp>
#include <provhost/openai/json.hpp>
#include <provhost/openai/openai_chunks.hpp>
#include <provhost/openai/openai_stream.hpp>
#include <provhost/plugins/messages.hpp>
#include <provhost/plugins/single_request.hpp>
#include <provhost/provider.hpp>

namespace {

using namespace provhost;
using namespace provhost::plugins;
using namespace provhost::openai;

constexpr const char *kSite = "https://chat.ylokh.xyz";
constexpr const char *kApi = "https://chatapi.ylokh.xyz/v1/chat/completions";
constexpr uint32_t kTimeoutMs = 120'000;
// A non-streamed answer is read whole; anything this large is not a chat completion.
constexpr size_t kMaxAnswerBytes = 16 << 20;

ProviderInfo ylokh_info() {
  ProviderInfo info;
  info.name = "Ylokh";
  info.description = "chat.ylokh.xyz, OpenAI-compatible (gpt4free's Ylokh)";
  info.url = kSite;
  info.working = false;
  info.default_model = "gpt-3.5-turbo";
  info.models = {info.default_model};
  // The upstream is an OpenAI-style API: every request parameter is forwarded and honoured there.
  info.capabilities = {
      capability::stream,     capability::no_stream,        capability::message_history,   capability::system_message,
      capability::param_stop, capability::param_max_tokens, capability::param_temperature, capability::param_top_p};
  return info;
}

// ---- Request building ----------------------------------------------------------------------------------

struct YlokhRequest {
  HttpRequest http;
  bool stream = true;  // as finally sent: an option may override the caller's choice
};

YlokhRequest chat_request(const ChatRequest &chat, const ProviderInfo &info) {
  require_messages(chat);
  const std::string model = upstream_model(info, chat.model);
  rapidjson::Document body(rapidjson::kObjectType);
  auto &allocator = body.GetAllocator();
  body.AddMember("messages", messages_array(chat.messages, allocator), allocator);
  body.AddMember("model", json_string(model, allocator), allocator);
  body.AddMember("temperature", 1, allocator);
  body.AddMember("presence_penalty", 0, allocator);
  body.AddMember("top_p", 1, allocator);
  body.AddMember("frequency_penalty", 0, allocator);
  body.AddMember("allow_fallback", true, allocator);
  body.AddMember("stream", chat.stream, allocator);
  rapidjson::Document options = parse_options(chat.options_json);
  for (auto &option : options.GetObject()) {
    auto existing = body.FindMember(option.name);
    if (existing != body.MemberEnd()) {
      existing->value.CopyFrom(option.value, allocator);
    } else {
      body.AddMember(rapidjson::Value(option.name, allocator), rapidjson::Value(option.value, allocator), allocator);
    }
  }
  if (!body["stream"].IsBool()) throw ProviderError(Failure::bad_request, "the stream option must be true or false");

  YlokhRequest request;
  request.stream = body["stream"].GetBool();
  request.http.method = "POST";
  request.http.url = kApi;
  request.http.headers = {
      {"Origin", kSite},
      {"Referer", std::string(kSite) + "/"},
      {"Content-Type", "application/json"},
  };
  request.http.body = to_json(body);
  request.http.timeout_ms = kTimeoutMs;
  return request;
}

// ---- Answer parsing ------------------------------------------------------------------------------------

class YlokhSession : public SingleRequestSession {
 public:
  YlokhSession(const ChatRequest &chat, Events events, const ProviderContext &provider)
      : YlokhSession(events, chat_request(chat, provider.info)) {}

  void on_body(std::string_view chunk) override {
    if (!stream_) {
      if (answer_.size() + chunk.size() > kMaxAnswerBytes)
        throw ProviderError(Failure::protocol, "the answer is larger than 16 MiB");
      answer_.append(chunk);
      return;
    }
    stream_reader_.feed(chunk, events());
  }

  void on_response_end() override {
    if (stream_) {
      // No finish here: a stream that ends without [DONE] was cut short.
      stream_reader_.finish(events());
    } else {
      read_whole_answer();
    }
  }

 private:
  YlokhSession(Events events, YlokhRequest request)
      : SingleRequestSession(events, std::move(request.http)), stream_(request.stream) {}

  void read_whole_answer() {
    rapidjson::Document answer;
    if (!parse_json(answer_, answer)) {
      // A document cut short is a truncated answer: no finish, and the host says so.
      if (ended_early(answer, answer_)) return;
      throw ProviderError(Failure::protocol, "the answer is not JSON: " + excerpt(trim(answer_)));
    }
    ChunkText text = choice_content(answer, "message");
    if (text.kind == ChunkText::Kind::undecodable)
      throw ProviderError(Failure::protocol, "the answer's text is not UTF-8: " + excerpt(trim(answer_)));
    if (text.kind != ChunkText::Kind::text)
      throw ProviderError(Failure::protocol, "the answer has no choices[0].message: " + excerpt(trim(answer_)));
    events().text(text.text);
    events().finish();
  }

  bool stream_;
  OpenAiStreamReader stream_reader_;
  std::string answer_;
};

}  // namespace

using Ylokh = SimpleProvider<YlokhSession, ylokh_info>;

PROVHOST_PLUGIN(Ylokh)

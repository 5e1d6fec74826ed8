// A complete provider plugin: any OpenAI-compatible chat-completions server, streaming or not.
// It is sans-IO like every provider: it builds the HTTP request and reads the bytes the host
// feeds it; the host does the networking. The API key, if any, comes from the host's
// configuration: PROVHOST_EXAMPLE_API_KEY.
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <provhost/framing.hpp>
#include <provhost/provider.hpp>
#include <provhost/text.hpp>

namespace {

const std::string origin = "https://api.example.com";  // `--upstream Example=URL` points it elsewhere

class ExampleSession : public provhost::Session {
 public:
  ExampleSession(const provhost::ChatRequest &chat, provhost::Events events, const provhost::ProviderContext &provider)
      : Session(events), stream_(chat.stream) {
    const std::string api_key = provider.host.config("api_key");
    rapidjson::StringBuffer body;
    rapidjson::Writer<rapidjson::StringBuffer> json(body);
    json.StartObject();
    json.Key("model"), json.String(chat.model.c_str());
    json.Key("stream"), json.Bool(chat.stream);
    json.Key("messages"), json.StartArray();
    for (const auto &message : chat.messages) {
      json.StartObject();
      json.Key("role"), json.String(message.role.c_str());
      json.Key("content"), json.String(message.content.data(), message.content.size());
      json.EndObject();
    }
    json.EndArray(), json.EndObject();
    request_.method = "POST";
    request_.url = origin + "/v1/chat/completions";
    request_.headers = {{"Content-Type", "application/json"}};
    if (!api_key.empty()) request_.headers.push_back({"Authorization", "Bearer " + api_key});
    request_.body = body.GetString();
  }

  // One request answers the chat.
  std::optional<provhost::HttpRequest> next_request() override {
    if (sent_) return std::nullopt;
    sent_ = true;
    return request_;
  }

  void on_body(std::string_view chunk) override {
    if (!stream_) {
      whole_answer_.append(chunk);  // one JSON object, read at the end
      return;
    }
    sse_.feed(chunk, [&](const provhost::SseEvent &event) {
      for (const auto &data : event.data) {
        if (data == "[DONE]") return events().finish();
        emit(data, "/choices/0/delta/content");
      }
    });
  }

  void on_response_end() override {
    if (stream_) return;  // a stream without "[DONE]" is reported as truncated by the host
    emit(whole_answer_, "/choices/0/message/content");
    events().finish();
  }

 private:
  void emit(std::string_view json_text, const char *content_path) {
    rapidjson::Document json;
    if (json.Parse(json_text.data(), json_text.size()).HasParseError()) {
      throw provhost::ProviderError(provhost::Failure::protocol, "the answer is not JSON");
    }
    // An upstream that fails mid-answer says so in an error object, which a [DONE] may follow.
    if (json.IsObject() && json.HasMember("error")) {
      const rapidjson::Value *message = rapidjson::Pointer("/error/message").Get(json);
      throw provhost::ProviderError(provhost::Failure::upstream,
                                    message && message->IsString() ? message->GetString() : "the upstream failed");
    }
    const rapidjson::Value *content = rapidjson::Pointer(content_path).Get(json);
    // RapidJSON decodes a lone surrogate escape ("\udc00") into bytes that are not UTF-8.
    if (content && content->IsString())
      events().text(provhost::repair_utf8({content->GetString(), content->GetStringLength()}));
  }

  bool stream_;
  bool sent_ = false;
  provhost::HttpRequest request_;
  provhost::SseFramer sse_;
  std::string whole_answer_;
};

provhost::ProviderInfo example_info() {
  provhost::ProviderInfo info;
  info.name = "Example";
  info.version = "1.0.0";
  info.description = "Any OpenAI-compatible chat-completions server";
  info.url = origin;
  info.default_model = "gpt-3.5-turbo";  // no model list: any model name is passed on
  info.capabilities = {"stream", "no_stream", "message_history", "system_message"};
  return info;
}

}  // namespace

// The provider is its metadata and its session; a provider with more to it derives from provhost::Provider.
using ExampleProvider = provhost::SimpleProvider<ExampleSession, example_info>;

PROVHOST_PLUGIN(ExampleProvider)

// FlowGpt: one signed POST (timestamp, nonce, MD5 signature) carrying question, history and system text; the
// answer is newline-delimited JSON whose "text" events are the text. See README.md.
#include <provhost/framing.hpp>
#include <provhost/openai/json.hpp>
#include <provhost/openai/json_scan.hpp>
#include <provhost/plugins/messages.hpp>
#include <provhost/plugins/single_request.hpp>
#include <provhost/provider.hpp>

namespace {

using namespace provhost;
using namespace provhost::plugins;
using namespace provhost::openai;

constexpr const char *kApi = "https://prod-backend-k8s.flowgpt.com/v3/chat-anonymous";
// The anonymous endpoint signs with the literal token "null".
constexpr const char *kAuthorization = "Bearer null";
constexpr const char *kGreeting = "Hello, how can I help you today?";
constexpr const char *kDefaultSystem = "You are helpful assistant. Follow the user's instructions carefully.";
constexpr double kDefaultTemperature = 0.7;

ProviderInfo flowgpt_info() {
  ProviderInfo info;
  info.name = "FlowGpt";
  info.description = "flowgpt.com anonymous chat (gpt4free's FlowGpt)";
  info.url = "https://flowgpt.com/chat";
  info.working = false;
  info.default_model = "gpt-3.5-turbo";
  info.models = {"gpt-3.5-turbo",      "gpt-3.5-long", "gpt-4-turbo",     "google-gemini", "claude-instant",
                 "claude-v1",          "claude-v2",    "llama2-13b",      "mythalion-13b", "pygmalion-13b",
                 "chronos-hermes-13b", "Mixtral-8x7B", "Dolphin-2.6-8x7B"};
  info.aliases = {{"gemini", "google-gemini"}, {"gemini-pro", "google-gemini"}};
  info.capabilities = {capability::stream, capability::message_history, capability::system_message,
                       capability::param_temperature};
  return info;
}

// ---- Request building ----------------------------------------------------------------------------------

rapidjson::Value temperature(const ChatRequest &chat, JsonAllocator &allocator) {
  rapidjson::Document options = parse_options(chat.options_json);
  auto option = options.FindMember("temperature");
  if (option == options.MemberEnd()) return rapidjson::Value(kDefaultTemperature);
  if (!option->value.IsNumber()) throw ProviderError(Failure::bad_request, "the temperature option must be a number");
  return rapidjson::Value(option->value, allocator);
}

std::string request_body(const ChatRequest &chat, const std::string &model) {
  const std::vector<Message> &messages = chat.messages;
  rapidjson::Document body(rapidjson::kObjectType);
  auto &allocator = body.GetAllocator();

  rapidjson::Value history(rapidjson::kArrayType);
  rapidjson::Value greeting(rapidjson::kObjectType);
  greeting.AddMember("role", "assistant", allocator);
  greeting.AddMember("content", rapidjson::StringRef(kGreeting), allocator);
  history.PushBack(greeting, allocator);
  for (size_t i = 0; i + 1 < messages.size(); ++i) {
    if (messages[i].role == "system") continue;  // they travel in "system"
    rapidjson::Value turn(rapidjson::kObjectType);
    turn.AddMember("role", json_string(messages[i].role, allocator), allocator);
    turn.AddMember("content", json_string(messages[i].content, allocator), allocator);
    history.PushBack(turn, allocator);
  }
  std::string system = join_contents(messages, "system", "\n");
  if (system.empty()) system = kDefaultSystem;

  body.AddMember("model", json_string(model, allocator), allocator);
  body.AddMember("nsfw", false, allocator);
  body.AddMember("question", json_string(messages.back().content, allocator), allocator);
  body.AddMember("history", history, allocator);
  body.AddMember("system", json_string(system, allocator), allocator);
  body.AddMember("temperature", temperature(chat, allocator), allocator);
  body.AddMember("promptId", json_string("model-" + model, allocator), allocator);
  body.AddMember("documentIds", rapidjson::Value(rapidjson::kArrayType), allocator);
  body.AddMember("chatFileDocumentIds", rapidjson::Value(rapidjson::kArrayType), allocator);
  body.AddMember("generateImage", false, allocator);
  body.AddMember("generateAudio", false, allocator);
  return to_json(body);
}

// The signature proves nothing but freshness: MD5 over the timestamp, a nonce and the (null) token.
std::vector<Header> signed_headers(const Host &host) {
  const std::string timestamp = std::to_string(host.now_unix_ms() / 1000);
  const std::string nonce = host.random_string("0123456789abcdef", 32);
  const std::string signature = host.digest_hex("md5", timestamp + "-" + nonce + "-" + kAuthorization);
  if (signature.empty()) throw ProviderError(Failure::internal, "the host offers no MD5 digest to sign the request");
  return {
      {"User-Agent", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0"},
      {"Accept", "*/*"},
      {"Accept-Language", "en-US;q=0.7,en;q=0.3"},
      {"Referer", "https://flowgpt.com/"},
      {"Content-Type", "application/json"},
      {"Authorization", kAuthorization},
      {"Origin", "https://flowgpt.com"},
      {"Sec-Fetch-Dest", "empty"},
      {"Sec-Fetch-Mode", "cors"},
      {"Sec-Fetch-Site", "same-site"},
      {"x-flow-device-id", "f-" + host.random_string("abcdefghijklmnopqrstuvwxyz0123456789", 19)},
      {"x-nonce", nonce},
      {"x-signature", signature},
      {"x-timestamp", timestamp},
  };
}

HttpRequest chat_request(const ChatRequest &chat, const ProviderContext &provider) {
  require_messages(chat);
  HttpRequest request;
  request.method = "POST";
  request.url = kApi;
  request.body = request_body(chat, upstream_model(provider.info, chat.model));
  request.headers = signed_headers(provider.host);
  return request;
}

// ---- Answer parsing ------------------------------------------------------------------------------------

class FlowGptSession : public SingleRequestSession {
 public:
  FlowGptSession(const ChatRequest &chat, Events events, const ProviderContext &provider)
      : SingleRequestSession(events, chat_request(chat, provider)) {}

  void on_body(std::string_view chunk) override {
    records_.feed(
        chunk, [&](std::string_view rest) { return take_text_record(rest); },
        [&](std::string_view record) { read_record(record); });
  }

  // No terminator in this protocol: a clean end of the response is the end of the answer.
  void on_response_end() override {
    records_.finish([&](std::string_view record) { read_record(record); });
    events().finish();
  }

 private:
  // The usual record, one that repeats the last text record but for its data, read where it starts in `rest`
  // (see LineFramer::feed); 0 for any other, left to read_record.
  size_t take_text_record(std::string_view rest) {
    std::string_view text;
    const size_t length = text_frame_.match_line(rest, buffer_, text);
    if (length) events().text(text);
    return length;
  }

  void read_record(std::string_view record) {
    // The usual record is read without building a document, and one that repeats the last text record but for
    // its data by reading only the data.
    std::string_view text;
    if (text_frame_.match(record, buffer_, text)) {
      events().text(text);
      return;
    }
    std::array<StringMember, 2> fields{StringMember{"event"}, StringMember{"data"}};
    if (scan_object_strings(record, buffer_, fields)) {
      if (fields[0].text == "text" && fields[1].text) {
        events().text(*fields[1].text);
        text_frame_.remember(record, fields[1].token_begin, fields[1].token_end);
      }
      return;
    }
    rapidjson::Document message;
    if (!parse_json(record, message)) {
      events().warning("skipped undecodable line: " + excerpt(record));
      return;
    }
    throw_if_error(message);
    if (!message.IsObject()) return;
    auto event = message.FindMember("event");
    if (event == message.MemberEnd() || !event->value.IsString() || as_view(event->value) != "text") return;
    auto data = message.FindMember("data");
    if (data == message.MemberEnd() || !data->value.IsString()) return;
    if (auto text = utf8_text(data->value)) {
      events().text(*text);
    } else {
      events().warning("skipped undecodable line: " + excerpt(record));
    }
  }

  NdjsonFramer records_;
  std::string buffer_;        // the JSON scanner's
  RepeatedFrame text_frame_;  // of the last text record
};

}  // namespace

using FlowGpt = SimpleProvider<FlowGptSession, flowgpt_info>;

PROVHOST_PLUGIN(FlowGpt)

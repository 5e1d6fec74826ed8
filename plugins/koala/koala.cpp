// Koala: one POST whose body splits the conversation into input / inputHistory / outputHistory; the answer
// is a line stream of `data: <JSON>` whose JSON strings are the text. See README.md.
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

constexpr const char *kOrigin = "https://koala.sh";

ProviderInfo koala_info() {
  ProviderInfo info;
  info.name = "Koala";
  info.description = "koala.sh chat (gpt4free's Koala)";
  info.url = kOrigin;
  info.working = true;
  info.default_model = "gpt-4o-mini";
  info.models = {info.default_model};
  info.capabilities = {capability::stream, capability::message_history};
  return info;
}

// ---- Request building ----------------------------------------------------------------------------------

// Koala has no system field: the original folds the system text into the question itself.
std::string input_text(const std::vector<Message> &messages) {
  std::string input = messages.back().content;
  std::string system = join_contents(messages, "system", " ");
  if (!system.empty()) input += " " + system;
  return input;
}

std::string request_body(const std::vector<Message> &messages, const std::string &model) {
  rapidjson::Document body(rapidjson::kObjectType);
  auto &allocator = body.GetAllocator();
  rapidjson::Value input_history(rapidjson::kArrayType), output_history(rapidjson::kArrayType);
  for (size_t i = 0; i + 1 < messages.size(); ++i)
    if (messages[i].role == "user") input_history.PushBack(json_string(messages[i].content, allocator), allocator);
  // All assistant turns, the last message included, exactly as the original collects them.
  for (const Message &message : messages)
    if (message.role == "assistant") output_history.PushBack(json_string(message.content, allocator), allocator);
  body.AddMember("input", json_string(input_text(messages), allocator), allocator);
  body.AddMember("inputHistory", input_history, allocator);
  body.AddMember("outputHistory", output_history, allocator);
  body.AddMember("model", json_string(model, allocator), allocator);
  return to_json(body);
}

HttpRequest chat_request(const ChatRequest &chat, const ProviderContext &provider) {
  require_messages(chat);
  HttpRequest request;
  request.method = "POST";
  request.url = std::string(kOrigin) + "/api/gpt/";
  request.headers = {
      {"User-Agent", "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0"},
      {"Accept", "text/event-stream"},
      {"Accept-Language", "de,en-US;q=0.7,en;q=0.3"},
      {"Referer", std::string(kOrigin) + "/chat"},
      {"Content-Type", "application/json"},
      {"Flag-Real-Time-Data", "false"},
      {"Visitor-ID", provider.host.random_string("abcdefghijklmnopqrstuvwxyz0123456789", 20)},
      {"Origin", kOrigin},
      {"Alt-Used", "koala.sh"},
      {"Sec-Fetch-Dest", "empty"},
      {"Sec-Fetch-Mode", "cors"},
      {"Sec-Fetch-Site", "same-origin"},
  };
  request.body = request_body(chat.messages, upstream_model(provider.info, chat.model));
  return request;
}

// ---- Answer parsing ------------------------------------------------------------------------------------

class KoalaSession : public SingleRequestSession {
 public:
  KoalaSession(const ChatRequest &chat, Events events, const ProviderContext &provider)
      : SingleRequestSession(events, chat_request(chat, provider)) {}

  void on_body(std::string_view chunk) override {
    lines_.feed(
        chunk, [&](std::string_view rest) { return take_text_line(rest); },
        [&](std::string_view line) {
          if (!line.empty()) read_line(line);  // every other line is the blank one between events
        });
  }

  // No terminator in this protocol: a clean end of the response is the end of the answer.
  void on_response_end() override {
    lines_.finish([&](std::string_view line) { read_line(line); });
    events().finish();
  }

 private:
  // The usual line, `data: ` and one JSON string right before the line's end, read where it starts in `rest`
  // (see LineFramer::feed); 0 for any other, left to read_line.
  size_t take_text_line(std::string_view rest) {
    constexpr std::string_view prefix = "data: ";
    if (!equals(rest.substr(0, prefix.size()), prefix)) return 0;
    const char *const end = rest.data() + rest.size();
    std::string_view text;
    const char *const close = scan_string_token(rest.data() + prefix.size(), end, buffer_, text);
    if (!close || close == end || (*close != '\n' && *close != '\r')) return 0;
    events().text(text);
    return static_cast<size_t>(close - rest.data());
  }

  void read_line(std::string_view line) {
    std::string_view payload, text;
    if (!strip_prefix(line, "data: ", payload)) return;
    // The usual line, one JSON string, is read without building a document.
    if (scan_string_document(payload, buffer_, text)) {
      events().text(text);
      return;
    }
    rapidjson::Document value;
    if (!parse_json(payload, value)) {
      events().warning("skipped undecodable data: " + excerpt(payload));
      return;
    }
    throw_if_error(value);
    // Other JSON values (numbers, objects) carry no text in this protocol.
    if (!value.IsString()) return;
    if (auto decoded = utf8_text(value)) {
      events().text(*decoded);
    } else {
      events().warning("skipped undecodable data: " + excerpt(payload));
    }
  }

  LineFramer lines_;
  std::string buffer_;  // the JSON scanner's
};

}  // namespace

using Koala = SimpleProvider<KoalaSession, koala_info>;

PROVHOST_PLUGIN(Koala)

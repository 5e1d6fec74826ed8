// The real provhost chats through each provider against the emulator: what it prints is exactly the
// answer's text, and what the emulator received is exactly what docs/protocols.md describes.
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <provhost/core/chat.hpp>
#include <provhost/core/tokens.hpp>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "e2e.hpp"

using namespace provhost::e2e;
using provhost::emulator::RecordedRequest;
namespace core = provhost::core;

namespace {

struct Conversation {
  const char *name;
  Messages messages;
};

std::string ten_kilobytes() {
  std::string text;
  for (int i = 0; text.size() < 10 * 1024; ++i) text += "word" + std::to_string(i) + " ";
  return text;
}

const std::string tricky =
    "Привет, мир! 🦊🚀 She said \"hi\" \\ back\\slash 'quoted'\nline two\r\nline three\ttab \\u0041";

std::vector<Conversation> conversations() {
  return {
      {"single user message", {{"user", "Hello"}}},
      {"system and user", {{"system", "Be brief."}, {"user", "Hello"}}},
      {"system, user, assistant, user",
       {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello! How can I help?"}, {"user", "Tell a joke"}}},
      {"Cyrillic, emoji, quotes, backslashes and newlines", {{"user", tricky}}},
      {"two system messages", {{"system", "Be brief."}, {"system", "Answer in French."}, {"user", "Hello"}}},
      {"a 10 KB user message", {{"user", ten_kilobytes()}}},
  };
}

std::vector<std::string> contents(const Messages &messages, std::initializer_list<const char *> roles) {
  std::vector<std::string> out;
  for (const auto &[role, content] : messages) {
    // Captured by name: clang before 16 cannot capture a structured binding (the sanitized build uses clang).
    if (std::find_if(roles.begin(), roles.end(), [&role = role](const char *r) { return role == r; }) != roles.end()) {
      out.push_back(content);
    }
  }
  return out;
}

std::string joined(const std::vector<std::string> &items, const std::string &separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> items) {
  std::sort(items.begin(), items.end());
  return items;
}

bool matches(const std::string &text, const char *pattern) { return std::regex_match(text, std::regex(pattern)); }

std::string form_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> form_fields(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> fields;
  while (!body.empty()) {
    size_t end = body.find('&');
    std::string_view field = body.substr(0, end);
    size_t eq = field.find('=');
    fields.emplace_back(form_decode(field.substr(0, eq)),
                        eq == std::string_view::npos ? "" : form_decode(field.substr(eq + 1)));
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
  }
  return fields;
}

std::string md5_hex(const std::string &text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  REQUIRE(EVP_Digest(text.data(), text.size(), digest, &size, EVP_md5(), nullptr) == 1);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// Host is what libcurl derives from the emulator's origin: only the origin was swapped.
void check_host(const Upstream &upstream, const RecordedRequest &request) {
  CHECK(request.header("Host") == "127.0.0.1:" + std::to_string(upstream.emulator.port()));
}

void check_koala(const RecordedRequest &request, const Messages &messages) {
  CHECK(request.method == "POST");
  CHECK(request.path == "/api/gpt/");
  CHECK(request.header("Content-Type").starts_with("application/json"));
  CHECK(request.header("Accept") == "text/event-stream");
  CHECK(request.header("Referer") == "https://koala.sh/chat");
  CHECK(request.header("Origin") == "https://koala.sh");
  CHECK(request.header("Flag-Real-Time-Data") == "false");
  CHECK(matches(request.header("Visitor-ID"), "[a-z0-9]{20}"));
  CHECK(request.header("User-Agent").find("Firefox") != std::string::npos);
  CHECK_FALSE(request.header("Accept-Language").empty());
  CHECK(request.header("Alt-Used") == "koala.sh");
  CHECK(request.header("Sec-Fetch-Dest") == "empty");
  CHECK(request.header("Sec-Fetch-Mode") == "cors");
  CHECK(request.header("Sec-Fetch-Site") == "same-origin");

  auto body = parse_json(request.body);
  CHECK(field_names(body) == std::vector<std::string>{"input", "inputHistory", "outputHistory", "model"});
  std::string input = messages.back().second;
  if (auto systems = contents(messages, {"system"}); !systems.empty()) {
    // Two appends rather than `" " + joined(...)`: GCC 12 warns falsely (-Wrestrict) on the latter.
    input += ' ';
    input += joined(systems, " ");
  }
  CHECK(string_field(body, "input") == input);
  Messages all_but_last(messages.begin(), messages.end() - 1);
  CHECK(strings_field(body, "inputHistory") == contents(all_but_last, {"user"}));
  CHECK(strings_field(body, "outputHistory") == contents(messages, {"assistant"}));
  CHECK(string_field(body, "model") == "gpt-4o-mini");
}

void check_ylokh(const RecordedRequest &request, const Messages &messages, bool stream) {
  CHECK(request.method == "POST");
  CHECK(request.path == "/v1/chat/completions");
  CHECK(request.header("Content-Type").starts_with("application/json"));
  CHECK(request.header("Origin") == "https://chat.ylokh.xyz");
  CHECK(request.header("Referer") == "https://chat.ylokh.xyz/");

  auto body = parse_json(request.body);
  CHECK(sorted(field_names(body)) == std::vector<std::string>{"allow_fallback", "frequency_penalty", "messages",
                                                              "model", "presence_penalty", "stream", "temperature",
                                                              "top_p"});
  CHECK(messages_field(body, "messages") == messages);
  CHECK(string_field(body, "model") == "gpt-3.5-turbo");
  CHECK(number_field(body, "temperature") == 1);
  CHECK(number_field(body, "presence_penalty") == 0);
  CHECK(number_field(body, "top_p") == 1);
  CHECK(number_field(body, "frequency_penalty") == 0);
  CHECK(bool_field(body, "allow_fallback") == true);
  CHECK(bool_field(body, "stream") == stream);
}

std::string chatgptfree_prompt(const Messages &messages) {
  if (messages.size() == 1) return messages.front().second;
  std::vector<std::string> lines;
  for (const auto &[role, content] : messages) {
    if (content.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    std::string name = role;
    name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
    lines.push_back(name + ": " + content);
  }
  return joined(lines, "\n") + "\nAssistant:";
}

void check_chatgptfree(const Upstream &upstream, const std::vector<RecordedRequest> &requests,
                       const Messages &messages) {
  REQUIRE(requests.size() == 2);
  const RecordedRequest &page = requests[0], &answer = requests[1];
  CHECK(page.method == "GET");
  CHECK(page.path == "/");
  CHECK(answer.method == "POST");
  CHECK(answer.path == "/wp-admin/admin-ajax.php");
  for (const RecordedRequest *request : {&page, &answer}) {
    CHECK(request->header("User-Agent").find("Chrome") != std::string::npos);
    CHECK(request->header("origin") == "https://chatgptfree.ai");
    CHECK(request->header("referer") == "https://chatgptfree.ai/chat/");
  }
  CHECK(answer.header("Content-Type").starts_with("application/x-www-form-urlencoded"));
  auto fields = form_fields(answer.body);
  std::vector<std::string> names;
  for (const auto &field : fields) names.push_back(field.first);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"_wpnonce", "action", "bot_id", "message", "post_id", "url"});
  auto field = [&](const std::string &name) {
    auto found = std::find_if(fields.begin(), fields.end(), [&](const auto &f) { return f.first == name; });
    return found == fields.end() ? std::string() : found->second;
  };
  CHECK(field("_wpnonce") == upstream.emulator.current_nonce());
  CHECK(field("post_id") == "106");
  CHECK(field("url") == "https://chatgptfree.ai");
  CHECK(field("action") == "wpaicg_chat_shortcode_message");
  CHECK(field("message") == chatgptfree_prompt(messages));
  CHECK(field("bot_id") == "0");
}

void check_freenetfly(const RecordedRequest &request, const Messages &messages) {
  CHECK(request.method == "POST");
  CHECK(request.path == "/api/openai/v1/chat/completions");
  CHECK(request.header("Content-Type").starts_with("application/json"));
  CHECK(request.header("accept") == "application/json, text/event-stream");
  CHECK(request.header("origin") == "https://free.netfly.top");
  CHECK(request.header("referer") == "https://free.netfly.top/");
  CHECK(request.header("User-Agent").find("Chrome") != std::string::npos);

  auto body = parse_json(request.body);
  CHECK(sorted(field_names(body)) == std::vector<std::string>{"frequency_penalty", "messages", "model",
                                                              "presence_penalty", "stream", "temperature", "top_p"});
  CHECK(messages_field(body, "messages") == messages);
  CHECK(bool_field(body, "stream") == true);
  CHECK(string_field(body, "model") == "gpt-3.5-turbo");
  CHECK(number_field(body, "temperature") == 0.5);
  CHECK(number_field(body, "presence_penalty") == 0);
  CHECK(number_field(body, "frequency_penalty") == 0);
  CHECK(number_field(body, "top_p") == 1);
}

void check_flowgpt(const RecordedRequest &request, const Messages &messages) {
  CHECK(request.method == "POST");
  CHECK(request.path == "/v3/chat-anonymous");
  CHECK(request.header("Content-Type").starts_with("application/json"));
  std::string timestamp = request.header("x-timestamp"), nonce = request.header("x-nonce");
  REQUIRE(matches(timestamp, "[0-9]+"));
  CHECK(std::abs(std::stoll(timestamp) - static_cast<long long>(std::time(nullptr))) < 300);
  CHECK(matches(nonce, "[0-9a-f]{32}"));
  CHECK(request.header("x-signature") == md5_hex(timestamp + "-" + nonce + "-Bearer null"));
  CHECK(request.header("Authorization") == "Bearer null");
  CHECK(matches(request.header("x-flow-device-id"), "f-[a-z0-9]{19}"));
  CHECK(request.header("Referer") == "https://flowgpt.com/");
  CHECK(request.header("Origin") == "https://flowgpt.com");
  CHECK(request.header("User-Agent").find("Firefox") != std::string::npos);

  auto body = parse_json(request.body);
  CHECK(field_names(body) == std::vector<std::string>{"model", "nsfw", "question", "history", "system", "temperature",
                                                      "promptId", "documentIds", "chatFileDocumentIds", "generateImage",
                                                      "generateAudio"});
  CHECK(string_field(body, "model") == "gpt-3.5-turbo");
  CHECK(bool_field(body, "nsfw") == false);
  CHECK(string_field(body, "question") == messages.back().second);
  Messages history = {{"assistant", "Hello, how can I help you today?"}};
  for (size_t i = 0; i + 1 < messages.size(); ++i) {
    if (messages[i].first != "system") history.push_back(messages[i]);
  }
  CHECK(messages_field(body, "history") == history);
  auto systems = contents(messages, {"system"});
  CHECK(string_field(body, "system") == (systems.empty()
                                             ? "You are helpful assistant. Follow the user's instructions carefully."
                                             : joined(systems, "\n")));
  CHECK(number_field(body, "temperature") == 0.7);
  CHECK(string_field(body, "promptId") == "model-gpt-3.5-turbo");
  CHECK(strings_field(body, "documentIds").empty());
  CHECK(strings_field(body, "chatFileDocumentIds").empty());
  CHECK(bool_field(body, "generateImage") == false);
  CHECK(bool_field(body, "generateAudio") == false);
}

void check_requests(const Upstream &upstream, const std::string &provider, const Messages &messages) {
  auto requests = upstream.emulator.requests();
  REQUIRE_FALSE(requests.empty());
  for (const auto &request : requests) check_host(upstream, request);
  if (provider == "ChatgptFree") return check_chatgptfree(upstream, requests, messages);
  REQUIRE(requests.size() == 1);
  if (provider == "Koala") check_koala(requests[0], messages);
  if (provider == "Ylokh") check_ylokh(requests[0], messages, true);
  if (provider == "FreeNetfly") check_freenetfly(requests[0], messages);
  if (provider == "FlowGpt") check_flowgpt(requests[0], messages);
}

}  // namespace

TEST_CASE("provhost loads exactly the bundled providers the build lists, and the emulator has a route for each") {
  Upstream upstream;
  ProcessResult list = upstream.provhost({"list", "--json"});
  REQUIRE(list.exit_code == 0);
  auto json = parse_json(list.out);
  std::set<std::string> loaded, listed;
  for (const auto &provider : json["providers"].GetArray()) loaded.insert(provider["name"].GetString());
  for (const Provider &provider : providers) listed.insert(provider.name);
  // Besides the bundled providers, the OpenAICompatible plugin's own, which only makes configured instances.
  listed.insert("OpenAICompatible");
  CHECK(loaded == listed);
  CHECK(json["rejected"].GetArray().Empty());
  const std::vector<std::string_view> routes = provhost::emulator::routes();
  for (const Provider &provider : providers) {
    INFO(provider.name);
    CHECK(std::count(routes.begin(), routes.end(), provider.route) == 1);
  }
}

TEST_CASE("each provider streams the emulator's answer byte for byte and sends what docs/protocols.md says") {
  provhost::test::TempDir dir;
  Upstream upstream;
  for (const Provider &provider : providers) {
    for (const Conversation &conversation : conversations()) {
      INFO(provider.name << ": " << conversation.name);
      upstream.emulator.clear_requests();
      std::string file = dir.write("messages.json", messages_json(conversation.messages)).string();
      ProcessResult result = upstream.chat(provider.name, {"--messages", file});
      INFO("stderr: " << result.err);
      CHECK(result.exit_code == 0);
      CHECK(result.err.empty());
      CHECK(result.out == upstream.emulator.expected_text());
      check_requests(upstream, provider.name, conversation.messages);
    }
  }
}

TEST_CASE("Ylokh answers without streaming when asked to") {
  Upstream upstream;
  ProcessResult result = upstream.chat("Ylokh", {"--no-stream", "Hello"});
  CHECK(result.exit_code == 0);
  CHECK(result.out == upstream.emulator.expected_text());
  auto requests = upstream.emulator.requests();
  REQUIRE(requests.size() == 1);
  check_ylokh(requests[0], {{"user", "Hello"}}, false);
}

TEST_CASE("the conversation is --messages, then --system first, then PROMPT last") {
  provhost::test::TempDir dir;
  Upstream upstream;
  std::string file =
      dir.write("history.json", messages_json({{"user", "Hi"}, {"assistant", "Hello! How can I help?"}})).string();

  SECTION("all three") {
    ProcessResult result = upstream.chat("Ylokh", {"--messages", file, "--system", "Be brief.", "Tell a joke"});
    CHECK(result.exit_code == 0);
    check_ylokh(
        upstream.emulator.requests().at(0),
        {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello! How can I help?"}, {"user", "Tell a joke"}},
        true);
  }
  SECTION("several words make one prompt") {
    ProcessResult result = upstream.chat("Ylokh", {"Tell", "a", "joke"});
    CHECK(result.exit_code == 0);
    check_ylokh(upstream.emulator.requests().at(0), {{"user", "Tell a joke"}}, true);
  }
  SECTION("- reads the prompt from stdin, byte for byte") {
    ProcessResult result = upstream.chat("Ylokh", {"--system", "Be brief.", "-"}, tricky + "\n");
    CHECK(result.exit_code == 0);
    check_ylokh(upstream.emulator.requests().at(0), {{"system", "Be brief."}, {"user", tricky + "\n"}}, true);
  }
  SECTION("--messages - reads the messages from stdin") {
    ProcessResult result = upstream.chat("Ylokh", {"--messages", "-", "more"}, messages_json({{"user", "Hi"}}));
    CHECK(result.exit_code == 0);
    check_ylokh(upstream.emulator.requests().at(0), {{"user", "Hi"}, {"user", "more"}}, true);
  }
  SECTION("content given as an array of text parts") {
    std::string parts =
        dir.write("parts.json",
                  R"([{"role":"user","content":[{"type":"text","text":"Hel"},{"type":"text","text":"lo"}]}])")
            .string();
    ProcessResult result = upstream.chat("Ylokh", {"--messages", parts});
    CHECK(result.exit_code == 0);
    check_ylokh(upstream.emulator.requests().at(0), {{"user", "Hel\nlo"}}, true);
  }
  SECTION("piped stdin and a PROMPT make one user message: stdin first, on lines of its own") {
    ProcessResult result = upstream.chat("Ylokh", {"describe", "this"}, "diff --git a/x b/x");
    CHECK(result.exit_code == 0);
    check_ylokh(upstream.emulator.requests().at(0), {{"user", "diff --git a/x b/x\ndescribe this"}}, true);
  }
  SECTION("piped stdin alone is the prompt") {
    ProcessResult result = upstream.chat("Ylokh", {}, tricky + "\n");
    CHECK(result.exit_code == 0);
    check_ylokh(upstream.emulator.requests().at(0), {{"user", tricky + "\n"}}, true);
  }
}

TEST_CASE("chat -o KEY=VALUE sends request parameters to the provider, the value read as JSON") {
  Upstream upstream;
  ProcessResult result =
      upstream.chat("Ylokh", {"-o", "temperature=0.25", "-o", "max_tokens=7", "-o", R"(stop=["END","STOP"])", "-o",
                              "top_p=0.5", "-o", "temperature=0.5", "Hi"});
  REQUIRE(result.exit_code == 0);
  CHECK(result.out == upstream.emulator.expected_text());
  auto body = parse_json(upstream.emulator.requests().at(0).body);
  CHECK(number_field(body, "temperature") == 0.5);  // given twice: the last wins
  CHECK(number_field(body, "top_p") == 0.5);
  CHECK(number_field(body, "max_tokens") == 7);
  CHECK(strings_field(body, "stop") == std::vector<std::string>{"END", "STOP"});

  SECTION("a value that is not JSON is a string") {
    ProcessResult bare = upstream.chat("Ylokh", {"-o", "stop=END", "Hi"});
    REQUIRE(bare.exit_code == 0);
    CHECK(string_field(parse_json(upstream.emulator.requests().back().body), "stop") == "END");
  }
}

TEST_CASE("stop and max_tokens hold on every bundled provider, and --usage reports the counts") {
  Upstream upstream;
  const std::string text = upstream.emulator.expected_text();
  const std::string stop = "[DONE]";  // a protocol word inside the text: the plugins pass it on as text
  REQUIRE(text.find(stop) != std::string::npos);
  for (const Provider &provider : providers) {
    INFO(provider.name);
    ProcessResult stopped = upstream.chat(provider.name, {"--usage", "-o", "stop=" + stop, "Hi"});
    CHECK(stopped.exit_code == 0);
    CHECK(stopped.out == text.substr(0, text.find(stop)));
    CHECK(lines_of(stopped.err) ==
          std::vector<std::string>{
              "provhost: usage: " + std::to_string(core::estimate_prompt_tokens({{"user", "Hi"}})) + " prompt + " +
              std::to_string(core::estimate_tokens(stopped.out)) + " completion = " +
              std::to_string(core::estimate_prompt_tokens({{"user", "Hi"}}) + core::estimate_tokens(stopped.out)) +
              " tokens (estimated); finish_reason: stop"});

    ProcessResult limited = upstream.chat(provider.name, {"--usage", "-o", "max_tokens=10", "Hi"});
    CHECK(limited.exit_code == 0);
    if (provider.name == "Ylokh") {
      // Ylokh declares param:max_tokens: its upstream counts (the emulator does not cut).
      CHECK(limited.out == text);
      CHECK(number_field(parse_json(upstream.emulator.requests().back().body), "max_tokens") == 10);
    } else {
      core::TokenEstimator estimator;
      CHECK(limited.out == text.substr(0, estimator.feed(text, 10)));
      CHECK_THAT(limited.err, Catch::EndsWith(" + 10 completion = " +
                                              std::to_string(core::estimate_prompt_tokens({{"user", "Hi"}}) + 10) +
                                              " tokens (estimated); finish_reason: length\n"));
    }
  }
}

TEST_CASE("chat -v names the provider and model that answered on stderr, and only there") {
  Upstream upstream;
  ProcessResult result = upstream.provhost({"chat", "-v", "-m", "Ylokh/gpt-3.5-turbo", "Hi"});
  REQUIRE(result.exit_code == 0);
  CHECK(result.out == upstream.emulator.expected_text());
  CHECK(lines_of(result.err) == std::vector<std::string>{"provhost: [Ylokh] info: answering with model gpt-3.5-turbo"});
}

TEST_CASE("the --upstream option wins over PROVHOST_UPSTREAM_<NAME>") {
  Upstream upstream;
  ProcessResult result =
      upstream.provhost({"--upstream", "ylokh=" + upstream.emulator.origin(), "chat", "-p", "Ylokh", "Hi"}, "",
                        {{"PROVHOST_UPSTREAM_YLOKH", "http://127.0.0.1:9"}});
  CHECK(result.exit_code == 0);
  CHECK(result.out == upstream.emulator.expected_text());
}

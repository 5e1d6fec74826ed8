// FlowGpt: the signed request, its body and the NDJSON answer (plugins/flowgpt/README.md).
#include <catch2/catch.hpp>

#include "conversations.hpp"

using namespace provhost::test;

namespace {

const std::string kDefaultSystem = "You are helpful assistant. Follow the user's instructions carefully.";
const Pairs kGreeting = {{"assistant", "Hello, how can I help you today?"}};

struct FlowGpt {
  FakeHost host;
  Plugin plugin{PROVHOST_FLOWGPT_PLUGIN, host};

  rapidjson::Document body(const Chat &chat) { return parse_body(first_request(plugin, chat).body); }
};

Pairs with_greeting(Pairs history) {
  history.insert(history.begin(), kGreeting.begin(), kGreeting.end());
  return history;
}

}  // namespace

TEST_CASE("FlowGpt describes itself as not working, with its models and aliases") {
  FlowGpt flow;
  CHECK(flow.plugin.name() == "FlowGpt");
  CHECK(flow.plugin.url() == "https://flowgpt.com/chat");
  CHECK(flow.plugin.info().working == 0);
  CHECK(flow.plugin.default_model() == "gpt-3.5-turbo");
  CHECK(flow.plugin.models() == std::vector<std::string>{"gpt-3.5-turbo", "gpt-3.5-long", "gpt-4-turbo",
                                                         "google-gemini", "claude-instant", "claude-v1", "claude-v2",
                                                         "llama2-13b", "mythalion-13b", "pygmalion-13b",
                                                         "chronos-hermes-13b", "Mixtral-8x7B", "Dolphin-2.6-8x7B"});
  CHECK(flow.plugin.aliases() == Pairs{{"gemini", "google-gemini"}, {"gemini-pro", "google-gemini"}});
  CHECK(flow.plugin.capabilities() ==
        std::vector<std::string>{"stream", "message_history", "system_message", "param:temperature"});
}

TEST_CASE("FlowGpt signs its request with MD5 of timestamp, nonce and the null token") {
  FlowGpt flow;
  flow.host.set_now_unix_ms(1'712'345'678'999);
  Request request = first_request(flow.plugin, single_user());
  CHECK(request.method == "POST");
  CHECK(request.url == "https://prod-backend-k8s.flowgpt.com/v3/chat-anonymous");
  CHECK(request.header("x-timestamp") == "1712345678");
  REQUIRE(request.header("x-nonce"));
  const std::string nonce = *request.header("x-nonce");
  CHECK(nonce.size() == 32);
  CHECK(nonce.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(request.header("x-signature") == digest_hex("md5", "1712345678-" + nonce + "-Bearer null"));
  CHECK(request.header("Authorization") == "Bearer null");
  REQUIRE(request.header("x-flow-device-id"));
  const std::string device = *request.header("x-flow-device-id");
  CHECK(device.size() == 21);
  CHECK(device.rfind("f-", 0) == 0);
  CHECK(device.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789", 2) == std::string::npos);
  CHECK(request.header("Referer") == "https://flowgpt.com/");
  CHECK(request.header("Origin") == "https://flowgpt.com");
  CHECK(request.header("Content-Type") == "application/json");
  REQUIRE(request.header("User-Agent"));
  CHECK_THAT(*request.header("User-Agent"), Catch::Contains("Firefox/"));
  for (const auto &[name, value] : request.headers) CHECK(request.header_count(name) == 1);
}

TEST_CASE("FlowGpt's nonce and device id come from the host's randomness") {
  FlowGpt flow;
  auto signed_values = [&](uint64_t seed) {
    flow.host.reseed(seed);
    Request request = first_request(flow.plugin, single_user());
    return *request.header("x-nonce") + "/" + *request.header("x-flow-device-id");
  };
  const std::string first = signed_values(3);
  CHECK(signed_values(3) == first);
  CHECK(signed_values(4) != first);
}

TEST_CASE("FlowGpt cannot sign without the host's digest") {
  FakeHost host;
  host.remove_digest();
  Plugin plugin(PROVHOST_FLOWGPT_PLUGIN, host);
  Session session(plugin, single_user());
  CHECK(session.open_status() == PH_FAILED);
  REQUIRE(session.outcome().errors.size() == 1);
  CHECK_THAT(session.outcome().errors[0].second, Catch::Contains("MD5"));
}

TEST_CASE("FlowGpt: a single user message is the question, with the default system text") {
  FlowGpt flow;
  auto body = flow.body(single_user());
  CHECK(body.MemberCount() == 11);
  CHECK(string_field(body, "model") == "gpt-3.5-turbo");
  CHECK(body["nsfw"].IsFalse());
  CHECK(string_field(body, "question") == "Hello");
  CHECK(messages_field(body, "history") == kGreeting);
  CHECK(string_field(body, "system") == kDefaultSystem);
  REQUIRE(body["temperature"].IsNumber());
  CHECK(body["temperature"].GetDouble() == 0.7);
  CHECK(string_field(body, "promptId") == "model-gpt-3.5-turbo");
  REQUIRE(body["documentIds"].IsArray());
  CHECK(body["documentIds"].Empty());
  REQUIRE(body["chatFileDocumentIds"].IsArray());
  CHECK(body["chatFileDocumentIds"].Empty());
  CHECK(body["generateImage"].IsFalse());
  CHECK(body["generateAudio"].IsFalse());
}

TEST_CASE("FlowGpt: system text goes to system, never to history") {
  FlowGpt flow;
  auto body = flow.body(system_user());
  CHECK(string_field(body, "system") == "Be brief.");
  CHECK(string_field(body, "question") == "Hello");
  CHECK(messages_field(body, "history") == kGreeting);

  auto two = flow.body(two_systems());
  CHECK(string_field(two, "system") == "Be brief.\nAnswer in French.");
  CHECK(messages_field(two, "history") == kGreeting);
}

TEST_CASE("FlowGpt: earlier turns follow the greeting in history") {
  FlowGpt flow;
  auto body = flow.body(history());
  CHECK(string_field(body, "question") == "Tell a joke");
  CHECK(messages_field(body, "history") == with_greeting({{"user", "Hi"}, {"assistant", "Hello! How can I help?"}}));
  CHECK(string_field(body, "system") == "Be brief.");
}

TEST_CASE("FlowGpt carries tricky and large content unchanged") {
  FlowGpt flow;
  CHECK(string_field(flow.body(tricky()), "question") == kTrickyText);
  Chat big = ten_kb_user();
  CHECK(string_field(flow.body(big), "question") == big.messages[0].second);
  Chat tricky_history = chat_of({{"user", kTrickyText}, {"assistant", kTrickyText}, {"user", "again"}});
  CHECK(messages_field(flow.body(tricky_history), "history") ==
        with_greeting({{"user", kTrickyText}, {"assistant", kTrickyText}}));
}

TEST_CASE("FlowGpt resolves the default model and aliases into model and promptId") {
  FlowGpt flow;
  Chat chat = single_user();
  chat.model = "gemini";
  auto aliased = flow.body(chat);
  CHECK(string_field(aliased, "model") == "google-gemini");
  CHECK(string_field(aliased, "promptId") == "model-google-gemini");
  chat.model = "claude-v2";
  CHECK(string_field(flow.body(chat), "promptId") == "model-claude-v2");
  chat.model = "";
  CHECK(string_field(flow.body(chat), "model") == "gpt-3.5-turbo");
}

TEST_CASE("FlowGpt takes the temperature option") {
  FlowGpt flow;
  Chat chat = single_user();
  chat.options_json = R"({"temperature": 0.2, "unrelated": true})";
  auto body = flow.body(chat);
  CHECK(body["temperature"].GetDouble() == 0.2);
  CHECK_FALSE(body.HasMember("unrelated"));
  chat.options_json = R"({"temperature": 1})";
  REQUIRE(flow.body(chat)["temperature"].IsInt());
  CHECK(flow.body(chat)["temperature"].GetInt() == 1);

  chat.options_json = R"({"temperature": "hot"})";
  Session session(flow.plugin, chat);
  CHECK(session.open_status() == PH_FAILED);
  REQUIRE(session.outcome().errors.size() == 1);
  CHECK(session.outcome().errors[0].first == PH_FAIL_BAD_REQUEST);
}

TEST_CASE("FlowGpt reads NDJSON the same however the answer is cut") {
  FlowGpt flow;
  Response response{200,
                    {},
                    "{\"event\":\"text\",\"data\":\"Hel\"}\n"
                    "\n"
                    "   \n"
                    "{\"no_event\":1}\r\n"
                    "{\"event\":\"done\",\"data\":\"ignored\"}\n"
                    "{\"event\":\"text\",\"data\":\"lo \\\"мир\\\" 🙂\"}\n"
                    "{\"event\":\"text\",\"data\":\"!\"}"};
  Outcome expected;
  expected.texts = {"Hel", "lo \"мир\" 🙂", "!"};
  expected.finishes = 1;
  check_every_cut(flow.plugin, single_user(), response, expected);
}

TEST_CASE("FlowGpt skips an undecodable line with a warning") {
  FlowGpt flow;
  Outcome got =
      answer_once(flow.plugin, single_user(),
                  {200, {}, "{\"event\":\"text\",\"data\":\"a\"}\n{oops\n{\"event\":\"text\",\"data\":\"b\"}\n"});
  CHECK(got.text() == "ab");
  CHECK(got.finishes == 1);
  REQUIRE(got.warnings.size() == 1);
  CHECK_THAT(got.warnings[0], Catch::Contains("{oops"));
}

TEST_CASE("FlowGpt reports an error object as the upstream's failure") {
  FlowGpt flow;
  Outcome got =
      answer_once(flow.plugin, single_user(),
                  {200, {}, "{\"event\":\"text\",\"data\":\"a\"}\n{\"error\":{\"message\":\"rate exceeded\"}}\n"});
  CHECK(got.text() == "a");
  REQUIRE(got.errors.size() == 1);
  CHECK(got.errors[0].first == PH_FAIL_UPSTREAM);
  CHECK_THAT(got.errors[0].second, Catch::Contains("rate exceeded"));
  CHECK(got.finishes == 0);
}

TEST_CASE("FlowGpt reads each record for itself, however alike the records and however the answer is cut") {
  FlowGpt flow;
  Response response{200,
                    {},
                    "{\"event\":\"text\",\"data\":\"a\"}\n"
                    "{\"event\":\"done\",\"data\":\"b\"}\n"
                    "{\"event\":\"text\",\"data\":\"c\"}\n"
                    "{\"event\":\"text\",\"data\":1}\n"
                    "{\"event\":\"text\",\"data\":\"\\udc00\"}\n"
                    "{\"event\":\"text\",\"data\":\"d\",\"data\":\"e\"}\n"
                    "{\"event\":\"text\",\"data\":\"\\u00e9\"}\n"};
  Outcome expected;
  expected.texts = {"a", "c", "\xEF\xBF\xBD", "d", "é"};  // a lone surrogate escape reads as U+FFFD
  expected.finishes = 1;
  check_every_cut(flow.plugin, single_user(), response, expected);
}

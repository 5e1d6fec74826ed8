// ChatgptFree: the nonce page, its cache, the stale-nonce refresh, the form POST and both answer shapes
// (plugins/chatgptfree/README.md).
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "conversations.hpp"

using namespace provhost::test;

namespace {

std::string nonce_page(const std::string &post_id, const std::string &nonce) {
  return "<!DOCTYPE html><html><head><title>ChatGPT Free</title></head><body>\n"
         "<div class=\"wpaicg-chat-shortcode\" data-url=\"https://chatgptfree.ai/chat/\" data-post-id=\"" +
         post_id + "\" data-bot-id=\"0\" data-nonce=\"" + nonce + "\" data-type=\"shortcode\">\n</div></body></html>";
}

const Response kPage{200, {{"Content-Type", "text/html; charset=UTF-8"}}, nonce_page("106", "8ad4c1f2e0")};

std::string delta(const std::string &content) {
  return "data: {\"choices\":[{\"delta\":{\"content\":\"" + content + "\"}}]}\n\n";
}

struct ChatgptFree {
  FakeHost host;
  Plugin plugin{PROVHOST_CHATGPTFREE_PLUGIN, host};

  // Runs a first session through the page so that later sessions start from the cached nonce.
  void warm_cache(const Response &page = kPage) {
    Session session(plugin, single_user());
    REQUIRE(session.next_request());
    REQUIRE(session.respond(page) == PH_RESPONSE_READ);
    REQUIRE(session.outcome().errors.empty());
    REQUIRE(session.next_request());
  }

  // The POST a session sends for `chat`, once the nonce is known.
  Request question(const Chat &chat) {
    if (!warm) warm_cache();
    warm = true;
    return first_request(plugin, chat);
  }
  bool warm = false;

  std::string prompt(const Chat &chat) {
    Pairs fields = form_decode(question(chat).body);
    REQUIRE(fields.size() == 6);
    REQUIRE(fields[4].first == "message");
    return fields[4].second;
  }
};

}  // namespace

TEST_CASE("ChatgptFree describes itself") {
  ChatgptFree free;
  CHECK(free.plugin.name() == "ChatgptFree");
  CHECK(free.plugin.url() == "https://chatgptfree.ai");
  CHECK(free.plugin.info().working != 0);
  CHECK(free.plugin.default_model() == "gpt-4o-mini-2024-07-18");
  CHECK(free.plugin.aliases() == Pairs{{"gpt-4o-mini", "gpt-4o-mini-2024-07-18"}});
}

TEST_CASE("ChatgptFree first fetches the home page, then posts the nonce it found") {
  ChatgptFree free;
  Session session(free.plugin, system_user());
  std::optional<Request> page = session.next_request();
  REQUIRE(page);
  CHECK(page->method == "GET");
  CHECK(page->url == "https://chatgptfree.ai/");
  CHECK(page->header("origin") == "https://chatgptfree.ai");
  CHECK(page->header("referer") == "https://chatgptfree.ai/chat/");
  REQUIRE(page->header("user-agent"));
  CHECK_THAT(*page->header("user-agent"), Catch::Contains("Chrome/"));
  CHECK(page->header_count("cookie") == 0);
  CHECK(page->timeout_ms == 120000);
  CHECK(session.respond(kPage) == PH_RESPONSE_READ);
  CHECK(session.outcome().texts.empty());
  CHECK(session.outcome().finishes == 0);

  std::optional<Request> post = session.next_request();
  REQUIRE(post);
  CHECK(post->method == "POST");
  CHECK(post->url == "https://chatgptfree.ai/wp-admin/admin-ajax.php");
  CHECK(post->header("content-type") == "application/x-www-form-urlencoded");
  CHECK(post->header("origin") == "https://chatgptfree.ai");
  CHECK(post->header("referer") == "https://chatgptfree.ai/chat/");
  CHECK(post->timeout_ms == 120000);
  CHECK(form_decode(post->body) == Pairs{{"_wpnonce", "8ad4c1f2e0"},
                                         {"post_id", "106"},
                                         {"url", "https://chatgptfree.ai"},
                                         {"action", "wpaicg_chat_shortcode_message"},
                                         {"message", "System: Be brief.\nUser: Hello\nAssistant:"},
                                         {"bot_id", "0"}});
  CHECK(session.respond({200, {}, delta("ok") + "data: [DONE]\n\n"}) == PH_RESPONSE_READ);
  CHECK(session.outcome().text() == "ok");
  CHECK(session.outcome().finishes == 1);
  CHECK_FALSE(session.next_request());
  CHECK(session.last_status() == PH_DONE);
}

TEST_CASE("ChatgptFree's prompt: one message as it is, a conversation as Role: lines") {
  ChatgptFree free;
  CHECK(free.prompt(single_user()) == "Hello");
  CHECK(free.prompt(history()) ==
        "System: Be brief.\nUser: Hi\nAssistant: Hello! How can I help?\nUser: Tell a joke\nAssistant:");
  CHECK(free.prompt(two_systems()) == "System: Be brief.\nSystem: Answer in French.\nUser: Hello\nAssistant:");
  CHECK(free.prompt(tricky()) == kTrickyText);
  CHECK(free.prompt(ten_kb_user()) == ten_kb_user().messages[0].second);
  CHECK(free.prompt(chat_of({{"user", "Hi"}, {"assistant", " \n\t "}, {"user", "Again"}})) ==
        "User: Hi\nUser: Again\nAssistant:");
}

TEST_CASE("ChatgptFree form-encodes like a browser form") {
  ChatgptFree free;
  Chat chat = chat_of({{"system", "a+b=c&d"}, {"user", kTrickyText}});
  std::string body = free.question(chat).body;
  CHECK(body.find(' ') == std::string::npos);
  CHECK(body.find("a%2Bb%3Dc%26d") != std::string::npos);
  CHECK(form_decode(body)[4].second == "System: a+b=c&d\nUser: " + kTrickyText + "\nAssistant:");
}

TEST_CASE("ChatgptFree sends the same question whatever the model: the widget has only one") {
  ChatgptFree free;
  Chat chat = single_user();
  chat.model = "gpt-4o-mini";
  std::string with_alias = free.question(chat).body;
  chat.model = "";
  CHECK(first_request(free.plugin, chat).body == with_alias);
}

TEST_CASE("ChatgptFree sends the caller's cookies with both steps") {
  ChatgptFree free;
  Chat chat = single_user();
  chat.options_json = R"({"cookies": {"wordpress_test_cookie": "WP Cookie check", "cf_clearance": "abc.123"}})";
  Session session(free.plugin, chat);
  std::optional<Request> page = session.next_request();
  REQUIRE(page);
  CHECK(page->header("cookie") == "wordpress_test_cookie=WP Cookie check; cf_clearance=abc.123");
  session.respond(kPage);
  std::optional<Request> post = session.next_request();
  REQUIRE(post);
  CHECK(post->header("cookie") == "wordpress_test_cookie=WP Cookie check; cf_clearance=abc.123");
  CHECK(post->header_count("cookie") == 1);
}

TEST_CASE("ChatgptFree refuses cookies it cannot send") {
  ChatgptFree free;
  for (const char *options :
       {R"({"cookies": ["a=1"]})", R"({"cookies": {"a": 1}})", R"({"cookies": {"a": "1\r\nX-Injected: y"}})",
        R"({"cookies": {"a": "1\u007f"}})", R"({"cookies": {"a": "\u0001"}})"}) {
    INFO(options);
    Chat chat = single_user();
    chat.options_json = options;
    Session session(free.plugin, chat);
    CHECK(session.open_status() == PH_FAILED);
    REQUIRE(session.outcome().errors.size() == 1);
    CHECK(session.outcome().errors[0].first == PH_FAIL_BAD_REQUEST);
  }
}

TEST_CASE("ChatgptFree reads the post id and nonce however the page is cut") {
  // The first data-post-id is not a number and the second data-nonce comes later: a regex search takes the
  // first match of each, and so must the plugin.
  Response page{200, {}, "<a data-post-id=\"x1\">" + nonce_page("42", "n-ñ-1") + "<b data-nonce=\"later\">"};
  for (const std::vector<size_t> &cuts : cut_plans(page.body.size(), 0)) {
    ChatgptFree free;
    Session session(free.plugin, single_user());
    REQUIRE(session.next_request());
    session.respond(page, cuts);
    REQUIRE(session.outcome().errors.empty());
    std::optional<Request> post = session.next_request();
    REQUIRE(post);
    Pairs fields = form_decode(post->body);
    CHECK(fields[0].second == "n-ñ-1");
    CHECK(fields[1].second == "42");
  }
}

TEST_CASE("ChatgptFree fails clearly when the page has no post id or no nonce") {
  struct Case {
    std::string html;
    std::string error;
  };
  for (const Case &c : {Case{"<div data-nonce=\"abc\"></div>", "no post id found"},
                        Case{"<div data-post-id=\"12a\" data-nonce=\"abc\"></div>", "no post id found"},
                        Case{"<div data-post-id=\"12\"></div>", "no nonce found"},
                        Case{"<div data-post-id=\"12\" data-nonce=\"abc\n\"></div>", "no nonce found"}}) {
    INFO(c.html);
    ChatgptFree free;
    Session session(free.plugin, single_user());
    REQUIRE(session.next_request());
    session.respond({200, {}, c.html});
    REQUIRE(session.outcome().errors.size() == 1);
    CHECK(session.outcome().errors[0].first == PH_FAIL_PROTOCOL);
    CHECK(session.outcome().errors[0].second == c.error);
    // The failure ends the session: the host calls nothing more but session_close (provhost.h).
    CHECK(session.over());
  }
}

TEST_CASE("ChatgptFree caches the nonce for later sessions of the same provider") {
  ChatgptFree free;
  free.warm_cache();
  Request post = first_request(free.plugin, single_user());
  CHECK(post.method == "POST");
  CHECK(form_decode(post.body)[0].second == "8ad4c1f2e0");

  // A fresh load of the plugin starts without a nonce.
  FakeHost other_host;
  Plugin reloaded(PROVHOST_CHATGPTFREE_PLUGIN, other_host);
  CHECK(first_request(reloaded, single_user()).method == "GET");
}

TEST_CASE("ChatgptFree refreshes a stale cached nonce once, then retries the question") {
  ChatgptFree free;
  free.warm_cache();
  Session session(free.plugin, single_user());
  std::optional<Request> stale = session.next_request();
  REQUIRE(stale);
  CHECK(stale->method == "POST");
  CHECK(session.respond({403, {}, "-1"}) == PH_RESPONSE_DISCARD);

  std::optional<Request> page = session.next_request();
  REQUIRE(page);
  CHECK(page->method == "GET");
  CHECK(session.respond({200, {}, nonce_page("106", "fresh-nonce")}) == PH_RESPONSE_READ);
  std::optional<Request> retry = session.next_request();
  REQUIRE(retry);
  CHECK(retry->method == "POST");
  CHECK(form_decode(retry->body)[0].second == "fresh-nonce");
  CHECK(session.respond({200, {}, delta("ok") + "data: [DONE]\n"}) == PH_RESPONSE_READ);
  CHECK(session.outcome().text() == "ok");
  CHECK(session.outcome().finishes == 1);
  CHECK(session.outcome().errors.empty());

  // The fresh nonce replaced the stale one for everybody.
  CHECK(form_decode(first_request(free.plugin, single_user()).body)[0].second == "fresh-nonce");
}

TEST_CASE("ChatgptFree: a second 403 after the refresh is an HTTP error") {
  ChatgptFree free;
  free.warm_cache();
  Session session(free.plugin, single_user());
  REQUIRE(session.next_request());
  REQUIRE(session.respond({403, {}, "-1"}) == PH_RESPONSE_DISCARD);
  REQUIRE(session.next_request());
  REQUIRE(session.respond(kPage) == PH_RESPONSE_READ);
  REQUIRE(session.next_request());
  CHECK(session.respond({403, {}, "-1"}) == PH_RESPONSE_HTTP_ERROR);
}

TEST_CASE("ChatgptFree: a Cloudflare challenge is no stale nonce") {
  ChatgptFree free;
  free.warm_cache();
  Session session(free.plugin, single_user());
  REQUIRE(session.next_request());
  CHECK(session.respond({403, {{"CF-Mitigated", "challenge"}}, "<title>Just a moment...</title>"}) ==
        PH_RESPONSE_HTTP_ERROR);
}

TEST_CASE("ChatgptFree: a 403 on a nonce this session fetched is an HTTP error at once") {
  ChatgptFree free;
  Session session(free.plugin, single_user());
  REQUIRE(session.next_request());
  REQUIRE(session.respond(kPage) == PH_RESPONSE_READ);
  REQUIRE(session.next_request());
  CHECK(session.respond({403, {}, "-1"}) == PH_RESPONSE_HTTP_ERROR);
}

TEST_CASE("ChatgptFree sessions share the cache safely from many threads") {
  ChatgptFree free;
  std::atomic<int> answered{0}, page_fetches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 25; ++round) {
        Session session(free.plugin, single_user());
        std::optional<Request> request = session.next_request();
        if (request && request->method == "GET") {
          ++page_fetches;
          session.respond(kPage);
          request = session.next_request();
        }
        if (!request || request->method != "POST") continue;
        session.respond({200, {}, delta("x") + "data: [DONE]\n\n"});
        if (session.outcome().text() == "x" && session.outcome().finishes == 1) ++answered;
      }
    });
  }
  for (std::thread &thread : threads) thread.join();
  CHECK(answered == 8 * 25);
  // Each thread's later sessions find the nonce its first session cached at the latest.
  CHECK(page_fetches >= 1);
  CHECK(page_fetches <= 8);
}

TEST_CASE("ChatgptFree reads a stream the same however it is cut, up to [DONE]") {
  ChatgptFree free;
  free.warm_cache();
  Response response{200,
                    {},
                    "  data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}  \r\n\r\n" + delta("Hel") +
                        delta("lo \\\"мир\\\" 🙂") + "data: {broken\n\n" + delta("!") + "data: [DONE]\n\n" +
                        delta("late")};
  Outcome expected;
  expected.texts = {"Hel", "lo \"мир\" 🙂", "!"};
  expected.finishes = 1;
  expected.warnings = {"skipped undecodable data: {broken"};
  check_every_cut(free.plugin, single_user(), response, expected);
}

TEST_CASE("ChatgptFree: a stream without [DONE] is not finished") {
  ChatgptFree free;
  free.warm_cache();
  Outcome expected;
  expected.texts = {"Hel", "lo"};
  check_every_cut(free.plugin, single_user(), {200, {}, delta("Hel") + delta("lo")}, expected);
}

TEST_CASE("ChatgptFree reads the buffered JSON answer however it is cut") {
  ChatgptFree free;
  free.warm_cache();
  Response response{200, {}, "{\n  \"status\": \"success\",\n  \"data\": \"Привет 🙂 \\\"всем\\\"\"\n}\n"};
  Outcome expected;
  expected.texts = {"Привет 🙂 \"всем\""};
  expected.finishes = 1;
  check_every_cut(free.plugin, single_user(), response, expected);
}

TEST_CASE("ChatgptFree: a buffered JSON answer cut short is not finished, nor an error") {
  ChatgptFree free;
  free.warm_cache();
  const std::string whole = R"({"data": "Привет, мир"})";
  for (size_t size = 1; size < whole.size(); ++size) {
    INFO(whole.substr(0, size));
    CHECK(answer_once(free.plugin, single_user(), {200, {}, whole.substr(0, size)}) == Outcome{});
  }
}

TEST_CASE("ChatgptFree reports an error object as the upstream's failure") {
  ChatgptFree free;
  free.warm_cache();
  Outcome in_stream =
      answer_once(free.plugin, single_user(), {200, {}, delta("a") + "data: {\"error\":{\"message\":\"busy\"}}\n\n"});
  REQUIRE(in_stream.errors.size() == 1);
  CHECK(in_stream.errors[0].first == PH_FAIL_UPSTREAM);
  CHECK_THAT(in_stream.errors[0].second, Catch::Contains("busy"));
  CHECK(in_stream.finishes == 0);

  Outcome buffered = answer_once(free.plugin, single_user(), {200, {}, R"({"error": "limit reached"})"});
  REQUIRE(buffered.errors.size() == 1);
  CHECK(buffered.errors[0].first == PH_FAIL_UPSTREAM);
  CHECK_THAT(buffered.errors[0].second, Catch::Contains("limit reached"));
}

TEST_CASE("ChatgptFree: an answer that is neither shape is a protocol error") {
  ChatgptFree free;
  free.warm_cache();
  for (const char *body :
       {"0", "<html><body>Bad gateway</body></html>", R"({"status": "error"})", R"({"data": "bad \q escape"})"}) {
    INFO(body);
    Outcome got = answer_once(free.plugin, single_user(), {200, {}, body});
    REQUIRE(got.errors.size() == 1);
    CHECK(got.errors[0].first == PH_FAIL_PROTOCOL);
    CHECK(got.finishes == 0);
  }
}

TEST_CASE(
    "ChatgptFree hands out only UTF-8: a lone surrogate escape reads as U+FFFD, a buffered answer that is not UTF-8 is "
    "refused") {
  ChatgptFree free;
  free.warm_cache();
  Outcome expected;
  expected.texts = {"ok", "\xEF\xBF\xBD", "é"};
  expected.finishes = 1;
  check_every_cut(free.plugin, single_user(),
                  {200, {}, delta("ok") + delta("\\udc00") + delta("\\u00e9") + "data: [DONE]\n\n"}, expected);

  Outcome replaced = answer_once(free.plugin, single_user(), {200, {}, "{\"data\": \"\\udc00\"}"});
  CHECK(replaced.errors.empty());
  CHECK(replaced.texts == std::vector<std::string>{"\xEF\xBF\xBD"});

  Outcome buffered = answer_once(free.plugin, single_user(), {200, {}, "{\"data\": \"\xFF is not UTF-8\"}"});
  REQUIRE(buffered.errors.size() == 1);
  CHECK(buffered.errors[0].first == PH_FAIL_PROTOCOL);
  CHECK(buffered.texts.empty());
}

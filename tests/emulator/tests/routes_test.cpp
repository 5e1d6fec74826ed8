// Each route answers in its protocol's shape, with the text the emulator says it streams.
#include <catch2/catch.hpp>
#include <regex>
#include <set>
#include <stdexcept>
#include <vector>

#include "client.hpp"
#include "render.hpp"

using namespace provhost::emulator;
using namespace provhost::emulator::test;

TEST_CASE("every route streams the expected text", "[emulator]") {
  Emulator emulator;
  emulator.start();
  for (std::string_view route : all_routes) {
    INFO(route);
    const HttpResponse response = ask(emulator, route);
    REQUIRE(response.code == CURLE_OK);
    CHECK(response.status == 200);
    CHECK(response.body == emulator.answer_body(route));
    const Decoded decoded = decode(route, response.body);
    CHECK(decoded.text == emulator.expected_text());
    CHECK(decoded.undecodable == 0);
  }
  CHECK(emulator.expected_text() == default_text());
}

TEST_CASE("Koala sends JSON strings on data lines and lines a client must ignore", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const HttpResponse response = ask(emulator, "koala");
  CHECK(response.header("Content-Type").starts_with("text/event-stream"));
  const Decoded decoded = read_koala(response.body);
  CHECK(decoded.ignored >= 1);
  CHECK(response.body.find("\nevent: ") != std::string::npos);
}

TEST_CASE("Ylokh streams OpenAI chunks with a role chunk, an empty chunk and [DONE]", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const HttpResponse response = ask(emulator, "ylokh");
  const Decoded decoded = read_openai_stream(response.body);
  CHECK(decoded.terminated);
  CHECK(response.body.find(R"("delta":{"role":"assistant"})") != std::string::npos);
  CHECK(response.body.find(R"("delta":{"content":""})") != std::string::npos);
  CHECK(response.body.ends_with("data: [DONE]\n\n"));
}

TEST_CASE("Ylokh without stream answers one JSON object", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const HttpResponse response = ask(emulator, "ylokh", false);
  CHECK(response.header("Content-Type") == "application/json");
  CHECK(std::stoul(response.header("Content-Length")) == response.body.size());
  const Decoded decoded = read_ylokh_json(response.body);
  CHECK(decoded.terminated);
  CHECK(decoded.text == emulator.expected_text());
}

TEST_CASE("ChatgptFree serves a page with the post id and the current nonce", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const HttpResponse page = get(emulator.origin() + "/");
  CHECK(page.status == 200);
  std::smatch post_id, nonce;
  REQUIRE(std::regex_search(page.body, post_id, std::regex(R"(data-post-id="(\d+)\")")));
  REQUIRE(std::regex_search(page.body, nonce, std::regex(R"(data-nonce="([^"]+)\")")));
  CHECK(nonce[1] == emulator.current_nonce());
  CHECK(std::regex_match(emulator.current_nonce(), std::regex("[0-9a-f]{10}")));
}

TEST_CASE("ChatgptFree checks the nonce and the action like WordPress", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const std::string url = emulator.origin() + "/wp-admin/admin-ajax.php";
  const HttpResponse wrong_nonce = post_form(url, route_body("chatgptfree", "0123456789"));
  CHECK(wrong_nonce.status == 403);
  CHECK(wrong_nonce.body == "-1");
  const HttpResponse no_action = post_form(url, "_wpnonce=" + emulator.current_nonce());
  CHECK(no_action.status == 400);
  CHECK(no_action.body == "0");
  CHECK(post_form(url, route_body("chatgptfree", emulator.current_nonce())).status == 200);
}

TEST_CASE("ChatgptFree answers SSE deltas or, when configured, the buffered JSON", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const HttpResponse sse = ask(emulator, "chatgptfree");
  CHECK(sse.body.starts_with("data: "));
  CHECK(read_chatgptfree(sse.body).terminated);

  Config config;
  config.chatgptfree_json_answer = true;
  emulator.configure(config);
  const HttpResponse json = ask(emulator, "chatgptfree");
  CHECK(json.body == R"({"data":)" + provhost::emulator::detail::json_string(emulator.expected_text()) + "}");
  CHECK(read_chatgptfree(json.body).text == emulator.expected_text());
}

TEST_CASE("FreeNetfly separates events by blank lines, some with two data lines", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const Decoded decoded = read_openai_stream(ask(emulator, "freenetfly").body);
  CHECK(decoded.terminated);
  CHECK(decoded.multi_data_events >= 2);
  CHECK(decoded.text == emulator.expected_text());
}

TEST_CASE("FlowGpt sends NDJSON with blank lines and records a client must skip", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const HttpResponse response = ask(emulator, "flowgpt");
  CHECK(response.body.find("\n\n") != std::string::npos);
  CHECK(response.body.find(R"({"event":"done")") != std::string::npos);
  const Decoded decoded = read_flowgpt(response.body);
  CHECK(decoded.ignored >= 3);  // start, an object without "event", done
  CHECK(decoded.text == emulator.expected_text());
}

TEST_CASE("a configured text, chunk size and chunk count shape every answer", "[emulator]") {
  Emulator emulator;
  emulator.start();
  Config config;
  config.text = "Ωmega — ok";
  config.chunk_size = 3;
  config.chunks = 200;
  emulator.configure(config);
  std::string expected;
  const auto pieces = provhost::emulator::detail::tokenize(config.text, 3);
  for (std::size_t i = 0; i < 200; ++i) expected += pieces[i % pieces.size()];
  CHECK(emulator.expected_text() == expected);
  for (std::string_view route : all_routes) {
    INFO(route);
    CHECK(decode(route, ask(emulator, route).body).text == expected);
  }
}

TEST_CASE("unknown paths get 404, known paths with another method 405", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const HttpResponse missing = get(emulator.origin() + "/no/such/page");
  CHECK(missing.status == 404);
  CHECK(missing.body.find("/no/such/page") != std::string::npos);
  const HttpResponse wrong_method = get(emulator.origin() + "/v1/chat/completions");
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.header("Allow") == "POST");
}

TEST_CASE("a JSON route refuses a body that is not JSON", "[emulator]") {
  Emulator emulator;
  emulator.start();
  for (std::string_view route : {"koala", "ylokh", "freenetfly", "flowgpt"}) {
    const HttpResponse response = post_json(emulator.origin() + route_path(route), "{not json");
    CHECK(response.status == 400);
    CHECK(response.body.find("not a JSON object") != std::string::npos);
  }
}

TEST_CASE("the Host header does not matter", "[emulator]") {
  Emulator emulator;
  emulator.start();
  HttpRequest request{"POST",
                      emulator.origin() + "/api/gpt/",
                      route_body("koala"),
                      {"Host: koala.sh", "Content-Type: application/json"}};
  const HttpResponse response = perform(request);
  CHECK(response.status == 200);
  CHECK(read_koala(response.body).text == emulator.expected_text());
}

TEST_CASE("routes() names every route once, and answer_path() is where each is asked for its answer", "[emulator]") {
  const std::vector<std::string_view> routes = provhost::emulator::routes();
  CHECK(std::set<std::string_view>(routes.begin(), routes.end()).size() == routes.size());
  for (std::string_view route : routes) {
    INFO(route);
    CHECK(provhost::emulator::answer_path(route) == route_path(route));
  }
  CHECK_THROWS_AS(provhost::emulator::answer_path("nowhere"), std::invalid_argument);
}

// Each fault, set per route through the C++ API, changes exactly what it says and nothing else.
#include <catch2/catch.hpp>
#include <regex>
#include <thread>

#include "client.hpp"

using namespace provhost::emulator;
using namespace provhost::emulator::test;

namespace {

std::size_t body_middle(const std::string &wire) {
  const std::size_t body_begin = wire.find("\r\n\r\n") + 4;
  return body_begin + (wire.size() - body_begin) / 2;
}

// Polls (bounded) until the emulator holds no connection; whether it got there.
bool all_connections_closed(const Emulator &emulator) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (emulator.open_connections() != 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

TEST_CASE("rate_limit answers 429 with a JSON error and Retry-After", "[emulator]") {
  Emulator emulator;
  emulator.start();
  emulator.set_fault("ylokh", "rate_limit");
  const HttpResponse response = ask(emulator, "ylokh");
  CHECK(response.status == 429);
  CHECK(response.header("Retry-After") == "1");
  CHECK(response.body == R"({"error":{"message":"Too many requests"}})");
  CHECK(ask(emulator, "ylokh").status == 429);  // until cleared
  emulator.clear_faults();
  CHECK(ask(emulator, "ylokh").status == 200);
}

TEST_CASE("cloudflare answers 403 with the challenge page", "[emulator]") {
  Emulator emulator;
  emulator.start();
  emulator.set_fault("koala", "cloudflare");
  const HttpResponse response = ask(emulator, "koala");
  CHECK(response.status == 403);
  CHECK(response.header("Content-Type").starts_with("text/html"));
  CHECK(response.body.find("<title>Just a moment...</title>") != std::string::npos);
}

TEST_CASE("server_error and bad_gateway answer 500 and 502", "[emulator]") {
  Emulator emulator;
  emulator.start();
  emulator.set_fault("flowgpt", "server_error");
  emulator.set_fault("freenetfly", "bad_gateway");
  const HttpResponse server_error = ask(emulator, "flowgpt");
  CHECK(server_error.status == 500);
  CHECK(server_error.body.find(R"("message":"Internal server error")") != std::string::npos);
  const HttpResponse bad_gateway = ask(emulator, "freenetfly");
  CHECK(bad_gateway.status == 502);
  CHECK(bad_gateway.body.find("502 Bad Gateway") != std::string::npos);
}

TEST_CASE("a fault applies to its route only", "[emulator]") {
  Emulator emulator;
  emulator.start();
  emulator.set_fault("koala", "rate_limit");
  CHECK(ask(emulator, "koala").status == 429);
  for (std::string_view route : {"ylokh", "chatgptfree", "freenetfly", "flowgpt"})
    CHECK(ask(emulator, route).status == 200);
}

TEST_CASE("times limits a fault to the next requests", "[emulator]") {
  Emulator emulator;
  emulator.start();
  emulator.set_fault("ylokh", "server_error", 0, 2);
  CHECK(ask(emulator, "ylokh").status == 500);
  CHECK(ask(emulator, "ylokh").status == 500);
  CHECK(ask(emulator, "ylokh").status == 200);
}

TEST_CASE("reset reads the request, then aborts the connection without an answer", "[emulator]") {
  Emulator emulator;
  emulator.start();
  emulator.set_fault("freenetfly", "reset");
  const RawExchange exchange = raw_exchange(emulator.port(), raw_request(emulator, "freenetfly"));
  CHECK_FALSE(exchange.timed_out);
  CHECK(exchange.reset);
  CHECK(exchange.bytes.empty());
  CHECK(ask(emulator, "freenetfly").code == CURLE_RECV_ERROR);
  CHECK(emulator.requests().size() == 2);  // both were read and recorded
}

TEST_CASE("fail_first resets the first K requests of the route, then answers", "[emulator]") {
  Emulator emulator;
  emulator.start();
  SECTION("with k") { emulator.set_fault("koala", "fail_first", 2); }
  SECTION("spelled fail_first:K") { emulator.set_fault("koala", "fail_first:2"); }
  CHECK(ask(emulator, "koala").code == CURLE_RECV_ERROR);
  CHECK(ask(emulator, "koala").code == CURLE_RECV_ERROR);
  const HttpResponse third = ask(emulator, "koala");
  CHECK(third.code == CURLE_OK);
  CHECK(read_koala(third.body).text == emulator.expected_text());
}

TEST_CASE("truncate ends the response cleanly before the terminator", "[emulator]") {
  Emulator emulator;
  emulator.start();
  for (std::string_view route : all_routes) {
    INFO(route);
    emulator.set_fault(route, "truncate");
    const HttpResponse response = ask(emulator, route);
    CHECK(response.code == CURLE_OK);
    CHECK(response.status == 200);
    const Decoded decoded = decode(route, response.body);
    CHECK_FALSE(decoded.terminated);
    CHECK_FALSE(decoded.text.empty());
    CHECK(decoded.text.size() < emulator.expected_text().size());
    CHECK(emulator.expected_text().starts_with(decoded.text));
  }
}

TEST_CASE("cut closes the connection in the middle of the body", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const std::string whole = raw_answer(emulator, "ylokh");
  emulator.set_fault("ylokh", "cut");
  const RawExchange exchange = raw_exchange(emulator.port(), raw_request(emulator, "ylokh"));
  CHECK_FALSE(exchange.timed_out);
  CHECK_FALSE(exchange.reset);
  CHECK(exchange.bytes == whole.substr(0, body_middle(whole)));
  const HttpResponse response = ask(emulator, "ylokh");
  CHECK(response.code == CURLE_PARTIAL_FILE);
  CHECK(emulator.answer_body("ylokh").starts_with(response.body));
}

TEST_CASE("malformed puts one undecodable record in the middle", "[emulator]") {
  Emulator emulator;
  emulator.start();
  for (std::string_view route : all_routes) {
    INFO(route);
    emulator.set_fault(route, "malformed");
    const Decoded decoded = decode(route, ask(emulator, route).body);
    CHECK(decoded.undecodable == 1);
    CHECK(decoded.text == emulator.expected_text());
  }
}

TEST_CASE("stall sends half the answer, then holds the connection until the client leaves", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const std::string whole = raw_answer(emulator, "flowgpt");
  REQUIRE(all_connections_closed(emulator));
  emulator.set_fault("flowgpt", "stall");
  RawConnection client(emulator.port());
  client.send(raw_request(emulator, "flowgpt"));
  REQUIRE(client.read_at_least(body_middle(whole)));
  CHECK(client.received() == whole.substr(0, body_middle(whole)));
  // Silence, not an end: nothing more arrives and the server keeps the connection.
  CHECK_FALSE(client.read_at_least(body_middle(whole) + 1, std::chrono::milliseconds(200)));
  CHECK_FALSE(client.ended());
  CHECK(emulator.open_connections() == 1);
  client.close();
  CHECK(all_connections_closed(emulator));
}

TEST_CASE("a client with a timeout gives up on a stalled stream with part of the text", "[emulator]") {
  Emulator emulator;
  emulator.start();
  emulator.set_fault("ylokh", "stall");
  HttpRequest request{"POST",
                      emulator.origin() + "/v1/chat/completions",
                      route_body("ylokh"),
                      {"Content-Type: application/json"},
                      std::chrono::milliseconds(500)};
  const HttpResponse response = perform(request);
  CHECK(response.code == CURLE_OPERATION_TIMEDOUT);
  const Decoded decoded = read_openai_stream(response.body);
  CHECK_FALSE(decoded.text.empty());
  CHECK(emulator.expected_text().starts_with(decoded.text));
}

TEST_CASE("stale_nonce refuses the first answer request and serves a new nonce", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const std::string cached = emulator.current_nonce();
  emulator.set_fault("chatgptfree", "stale_nonce");
  const HttpResponse refused = ask(emulator, "chatgptfree");
  CHECK(refused.status == 403);
  CHECK(refused.body == "-1");
  CHECK(emulator.current_nonce() != cached);
  const HttpResponse page = get(emulator.origin() + "/");
  CHECK(page.body.find("data-nonce=\"" + emulator.current_nonce() + "\"") != std::string::npos);
  const HttpResponse retried = ask(emulator, "chatgptfree");
  CHECK(retried.status == 200);
  CHECK(read_chatgptfree(retried.body).text == emulator.expected_text());
}

TEST_CASE("ChatgptFree's page can lack the nonce or the post id", "[emulator]") {
  Emulator emulator;
  emulator.start();
  emulator.set_fault("chatgptfree", "no_nonce");
  HttpResponse page = get(emulator.origin() + "/");
  CHECK(page.body.find("data-nonce=") == std::string::npos);
  CHECK(page.body.find("data-post-id=") != std::string::npos);
  CHECK(ask(emulator, "chatgptfree").status == 200);  // the answer request is not affected
  emulator.set_fault("chatgptfree", "no_post_id");
  page = get(emulator.origin() + "/");
  CHECK(page.body.find("data-post-id=") == std::string::npos);
  CHECK(page.body.find("data-nonce=") != std::string::npos);
}

TEST_CASE("ChatgptFree's page is blocked too, but never truncated", "[emulator]") {
  Emulator emulator;
  emulator.start();
  emulator.set_fault("chatgptfree", "cloudflare");
  CHECK(get(emulator.origin() + "/").status == 403);
  emulator.set_fault("chatgptfree", "truncate", 0, 1);
  CHECK(std::regex_search(get(emulator.origin() + "/").body, std::regex(R"(data-nonce="[0-9a-f]+")")));
  CHECK_FALSE(read_chatgptfree(ask(emulator, "chatgptfree").body).terminated);
  CHECK(read_chatgptfree(ask(emulator, "chatgptfree").body).terminated);  // used up by the answer
}

TEST_CASE("unknown routes and faults are refused", "[emulator]") {
  Emulator emulator;
  CHECK_THROWS_AS(emulator.set_fault("openai", "reset"), std::invalid_argument);
  CHECK_THROWS_AS(emulator.set_fault("ylokh", "explode"), std::invalid_argument);
  CHECK_THROWS_AS(emulator.set_fault("ylokh", "stale_nonce"), std::invalid_argument);
  CHECK_THROWS_AS(emulator.set_fault("ylokh", "fail_first:x"), std::invalid_argument);
  CHECK_THROWS_AS(emulator.set_fault("ylokh", "reset:2"), std::invalid_argument);
  CHECK_NOTHROW(emulator.set_fault("ylokh", "none"));
}

// How the bytes go out: small writes that split lines and characters, large writes for
// benchmarks, keep-alive, many connections at once, and a clean stop.
#include <curl/curl.h>

#include <catch2/catch.hpp>
#include <future>
#include <memory>
#include <thread>

#include "client.hpp"

using namespace provhost::emulator;
using namespace provhost::emulator::test;

namespace {

bool is_continuation(char byte) { return (static_cast<unsigned char>(byte) & 0xC0) == 0x80; }

}  // namespace

TEST_CASE("small writes split lines and UTF-8 characters, and reassemble to the body", "[emulator]") {
  Emulator emulator;
  emulator.start();
  for (std::string_view route : {"koala", "ylokh", "chatgptfree", "flowgpt"}) {
    INFO(route);
    const RawExchange exchange = raw_exchange(emulator.port(), raw_request(emulator, route));
    const ChunkedResponse response = parse_chunked(exchange.bytes);
    REQUIRE(response.terminated);
    CHECK(response.body == emulator.answer_body(route));
    std::size_t splits_character = 0, splits_line = 0;
    for (const auto &chunk : response.chunks) {
      CHECK(chunk.size() >= 1);
      CHECK(chunk.size() <= 7);
      if (is_continuation(chunk.front())) ++splits_character;
      if (chunk.back() != '\n') ++splits_line;
    }
    // Koala's JSON escapes every non-ASCII character, so only the others carry raw UTF-8.
    if (route != "koala") CHECK(splits_character > 0);
    CHECK(splits_line > 0);
  }
}

TEST_CASE("libcurl hands a client the body in small pieces", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const HttpResponse response = ask(emulator, "freenetfly");
  CHECK(response.body == emulator.answer_body("freenetfly"));
  // Each HTTP chunk reaches the client's callback on its own, whatever the kernel coalesced.
  CHECK(response.body_callbacks >= response.body.size() / 7);
}

TEST_CASE("write_size sends large chunks, and a long stream arrives whole", "[emulator]") {
  Emulator emulator;
  emulator.start();
  Config config;
  config.chunks = 20000;
  config.write_size = 16384;
  emulator.configure(config);
  const RawExchange exchange = raw_exchange(emulator.port(), raw_request(emulator, "ylokh"));
  const ChunkedResponse response = parse_chunked(exchange.bytes);
  REQUIRE(response.terminated);
  REQUIRE(response.chunks.size() > 2);
  for (std::size_t i = 0; i + 1 < response.chunks.size(); ++i) CHECK(response.chunks[i].size() == 16384);
  const Decoded decoded = read_openai_stream(response.body);
  CHECK(decoded.text == emulator.expected_text());
  CHECK(decoded.text.size() > 20000);
}

TEST_CASE("one connection carries many requests (keep-alive)", "[emulator]") {
  Emulator emulator;
  emulator.start();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string body;
  const std::string url = emulator.origin() + "/v1/chat/completions";
  const std::string request = route_body("ylokh");
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, request.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(
      curl.get(), CURLOPT_WRITEFUNCTION, +[](char *data, size_t size, size_t count, void *user) {
        static_cast<std::string *>(user)->append(data, size * count);
        return size * count;
      });
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  for (int i = 0; i < 3; ++i) {
    body.clear();
    REQUIRE(curl_easy_perform(curl.get()) == CURLE_OK);
    CHECK(read_openai_stream(body).text == emulator.expected_text());
    long new_connections = -1;
    curl_easy_getinfo(curl.get(), CURLINFO_NUM_CONNECTS, &new_connections);
    CHECK(new_connections == (i == 0 ? 1 : 0));
  }
  CHECK(emulator.open_connections() == 1);
}

TEST_CASE("many concurrent streams are served by the one thread", "[emulator]") {
  Emulator emulator;
  emulator.start();
  Config config;
  config.write_size = 256;  // small writes for 300 streams would only make the test slow
  emulator.configure(config);
  constexpr int streams = 300;
  CURLM *multi = curl_multi_init();
  std::vector<std::string> bodies(streams);
  std::vector<CURL *> handles;
  const std::string url = emulator.origin() + "/api/openai/v1/chat/completions";
  const std::string request = route_body("freenetfly");
  for (int i = 0; i < streams; ++i) {
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.c_str());
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(
        curl, CURLOPT_WRITEFUNCTION, +[](char *data, size_t size, size_t count, void *user) {
          static_cast<std::string *>(user)->append(data, size * count);
          return size * count;
        });
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &bodies[i]);
    curl_multi_add_handle(multi, curl);
    handles.push_back(curl);
  }
  int running = 0;
  do {
    curl_multi_perform(multi, &running);
    if (running) curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  } while (running);
  int failed = 0;
  while (CURLMsg *message = curl_multi_info_read(multi, &running))
    if (message->msg == CURLMSG_DONE && message->data.result != CURLE_OK) ++failed;
  for (CURL *curl : handles) {
    curl_multi_remove_handle(multi, curl);
    curl_easy_cleanup(curl);
  }
  curl_multi_cleanup(multi);
  CHECK(failed == 0);
  int wrong = 0;
  for (const auto &body : bodies)
    if (read_openai_stream(body).text != emulator.expected_text()) ++wrong;
  CHECK(wrong == 0);
  CHECK(emulator.requests().size() == streams);
}

TEST_CASE("Expect: 100-continue gets its interim answer before the body is sent", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const std::string body = route_body("koala");
  RawConnection client(emulator.port());
  client.send(
      "POST /api/gpt/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  REQUIRE(client.read_at_least(interim.size()));
  CHECK(client.received() == interim);
  client.send(body);
  REQUIRE(client.read_to_end());
  const ChunkedResponse response = parse_chunked(client.received().substr(interim.size()));
  CHECK(response.terminated);
  CHECK(read_koala(response.body).text == emulator.expected_text());
}

TEST_CASE("a request that is not HTTP gets 400", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const RawExchange exchange = raw_exchange(emulator.port(), "HELLO THERE\r\n\r\n");
  CHECK(exchange.bytes.starts_with("HTTP/1.1 400 Bad Request\r\n"));
}

TEST_CASE("stop closes stalled connections and returns", "[emulator]") {
  auto emulator = std::make_unique<Emulator>();
  emulator->start();
  emulator->set_fault("koala", "stall");
  RawConnection client(emulator->port());
  client.send(raw_request(*emulator, "koala"));
  REQUIRE(client.read_at_least(100));
  auto stopped = std::make_shared<std::promise<void>>();
  auto done = stopped->get_future();
  std::thread([server = emulator.get(), stopped] {
    server->stop();
    stopped->set_value();
  }).detach();
  if (done.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // Leave the stuck thread its emulator rather than hang the test on a join.
    emulator.release();
    FAIL("stop() did not return");
  }
  CHECK(client.read_to_end());
  CHECK(emulator->open_connections() == 0);
}

TEST_CASE("start fails clearly when the port is taken", "[emulator]") {
  Emulator first;
  first.start();
  Emulator second;
  CHECK_THROWS_WITH(second.start(first.port()),
                    Catch::Contains("cannot listen on 127.0.0.1:") && Catch::Contains("in use"));
  CHECK_THROWS_AS(Emulator().start(0, "not-an-address"), std::runtime_error);
}

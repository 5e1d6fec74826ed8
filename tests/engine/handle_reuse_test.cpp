// The pool's easy handles keep their options from one transfer to the next (no curl_easy_reset):
// what one request set must not reach the next one sent on the same handle. Each request here goes
// on the handle the last one used, to the emulator, which records what it received.
#include <algorithm>
#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat_state.hpp"
#include "curl_pool.hpp"
#include "transfer.hpp"

using namespace provhost::core;
using namespace provhost::core::engine;
using provhost::emulator::Emulator;
using provhost::emulator::RecordedRequest;

namespace {

constexpr int poll_ms = 1000;

// Sends requests one at a time through a CurlPool, as the engine does, and says which handle each took.
class Sender {
 public:
  struct Sent {
    CURLcode result = CURLE_OK;
    CURL *easy = nullptr;
    bool fresh = false;
  };

  Sent send(const detail::OutgoingRequest &request) { return send_together({request}).front(); }

  // Runs the requests at once, each on a handle of its own, and gives each handle back as its
  // transfer ends, as the engine does.
  std::vector<Sent> send_together(const std::vector<detail::OutgoingRequest> &requests) {
    std::vector<Sent> sent(requests.size());
    std::vector<std::unique_ptr<Transfer>> transfers;
    for (size_t i = 0; i < requests.size(); ++i) {
      auto [easy, fresh] = pool_.take();
      REQUIRE(easy);
      sent[i].easy = easy;
      sent[i].fresh = fresh;
      if (fresh) REQUIRE(configure_handle(easy, "", 0).empty());
      transfers.push_back(std::make_unique<Transfer>(next_id_++, chat_, easy, touched_, buffer_limit_));
      REQUIRE(configure_transfer(*transfers.back(), requests[i]).empty());
      REQUIRE(pool_.add(easy).empty());
    }
    pool_.size_connection_cache(requests.size());
    size_t done = 0;
    while (done < requests.size()) {
      REQUIRE(pool_.perform().empty());
      int queued = 0;
      while (CURLMsg *message = curl_multi_info_read(pool_.multi(), &queued)) {
        if (message->msg != CURLMSG_DONE) continue;
        auto found =
            std::find_if(sent.begin(), sent.end(), [&](const Sent &s) { return s.easy == message->easy_handle; });
        REQUIRE(found != sent.end());
        found->result = message->data.result;
        pool_.release(found->easy);
        pool_.size_connection_cache(requests.size() - ++done);
      }
      int ready = 0;
      if (done < requests.size()) REQUIRE(pool_.poll(poll_ms, ready).empty());
    }
    touched_.clear();
    return sent;
  }

 private:
  CurlPool pool_;
  Chat chat_{1, ChatSpec{}, nullptr};
  std::vector<uint64_t> touched_;
  const size_t buffer_limit_ = transfer_buffer_limit(1);
  uint64_t next_id_ = 1;
};

detail::OutgoingRequest request(std::string method, const std::string &url, std::string body = {},
                                std::vector<std::pair<std::string, std::string>> headers = {}) {
  detail::OutgoingRequest out;
  out.method = std::move(method);
  out.url = url;
  out.body = std::move(body);
  out.headers = std::move(headers);
  return out;
}

bool has_header(const RecordedRequest &recorded, std::string_view name) {
  for (const auto &[header, value] : recorded.headers) {
    if (header.size() == name.size() &&
        std::equal(header.begin(), header.end(), name.begin(), [](char a, char b) { return std::tolower(a) == b; }))
      return true;
  }
  return false;
}

}  // namespace

TEST_CASE("a reused easy handle sends each request's own method, body and headers, nothing of the last one's",
          "[engine][curl_pool]") {
  Emulator upstream;
  upstream.start();
  const std::string origin = upstream.origin();
  Sender sender;

  const Sender::Sent first =
      sender.send(request("POST", origin + "/one", "first body", {{"X-Only-First", "1"}, {"Accept-Encoding", "gzip"}}));
  CHECK(first.fresh);
  std::vector<Sender::Sent> sent = {
      sender.send(request("GET", origin + "/two")),
      sender.send(request("HEAD", origin + "/three")),
      sender.send(request("POST", origin + "/four", "after a HEAD")),
      sender.send(request("PUT", origin + "/five", "put body", {{"X-Only-Fifth", "5"}})),
      sender.send(request("GET", origin + "/six")),
      sender.send(request("DELETE", origin + "/seven")),
      sender.send(request("POST", origin + "/eight", "")),
  };
  for (const Sender::Sent &one : sent) {
    CHECK(one.result == CURLE_OK);
    CHECK(one.easy == first.easy);  // the same handle every time: nothing was reset in between
    CHECK_FALSE(one.fresh);
  }

  std::vector<RecordedRequest> recorded = upstream.requests();
  REQUIRE(recorded.size() == 8);
  auto method_path_body = [&](size_t i) { return std::tuple(recorded[i].method, recorded[i].path, recorded[i].body); };
  CHECK(method_path_body(0) == std::tuple("POST", "/one", "first body"));
  CHECK(method_path_body(1) == std::tuple("GET", "/two", ""));
  CHECK(method_path_body(2) == std::tuple("HEAD", "/three", ""));
  CHECK(method_path_body(3) == std::tuple("POST", "/four", "after a HEAD"));
  CHECK(method_path_body(4) == std::tuple("PUT", "/five", "put body"));
  CHECK(method_path_body(5) == std::tuple("GET", "/six", ""));
  CHECK(method_path_body(6) == std::tuple("DELETE", "/seven", ""));
  CHECK(method_path_body(7) == std::tuple("POST", "/eight", ""));

  CHECK(has_header(recorded[0], "x-only-first"));
  CHECK(recorded[0].header("Accept-Encoding") == "gzip");
  CHECK(has_header(recorded[4], "x-only-fifth"));
  for (size_t i = 1; i < recorded.size(); ++i) {
    INFO("request " << i);
    CHECK_FALSE(has_header(recorded[i], "x-only-first"));
    CHECK_FALSE(has_header(recorded[i], "accept-encoding"));  // asked for by the first request only
    if (i != 4) CHECK_FALSE(has_header(recorded[i], "x-only-fifth"));
    CHECK_FALSE(has_header(recorded[i], "expect"));
  }
}

TEST_CASE("a handle whose transfer failed sends the next request whole", "[engine][curl_pool]") {
  Emulator upstream;
  upstream.start();
  const std::string origin = upstream.origin();
  Sender sender;

  upstream.set_fault("ylokh", "reset");
  const Sender::Sent failed = sender.send(request("POST", origin + "/v1/chat/completions", "{}", {{"X-Failed", "1"}}));
  CHECK(failed.result != CURLE_OK);
  upstream.clear_faults();
  const Sender::Sent next = sender.send(request("GET", origin + "/after"));
  CHECK(next.result == CURLE_OK);
  CHECK(next.easy == failed.easy);

  std::vector<RecordedRequest> recorded = upstream.requests();
  REQUIRE(recorded.size() >= 2);  // libcurl may have tried the reset request again
  const RecordedRequest &last = recorded.back();
  CHECK(last.method == "GET");
  CHECK(last.path == "/after");
  CHECK(last.body.empty());
  CHECK_FALSE(has_header(last, "x-failed"));
}

TEST_CASE("the connections of a burst of transfers stay open for the next burst", "[engine][curl_pool]") {
  Emulator upstream;
  upstream.start();
  const std::string origin = upstream.origin();
  Sender sender;
  // More than libcurl's own rule keeps once the burst has thinned (four per transfer still running).
  constexpr size_t burst = 24;
  static_assert(burst <= CurlPool::connection_cache_floor);
  std::vector<detail::OutgoingRequest> requests;
  for (size_t i = 0; i < burst; ++i) requests.push_back(request("GET", origin + "/burst/" + std::to_string(i)));

  for (const Sender::Sent &sent : sender.send_together(requests)) CHECK(sent.result == CURLE_OK);
  REQUIRE(upstream.requests().size() == burst);
  // None was closed as the transfers ended one by one: the emulator still holds each of them.
  CHECK(upstream.open_connections() == burst);
  for (const Sender::Sent &sent : sender.send_together(requests)) CHECK(sent.result == CURLE_OK);
  CHECK(upstream.requests().size() == 2 * burst);
  CHECK(upstream.open_connections() == burst);  // the second burst opened none
}

// The HTTP layer of `serve` without the OpenAI one: HttpConnection and the Router in front of a
// small service of their own, driven by raw HTTP. The route table alone decides 404, 405 (with
// every allowed method) and 401; a connection writes whole responses and streams, tells a
// responder when its client leaves, and reports each exchange once.
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <provhost/serve/http_connection.hpp>
#include <provhost/serve/router.hpp>
#include <thread>

#include "http_client.hpp"

using namespace provhost;
using namespace provhost::serve;
using namespace provhost::serve_test;
using namespace std::chrono_literals;

namespace {

struct Logged {
  std::string method, path;
  int status = 0;
  std::vector<std::string> fields;
  std::string note;
};

// Holds the exchange open until the client leaves.
class WaitingResponder : public Responder {
 public:
  explicit WaitingResponder(std::function<void()> aborted) : aborted_(std::move(aborted)) {}
  void on_abort() override { aborted_(); }

 private:
  std::function<void()> aborted_;
};

class TestService : public HttpService {
 public:
  TestService()
      : router_(
            {
                {http::verb::get, "/items",
                 [](const std::shared_ptr<HttpConnection> &c, HttpRequest &) {
                   c->set_log_fields({"listed"});
                   c->respond(http::status::ok, "all items", "text/plain");
                 },
                 false},
                {http::verb::post, "/items",
                 [](const std::shared_ptr<HttpConnection> &c, HttpRequest &request) {
                   c->respond(http::status::created, "made " + request.body(), "text/plain");
                 }},
                {http::verb::get, "/stream",
                 [](const std::shared_ptr<HttpConnection> &c, HttpRequest &) {
                   StreamHeader header(http::status::ok, 11);
                   header.set(http::field::content_type, "text/plain");
                   c->start_stream(std::move(header));
                   c->stream_append("one ");
                   c->flush();
                   c->stream_append("two");
                   c->end_stream();
                   c->flush();
                 },
                 false},
                {http::verb::get, "/wait",
                 [this](const std::shared_ptr<HttpConnection> &c, HttpRequest &) {
                   c->set_responder(std::make_shared<WaitingResponder>([this] {
                     std::lock_guard lock(mutex_);
                     ++aborts_;
                     changed_.notify_all();
                   }));
                   c->watch_for_hangup();
                 },
                 false},
            },
            "k") {}

  bool on_request_header(const std::shared_ptr<HttpConnection> &connection, const HttpRequest &header) override {
    return router_.screen(connection, header);
  }

  void on_request(const std::shared_ptr<HttpConnection> &connection, HttpRequest request) override {
    router_.dispatch(connection, request);
  }
  void on_unreadable_request(const std::shared_ptr<HttpConnection> &connection, RequestProblem,
                             std::string_view) override {
    connection->respond(http::status::bad_request, "unreadable", "text/plain");
  }
  void on_exchange_end(const ExchangeSummary &summary) override {
    std::lock_guard lock(mutex_);
    logged_.push_back({std::string(summary.method),
                       std::string(summary.path),
                       summary.status,
                       {summary.log_fields.begin(), summary.log_fields.end()},
                       std::string(summary.note)});
    changed_.notify_all();
  }
  void on_connection_open(HttpConnection &) override {}
  void on_connection_closed(HttpConnection &) override {}

  std::vector<Logged> wait_for_logged(std::size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 10s, [&] { return logged_.size() >= count; });
    return logged_;
  }
  bool wait_for_aborts(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return aborts_ >= count; });
  }

 private:
  Router router_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Logged> logged_;
  int aborts_ = 0;
};

// Connections accepted on an ephemeral port, served on their own io thread.
class Listener {
 public:
  Listener() {
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Listener() {
    io_.stop();
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

  std::shared_ptr<TestService> service = std::make_shared<TestService>();

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      std::make_shared<HttpConnection>(std::move(socket), HttpLimits{}, service)->start();
      accept();
    });
  }

  net::io_context io_{1};
  tcp::acceptor acceptor_{io_};
  std::thread thread_;
};

}  // namespace

TEST_CASE("the route table answers an unknown path with 404 and a known one with another method with 405") {
  Listener listener;
  CHECK(fetch(listener.port(), "GET", "/items").body == "all items");
  CHECK(fetch(listener.port(), "GET", "/nothing").status == 404);
  auto wrong = fetch(listener.port(), "PUT", "/stream");
  CHECK(wrong.status == 405);
  CHECK(wrong.header("allow") == "GET, HEAD, OPTIONS");
  auto both = fetch(listener.port(), "DELETE", "/items", {}, "Authorization: Bearer k\r\n");
  CHECK(both.status == 405);
  CHECK(both.header("allow") == "GET, HEAD, POST, OPTIONS");
  CHECK_THAT(both.body, Catch::Contains("use GET, HEAD, POST, OPTIONS."));
}

TEST_CASE("the route's flag decides whether the key is needed; a path with a keyed route hides its methods") {
  Listener listener;
  CHECK(fetch(listener.port(), "GET", "/items").status == 200);
  CHECK(fetch(listener.port(), "POST", "/items", "x").status == 401);
  CHECK(fetch(listener.port(), "POST", "/items", "x", "Authorization: Bearer wrong\r\n").status == 401);
  auto made = fetch(listener.port(), "POST", "/items", "x", "Authorization: Bearer k\r\n");
  CHECK(made.status == 201);
  CHECK(made.body == "made x");
  CHECK(fetch(listener.port(), "DELETE", "/items").status == 401);
}

TEST_CASE("a stream goes out chunked, and the exchange is reported once it is written") {
  Listener listener;
  Client client(listener.port());
  client.send_request("GET", "/stream?x=1");
  auto r = client.read_response();
  CHECK(r.status == 200);
  CHECK(r.header("transfer-encoding") == "chunked");
  CHECK(r.header("content-type") == "text/plain");
  CHECK(r.body == "one two");
  client.send_request("GET", "/items");
  CHECK(client.read_response().body == "all items");

  auto logged = listener.service->wait_for_logged(2);
  REQUIRE(logged.size() == 2);
  CHECK(logged[0].method == "GET");
  CHECK(logged[0].path == "/stream");
  CHECK(logged[0].status == 200);
  CHECK(logged[0].fields.empty());
  CHECK(logged[0].note.empty());
  CHECK(logged[1].fields == std::vector<std::string>{"listed"});
}

TEST_CASE("a responder hears that its client left, and the exchange is reported as cut") {
  Listener listener;
  {
    Client client(listener.port());
    client.send_request("GET", "/wait");
    client.close();
  }
  CHECK(listener.service->wait_for_aborts(1));
  auto logged = listener.service->wait_for_logged(1);
  REQUIRE(logged.size() == 1);
  CHECK(logged[0].path == "/wait");
  CHECK(logged[0].status == 499);
  CHECK(logged[0].note == "client closed");
}

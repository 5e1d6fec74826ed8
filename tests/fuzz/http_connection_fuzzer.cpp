// http_connection_fuzzer.cpp: serve's HTTP layer (HttpConnection) reading fuzz-chosen bytes from a client,
// in memory: the connection's socket is one end of a socketpair, the client the other end on the same
// io_context, so one input is one deterministic run to the end with no timer involved. The client writes
// the bytes in fuzz-chosen pieces, then closes its sending side and reads until the connection closes.
// Behind the connection, a small service answers whole responses and streams.
//
// Checks: no crash, no sanitizer report, no hang (the run must end: the connection closes once the client
// has closed its side); the connection closes exactly once; what the client reads is a sequence of whole
// HTTP responses (interim 100 Continue, then one final answer per exchange the connection reports), with
// the statuses the service chose, and no body after an answer to a HEAD.
//
// Input: the limits and the pieces are read from its end (FuzzedDataProvider), the rest is what the client
// sends, so raw HTTP requests are seeds as they are.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <provhost/serve/http_connection.hpp>
#include <string>
#include <vector>

#include "contract.hpp"

namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using provhost::fuzz::violated;
using namespace provhost::serve;

class Service : public HttpService {
 public:
  // As serve's router does for a missing key: some requests are answered from the header alone,
  // before their body is read (the connection then closes when a body was announced).
  bool on_request_header(const std::shared_ptr<HttpConnection> &connection, const HttpRequest &header) override {
    if (header.target() != "/early") return true;
    connection->respond(http::status::unauthorized, "early", "text/plain");
    return false;
  }
  void on_request(const std::shared_ptr<HttpConnection> &connection, HttpRequest request) override {
    // As serve's router does: HEAD reaches only GET routes, and no stream starts for it.
    if (request.target() == "/stream" && request.method() != http::verb::head) {
      StreamHeader header(http::status::ok, 11);
      header.set(http::field::content_type, "text/event-stream");
      connection->start_stream(std::move(header));
      connection->stream_append("data: one\n\n");
      connection->flush();
      connection->stream_append("data: two\n\n");
      connection->end_stream();
      connection->flush();
      return;
    }
    connection->respond(http::status::ok, std::to_string(request.body().size()), "text/plain");
  }
  void on_unreadable_request(const std::shared_ptr<HttpConnection> &connection, RequestProblem problem,
                             std::string_view) override {
    const http::status status = problem == RequestProblem::body_too_large ? http::status::payload_too_large
                                : problem == RequestProblem::headers_too_large
                                    ? http::status::request_header_fields_too_large
                                : problem == RequestProblem::length_required ? http::status::length_required
                                                                             : http::status::bad_request;
    connection->respond(status, "unreadable", "text/plain");
  }
  void on_exchange_end(const ExchangeSummary &summary) override {
    if (summary.status != 499) answered_methods.emplace_back(summary.method);
  }
  void on_connection_open(HttpConnection &) override { ++opened; }
  void on_connection_closed(HttpConnection &) override { ++closed; }

  int opened = 0, closed = 0;
  std::vector<std::string> answered_methods;  // of each exchange that was answered, in order
};

bool expected_status(unsigned status) {
  return status == 100 || status == 200 || status == 400 || status == 401 || status == 411 || status == 413 ||
         status == 431;
}

// The responses in what the client read, in order; a response cut short is a violation. The methods of
// the answered exchanges tell which final answers are to a HEAD, and so have headers only.
int final_responses(const std::string &received, const std::vector<std::string> &methods) {
  boost::beast::flat_buffer buffer;
  buffer.commit(net::buffer_copy(buffer.prepare(received.size()), net::buffer(received)));
  int finals = 0;
  while (buffer.size() > 0) {
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(boost::none);
    // Only a final answer has a method to go by; an interim 100 never has a body.
    parser.skip(static_cast<size_t>(finals) < methods.size() && methods[finals] == "HEAD");
    boost::beast::error_code ec;
    while (!parser.is_done() && !ec) {
      const size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more) ec = {};
      if (ec || parser.is_done() || used > 0) continue;
      // All there is has been offered: a stream to an HTTP/1.0 client ends by closing.
      parser.put_eof(ec);
      if (!ec && !parser.is_done()) violated("a response was cut short", received);
    }
    if (ec) violated("not an HTTP response: " + ec.message(), received);
    const unsigned status = parser.get().result_int();
    if (!expected_status(status)) violated("unexpected status " + std::to_string(status), received);
    if (status != 100) ++finals;
  }
  return finals;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider input(data, size);
  HttpLimits limits;
  if (input.ConsumeBool()) limits.max_header_bytes = input.ConsumeIntegralInRange<size_t>(16, 1024);
  if (input.ConsumeBool()) limits.max_body_bytes = input.ConsumeIntegralInRange<size_t>(0, 1024);
  std::vector<size_t> cuts(input.ConsumeIntegralInRange<size_t>(0, 8));
  for (size_t &cut : cuts) cut = input.ConsumeIntegral<uint32_t>();
  const std::string sent = input.ConsumeRemainingBytesAsString();
  for (size_t &cut : cuts) cut %= sent.size() + 1;
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(sent.size());

  int ends[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) violated("socketpair failed");
  net::io_context io;
  net::ip::tcp::socket server_end(io);
  server_end.assign(net::ip::tcp::v4(), ends[0]);
  net::local::stream_protocol::socket client(io);
  client.assign(net::local::stream_protocol(), ends[1]);

  auto service = std::make_shared<Service>();
  std::make_shared<HttpConnection>(std::move(server_end), limits, service)->start();

  // The pieces one after the other, each its own write: the connection sees the reads they make.
  size_t piece = 0, written = 0;
  std::function<void()> write_next = [&] {
    if (piece == cuts.size()) {
      boost::system::error_code ignored;
      client.shutdown(net::socket_base::shutdown_send, ignored);
      return;
    }
    const size_t end = cuts[piece++];
    net::async_write(client, net::buffer(sent.data() + written, end - written),
                     [&, end](boost::system::error_code ec, size_t) {
                       written = end;
                       if (ec) return;  // the connection closed before it read everything: allowed
                       write_next();
                     });
  };
  write_next();
  std::string received;
  auto sink = net::dynamic_buffer(received);
  net::async_read(client, sink, [](boost::system::error_code, size_t) {});
  io.run();

  if (service->opened != 1 || service->closed != 1) violated("the connection did not close exactly once");
  const int finals = final_responses(received, service->answered_methods);
  if (static_cast<size_t>(finals) != service->answered_methods.size())
    violated("the client read " + std::to_string(finals) + " answers, the connection reported " +
                 std::to_string(service->answered_methods.size()),
             received);
  return 0;
}

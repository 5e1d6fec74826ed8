// http_client.hpp: a small blocking HTTP/1.1 client for the serve tests. It sends raw request bytes
// (so a test can send anything, malformed included) and reads responses with Beast's parser. Every
// read gives up after a bound, so a server that never answers fails the test instead of hanging it.
#pragma once

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::serve_test {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // de-chunked

  std::string header(const std::string &lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// The "data: " payloads of a server-sent event stream, in order.
inline std::vector<std::string> sse_data(std::string_view body) {
  std::vector<std::string> data;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(pos, end - pos);
    if (line.substr(0, 6) == "data: ") data.emplace_back(line.substr(6));
    pos = end + 1;
  }
  return data;
}

class Client {
 public:
  explicit Client(uint16_t port, std::chrono::milliseconds read_limit = std::chrono::seconds(10)) : socket_(io_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    timeval tv{static_cast<time_t>(read_limit.count() / 1000),
               static_cast<suseconds_t>(read_limit.count() % 1000 * 1000)};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  void send(std::string_view bytes) { net::write(socket_, net::buffer(bytes.data(), bytes.size())); }

  // A complete request with Content-Length, plus extra header lines ("Name: value\r\n" each).
  void send_request(std::string_view method, std::string_view target, std::string_view body = {},
                    std::string_view extra_headers = {}) {
    std::string request = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    request += extra_headers;
    if (!body.empty() || method == "POST") {
      request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    request += "\r\n";
    request += body;
    send(request);
  }

  Response read_response() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(socket_, buffer_, parser);
    return to_response(parser.release());
  }

  // The answer to a HEAD request: its headers announce a body that is not sent.
  Response read_head_response() {
    http::response_parser<http::string_body> parser;
    parser.skip(true);
    http::read(socket_, buffer_, parser);
    return to_response(parser.release());
  }

  // Reads only the status line and headers; the body can follow with read_some_body().
  Response read_header() {
    stream_parser_.emplace();
    stream_parser_->body_limit(64 * 1024 * 1024);
    http::read_header(socket_, buffer_, *stream_parser_);
    Response r;
    r.status = stream_parser_->get().result_int();
    for (const auto &field : stream_parser_->get()) {
      r.headers[lower(std::string(field.name_string()))] = std::string(field.value());
    }
    return r;
  }

  // More of the body begun by read_header(); what has arrived so far, de-chunked.
  const std::string &read_some_body() {
    http::read_some(socket_, buffer_, *stream_parser_);
    return stream_parser_->get().body();
  }

  // Reads the body begun by read_header() to its end.
  std::string read_rest() {
    http::read(socket_, buffer_, *stream_parser_);
    return stream_parser_->get().body();
  }

  // True when the server closed the connection (EOF or reset) within the read limit; false when
  // it sent more bytes or the limit passed.
  bool closed_by_server() {
    char byte;
    boost::system::error_code ec;
    std::size_t n = socket_.read_some(net::buffer(&byte, 1), ec);
    return n == 0 && (ec == net::error::eof || ec == net::error::connection_reset);
  }

  // Drains and discards until the server closes, within the read limit; false if it never does.
  bool drain_until_closed() {
    char chunk[64 * 1024];
    for (;;) {
      boost::system::error_code ec;
      socket_.read_some(net::buffer(chunk), ec);
      if (ec == net::error::eof || ec == net::error::connection_reset) return true;
      if (ec) return false;
    }
  }

  void shrink_receive_buffer(int bytes) {
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }

  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  static std::string lower(std::string s) {
    for (auto &c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  template <class Message>
  static Response to_response(const Message &message) {
    Response r;
    r.status = message.result_int();
    for (const auto &field : message) r.headers[lower(std::string(field.name_string()))] = std::string(field.value());
    r.body = message.body();
    return r;
  }

  net::io_context io_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> stream_parser_;
};

// One request on a fresh connection.
inline Response fetch(uint16_t port, std::string_view method, std::string_view target, std::string_view body = {},
                      std::string_view extra_headers = {}) {
  Client client(port);
  client.send_request(method, target, body, extra_headers);
  return client.read_response();
}

}  // namespace provhost::serve_test

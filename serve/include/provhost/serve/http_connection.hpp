// http_connection.hpp: one client connection of the server, at the level of HTTP only.
//
// It reads requests one after the other (header and body limits, Expect: 100-continue, a client
// timeout), lets its HttpService screen each request's header before the body is read (so that a
// request refused for its key, origin or size costs no more than its header), hands the whole
// request to the service, and writes the answer the service gives: a whole
// response, or a stream (a status line, then bytes as they come, chunked for HTTP/1.1 clients and
// ended by closing for HTTP/1.0 ones). It keeps the connection alive between requests, notices a
// client that hangs up or stops reading, and closes gracefully. What the requests mean (routes,
// chats, OpenAI) is the service's business; this class knows none of it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::serve {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using StreamHeader = http::response<http::empty_body>;

struct HttpLimits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  // For reading a request, for an idle keep-alive connection and for every write.
  std::chrono::milliseconds client_timeout{30'000};
};

// Why a request could not be read. length_required: a body framed by Transfer-Encoding rather than
// Content-Length. Chunked request bodies may end in trailer fields that no header limit bounds (and
// that Beast's parser throws on past 64 KiB), and any other coding leaves the body's end unknown,
// which is how requests are smuggled; so only Content-Length frames a body here.
enum class RequestProblem { body_too_large, headers_too_large, malformed, length_required };

// How one exchange (a request and its answer) ended.
struct ExchangeSummary {
  std::string_view method;  // as the client sent them: not yet fit for a log
  std::string_view path;    // without the query string
  int status = 0;           // what was sent; 499 when the exchange was cut before an answer went out
  std::chrono::steady_clock::duration elapsed{};
  std::span<const std::string> log_fields;  // what the service attached to the exchange
  std::string_view note;                    // why it was cut short; "" when it was answered
  std::string_view request_id;              // printable (ids.hpp), sent back as X-Request-Id
};

// Works on an answer that outlives the call that began it (a chat, say). Called on the
// connection's executor.
class Responder {
 public:
  virtual ~Responder() = default;
  // A stream write has finished: the next bytes can go.
  virtual void on_writable() {}
  // The exchange ended without its answer (the client left, timed out or lagged, or the server cut
  // it): whatever produces the answer should stop.
  virtual void on_abort() = 0;
  // The bytes that end a stream the server cuts for `why` ("shutdown", say), so that the client
  // learns it was cut; "" for none.
  virtual std::string last_words(std::string_view why) {
    (void)why;
    return {};
  }
};

class HttpConnection;

class HttpService {
 public:
  virtual ~HttpService() = default;
  // The header has arrived, the body not yet: answer now (and return false), or let the body be
  // read. A request answered here closes its connection when it announced a body, since that body
  // is never read.
  virtual bool on_request_header(const std::shared_ptr<HttpConnection> &connection, const HttpRequest &header) = 0;
  virtual void on_request(const std::shared_ptr<HttpConnection> &connection, HttpRequest request) = 0;
  // The request could not be read; the connection closes after the answer.
  virtual void on_unreadable_request(const std::shared_ptr<HttpConnection> &connection, RequestProblem problem,
                                     std::string_view detail) = 0;
  virtual void on_exchange_end(const ExchangeSummary &summary) = 0;
  virtual void on_connection_open(HttpConnection &connection) = 0;
  virtual void on_connection_closed(HttpConnection &connection) = 0;
};

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(boost::asio::ip::tcp::socket socket, HttpLimits limits, std::shared_ptr<HttpService> service);
  ~HttpConnection();
  HttpConnection(const HttpConnection &) = delete;
  HttpConnection &operator=(const HttpConnection &) = delete;

  void start();
  // Answers at once, without reading a request, then closes: for a server that is full.
  void start_refused(http::status status, std::string body, std::string_view content_type);
  // The server is shutting down: an idle connection closes now, a busy one after its answer.
  void drain();
  // Ends the connection now, mid-answer or not; a cut answer is logged with `why`.
  void abort(std::string_view why);
  // Like abort, but a stream under way first gets its responder's last words, when the client
  // takes them within a short grace (a client that reads nothing gets nothing).
  void cut(std::string_view why);

  // "ADDRESS:PORT" of the client, or "-".
  const std::string &peer() const { return peer_; }
  boost::asio::any_io_executor executor() { return socket_.get_executor(); }
  // The current exchange's id: the client's X-Request-Id, or one made up (ids.hpp).
  const std::string &request_id() const { return request_id_; }

  // Answering the current request. The service calls these from on_request (or later, on the
  // connection's executor).
  void set_responder(std::shared_ptr<Responder> responder) { responder_ = std::move(responder); }
  void set_log_fields(std::vector<std::string> fields) { log_fields_ = std::move(fields); }
  // A header for the current exchange's answer, whole or streamed (CORS, say).
  void add_response_header(std::string name, std::string value) {
    response_headers_.emplace_back(std::move(name), std::move(value));
  }
  // While an answer is prepared the client sends nothing, so a finished read means it hung up; a
  // pipelined next request stays buffered for the parser.
  void watch_for_hangup();
  void respond(http::status status, std::string body, std::string_view content_type, std::string_view allow = {});
  // Sends the status line and `header`'s fields; keep-alive and framing are the connection's.
  void start_stream(StreamHeader header);
  bool stream_started() const { return stream_ != Stream::none; }
  // Stream bytes wait here until flush(); while a write is in flight they gather for the next.
  void stream_append(std::string_view bytes) { pending_.append(bytes); }
  // After what is pending, the stream ends.
  void end_stream();
  void flush();
  bool writing() const { return writing_; }
  // Stream bytes not yet taken by the client's socket.
  std::size_t unsent_bytes() const { return pending_.size() + (writing_ ? in_flight_.size() : 0); }

 private:
  enum class Phase { reading, answering, closing, closed };
  enum class Stream { none, open, ending, final_write_sent };
  enum class Watch { off, on, on_then_next_request };

  void read_request();
  void read_header();
  void on_header(boost::system::error_code ec);
  void read_body();
  // Feeds the parser the bytes already read, up to the end of the header or of the request.
  boost::system::error_code parse_buffered(bool header_only);
  void on_read_error(boost::system::error_code ec);
  void on_request();
  void on_deadline();
  void set_response_headers(http::fields &fields) const;
  void on_watch(boost::system::error_code ec, std::size_t n);
  void on_stream_written(boost::system::error_code ec);
  void finish_exchange();
  void next_request();
  void report(std::string_view note = {});
  void close_gracefully();
  void discard_until_closed();
  void close();
  void release_responder();
  void arm_deadline();
  void arm_deadline(std::chrono::milliseconds timeout);
  void disarm_deadline();
  void wait_for_deadline();
  void on_timer();

  boost::asio::ip::tcp::socket socket_;
  // The deadline moves at every read and write; the timer follows it lazily (see arm_deadline).
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  bool timer_waiting_ = false;
  const HttpLimits limits_;
  const std::shared_ptr<HttpService> service_;
  const std::string peer_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::reading;
  bool keep_alive_ = true;
  bool chunked_ = true;  // the client speaks HTTP/1.1
  Watch watch_ = Watch::off;

  // The exchange under way.
  std::chrono::steady_clock::time_point exchange_start_;
  std::string method_, path_, request_id_;
  bool head_ = false;  // a HEAD request: the answer's headers only
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> response_headers_;
  std::vector<std::string> log_fields_;
  std::shared_ptr<Responder> responder_;

  // A whole response being written.
  std::optional<http::response<http::string_body>> response_;
  bool writing_ = false;

  // A stream: bytes wait in pending_ while in_flight_ is being written.
  Stream stream_ = Stream::none;
  std::optional<StreamHeader> stream_header_;
  std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
  std::string pending_, in_flight_;
  std::string cut_note_;                      // why the stream is being cut; "" while it is not
  std::chrono::milliseconds client_timeout_;  // the limit's, shortened to a grace once a stream is cut
};

}  // namespace provhost::serve

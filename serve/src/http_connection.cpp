#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_cat.hpp>
#include <cstdint>
#include <provhost/serve/http_connection.hpp>
#include <provhost/serve/ids.hpp>
#include <provhost/text.hpp>
#include <utility>

namespace provhost::serve {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

// How long a closing connection waits for the client to close its side (nginx's lingering_timeout).
constexpr std::chrono::seconds linger_limit{2};

// Pipelined bytes a connection reads ahead while it answers, to notice a client that hung up.
constexpr std::size_t watch_read_size = 1024;

// A stream holds on only to a small write buffer; a burst may leave a large one behind.
constexpr std::size_t kept_write_buffer = std::size_t{16} * 1024;

std::string_view std_view(beast::string_view s) { return {s.data(), s.size()}; }

std::string peer_of(const tcp::socket &socket) {
  error_code ec;
  auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "-";
  auto address = endpoint.address();
  std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

}  // namespace

HttpConnection::HttpConnection(tcp::socket socket, HttpLimits limits, std::shared_ptr<HttpService> service)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      limits_(limits),
      service_(std::move(service)),
      peer_(peer_of(socket_)),
      client_timeout_(limits_.client_timeout) {}

HttpConnection::~HttpConnection() {
  release_responder();
  service_->on_connection_closed(*this);
}

void HttpConnection::start() {
  service_->on_connection_open(*this);
  read_request();
}

void HttpConnection::start_refused(http::status status, std::string body, std::string_view content_type) {
  service_->on_connection_open(*this);
  keep_alive_ = false;
  exchange_start_ = Clock::now();
  method_ = "-";
  path_ = "-";
  respond(status, std::move(body), content_type);
}

void HttpConnection::drain() {
  keep_alive_ = false;
  if (phase_ == Phase::reading && !(parser_ && parser_->got_some())) close();
}

void HttpConnection::read_request() {
  phase_ = Phase::reading;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
  parser_->body_limit(limits_.max_body_bytes);
  // Until a header arrives, a timed-out request is logged with what is known: nothing.
  exchange_start_ = Clock::now();
  method_ = "-";
  path_ = "-";
  request_id_.clear();
  arm_deadline();
  // The read that watched for a hangup is still waiting on the socket: it waits for the next
  // request too (on_watch), rather than being cancelled for a new read that would find the socket
  // empty. Pipelined bytes it already took are parsed at once.
  if (watch_ == Watch::on) {
    watch_ = Watch::on_then_next_request;
    if (buffer_.size() > 0) socket_.cancel();
    return;
  }
  read_header();
}

void HttpConnection::read_header() {
  http::async_read_header(socket_, buffer_, *parser_,
                          [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
}

void HttpConnection::on_header(error_code ec) {
  if (phase_ != Phase::reading) return;
  exchange_start_ = Clock::now();
  method_ = "-";
  path_ = "-";
  status_ = 0;
  // Per request: an unreadable request after a HEAD is answered with its body.
  head_ = false;
  log_fields_.clear();
  response_headers_.clear();
  if (ec) {
    if (request_id_.empty()) request_id_ = request_id_for({});
    return on_read_error(ec);
  }
  const auto &request = parser_->get();
  std::string_view target = std_view(request.target());
  method_ = std_view(request.method_string());
  path_ = target.substr(0, target.find('?'));
  head_ = request.method() == http::verb::head;
  request_id_ = request_id_for(std_view(request["X-Request-Id"]));
  if (request.count(http::field::transfer_encoding) > 0) {
    // Whatever follows this header cannot be trusted to be the next request: answer, then close.
    keep_alive_ = false;
    phase_ = Phase::answering;
    disarm_deadline();
    // RFC 9112 6.3: a coding other than chunked leaves the body's length unknown, which is a 400.
    bool chunked_only = request.count(http::field::transfer_encoding) == 1 &&
                        provhost::iequals(provhost::trim(std_view(request[http::field::transfer_encoding])), "chunked");
    return service_->on_unreadable_request(shared_from_this(),
                                           chunked_only ? RequestProblem::length_required : RequestProblem::malformed,
                                           "unsupported Transfer-Encoding");
  }
  if (!service_->on_request_header(shared_from_this(), request)) return;
  if (beast::iequals(request[http::field::expect], "100-continue")) {
    net::async_write(socket_, net::buffer(continue_response), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->close();
      self->read_body();
    });
    return;
  }
  read_body();
}

// Bytes already read are parsed here rather than by Beast's read, which, having nothing to read,
// would post its completion to the next turn of the event loop: a small body usually arrives with
// its header, and a request read by the hangup watch is whole in the buffer.
error_code HttpConnection::parse_buffered(bool header_only) {
  while (!parser_->is_done() && !(header_only && parser_->is_header_done()) && buffer_.size() > 0) {
    error_code ec;
    const std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) return {};
    if (ec || used == 0) return ec;
  }
  return {};
}

void HttpConnection::read_body() {
  if (error_code ec = parse_buffered(false)) return on_read_error(ec);
  if (parser_->is_done()) return on_request();
  http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) {
    if (self->phase_ != Phase::reading) return;
    if (ec) return self->on_read_error(ec);
    self->on_request();
  });
}

void HttpConnection::on_read_error(error_code ec) {
  keep_alive_ = false;
  if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || !parser_->got_some()) {
    return close();
  }
  if (ec == http::error::partial_message || ec == net::error::eof || ec == net::error::connection_reset) {
    return close();
  }
  phase_ = Phase::answering;
  disarm_deadline();
  auto problem = ec == http::error::body_limit     ? RequestProblem::body_too_large
                 : ec == http::error::header_limit ? RequestProblem::headers_too_large
                                                   : RequestProblem::malformed;
  service_->on_unreadable_request(shared_from_this(), problem, ec.message());
}

void HttpConnection::on_request() {
  phase_ = Phase::answering;
  disarm_deadline();
  auto request = parser_->release();
  parser_.reset();
  if (buffer_.capacity() > 2 * watch_read_size && buffer_.size() == 0) buffer_.shrink_to_fit();
  keep_alive_ = keep_alive_ && request.keep_alive();
  // HTTP/1.0 has no chunked encoding: a stream to such a client ends when the connection closes.
  chunked_ = request.version() >= 11;
  if (!chunked_) keep_alive_ = false;
  service_->on_request(shared_from_this(), std::move(request));
}

void HttpConnection::watch_for_hangup() {
  if (watch_ != Watch::off || buffer_.size() >= limits_.max_header_bytes) return;
  watch_ = Watch::on;
  socket_.async_read_some(buffer_.prepare(watch_read_size),
                          [self = shared_from_this()](error_code ec, std::size_t n) { self->on_watch(ec, n); });
}

void HttpConnection::on_watch(error_code ec, std::size_t n) {
  const bool resume = watch_ == Watch::on_then_next_request;
  watch_ = Watch::off;
  buffer_.commit(n);
  if (phase_ == Phase::closed) return;
  if (resume) {
    // Cancelled for a connection that closes (see finish_exchange).
    if (phase_ != Phase::reading) return next_request();
    // The client closed an idle connection. Not left to a header read to find: after the end of the
    // stream, Asio waits for readiness that never comes rather than trying the socket.
    if (ec && ec != net::error::operation_aborted) {
      keep_alive_ = false;
      return close();
    }
    // The next request's first bytes, or pipelined ones taken while answering.
    if (error_code parse_error = parse_buffered(true)) return on_header(parse_error);
    if (parser_->is_header_done()) return on_header({});
    return read_header();
  }
  if (ec) return abort("client closed");
  watch_for_hangup();
}

void HttpConnection::respond(http::status status, std::string body, std::string_view content_type,
                             std::string_view allow) {
  // Answered from its header: a body it announced is never read, so nothing after it on this
  // connection could be told apart from that body.
  if (phase_ == Phase::reading && parser_ && !parser_->is_done()) keep_alive_ = false;
  phase_ = Phase::answering;
  status_ = static_cast<int>(status);
  response_.emplace(status, 11);
  if (!content_type.empty()) {
    response_->set(http::field::content_type, beast::string_view(content_type.data(), content_type.size()));
  }
  if (!allow.empty()) response_->set(http::field::allow, beast::string_view(allow.data(), allow.size()));
  response_->keep_alive(keep_alive_);
  set_response_headers(*response_);
  response_->body() = std::move(body);
  response_->prepare_payload();
  // RFC 9110 8.6: no Content-Length on a 204.
  if (status == http::status::no_content) response_->erase(http::field::content_length);
  // A HEAD answer says how long the GET answer's body is, and sends none.
  if (head_) response_->body().clear();
  writing_ = true;
  arm_deadline();
  http::async_write(socket_, *response_, [self = shared_from_this()](error_code ec, std::size_t) {
    self->writing_ = false;
    self->response_.reset();
    if (self->phase_ != Phase::answering) return;
    if (ec) return self->abort("client closed");
    self->disarm_deadline();
    self->finish_exchange();
  });
}

void HttpConnection::start_stream(StreamHeader header) {
  stream_ = Stream::open;
  status_ = static_cast<int>(header.result_int());
  header.keep_alive(keep_alive_);
  header.chunked(chunked_);
  set_response_headers(header);
  stream_header_.emplace(std::move(header));
  stream_serializer_.emplace(*stream_header_);
  writing_ = true;
  arm_deadline();
  http::async_write_header(socket_, *stream_serializer_,
                           [self = shared_from_this()](error_code ec, std::size_t) { self->on_stream_written(ec); });
}

void HttpConnection::end_stream() {
  if (stream_ == Stream::open) stream_ = Stream::ending;
}

void HttpConnection::flush() {
  if (writing_ || phase_ != Phase::answering || stream_ == Stream::none || stream_ == Stream::final_write_sent) return;
  if (pending_.empty() && stream_ != Stream::ending) return;
  writing_ = true;
  in_flight_.swap(pending_);
  pending_.clear();
  const bool last = stream_ == Stream::ending;
  if (last) stream_ = Stream::final_write_sent;
  arm_deadline();
  auto done = [self = shared_from_this()](error_code ec, std::size_t) { self->on_stream_written(ec); };
  if (!chunked_) {
    net::async_write(socket_, net::buffer(in_flight_), std::move(done));
  } else if (last && in_flight_.empty()) {
    net::async_write(socket_, http::make_chunk_last(), std::move(done));
  } else if (last) {
    net::async_write(socket_, beast::buffers_cat(http::make_chunk(net::buffer(in_flight_)), http::make_chunk_last()),
                     std::move(done));
  } else {
    net::async_write(socket_, http::make_chunk(net::buffer(in_flight_)), std::move(done));
  }
}

void HttpConnection::on_stream_written(error_code ec) {
  writing_ = false;
  if (in_flight_.capacity() > kept_write_buffer) in_flight_ = std::string();
  if (phase_ != Phase::answering) return;
  if (ec) return abort("client closed");
  disarm_deadline();
  if (stream_ == Stream::final_write_sent) return finish_exchange();
  if (responder_) responder_->on_writable();
  flush();
}

void HttpConnection::finish_exchange() {
  report(cut_note_);
  responder_.reset();
  stream_ = Stream::none;
  stream_serializer_.reset();
  stream_header_.reset();
  in_flight_ = {};
  pending_ = {};
  if (watch_ == Watch::on && !keep_alive_) {
    // The read that watched for a hangup would compete with the reads of a graceful close.
    watch_ = Watch::on_then_next_request;
    socket_.cancel();
    return;
  }
  next_request();
}

void HttpConnection::next_request() {
  if (!keep_alive_) return close_gracefully();
  read_request();
}

void HttpConnection::abort(std::string_view why) {
  if (phase_ == Phase::closed) return;
  release_responder();
  if (phase_ == Phase::answering) {
    if (status_ == 0) status_ = 499;
    report(why);
  }
  close();
}

void HttpConnection::cut(std::string_view why) {
  if (phase_ != Phase::answering || stream_ != Stream::open || !responder_) return abort(why);
  std::string words = responder_->last_words(why);
  release_responder();
  cut_note_ = why;
  keep_alive_ = false;
  client_timeout_ = std::min<std::chrono::milliseconds>(linger_limit, limits_.client_timeout);
  pending_ += words;
  end_stream();
  if (writing_) {
    arm_deadline();  // the write in flight gets only the grace
  } else {
    flush();
  }
}

void HttpConnection::report(std::string_view note) {
  service_->on_exchange_end({method_, path_, status_, Clock::now() - exchange_start_, log_fields_, note, request_id_});
}

void HttpConnection::set_response_headers(http::fields &fields) const {
  if (!request_id_.empty()) fields.set("X-Request-Id", request_id_);
  for (const auto &[name, value] : response_headers_) fields.insert(name, value);
}

// After the last response: stop sending, then read what the client still sends until it closes,
// so that closing with unread bytes does not reset the connection before the response is read.
void HttpConnection::close_gracefully() {
  phase_ = Phase::closing;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  arm_deadline(std::min<std::chrono::milliseconds>(linger_limit, limits_.client_timeout));
  discard_until_closed();
}

void HttpConnection::discard_until_closed() {
  socket_.async_read_some(buffer_.prepare(watch_read_size), [self = shared_from_this()](error_code ec, std::size_t) {
    if (self->phase_ != Phase::closing) return;
    if (ec) return self->close();
    self->buffer_.clear();
    self->discard_until_closed();
  });
}

void HttpConnection::close() {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  release_responder();
  error_code ignored;
  timer_.cancel();
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

void HttpConnection::release_responder() {
  if (auto responder = std::exchange(responder_, nullptr)) responder->on_abort();
}

// One deadline covers whatever the connection is waiting on the client for: a request, or a write.
// It moves several times per request, so moving it only stores the time: the timer is set again
// only for a deadline earlier than the one it waits for, and a timer that fires before the current
// deadline waits again. Setting and cancelling the timer at every move cost a cancelled handler
// each, and with them a turn of the io thread's event loop.
void HttpConnection::arm_deadline() { arm_deadline(client_timeout_); }

void HttpConnection::arm_deadline(std::chrono::milliseconds timeout) {
  deadline_ = Clock::now() + timeout;
  if (timer_waiting_ && timer_.expiry() <= deadline_) return;
  wait_for_deadline();
}

void HttpConnection::wait_for_deadline() {
  timer_waiting_ = true;
  timer_.expires_at(deadline_);  // a wait for a later time ends as cancelled, and is ignored
  timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (ec != net::error::operation_aborted) self->on_timer();
  });
}

void HttpConnection::on_timer() {
  timer_waiting_ = false;
  if (phase_ == Phase::closed || deadline_ == Clock::time_point::max()) return;
  if (Clock::now() < deadline_) return wait_for_deadline();
  deadline_ = Clock::time_point::max();
  on_deadline();
}

void HttpConnection::on_deadline() {
  if (phase_ == Phase::answering) {
    // The client stopped taking the answer: drop what the kernel still holds for it (up to its send
    // buffer, megabytes) with a reset, rather than trickle it to a client already given up on.
    error_code ignored;
    socket_.set_option(net::socket_base::linger(true, 0), ignored);
    return abort("client timed out");
  }
  // A request begun and never finished is logged; an idle keep-alive connection closing is not.
  if (phase_ == Phase::reading && parser_ && parser_->got_some()) {
    status_ = 408;
    if (request_id_.empty()) request_id_ = request_id_for({});
    report("client timed out");
  }
  close();
}

// The timer's wait stays: it finds no deadline when it fires (or the next one, if it moved again).
void HttpConnection::disarm_deadline() { deadline_ = Clock::time_point::max(); }

}  // namespace provhost::serve

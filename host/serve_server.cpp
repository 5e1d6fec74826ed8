#include "serve_server.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_cat.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include "serve_openai.hpp"

namespace provhost::serve {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

// How long a closing connection waits for the client to close its side (nginx's lingering_timeout).
constexpr std::chrono::seconds linger_limit{2};

// Pipelined bytes a connection reads ahead while it answers, to notice a client that hung up.
constexpr std::size_t watch_read_size = 1024;

// Secrets are compared in time independent of where they differ.
bool same_secret(std::string_view given, std::string_view expected) {
  if (expected.empty()) return false;
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    difference |= static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  }
  return difference == 0;
}

std::string_view std_view(beast::string_view s) { return {s.data(), s.size()}; }

// What reaches the access log from the client: printable ASCII only, so a request cannot forge
// log lines.
std::string printable(std::string_view text, std::size_t limit = 200) {
  std::string out;
  out.reserve(std::min(text.size(), limit));
  for (char c : text.substr(0, limit)) out.push_back(c > 0x20 && c < 0x7f ? c : '?');
  return out.empty() ? "-" : out;
}

}  // namespace

class Connection;

struct ServerState : std::enable_shared_from_this<ServerState> {
  ServerState(net::io_context &io, ServerOptions options, SubmitChat submit, Catalog catalog)
      : io(io),
        options(std::move(options)),
        submit(std::move(submit)),
        catalog(std::move(catalog)),
        acceptor(io),
        shutdown_timer(io),
        accept_retry(io) {}

  void accept();
  void shutdown();
  void cut_all();
  void forget(Connection *connection);
  void stop_if_drained();

  net::io_context &io;
  const ServerOptions options;
  const SubmitChat submit;
  const Catalog catalog;
  tcp::acceptor acceptor;
  net::steady_timer shutdown_timer;
  net::steady_timer accept_retry;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::function<void()> on_stopped;
  std::unordered_set<Connection *> connections;
  bool draining = false;
  bool stopped = false;
};

// What the engine's thread hands over to the connection answering one chat. Texts that arrive while
// the connection is still writing wait here and are merged into one delta, so a fast upstream costs
// the io thread one wake-up per write, not one per token, and a slow client is noticed here.
struct ChatInbox {
  explicit ChatInbox(std::size_t text_limit) : text_limit(text_limit) {}

  std::mutex mutex;
  const std::size_t text_limit;  // text that may wait for the client before it counts as too slow
  bool wake_pending = false;     // the connection will look here soon; no need to post again
  std::optional<std::pair<std::string, std::string>> started;  // provider, model
  std::string text;
  bool done = false;
  std::optional<core::ChatError> error;
  bool overflowed = false;
};

// One client connection: reads requests one after the other and answers each, a chat through the
// engine. Lives as long as an asynchronous operation, a posted wake-up or a running chat holds it.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<ServerState> server)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), server_(std::move(server)) {}

  ~Connection() {
    end_chat(true);
    server_->forget(this);
  }

  void start() {
    server_->connections.insert(this);
    read_request();
  }

  // The server is shutting down: an idle connection closes now, a busy one after its answer.
  void drain() {
    keep_alive_ = false;
    if (phase_ == Phase::reading && !(parser_ && parser_->got_some())) close();
  }

  // The shutdown deadline passed.
  void cut() { abort("shutdown"); }

  // A wake-up posted by the chat's sink: take what the engine left in the inbox, unless a write is
  // in flight, whose completion takes it instead. A client that let the inbox overflow is dropped
  // at once, without waiting for its stalled write.
  void on_inbox(const std::shared_ptr<ChatInbox> &inbox) {
    if (inbox != inbox_ || phase_ != Phase::answering) return;
    if (!writing_) return take_inbox();
    bool overflowed = false;
    {
      std::lock_guard lock(inbox->mutex);
      overflowed = inbox->overflowed;
    }
    if (overflowed) abort("client too slow");
  }

 private:
  enum class Phase { reading, answering, closing, closed };

  // What the access log says about the request being answered.
  struct Exchange {
    Clock::time_point start;
    std::string method = "-", path = "-";
    int status = 0;
    std::string provider, model;
    bool stream = false;
  };

  void take_inbox() {
    std::optional<std::pair<std::string, std::string>> started;
    std::string text;
    std::optional<core::ChatError> error;
    bool done = false, overflowed = false;
    {
      std::lock_guard lock(inbox_->mutex);
      inbox_->wake_pending = false;
      started.swap(inbox_->started);
      text.swap(inbox_->text);
      error.swap(inbox_->error);
      done = inbox_->done;
      overflowed = inbox_->overflowed;
    }
    if (overflowed) return abort("client too slow");
    if (started) chat_started(started->first, started->second);
    if (!text.empty()) chat_text(text);
    if (error) return chat_failed(*error);
    if (done) return chat_done();
    flush_stream();
  }

  void chat_started(const std::string &provider, const std::string &model) {
    exchange_.provider = provider;
    exchange_.model = model;
    identity_.provider = provider;
    identity_.model = model;
    if (exchange_.stream) start_stream();
  }

  void chat_text(std::string_view text) {
    if (!exchange_.stream) {
      content_.append(text);
      return;
    }
    if (!stream_started_) start_stream();
    pending_ += text_event(identity_, text);
  }

  void chat_done() {
    end_chat();
    if (!exchange_.stream) {
      respond(http::status::ok, completion_json(identity_, content_));
      content_ = {};
      return;
    }
    if (!stream_started_) start_stream();
    pending_ += finish_event(identity_);
    pending_ += done_event;
    stream_ending_ = true;
    flush_stream();
  }

  void chat_failed(const core::ChatError &error) {
    end_chat();
    if (!error.provider.empty() && exchange_.provider.empty()) exchange_.provider = error.provider;
    ApiError api = api_error(error);
    if (!stream_started_) return respond_error(api);
    // The status line has gone out: the error can only travel inside the stream.
    pending_ += error_event(api);
    pending_ += done_event;
    stream_ending_ = true;
    flush_stream();
  }

  void read_request() {
    phase_ = Phase::reading;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    parser_->body_limit(server_->options.max_body_bytes);
    arm_deadline();
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (phase_ != Phase::reading) return;
    exchange_ = Exchange{};
    exchange_.start = Clock::now();
    if (ec) return on_read_error(ec);
    const auto &request = parser_->get();
    std::string_view target = std_view(request.target());
    exchange_.method = printable(std_view(request.method_string()));
    exchange_.path = printable(target.substr(0, target.find('?')));
    if (beast::iequals(request[http::field::expect], "100-continue")) {
      net::async_write(socket_, net::buffer(continue_response),
                       [self = shared_from_this()](error_code ec, std::size_t) {
                         if (ec) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (self->phase_ != Phase::reading) return;
      if (ec) return self->on_read_error(ec);
      self->on_request();
    });
  }

  void on_read_error(error_code ec) {
    keep_alive_ = false;
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || !parser_->got_some()) {
      return close();
    }
    if (ec == http::error::body_limit) {
      return respond_error(
          {413, "The request body is larger than " + std::to_string(server_->options.max_body_bytes) + " bytes.",
           "invalid_request_error", "", "request_too_large"});
    }
    if (ec == http::error::header_limit) {
      return respond_error({431, "The request headers are too large.", "invalid_request_error", "", ""});
    }
    if (ec == http::error::partial_message || ec == net::error::eof || ec == net::error::connection_reset) {
      return close();
    }
    respond_error({400, "Malformed HTTP request: " + ec.message() + ".", "invalid_request_error", "", ""});
  }

  void on_request() {
    phase_ = Phase::answering;
    disarm_deadline();
    auto request = parser_->release();
    parser_.reset();
    if (buffer_.capacity() > 2 * watch_read_size && buffer_.size() == 0) buffer_.shrink_to_fit();
    keep_alive_ = keep_alive_ && request.keep_alive() && !server_->draining;
    // HTTP/1.0 has no chunked encoding: a stream to such a client ends when the connection closes.
    chunked_ = request.version() >= 11;
    if (!chunked_) keep_alive_ = false;

    const std::string path(exchange_.path);
    const auto method = request.method();
    auto allow = [&](http::verb allowed) {
      if (method == allowed) return true;
      respond_error({405,
                     "Method " + exchange_.method + " is not allowed on " + path + "; use " +
                         std::string(http::to_string(allowed)) + ".",
                     "invalid_request_error", "", "method_not_allowed"},
                    std_view(http::to_string(allowed)));
      return false;
    };

    if (path == "/health") {
      if (!allow(http::verb::get)) return;
      if (server_->draining) return respond(http::status::service_unavailable, R"({"status":"draining"})");
      return respond(http::status::ok, R"({"status":"ok"})");
    }
    if (path != "/v1/chat/completions" && path != "/v1/models" && path != "/v1/providers") {
      return respond_error({404, "Unknown request URL: " + exchange_.method + " " + path + ".", "invalid_request_error",
                            "", "unknown_url"});
    }
    if (!authorised(request)) return;
    if (path == "/v1/models") {
      if (allow(http::verb::get)) respond(http::status::ok, server_->catalog.models_json);
      return;
    }
    if (path == "/v1/providers") {
      if (allow(http::verb::get)) respond(http::status::ok, server_->catalog.providers_json);
      return;
    }
    if (allow(http::verb::post)) start_chat(std::move(request.body()));
  }

  bool authorised(const http::request<http::string_body> &request) {
    const std::string &key = server_->options.api_key;
    if (key.empty()) return true;
    std::string_view given = std_view(request[http::field::authorization]);
    if (given.empty()) {
      respond_error({401, "You didn't provide an API key. Send it as the header 'Authorization: Bearer KEY'.",
                     "invalid_request_error", "", "invalid_api_key"});
      return false;
    }
    constexpr std::string_view scheme = "Bearer ";
    const beast::string_view scheme_name(scheme.data(), scheme.size());
    if (given.size() < scheme.size() || !beast::iequals(beast::string_view(given.data(), scheme.size()), scheme_name) ||
        !same_secret(given.substr(scheme.size()), key)) {
      respond_error({401, "Incorrect API key provided.", "invalid_request_error", "", "invalid_api_key"});
      return false;
    }
    return true;
  }

  void start_chat(std::string body) {
    auto parsed = parse_chat_request(body);
    body = {};
    if (auto *error = std::get_if<ApiError>(&parsed)) return respond_error(*error);
    auto &spec = std::get<core::ChatSpec>(parsed);
    exchange_.stream = spec.stream;
    exchange_.model = spec.model;
    identity_ = new_identity(spec.model, std::time(nullptr));
    stream_started_ = stream_ending_ = last_chunk_written_ = false;
    content_.clear();
    pending_.clear();
    inbox_ = std::make_shared<ChatInbox>(exchange_.stream ? server_->options.max_stream_backlog : SIZE_MAX);
    // Nothing else need hold the connection while the engine works (when pipelined bytes stop the
    // hangup watch, say), and it must live to answer.
    self_while_chatting_ = shared_from_this();
    watch_for_hangup();
    try {
      chat_ = server_->submit(std::move(spec), std::make_shared<Sink>(weak_from_this(), inbox_));
    } catch (const std::exception &e) {
      end_chat();
      respond_error({500, std::string("The chat could not be started: ") + e.what(), "server_error", "", ""});
    }
  }

  // Cancelling closes the chat's upstream transfer at once; a chat that has ended needs nothing.
  void end_chat(bool cancel = false) {
    if (cancel && inbox_ && chat_) chat_->cancel();
    inbox_.reset();
    chat_.reset();
    self_while_chatting_.reset();
  }

  // While an answer is being prepared the client sends nothing, so a finished read means it hung up
  // (or pipelined its next request, which stays in buffer_ for the parser).
  void watch_for_hangup() {
    if (watching_ || buffer_.size() >= server_->options.max_header_bytes) return;
    watching_ = true;
    socket_.async_read_some(buffer_.prepare(watch_read_size),
                            [self = shared_from_this()](error_code ec, std::size_t n) { self->on_watch(ec, n); });
  }

  void on_watch(error_code ec, std::size_t n) {
    watching_ = false;
    buffer_.commit(n);
    if (phase_ == Phase::closed) return;
    if (resume_after_watch_) {
      resume_after_watch_ = false;
      return next_request();
    }
    if (ec) return abort("client closed");
    watch_for_hangup();
  }

  void start_stream() {
    stream_started_ = true;
    exchange_.status = 200;
    stream_header_.emplace(http::status::ok, 11);
    stream_header_->set(http::field::content_type, "text/event-stream; charset=utf-8");
    stream_header_->set(http::field::cache_control, "no-cache");
    stream_header_->set("X-Accel-Buffering", "no");
    stream_header_->keep_alive(keep_alive_);
    stream_header_->chunked(chunked_);
    stream_serializer_.emplace(*stream_header_);
    pending_ = role_event(identity_) + pending_;
    writing_ = true;
    arm_deadline();
    http::async_write_header(socket_, *stream_serializer_,
                             [self = shared_from_this()](error_code ec, std::size_t) { self->on_stream_written(ec); });
  }

  void flush_stream() {
    if (writing_ || phase_ != Phase::answering) return;
    if (pending_.empty() && !stream_ending_) return;
    writing_ = true;
    in_flight_.swap(pending_);
    pending_.clear();
    last_chunk_written_ = stream_ending_;
    arm_deadline();
    auto done = [self = shared_from_this()](error_code ec, std::size_t) { self->on_stream_written(ec); };
    if (!chunked_) {
      net::async_write(socket_, net::buffer(in_flight_), std::move(done));
    } else if (last_chunk_written_ && in_flight_.empty()) {
      net::async_write(socket_, http::make_chunk_last(), std::move(done));
    } else if (last_chunk_written_) {
      net::async_write(socket_, beast::buffers_cat(http::make_chunk(net::buffer(in_flight_)), http::make_chunk_last()),
                       std::move(done));
    } else {
      net::async_write(socket_, http::make_chunk(net::buffer(in_flight_)), std::move(done));
    }
  }

  void on_stream_written(error_code ec) {
    writing_ = false;
    // A burst can leave a large buffer behind; a stream holds on only to a small one.
    if (in_flight_.capacity() > 16 * 1024) in_flight_ = std::string();
    if (phase_ != Phase::answering) return;
    if (ec) return abort("client closed");
    disarm_deadline();
    if (last_chunk_written_) return finish_exchange();
    if (inbox_) return take_inbox();
    flush_stream();
  }

  void respond_error(const ApiError &error, std::string_view allow = {}) {
    respond(static_cast<http::status>(error.status), error_json(error), allow);
  }

  void respond(http::status status, std::string body, std::string_view allow = {}) {
    phase_ = Phase::answering;
    exchange_.status = static_cast<int>(status);
    response_.emplace(status, 11);
    response_->set(http::field::content_type, "application/json");
    if (!allow.empty()) response_->set(http::field::allow, std::string(allow));
    response_->keep_alive(keep_alive_);
    response_->body() = std::move(body);
    response_->prepare_payload();
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

  void finish_exchange() {
    log();
    stream_serializer_.reset();
    stream_header_.reset();
    in_flight_ = {};
    pending_ = {};
    if (watching_) {
      // The read that watched for a hangup would compete with the next request's read.
      resume_after_watch_ = true;
      socket_.cancel();
      return;
    }
    next_request();
  }

  void next_request() {
    if (!keep_alive_ || server_->draining) return close_gracefully();
    read_request();
  }

  // Ends the connection mid-answer: the chat is cancelled, so its upstream transfer closes.
  void abort(std::string_view why) {
    if (phase_ == Phase::closed) return;
    end_chat(true);
    if (phase_ == Phase::answering) {
      if (exchange_.status == 0) exchange_.status = 499;
      log(why);
    }
    close();
  }

  // After the last response: stop sending, then read what the client still sends until it closes,
  // so that closing with unread bytes does not reset the connection before the response is read.
  void close_gracefully() {
    phase_ = Phase::closing;
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    arm_deadline(std::min<std::chrono::milliseconds>(linger_limit, server_->options.client_timeout));
    discard_until_closed();
  }

  void discard_until_closed() {
    socket_.async_read_some(buffer_.prepare(watch_read_size), [self = shared_from_this()](error_code ec, std::size_t) {
      if (self->phase_ != Phase::closing) return;
      if (ec) return self->close();
      self->buffer_.clear();
      self->discard_until_closed();
    });
  }

  void close() {
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    end_chat(true);
    error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  // One deadline covers whatever the connection is waiting on the client for: a request, or a write.
  void arm_deadline() { arm_deadline(server_->options.client_timeout); }

  void arm_deadline(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec) return;
      if (self->phase_ == Phase::answering) return self->abort("client timed out");
      self->close();
    });
  }

  void disarm_deadline() { timer_.cancel(); }

  void log(std::string_view note = {}) {
    if (!server_->options.access_log) return;
    auto ms = std::chrono::duration<double, std::milli>(Clock::now() - exchange_.start).count();
    std::fprintf(stderr, "provhost serve: %s %s %d %s %s %.1fms%s%.*s\n", exchange_.method.c_str(),
                 exchange_.path.c_str(), exchange_.status, printable(exchange_.provider).c_str(),
                 printable(exchange_.model).c_str(), ms, note.empty() ? "" : " ", static_cast<int>(note.size()),
                 note.data());
  }

  // Leaves the engine's events in the inbox and wakes the connection on its own executor, so the
  // engine's thread never waits on a client.
  class Sink : public core::ChatSink {
   public:
    Sink(std::weak_ptr<Connection> connection, std::shared_ptr<ChatInbox> inbox)
        : connection_(std::move(connection)), inbox_(std::move(inbox)) {}

    void on_start(const std::string &provider, const std::string &model) override {
      update([&](ChatInbox &inbox) {
        inbox.started.emplace(provider, model);
        return false;
      });
    }
    void on_text(std::string_view text) override {
      update([&](ChatInbox &inbox) {
        if (inbox.overflowed) return false;
        if (inbox.text.size() + text.size() <= inbox.text_limit) {
          inbox.text.append(text);
          return false;
        }
        inbox.overflowed = true;
        return true;
      });
    }
    void on_done() override {
      update([](ChatInbox &inbox) {
        inbox.done = true;
        return false;
      });
    }
    void on_error(const core::ChatError &error) override {
      update([&](ChatInbox &inbox) {
        inbox.error = error;
        return false;
      });
    }

   private:
    // `change` returns true when the connection must hear of it even if a wake-up is pending.
    template <class Change>
    void update(Change change) {
      {
        std::lock_guard lock(inbox_->mutex);
        bool urgent = change(*inbox_);
        if (std::exchange(inbox_->wake_pending, true) && !urgent) return;
      }
      auto connection = connection_.lock();
      if (!connection) return;
      auto executor = connection->socket_.get_executor();
      net::post(executor, [connection = std::move(connection), inbox = inbox_] { connection->on_inbox(inbox); });
    }

    std::weak_ptr<Connection> connection_;
    std::shared_ptr<ChatInbox> inbox_;
  };

  tcp::socket socket_;
  net::steady_timer timer_;
  std::shared_ptr<ServerState> server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Phase phase_ = Phase::reading;
  bool keep_alive_ = true;
  bool chunked_ = true;  // the client speaks HTTP/1.1
  Exchange exchange_;

  // A simple response being written.
  std::optional<http::response<http::string_body>> response_;

  // The chat being answered; inbox_ is set while it runs.
  std::shared_ptr<core::ChatHandle> chat_;
  std::shared_ptr<ChatInbox> inbox_;
  std::shared_ptr<Connection> self_while_chatting_;
  CompletionIdentity identity_;
  std::string content_;  // a non-streaming answer so far
  bool watching_ = false, resume_after_watch_ = false;

  // A streaming answer: events wait in pending_ while in_flight_ is being written.
  std::optional<http::response<http::empty_body>> stream_header_;
  std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
  std::string pending_, in_flight_;
  bool stream_started_ = false, stream_ending_ = false, writing_ = false, last_chunk_written_ = false;
};

void ServerState::accept() {
  acceptor.async_accept([self = shared_from_this()](error_code ec, tcp::socket socket) {
    if (self->draining || ec == net::error::operation_aborted) return;
    if (!ec) {
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Connection>(std::move(socket), self)->start();
      return self->accept();
    }
    // Out of file descriptors, say: the connections already open go on, new ones wait in the
    // backlog until a retry a moment later (retrying at once would spin).
    std::fprintf(stderr, "provhost serve: accept: %s\n", ec.message().c_str());
    self->accept_retry.expires_after(std::chrono::milliseconds(100));
    self->accept_retry.async_wait([self](error_code ec) {
      if (!ec && !self->draining) self->accept();
    });
  });
}

void ServerState::shutdown() {
  if (draining) return cut_all();
  draining = true;
  error_code ignored;
  acceptor.close(ignored);
  std::vector<std::shared_ptr<Connection>> open;
  for (auto *connection : connections) open.push_back(connection->shared_from_this());
  for (auto &connection : open) connection->drain();
  shutdown_timer.expires_after(options.shutdown_timeout);
  shutdown_timer.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->cut_all();
  });
  open.clear();
  stop_if_drained();
}

void ServerState::cut_all() {
  std::vector<std::shared_ptr<Connection>> open;
  for (auto *connection : connections) open.push_back(connection->shared_from_this());
  for (auto &connection : open) connection->cut();
}

void ServerState::forget(Connection *connection) {
  connections.erase(connection);
  stop_if_drained();
}

void ServerState::stop_if_drained() {
  if (!draining || stopped || !connections.empty()) return;
  stopped = true;
  shutdown_timer.cancel();
  accept_retry.cancel();
  work.reset();
  if (on_stopped) on_stopped();
}

Server::Server(net::io_context &io, ServerOptions options, SubmitChat submit, Catalog catalog)
    : state_(std::make_shared<ServerState>(io, std::move(options), std::move(submit), std::move(catalog))) {
  auto &acceptor = state_->acceptor;
  acceptor.open(state_->options.listen.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  acceptor.bind(state_->options.listen);
  acceptor.listen(net::socket_base::max_listen_connections);
}

Server::~Server() = default;

tcp::endpoint Server::local_endpoint() const { return state_->acceptor.local_endpoint(); }

void Server::start(std::function<void()> on_stopped) {
  state_->on_stopped = std::move(on_stopped);
  state_->work.emplace(state_->io.get_executor());
  state_->accept();
}

void Server::shutdown() {
  net::post(state_->io, [state = state_] { state->shutdown(); });
}

}  // namespace provhost::serve

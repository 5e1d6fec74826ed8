#include "server.hpp"

#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "routes.hpp"

namespace provhost::emulator::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr std::size_t header_limit = 64 * 1024;
constexpr std::size_t body_limit = 64 * 1024 * 1024;
constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

class Connection;

struct ServerLoop {
  explicit ServerLoop(State &state) : state(state) {}

  State &state;
  // Declared before the io_context: handlers it destroys may still hold connections.
  std::unordered_set<Connection *> connections;  // touched on the loop's thread only
  std::atomic<std::size_t> open{0};
  bool stopping = false;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};
  std::thread thread;

  void accept();
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerLoop &loop, tcp::socket socket) : loop_(loop), socket_(std::move(socket)) {
    loop_.connections.insert(this);
    ++loop_.open;
  }
  ~Connection() {
    loop_.connections.erase(this);
    --loop_.open;
  }

  void start() { read_request(); }

  // Ends whatever the connection waits for; its handlers then see an error and let go of it.
  void abort() {
    error_code ignored;
    socket_.close(ignored);
  }

 private:
  void read_request() {
    parser_.emplace();
    parser_->header_limit(header_limit);
    parser_->body_limit(body_limit);
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (ec) return on_read_error(ec);
    // Without the interim answer, curl waits a second before it sends a large body.
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      asio::async_write(socket_, asio::buffer(continue_line), [self = shared_from_this()](error_code ec, std::size_t) {
        if (ec) return self->abort();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, std::size_t) { self->on_request(ec); });
  }

  void on_read_error(error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || ec == asio::error::eof ||
        ec == asio::error::connection_reset || !socket_.is_open())
      return abort();
    keep_alive_ = false;
    send(ec == http::error::body_limit ? json_error(413, "the request body is too large")
                                       : json_error(400, "bad request: " + ec.message()));
  }

  void on_request(error_code ec) {
    if (ec) return on_read_error(ec);
    keep_alive_ = parser_->get().keep_alive();
    send(respond(loop_.state, parser_->get()));
  }

  void send(Reply reply) {
    reply_ = std::move(reply);
    written_ = 0;
    next_end_ = 0;
    if (reply_.after == After::reset) return reset();
    write_next();
  }

  // One socket write per entry of write_ends, so that small writes stay small.
  void write_next() {
    if (written_ >= reply_.limit) return after_reply();
    const auto &ends = reply_.wire->write_ends;
    while (next_end_ < ends.size() && ends[next_end_] <= written_) ++next_end_;
    const std::size_t end = next_end_ < ends.size() ? std::min(ends[next_end_], reply_.limit) : reply_.limit;
    asio::async_write(socket_, asio::buffer(reply_.wire->bytes.data() + written_, end - written_),
                      [self = shared_from_this()](error_code ec, std::size_t bytes) {
                        if (ec) return self->abort();
                        self->written_ += bytes;
                        self->write_next();
                      });
  }

  void after_reply() {
    error_code ignored;
    switch (reply_.after) {
      case After::next_request:
        reply_ = {};
        if (keep_alive_) return read_request();
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
        return abort();
      case After::close:
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        return abort();
      case After::stall:
        return wait_for_client_to_leave();
      case After::reset:
        return reset();
    }
  }

  void reset() {
    error_code ignored;
    socket_.set_option(tcp::socket::linger(true, 0), ignored);
    abort();
  }

  void wait_for_client_to_leave() {
    socket_.async_read_some(asio::buffer(discarded_), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->abort();
      self->wait_for_client_to_leave();
    });
  }

  ServerLoop &loop_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  Reply reply_;
  std::size_t written_ = 0, next_end_ = 0;
  std::array<char, 1024> discarded_;
};

void ServerLoop::accept() {
  acceptor.async_accept([this](error_code ec, tcp::socket socket) {
    if (stopping || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of file descriptors, most likely: try again once some connections have closed.
      accept_retry.expires_after(std::chrono::milliseconds(20));
      accept_retry.async_wait([this](error_code ec) {
        if (!ec) accept();
      });
      return;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Connection>(*this, std::move(socket))->start();
    accept();
  });
}

Server::Server(State &state) : state_(state) {}

Server::~Server() { stop(); }

void Server::start(uint16_t port, std::string_view host) {
  if (loop_) throw std::logic_error("the emulator is already started");
  auto loop = std::make_unique<ServerLoop>(state_);
  try {
    const tcp::endpoint endpoint(asio::ip::make_address(std::string(host)), port);
    loop->acceptor.open(endpoint.protocol());
    loop->acceptor.set_option(tcp::acceptor::reuse_address(true));
    loop->acceptor.bind(endpoint);
    loop->acceptor.listen(asio::socket_base::max_listen_connections);
    port_ = loop->acceptor.local_endpoint().port();
  } catch (const boost::system::system_error &error) {
    throw std::runtime_error("cannot listen on " + std::string(host) + ":" + std::to_string(port) + ": " +
                             error.code().message());
  }
  host_ = std::string(host);
  loop->accept();
  loop->thread = std::thread([raw = loop.get()] { raw->io.run(); });
  loop_ = std::move(loop);
}

void Server::stop() {
  if (!loop_) return;
  asio::post(loop_->io, [loop = loop_.get()] {
    loop->stopping = true;
    error_code ignored;
    loop->acceptor.close(ignored);
    loop->accept_retry.cancel();
    for (Connection *connection : loop->connections) connection->abort();
  });
  loop_->thread.join();
  loop_.reset();
}

std::size_t Server::open_connections() const { return loop_ ? loop_->open.load() : 0; }

}  // namespace provhost::emulator::detail

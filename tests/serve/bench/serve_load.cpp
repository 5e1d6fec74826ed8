// provhost-serve-load: the load generator behind scripts/bench-serve. Two measurements:
//
//   rate     POSTs one body at a fixed rate (open loop: each request has its scheduled send time,
//            and its latency runs from that time, so a stalled server cannot hide its queue) over
//            a pool of keep-alive connections, and prints latency percentiles.
//   streams  opens N connections at once, each POSTing a streaming chat, reads every event stream
//            to its end and checks that the deltas add up to the expected text. With --pid it
//            samples that process's resident memory before the streams and with the most open.
//            With --hold-ms it stops instead once all N are open (an upstream that stalls mid-answer
//            keeps them so), samples the memory after that many milliseconds and hangs up on all.
//
// Output is one line of key=value pairs, for the script to read. Single-threaded Asio; every run
// is bounded by --timeout.
#include <rapidjson/document.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

struct Target {
  tcp::endpoint endpoint;
  std::string host_header;
  std::string path;
};

Target parse_url(const std::string &url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) throw std::runtime_error("only http:// URLs: " + url);
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = authority.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("the URL needs a port: " + url);
  return {tcp::endpoint(net::ip::make_address(authority.substr(0, colon)),
                        static_cast<unsigned short>(std::stoi(authority.substr(colon + 1)))),
          authority, path};
}

std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

http::request<http::string_body> make_request(const Target &target, const std::string &body) {
  http::request<http::string_body> request(http::verb::post, target.path, 11);
  request.set(http::field::host, target.host_header);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::accept, "application/json");
  request.body() = body;
  request.prepare_payload();
  return request;
}

long resident_kib(int pid, const char *field = "VmRSS:") {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  }
  return -1;
}

double percentile(std::vector<double> &sorted, double p) {
  if (sorted.empty()) return 0;
  auto index = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

// ---- rate ----------------------------------------------------------------------------------------

class RateRun {
 public:
  RateRun(net::io_context &io, Target target, std::string body, double rate, double seconds, double warmup,
          std::size_t max_connections, std::function<void()> on_finished)
      : io_(io),
        on_finished_(std::move(on_finished)),
        target_(std::move(target)),
        request_(make_request(target_, body)),
        rate_(rate),
        total_(static_cast<std::size_t>(rate * (seconds + warmup))),
        warmup_(static_cast<std::size_t>(rate * warmup)),
        max_connections_(max_connections),
        ticker_(io) {}

  void start() {
    start_ = Clock::now();
    tick();
  }

  void report() {
    std::sort(latencies_ms_.begin(), latencies_ms_.end());
    double elapsed = std::chrono::duration<double>(last_done_ - measured_start_).count();
    std::printf(
        "sent=%zu ok=%zu errors=%zu connections=%zu achieved_rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
        "p999_ms=%.3f max_ms=%.3f\n",
        sent_, ok_, errors_, connections_.size(),
        elapsed > 0 ? static_cast<double>(latencies_ms_.size()) / elapsed : 0.0, percentile(latencies_ms_, 50),
        percentile(latencies_ms_, 90), percentile(latencies_ms_, 99), percentile(latencies_ms_, 99.9),
        latencies_ms_.empty() ? 0.0 : latencies_ms_.back());
  }

  bool failed() const { return errors_ > 0 || ok_ + errors_ < total_; }

 private:
  struct Connection {
    explicit Connection(net::io_context &io) : socket(io) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    std::optional<http::response_parser<http::string_body>> parser;
    bool connected = false;
  };

  void tick() {
    auto now = Clock::now();
    auto due =
        std::min(total_, static_cast<std::size_t>(std::chrono::duration<double>(now - start_).count() * rate_) + 1);
    while (scheduled_ < due) {
      auto at = start_ + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(static_cast<double>(scheduled_) / rate_));
      backlog_.push_back({scheduled_++, at});
    }
    dispatch();
    if (scheduled_ < total_) {
      ticker_.expires_at(start_ + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(static_cast<double>(scheduled_) / rate_)));
      ticker_.async_wait([this](error_code ec) {
        if (!ec) tick();
      });
    }
  }

  void dispatch() {
    while (!backlog_.empty()) {
      Connection *connection = nullptr;
      if (!idle_.empty()) {
        connection = idle_.back();
        idle_.pop_back();
      } else if (connections_.size() < max_connections_) {
        connections_.push_back(std::make_unique<Connection>(io_));
        connection = connections_.back().get();
      } else {
        return;
      }
      auto job = backlog_.front();
      backlog_.pop_front();
      send(connection, job);
    }
  }

  struct Job {
    std::size_t index;
    Clock::time_point scheduled;
  };

  void send(Connection *c, Job job) {
    ++sent_;
    if (!c->connected) {
      c->socket.async_connect(target_.endpoint, [this, c, job](error_code ec) {
        if (ec) return fail(c, job);
        c->connected = true;
        c->socket.set_option(tcp::no_delay(true));
        write(c, job);
      });
      return;
    }
    write(c, job);
  }

  void write(Connection *c, Job job) {
    http::async_write(c->socket, request_, [this, c, job](error_code ec, std::size_t) {
      if (ec) return fail(c, job);
      c->parser.emplace();
      c->parser->body_limit(64 * 1024 * 1024);
      http::async_read(c->socket, c->buffer, *c->parser, [this, c, job](error_code ec, std::size_t) {
        if (ec || c->parser->get().result_int() != 200) return fail(c, job);
        finish(job, true);
        if (!c->parser->get().keep_alive()) {
          c->socket.close();
          c->connected = false;
        }
        idle_.push_back(c);
        dispatch();
      });
    });
  }

  void fail(Connection *c, Job job) {
    error_code ignored;
    c->socket.close(ignored);
    c->connected = false;
    c->buffer.clear();
    finish(job, false);
    idle_.push_back(c);
    dispatch();
  }

  void finish(Job job, bool ok) {
    auto now = Clock::now();
    ok ? ++ok_ : ++errors_;
    if (job.index == warmup_) measured_start_ = job.scheduled;
    if (job.index >= warmup_ && ok) {
      latencies_ms_.push_back(std::chrono::duration<double, std::milli>(now - job.scheduled).count());
      last_done_ = now;
    }
    if (ok_ + errors_ == total_) {
      ticker_.cancel();
      on_finished_();
    }
  }

  net::io_context &io_;
  std::function<void()> on_finished_;
  Target target_;
  http::request<http::string_body> request_;
  double rate_;
  std::size_t total_, warmup_, max_connections_;
  net::steady_timer ticker_;
  Clock::time_point start_, measured_start_, last_done_;
  std::size_t scheduled_ = 0, sent_ = 0, ok_ = 0, errors_ = 0;
  std::deque<Job> backlog_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<Connection *> idle_;
  std::vector<double> latencies_ms_;
};

// Every stream is a socket: 10,000 of them need more than the usual soft limit of open files. The
// hard limit rises too where the process may raise it (root); otherwise the run reports how far it
// got.
void raise_open_file_limit(std::size_t needed) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed) return;
  rlimit wanted{needed, std::max<rlim_t>(limit.rlim_max, needed)};
  if (::setrlimit(RLIMIT_NOFILE, &wanted) == 0) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  std::fprintf(stderr, "provhost-serve-load: warning: at most %llu open files, %zu wanted\n",
               static_cast<unsigned long long>(limit.rlim_max), needed);
}

// ---- streams -------------------------------------------------------------------------------------

// The text of an OpenAI event stream; false when it is not one that ends in [DONE].
bool stream_text(const std::string &body, std::string &text) {
  std::size_t pos = 0;
  bool done = false;
  while (pos < body.size()) {
    std::size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    std::string_view line(body.data() + pos, end - pos);
    pos = end + 1;
    if (line.substr(0, 6) != "data: ") continue;
    line.remove_prefix(6);
    if (line == "[DONE]") {
      done = true;
      continue;
    }
    rapidjson::Document doc;
    doc.Parse(line.data(), line.size());
    if (doc.HasParseError() || !doc.HasMember("choices") || !doc["choices"].IsArray()) return false;
    for (const auto &choice : doc["choices"].GetArray()) {
      auto delta = choice.FindMember("delta");
      if (delta == choice.MemberEnd()) continue;
      auto content = delta->value.FindMember("content");
      if (content != delta->value.MemberEnd() && content->value.IsString()) {
        text.append(content->value.GetString(), content->value.GetStringLength());
      }
    }
  }
  return done;
}

class StreamsRun {
 public:
  StreamsRun(net::io_context &io, Target target, std::string body, std::string expected, std::size_t clients,
             std::size_t connect_window, int pid, int hold_ms, std::function<void()> on_finished)
      : io_(io),
        connect_window_(std::max<std::size_t>(connect_window, 1)),
        hold_ms_(hold_ms),
        hold_timer_(io),
        on_finished_(std::move(on_finished)),
        target_(std::move(target)),
        request_(make_request(target_, body)),
        expected_(std::move(expected)),
        clients_(clients),
        pid_(pid) {}

  void start() {
    if (pid_ > 0) rss_before_kib_ = resident_kib(pid_);
    start_ = Clock::now();
    for (std::size_t i = 0; i < clients_; ++i) streams_.push_back(std::make_unique<Stream>(io_));
    while (next_ < streams_.size() && next_ < connect_window_) begin(streams_[next_++].get());
  }

  void report() {
    double seconds = std::chrono::duration<double>(end_ - start_).count();
    std::printf(
        "clients=%zu completed=%zu verified=%zu failed=%zu bytes=%zu max_open=%zu seconds=%.2f rss_before_kib=%ld "
        "rss_sampled_open=%zu rss_at_max_open_kib=%ld hwm_kib=%ld held=%zu rss_held_kib=%ld\n",
        clients_, completed_, verified_, failed_, bytes_, max_open_, seconds, rss_before_kib_, rss_sampled_open_,
        rss_at_max_open_kib_, pid_ > 0 ? resident_kib(pid_, "VmHWM:") : -1L, held_, rss_held_kib_);
  }

  bool failed() const { return hold_ms_ > 0 ? held_ != clients_ : verified_ != clients_; }

 private:
  struct Stream {
    explicit Stream(net::io_context &io) : socket(io) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
  };

  // The next stream starts connecting once one has its answer's header (or failed), so that no
  // more than the window's worth wait in the server's listen backlog: past it, the kernel drops
  // connection attempts and they come back only with the client's SYN retries, seconds later.
  void begin_next() {
    if (next_ < streams_.size()) begin(streams_[next_++].get());
  }

  void begin(Stream *s) {
    s->parser.body_limit(256 * 1024 * 1024);
    s->socket.async_connect(target_.endpoint, [this, s](error_code ec) {
      if (ec) {
        begin_next();
        return done(s, false, false);
      }
      http::async_write(s->socket, request_, [this, s](error_code ec, std::size_t) {
        if (ec) {
          begin_next();
          return done(s, false, false);
        }
        http::async_read_header(s->socket, s->buffer, s->parser, [this, s](error_code ec, std::size_t) {
          begin_next();
          if (ec || s->parser.get().result_int() != 200) return done(s, false, false);
          ++open_;
          // What the server holds with the most streams open is what a stream costs.
          if (open_ > max_open_) {
            max_open_ = open_;
            if (pid_ > 0 && (open_ % 16 == 0 || open_ == clients_)) {
              rss_at_max_open_kib_ = resident_kib(pid_);
              rss_sampled_open_ = open_;
            }
          }
          if (hold_ms_ > 0 && open_ == clients_) hold();
          http::async_read(s->socket, s->buffer, s->parser, [this, s](error_code ec, std::size_t) {
            if (ec) return done(s, true, false);
            std::string text;
            const std::string &body = s->parser.get().body();
            bytes_ += body.size();
            bool ok = stream_text(body, text) && text == expected_;
            done(s, true, ok);
          });
        });
      });
    });
  }

  // Every stream is open: let the server settle, weigh it, then hang up on all of them.
  void hold() {
    hold_timer_.expires_after(std::chrono::milliseconds(hold_ms_));
    hold_timer_.async_wait([this](error_code ec) {
      if (ec) return;
      held_ = open_;
      if (pid_ > 0) rss_held_kib_ = resident_kib(pid_);
      end_ = Clock::now();
      for (auto &stream : streams_) {
        error_code ignored;
        stream->socket.close(ignored);
      }
      on_finished_();
    });
  }

  void done(Stream *s, bool was_open, bool ok) {
    if (held_ > 0) return;
    if (was_open) --open_;
    ok ? (++completed_, ++verified_) : ++failed_;
    error_code ignored;
    s->socket.close(ignored);
    s->parser.release();
    if (completed_ + failed_ == clients_) {
      end_ = Clock::now();
      on_finished_();
    }
  }

  net::io_context &io_;
  const std::size_t connect_window_;
  std::size_t next_ = 0;  // the next stream to start
  int hold_ms_;
  net::steady_timer hold_timer_;
  std::function<void()> on_finished_;
  Target target_;
  http::request<http::string_body> request_;
  std::string expected_;
  std::size_t clients_;
  int pid_;
  std::vector<std::unique_ptr<Stream>> streams_;
  Clock::time_point start_, end_;
  std::size_t open_ = 0, max_open_ = 0, completed_ = 0, verified_ = 0, failed_ = 0, bytes_ = 0;
  long rss_before_kib_ = -1, rss_at_max_open_kib_ = -1, rss_held_kib_ = -1;
  std::size_t rss_sampled_open_ = 0, held_ = 0;
};

}  // namespace

int main(int argc, char **argv) {
  CLI::App app{"Load generator for provhost serve (see scripts/bench-serve)"};
  app.require_subcommand(1);
  std::string url, body_file, expected_file;
  double rate = 2000, seconds = 10, warmup = 1, timeout = 120;
  std::size_t connections = 256, clients = 1000, connect_window = 512;
  int pid = 0, hold_ms = 0;

  auto *rate_cmd = app.add_subcommand("rate", "POST at a fixed rate and print latency percentiles");
  rate_cmd->add_option("--url", url, "http://HOST:PORT/path")->required();
  rate_cmd->add_option("--body", body_file, "File with the request body")->required();
  rate_cmd->add_option("--rate", rate, "Requests per second")->check(CLI::PositiveNumber);
  rate_cmd->add_option("--seconds", seconds, "Measured seconds")->check(CLI::PositiveNumber);
  rate_cmd->add_option("--warmup", warmup, "Seconds sent first and not measured")->check(CLI::NonNegativeNumber);
  rate_cmd->add_option("--connections", connections, "Most keep-alive connections to open");

  auto *streams_cmd = app.add_subcommand("streams", "Open N streams at once and verify every byte");
  streams_cmd->add_option("--url", url, "http://HOST:PORT/path")->required();
  streams_cmd->add_option("--body", body_file, "File with the request body")->required();
  streams_cmd->add_option("--expect", expected_file, "File with the text each stream must carry")->required();
  streams_cmd->add_option("--clients", clients, "Concurrent streams");
  streams_cmd->add_option("--connect-window", connect_window, "Streams connecting at once, at most");
  streams_cmd->add_option("--pid", pid, "Process whose resident memory to sample");
  streams_cmd->add_option("--hold-ms", hold_ms, "Stop once all streams are open, after this many milliseconds");
  app.add_option("--timeout", timeout, "Give up after this many seconds");
  CLI11_PARSE(app, argc, argv);

  try {
    net::io_context io(1);
    net::steady_timer limit(io, std::chrono::milliseconds(static_cast<long>(timeout * 1000)));
    bool timed_out = false;
    limit.async_wait([&](error_code ec) {
      if (ec) return;
      timed_out = true;
      io.stop();
    });
    Target target = parse_url(url);
    std::string body = read_file(body_file);
    auto finished = [&limit] { limit.cancel(); };
    bool failed = false;
    if (*rate_cmd) {
      RateRun run(io, target, body, rate, seconds, warmup, connections, finished);
      run.start();
      io.run();
      run.report();
      failed = run.failed();
    } else {
      raise_open_file_limit(clients + 64);
      StreamsRun run(io, target, body, read_file(expected_file), clients, connect_window, pid, hold_ms, finished);
      run.start();
      io.run();
      run.report();
      failed = run.failed();
    }
    if (timed_out) std::fprintf(stderr, "provhost-serve-load: gave up after %.0f s\n", timeout);
    return failed || timed_out ? 1 : 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "provhost-serve-load: %s\n", e.what());
    return 2;
  }
}

// emulator.hpp: an in-process stand-in for the upstream sites of the bundled providers on 127.0.0.1,
// for tests and benchmarks; each provider's protocol is a route, named as the provider's id (its name
// in lower case, see routes()).
//
//   provhost::emulator::Emulator upstream;
//   upstream.start();                                  // ephemeral port, its own thread
//   upstream.set_fault("ylokh", "fail_first", 2);      // the next two Ylokh requests are reset
//   ... run provhost with --upstream Ylokh=<upstream.origin()> ...
//   CHECK(output == upstream.expected_text());
//   CHECK(upstream.requests().back().header("Origin") == "https://chat.ylokh.xyz");
//
// Every answer streams the configured text, cut into tokens of `chunk_size` bytes (never inside a
// UTF-8 character) and written in writes of 1-7 bytes (each its own HTTP chunk, so a client sees
// lines and characters split), or in `write_size` pieces for benchmarks. The same server answers
// the control endpoints under /__emulator/ (see README.md), which are not recorded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace provhost::emulator {

// A text that trips careless clients: multi-byte UTF-8 (Cyrillic, CJK, emoji with ZWJ), quotes,
// backslashes, newlines, tabs, and protocol words ("data: [DONE]") inside the text.
std::string default_text();

// Every route, one per protocol the emulator speaks: "koala", "ylokh", ... The one list of them.
std::vector<std::string_view> routes();

// The path on which `route` is asked for its answer (the route's last request); throws
// std::invalid_argument for an unknown route.
std::string_view answer_path(std::string_view route);

struct RecordedRequest {
  std::string method, path, body;                            // path is the request target, query included
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names in their original case

  // The first value of a header, matched case-insensitively; "" when absent.
  std::string header(std::string_view name) const;
};

struct Config {
  std::string text = default_text();     // must be valid UTF-8
  std::size_t chunks = 0;                // text events per answer, cycling through the tokens; 0 = the text once
  std::size_t write_size = 0;            // bytes per socket write; 0 = small pseudo-random writes (1-7 bytes)
  bool chatgptfree_json_answer = false;  // ChatgptFree answers {"data": text} instead of SSE deltas
  std::size_t chunk_size = 6;            // text bytes per token (at least one character); 0 = one token
};

class Emulator {
 public:
  Emulator();  // not started
  // `initial` is the configuration that reset() returns to.
  explicit Emulator(Config initial);
  ~Emulator();  // stops
  Emulator(const Emulator &) = delete;
  Emulator &operator=(const Emulator &) = delete;

  // Listens on host:port (port 0 = ephemeral) and serves on its own thread. Throws
  // std::runtime_error when it cannot listen.
  void start(uint16_t port = 0, std::string_view host = "127.0.0.1");
  // Closes every connection (stalled ones included) and joins the thread. Idempotent.
  void stop();

  uint16_t port() const;
  std::string origin() const;  // "http://127.0.0.1:PORT"

  // Thread-safe; throws std::invalid_argument when the text is not valid UTF-8.
  void configure(Config config);
  Config config() const;
  // Clears faults, recorded requests and the configuration (back to the initial one).
  void reset();

  // The text a client should print for the current configuration.
  std::string expected_text() const;
  // The decoded body the route answers with for the current configuration, without faults; route
  // as in set_fault(). `stream` only matters for Ylokh.
  std::string answer_body(std::string_view route, bool stream = true) const;

  std::vector<RecordedRequest> requests() const;
  void clear_requests();
  // Keeps only the newest `limit` requests (default 100000), so long benchmarks do not grow without
  // bound; 0 records nothing.
  void set_record_limit(std::size_t limit);

  // route: one of routes(). fault: "rate_limit",
  // "cloudflare", "server_error", "bad_gateway", "reset", "truncate", "cut", "malformed", "stall",
  // "fail_first" (with k, or spelled "fail_first:K"), and for ChatgptFree "stale_nonce",
  // "no_nonce", "no_post_id"; "none" clears the route. A fault lasts until cleared, or for the
  // next `times` requests of the route when times > 0; fail_first lasts K requests and
  // stale_nonce one unless `times` says otherwise. Throws std::invalid_argument for an unknown
  // route or fault.
  void set_fault(std::string_view route, std::string_view fault, int k = 0, int times = 0);
  void clear_faults();

  std::string current_nonce() const;  // ChatgptFree's data-nonce on the page right now

  std::size_t open_connections() const;  // connections the server holds right now

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace provhost::emulator

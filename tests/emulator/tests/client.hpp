// client.hpp: what the emulator's tests use to talk to it: libcurl for ordinary requests, a raw
// socket for the bytes on the wire, and small readers that decode each protocol the way
// docs/protocols.md tells a plugin to, using the SDK's framers.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <emulator/emulator.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace provhost::emulator::test {

struct HttpResponse {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t body_callbacks = 0;  // how many pieces libcurl handed the body out in

  std::string header(std::string_view name) const;  // case-insensitive; "" when absent
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  std::chrono::milliseconds timeout{10000};
};

HttpResponse perform(const HttpRequest &request);
HttpResponse get(const std::string &url);
HttpResponse post_json(const std::string &url, const std::string &json);
HttpResponse post_form(const std::string &url, const std::string &form);

// A client connection that shows exactly what the server sends, and how the connection ends.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port);  // connects to 127.0.0.1:port; throws when it cannot
  ~RawConnection();
  RawConnection(const RawConnection &) = delete;
  RawConnection &operator=(const RawConnection &) = delete;

  void send(std::string_view bytes);
  // Reads until `received()` holds at least `size` bytes, the server ends the connection, or
  // `limit` passes; whether it holds that many.
  bool read_at_least(std::size_t size, std::chrono::milliseconds limit = std::chrono::seconds(10));
  // Reads until the server ends the connection or `limit` passes; whether it ended.
  bool read_to_end(std::chrono::milliseconds limit = std::chrono::seconds(10));
  void close();

  const std::string &received() const { return received_; }
  bool ended() const { return ended_; }  // the server closed (FIN or RST)
  bool reset() const { return reset_; }  // the server aborted with an RST

 private:
  bool read_once(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string received_;
  bool ended_ = false, reset_ = false;
};

// Sends `request` on a fresh connection and reads until the server closes it or `limit` passes.
struct RawExchange {
  std::string bytes;
  bool reset = false;      // the connection ended with an RST
  bool timed_out = false;  // the server neither answered completely nor closed in time
};
RawExchange raw_exchange(uint16_t port, const std::string &request,
                         std::chrono::milliseconds limit = std::chrono::seconds(10));

// An HTTP/1.1 response in chunked encoding, taken apart.
struct ChunkedResponse {
  std::string head;                 // status line and headers, up to the blank line
  std::string body;                 // the chunks' data, joined
  std::vector<std::string> chunks;  // each chunk's data
  bool terminated = false;          // ended with the zero-size chunk
};
ChunkedResponse parse_chunked(std::string_view response);

// A protocol's answer decoded as a plugin would decode it.
struct Decoded {
  std::string text;
  bool terminated = false;    // saw the protocol's end marker ([DONE])
  int undecodable = 0;        // records that were not valid JSON
  int ignored = 0;            // records or lines that carry no text (role-only chunks, pings, other events)
  int multi_data_events = 0;  // SSE events with more than one data line
};
Decoded read_koala(std::string_view body);
Decoded read_openai_stream(std::string_view body);  // Ylokh and FreeNetfly
Decoded read_chatgptfree(std::string_view body);    // SSE deltas or the buffered {"data": ...}
Decoded read_flowgpt(std::string_view body);
Decoded read_ylokh_json(std::string_view body);

// The wire request for one of the routes, with a body each route accepts.
std::string route_path(std::string_view route);
std::string route_body(std::string_view route, const std::string &nonce = "", bool stream = true);

inline const std::vector<std::string_view> all_routes = provhost::emulator::routes();

// Sends the route's request (with ChatgptFree's current nonce) to the emulator.
HttpResponse ask(const Emulator &emulator, std::string_view route, bool stream = true,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10));
// The same request as ask(), as bytes for a RawConnection; the server closes after answering.
std::string raw_request(const Emulator &emulator, std::string_view route, bool stream = true);
// The exact response bytes the route sends, fetched from /__emulator/raw.
std::string raw_answer(const Emulator &emulator, std::string_view route);
// Decodes a route's answer body with the reader for its protocol.
Decoded decode(std::string_view route, std::string_view body, bool stream = true);

}  // namespace provhost::emulator::test

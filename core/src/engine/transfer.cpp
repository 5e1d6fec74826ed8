#include "transfer.hpp"

#include <provhost/framing.hpp>

#include "engine_log.hpp"

namespace provhost::core::engine {
namespace {

// ---- libcurl's callbacks: they run inside curl_multi_perform and only record ------------------

int on_connected(void *data, char *, char *, int, int) {
  Transfer &t = *static_cast<Transfer *>(data);
  t.clock.request_sent = Clock::now();
  transition(t, TransferState::awaiting_response);
  t.touch();
  return CURL_PREREQFUNC_OK;
}

size_t on_header(char *data, size_t, size_t size, void *pointer) {
  Transfer &t = *static_cast<Transfer *>(pointer);
  t.clock.last_data = Clock::now();
  if (t.clock.first_byte == never) {
    t.clock.first_byte = t.clock.last_data;
    t.touch();
  }
  if (t.state == TransferState::connecting || t.state == TransferState::awaiting_response) {
    transition(t, TransferState::receiving_headers);
  }
  try {
    std::string_view line = trim(std::string_view(data, size));
    if (line.starts_with("HTTP/")) {
      t.response_headers.clear();  // a new response (after "100 Continue"): its own headers
    } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
      t.response_headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
  } catch (...) {
    return CURL_WRITEFUNC_ERROR;
  }
  return size;
}

// The body bytes libcurl hands over; those the transfer took (not paused, not refused) also go to
// the recording when there is one.
size_t take_body(Transfer &t, char *data, size_t size);

size_t on_write(char *data, size_t, size_t size, void *pointer) {
  Transfer &t = *static_cast<Transfer *>(pointer);
  const size_t taken = take_body(t, data, size);
  if (t.recording && taken == size) {
    try {
      t.recording->response_body.append(data, size);
    } catch (...) {
      t.recording->response_body.clear();  // out of memory: the recording lacks the body, the chat goes on
    }
  }
  return taken;
}

size_t take_body(Transfer &t, char *data, size_t size) {
  t.clock.last_data = Clock::now();
  switch (t.state) {
    case TransferState::draining:
      t.drained += size;
      return t.drained <= drain_limit ? size : CURL_WRITEFUNC_ERROR;
    case TransferState::discarding:
      return size;
    case TransferState::collecting_error: {
      size_t room = error_body_limit - t.error_body.size();
      t.error_body.append(data, std::min(room, size));
      if (size >= room) t.touch();  // full: the engine stops the transfer
      return size < room ? size : CURL_WRITEFUNC_ERROR;
    }
    default:
      break;
  }
  // A chunk that does not fit waits in libcurl; one larger than the whole buffer is taken alone.
  if (!t.buffer.empty() && t.buffer.size() + size > t.buffer_limit) {
    t.paused = true;
    t.clock.paused = true;
    t.touch();
    return CURL_WRITEFUNC_PAUSE;
  }
  try {
    t.buffer.append(data, size);
  } catch (...) {
    return CURL_WRITEFUNC_ERROR;
  }
  t.touch();
  return size;
}

// Why setting `option` failed, or "".
std::string refused(const char *option, CURLcode code) {
  return code == CURLE_OK ? std::string() : std::string(option) + ": " + curl_easy_strerror(code);
}

// Collects the first option libcurl refused.
class OptionSetter {
 public:
  explicit OptionSetter(CURL *easy) : easy_(easy) {}
  template <class Value>
  void operator()(const char *name, CURLoption option, Value value) {
    if (error_.empty()) error_ = refused(name, curl_easy_setopt(easy_, option, value));
  }
  std::string error() && { return std::move(error_); }

 private:
  CURL *easy_;
  std::string error_;
};

}  // namespace

std::string_view to_string(TransferState state) {
  switch (state) {
    case TransferState::connecting:
      return "connecting";
    case TransferState::awaiting_response:
      return "awaiting-response";
    case TransferState::receiving_headers:
      return "receiving-headers";
    case TransferState::awaiting_action:
      return "awaiting-action";
    case TransferState::reading:
      return "reading";
    case TransferState::collecting_error:
      return "collecting-error";
    case TransferState::discarding:
      return "discarding";
    case TransferState::settling:
      return "settling";
    case TransferState::draining:
      return "draining";
    case TransferState::finished:
      return "finished";
  }
  return "?";
}

Transfer::Transfer(uint64_t id, Chat &chat, CURL *easy, std::vector<uint64_t> &touched, const size_t &buffer_limit)
    : id(id), chat(&chat), easy(easy), buffer_limit(buffer_limit), touched_list(touched) {
  clock.started = clock.last_data = Clock::now();
}

Transfer::~Transfer() { curl_slist_free_all(request_headers); }

void transition(Transfer &transfer, TransferState to) {
  if (transfer.state == to) return;
  log_transition("transfer", transfer.id, to_string(transfer.state), to_string(to));
  transfer.state = to;
}

std::string configure_handle(CURL *easy, const std::string &proxy, uint32_t connect_ms) {
  OptionSetter set(easy);
  // HTTP only, redirects included: a plugin's URL must not read a file or reach another protocol's
  // service (check_request refuses such URLs first; this is libcurl's own guard behind it).
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85.0 replaced the bitmasks by lists
  set("CURLOPT_PROTOCOLS_STR", CURLOPT_PROTOCOLS_STR, "http,https");
  set("CURLOPT_REDIR_PROTOCOLS_STR", CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  set("CURLOPT_PROTOCOLS", CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  set("CURLOPT_REDIR_PROTOCOLS", CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  if (!proxy.empty()) {
    set("CURLOPT_PROXY", CURLOPT_PROXY, proxy.c_str());
    set("CURLOPT_NOPROXY", CURLOPT_NOPROXY, "");  // an explicit proxy is for every host
  }
  set("CURLOPT_SUPPRESS_CONNECT_HEADERS", CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  set("CURLOPT_NOSIGNAL", CURLOPT_NOSIGNAL, 1L);
  if (connect_ms) set("CURLOPT_CONNECTTIMEOUT_MS", CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_ms));
  set("CURLOPT_HEADERFUNCTION", CURLOPT_HEADERFUNCTION, &on_header);
  set("CURLOPT_WRITEFUNCTION", CURLOPT_WRITEFUNCTION, &on_write);
  set("CURLOPT_PREREQFUNCTION", CURLOPT_PREREQFUNCTION, &on_connected);
  return std::move(set).error();
}

std::string configure_transfer(Transfer &t, const detail::OutgoingRequest &request) {
  CURL *easy = t.easy;
  bool has_expect = false, has_accept_encoding = false;
  auto add_header = [&](const char *line) {
    curl_slist *grown = curl_slist_append(t.request_headers, line);
    if (grown) t.request_headers = grown;
    return grown != nullptr;
  };
  for (const auto &[name, value] : request.headers) {
    // "Name;" is libcurl's way to send a header with an empty value.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    if (!add_header(line.c_str())) return "curl_slist_append: out of memory";
    has_expect = has_expect || same_header_name(name, "expect");
    has_accept_encoding = has_accept_encoding || same_header_name(name, "accept-encoding");
  }
  // libcurl would otherwise add "Expect: 100-continue" to large bodies, a header the provider
  // never asked for, and wait for an answer many servers do not give.
  if (!has_expect && !add_header("Expect:")) return "curl_slist_append: out of memory";

  OptionSetter set(easy);
  set("CURLOPT_URL", CURLOPT_URL, request.url.c_str());
  set("CURLOPT_HTTPHEADER", CURLOPT_HTTPHEADER, t.request_headers);
  // The method in an order that leaves none of the last request's behind: a body (or none) first,
  // since setting one makes the request a POST; then NOBODY, which HEAD sets and every other
  // method clears; then GET or a custom method's name.
  const bool has_body = request.method != "GET" && request.method != "HEAD";
  set("CURLOPT_POSTFIELDS", CURLOPT_POSTFIELDS, has_body ? request.body.data() : nullptr);
  set("CURLOPT_POSTFIELDSIZE_LARGE", CURLOPT_POSTFIELDSIZE_LARGE,
      has_body ? static_cast<curl_off_t>(request.body.size()) : curl_off_t{-1});
  set("CURLOPT_NOBODY", CURLOPT_NOBODY, request.method == "HEAD" ? 1L : 0L);
  if (request.method == "GET") set("CURLOPT_HTTPGET", CURLOPT_HTTPGET, 1L);
  const bool custom = has_body && request.method != "POST";
  set("CURLOPT_CUSTOMREQUEST", CURLOPT_CUSTOMREQUEST, custom ? request.method.c_str() : nullptr);
  // The provider chose the encodings it accepts; libcurl decodes what comes back. Otherwise none is
  // asked for, and nothing is decoded.
  set("CURLOPT_ACCEPT_ENCODING", CURLOPT_ACCEPT_ENCODING, has_accept_encoding ? "" : nullptr);
  set("CURLOPT_BUFFERSIZE", CURLOPT_BUFFERSIZE, static_cast<long>(receive_buffer_size(t.buffer_limit)));
  set("CURLOPT_ERRORBUFFER", CURLOPT_ERRORBUFFER, t.error_buffer);
  set("CURLOPT_PRIVATE", CURLOPT_PRIVATE, &t);
  set("CURLOPT_HEADERDATA", CURLOPT_HEADERDATA, &t);
  set("CURLOPT_WRITEDATA", CURLOPT_WRITEDATA, &t);
  set("CURLOPT_PREREQDATA", CURLOPT_PREREQDATA, &t);
  return std::move(set).error();
}

}  // namespace provhost::core::engine

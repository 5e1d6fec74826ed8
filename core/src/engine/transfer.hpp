// transfer.hpp: one attempt at one request, a libcurl easy handle, and the states it walks through.
//
//   connecting -> awaiting_response -> receiving_headers -> awaiting_action -> reading ---> settling
//                                                                           -> collecting_error
//                                                                           -> discarding
//   reading -> draining (the session has its whole answer: the rest is read and dropped, detached
//              from the chat, so that the connection can be reused)
//
// libcurl's callbacks only record: timestamps, headers, and body bytes appended to `buffer`. When
// the buffer is full the transfer is paused (CURL_WRITEFUNC_PAUSE) until the engine has handed the
// bytes on; that bounds the memory of a transfer whose session is slow. The engine does the rest
// after curl_multi_perform returns. transition() is the only place the state changes, and logs it.
#pragma once

#include <curl/curl.h>

#include <algorithm>
#include <provhost/core/http_error.hpp>
#include <provhost/core/recording.hpp>
#include <string>
#include <vector>

#include "decisions.hpp"
#include "engine_session.hpp"

namespace provhost::core::engine {

struct Chat;

enum class TransferState : uint8_t {
  connecting,         // added to libcurl, not yet connected
  awaiting_response,  // the request is on its way: the first-byte clock runs
  receiving_headers,  // the response's status and headers are arriving
  awaiting_action,    // the session decides what to do with the response (body bytes wait)
  reading,            // body bytes go to the session
  collecting_error,   // body bytes are an error message for the host to map
  discarding,         // body bytes are dropped; the session asks again afterwards
  settling,           // libcurl is done; the session takes the rest and the end of the response
  draining,           // the answer is complete; the rest of the response is read and dropped
  finished,           // out of libcurl
};
std::string_view to_string(TransferState state);

// Bytes a transfer holds for its session before libcurl is told to pause it: the most one batch of
// body bytes carries. Every batch costs a wake-up on each side (and with --isolation process a
// round trip to the worker), so a transfer takes batches as large as the engine's budget allows
// shared among the transfers running: a chat alone streams in a few large batches, while 10,000
// streams hold no more each than the floor.
constexpr size_t transfer_buffer_floor = 64 * 1024;
constexpr size_t transfer_buffer_ceiling = 256 * 1024;
constexpr size_t transfer_buffer_budget = 1024 * 1024;
constexpr size_t transfer_buffer_limit(size_t transfers) {
  return std::clamp(transfer_buffer_budget / std::max<size_t>(transfers, 1), transfer_buffer_floor,
                    transfer_buffer_ceiling);
}
// Enough for any error message, bounded for a hostile one.
constexpr size_t error_body_limit = 64 * 1024;
// After the session has its answer, the rest of the response is dropped for at most this much.
constexpr size_t drain_limit = 64 * 1024;
constexpr milliseconds drain_time{1000};
// Batches of body bytes a transfer may have with its session at once. With two, the plugin thread
// finds the next batch waiting when it finishes one, instead of sleeping until the engine has seen
// its result; the buffer still bounds what waits, since libcurl pauses when it is full.
constexpr unsigned max_bodies_in_flight = 2;

// Whether the body bytes buffered now go on to the session.
constexpr bool may_hand_on_body(size_t buffered, unsigned bodies_in_flight) {
  return buffered > 0 && bodies_in_flight < max_bodies_in_flight;
}

// libcurl's receive buffer for a transfer (CURLOPT_BUFFERSIZE), the most one read from the socket
// and one write callback take. Larger reads cost fewer system calls and acknowledgements per byte,
// but libcurl holds the buffer as long as the transfer runs, idle or not: a quarter of what the
// transfer may buffer, and never less than libcurl's own default.
constexpr size_t receive_buffer_size(size_t buffer_limit) {
  return std::max<size_t>(CURL_MAX_WRITE_SIZE, buffer_limit / 4);
}

struct Transfer {
  // `buffer_limit`: the engine's transfer_buffer_limit() for the transfers running now.
  Transfer(uint64_t id, Chat &chat, CURL *easy, std::vector<uint64_t> &touched, const size_t &buffer_limit);
  ~Transfer();
  Transfer(const Transfer &) = delete;
  Transfer &operator=(const Transfer &) = delete;

  const uint64_t id;
  Chat *chat;  // null once draining
  CURL *easy;  // null once out of libcurl
  TransferState state = TransferState::connecting;
  TransferClock clock;

  curl_slist *request_headers = nullptr;
  HttpHeaders response_headers;
  long status = 0;
  ph_response_action action = PH_RESPONSE_READ;
  std::string buffer;  // body bytes not yet handed on
  const size_t &buffer_limit;
  std::string error_body;  // collecting_error
  size_t drained = 0;      // bytes dropped while draining
  TimePoint drain_until = never;
  bool body_fed = false;          // body bytes reached the session: no retry any more
  bool end_handed_on = false;     // the response's end went with its start (it had come whole)
  unsigned bodies_in_flight = 0;  // batches of body bytes with the session
  bool paused = false;            // libcurl holds the bytes until we resume the transfer
  bool curl_done = false;
  CURLcode result = CURLE_OK;
  bool first_byte_armed = false;
  bool idle_armed = false;
  char error_buffer[CURL_ERROR_SIZE] = {};
  std::shared_ptr<RecordedExchange> recording;  // with EngineOptions::recorder only

  // Set from the callbacks: the engine looks at this transfer after curl_multi_perform.
  bool touched = false;
  std::vector<uint64_t> &touched_list;

  void touch() {
    if (touched) return;
    touched = true;
    touched_list.push_back(id);
  }
};

// The one place a transfer's state changes.
void transition(Transfer &transfer, TransferState to);

// Sets the options every transfer of an engine shares (the protocols allowed, the proxy, the connect
// timeout, our callbacks): once per easy handle, which keeps them from one transfer to the next.
// "" or which option libcurl refused, and why.
std::string configure_handle(CURL *easy, const std::string &proxy, uint32_t connect_ms);

// Sets every option of the transfer's own (URL, headers, method, body, encodings, receive buffer,
// where the callbacks record), each one every time, to its default when the request has none, so
// that nothing of the request a reused handle sent last carries over. "" or which option libcurl
// refused, and why.
std::string configure_transfer(Transfer &transfer, const detail::OutgoingRequest &request);

}  // namespace provhost::core::engine

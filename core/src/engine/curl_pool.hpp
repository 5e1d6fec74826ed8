// curl_pool.hpp: libcurl's multi handle and a pool of easy handles, with every return code
// checked. Failures of the multi interface are reported on stderr and to the caller; none is
// ignored.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "poll_watch.hpp"

namespace provhost::core::engine {

// curl_global_init, once per process; throws std::runtime_error when libcurl cannot start.
void initialise_libcurl();

// "provhost: error: libcurl: <what>" on stderr, for failures no chat can carry.
void report_libcurl_failure(const std::string &what);

class CurlPool {
 public:
  CurlPool();  // throws std::runtime_error when libcurl cannot start
  ~CurlPool();
  CurlPool(const CurlPool &) = delete;
  CurlPool &operator=(const CurlPool &) = delete;

  CURLM *multi() const { return multi_; }

  // An easy handle, or a null one when libcurl is out of memory. A reused handle keeps every option
  // it was given (`fresh` false): the options all of an engine's transfers share are set once per
  // handle, and a transfer sets each of its own every time (transfer.hpp), which spares each
  // request curl_easy_reset and a dozen options set again.
  struct Taken {
    CURL *easy = nullptr;
    bool fresh = false;
  };
  Taken take();
  // Adds a configured handle to the multi; the error text when libcurl refuses it.
  std::string add(CURL *easy);
  // Takes the handle out of the multi (if it is in) and keeps it for reuse.
  void release(CURL *easy);

  // Sizes libcurl's connection cache for `transfers` running: room for connection_cache_floor
  // connections, or four per transfer when that is more (libcurl's own rule, by the handles in
  // the multi at the moment a connection comes back, let a burst's connections be closed as soon as
  // the burst thinned, and opened again for the next: a connect, an accept and a handshake each).
  // Idle connections past the size are closed as connections come back.
  void size_connection_cache(size_t transfers);
  static constexpr size_t connection_cache_floor = 64;
  size_t connection_cache_size() const { return connection_cache_size_; }

  // curl_multi_perform and curl_multi_poll (`ready`: how many of libcurl's sockets are ready; a
  // wake-up is not counted, nor are `also`'s); "" or why they failed. `also` are polled with
  // libcurl's sockets, and their revents filled in.
  std::string perform();
  std::string poll(int timeout_ms, int &ready, std::vector<PollWatch> &also);
  std::string poll(int timeout_ms, int &ready) {
    std::vector<PollWatch> none;
    return poll(timeout_ms, ready, none);
  }
  // Ends the poll in progress, or makes the next one return at once. From any thread. Only a
  // sleeping loop needs a system call (a write to the wake-up descriptor, and a read after it), and
  // only for the first wake it has not seen yet: a loop that is busy sees the wake when it next
  // polls, at no cost.
  void wake() const;
  // How many wakes had to wake a sleeping poll.
  uint64_t wakeups_sent() const { return wakeups_sent_.load(std::memory_order_relaxed); }
  // One of libcurl's own timers (connect timeout, a new or resumed transfer) is due: perform.
  bool timer_due() const;

 private:
  CURLM *multi_ = nullptr;
  // An eventfd polled with libcurl's sockets: a wake is one write and one read, where
  // curl_multi_wakeup's socket pair costs a send and two receives (libcurl reads it until it is
  // empty). -1 where there is none: curl_multi_wakeup then.
  int wake_fd_ = -1;
  // Together they let a wake and the start of a poll never miss each other: each side stores its
  // flag, then reads the other's (sequentially consistent), so at least one sees the other.
  mutable std::atomic<bool> polling_{false};  // in, or about to enter, curl_multi_poll
  mutable std::atomic<bool> woken_{false};    // a wake the loop has not seen yet
  mutable std::atomic<uint64_t> wakeups_sent_{0};
  void consume_wake() const;
  size_t connection_cache_size_ = 0;
  std::vector<CURL *> idle_;        // reused so that their buffers and state are not rebuilt
  std::vector<curl_waitfd> waits_;  // the wake-up descriptor and the watches of one poll
};

}  // namespace provhost::core::engine

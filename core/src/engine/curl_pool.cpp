#include "curl_pool.hpp"

#if defined(__linux__)
#include <sys/eventfd.h>
#include <unistd.h>
#endif

#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <stdexcept>

namespace provhost::core::engine {
namespace {

constexpr size_t idle_handle_limit = 64;

std::string failure(const char *call, CURLMcode code) {
  return std::string(call) + " failed: " + curl_multi_strerror(code);
}

}  // namespace

void initialise_libcurl() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    throw std::runtime_error(std::string("cannot initialise libcurl: ") + curl_easy_strerror(result));
  }
}

void report_libcurl_failure(const std::string &what) {
  std::string line = "provhost: error: libcurl: " + what + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

CurlPool::CurlPool() {
  initialise_libcurl();
  multi_ = curl_multi_init();
  if (!multi_) throw std::runtime_error("cannot start libcurl's multi interface");
  size_connection_cache(0);
#if defined(__linux__)
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
#endif
}

void CurlPool::size_connection_cache(size_t transfers) {
  const size_t size = std::max(connection_cache_floor, 4 * transfers);
  if (size == connection_cache_size_) return;
  // Refused only for a bad argument, which this is not; the cache then keeps the size it had.
  if (curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(size)) == CURLM_OK)
    connection_cache_size_ = size;
}

CurlPool::~CurlPool() {
#if defined(__linux__)
  if (wake_fd_ >= 0) ::close(wake_fd_);
#endif
  for (CURL *easy : idle_) curl_easy_cleanup(easy);
  if (CURLMcode code = curl_multi_cleanup(multi_); code != CURLM_OK)
    report_libcurl_failure(failure("curl_multi_cleanup", code));
}

CurlPool::Taken CurlPool::take() {
  if (idle_.empty()) return {curl_easy_init(), true};
  CURL *easy = idle_.back();
  idle_.pop_back();
  return {easy, false};
}

std::string CurlPool::add(CURL *easy) {
  CURLMcode code = curl_multi_add_handle(multi_, easy);
  return code == CURLM_OK ? std::string() : failure("curl_multi_add_handle", code);
}

void CurlPool::release(CURL *easy) {
  CURLMcode code = curl_multi_remove_handle(multi_, easy);
  // A handle the multi could not let go of is not safe to reuse.
  if (code != CURLM_OK) {
    report_libcurl_failure(failure("curl_multi_remove_handle", code));
    curl_easy_cleanup(easy);
  } else if (idle_.size() < idle_handle_limit) {
    idle_.push_back(easy);
  } else {
    curl_easy_cleanup(easy);
  }
}

std::string CurlPool::perform() {
  int running = 0;
  CURLMcode code = curl_multi_perform(multi_, &running);
  return code == CURLM_OK ? std::string() : failure("curl_multi_perform", code);
}

std::string CurlPool::poll(int timeout_ms, int &ready, std::vector<PollWatch> &also) {
  polling_.store(true);
  if (woken_.exchange(false)) timeout_ms = 0;  // woken while busy: the sockets are looked at, not waited for
  waits_.clear();
  if (wake_fd_ >= 0) waits_.push_back(curl_waitfd{wake_fd_, CURL_WAIT_POLLIN, 0});
  const size_t first_watch = waits_.size();
  for (const PollWatch &watch : also) {
    auto events = static_cast<short>(((watch.events & POLLIN) ? CURL_WAIT_POLLIN : 0) |
                                     ((watch.events & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
    waits_.push_back(curl_waitfd{watch.fd, events, 0});
  }
  CURLMcode code = curl_multi_poll(multi_, waits_.data(), static_cast<unsigned>(waits_.size()), timeout_ms, &ready);
  polling_.store(false);
  if (code == CURLM_OK) {
    if (first_watch > 0 && waits_[0].revents) {
      --ready;  // the wake-up is not one of libcurl's sockets
      consume_wake();
    }
    for (size_t i = 0; i < also.size(); ++i) {
      short found = waits_[first_watch + i].revents;
      also[i].revents =
          static_cast<short>(((found & CURL_WAIT_POLLIN) ? POLLIN : 0) | ((found & CURL_WAIT_POLLOUT) ? POLLOUT : 0));
      if (found) --ready;
    }
    ready = std::max(ready, 0);
  }
  // What a wake announced was published before it; the loop reads it after this, so it is seen.
  woken_.store(false);
  return code == CURLM_OK ? std::string() : failure("curl_multi_poll", code);
}

bool CurlPool::timer_due() const {
  long timeout_ms = -1;
  // When libcurl cannot tell, performing is the safe answer.
  if (curl_multi_timeout(multi_, &timeout_ms) != CURLM_OK) return true;
  return timeout_ms == 0;
}

void CurlPool::wake() const {
  // A wake the loop has not seen yet wrote the descriptor already if the loop slept, or the loop
  // sees the flag before it sleeps: the wakes that follow it (the requests that arrived in one turn
  // of serve's event loop, say) cost nothing.
  if (woken_.exchange(true)) return;
  if (!polling_.load()) return;
  wakeups_sent_.fetch_add(1, std::memory_order_relaxed);
#if defined(__linux__)
  if (wake_fd_ >= 0) {
    // Fails only when the counter is full, and then the poll is woken already.
    ::eventfd_write(wake_fd_, 1);
    return;
  }
#endif
  if (CURLMcode code = curl_multi_wakeup(multi_); code != CURLM_OK)
    report_libcurl_failure(failure("curl_multi_wakeup", code));
}

void CurlPool::consume_wake() const {
#if defined(__linux__)
  eventfd_t count = 0;
  ::eventfd_read(wake_fd_, &count);  // resets the counter; an empty one (EAGAIN) needs nothing
#endif
}

}  // namespace provhost::core::engine

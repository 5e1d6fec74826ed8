#include "curl_pool.hpp"

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
}

CurlPool::~CurlPool() {
  for (CURL *easy : idle_) curl_easy_cleanup(easy);
  if (CURLMcode code = curl_multi_cleanup(multi_); code != CURLM_OK)
    report_libcurl_failure(failure("curl_multi_cleanup", code));
}

CURL *CurlPool::take() {
  if (idle_.empty()) return curl_easy_init();
  CURL *easy = idle_.back();
  idle_.pop_back();
  curl_easy_reset(easy);
  return easy;
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

std::string CurlPool::poll(int timeout_ms, int &ready) {
  polling_.store(true);
  if (woken_.exchange(false)) timeout_ms = 0;  // woken while busy: the sockets are looked at, not waited for
  CURLMcode code = curl_multi_poll(multi_, nullptr, 0, timeout_ms, &ready);
  polling_.store(false);
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
  woken_.store(true);
  if (!polling_.load()) return;
  wakeups_sent_.fetch_add(1, std::memory_order_relaxed);
  if (CURLMcode code = curl_multi_wakeup(multi_); code != CURLM_OK)
    report_libcurl_failure(failure("curl_multi_wakeup", code));
}

}  // namespace provhost::core::engine

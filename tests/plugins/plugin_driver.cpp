#include "plugin_driver.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace provhost::test {
namespace {

size_t openssl_digest(std::string_view algorithm, std::string_view data, uint8_t *out) {
  const EVP_MD *md = EVP_get_digestbyname(std::string(algorithm).c_str());
  if (!md) return 0;
  unsigned int size = 0;
  if (!EVP_Digest(data.data(), data.size(), out, &size, md, nullptr)) return 0;
  return size;
}

}  // namespace

// ---- FakeHost --------------------------------------------------------------------------------------------

FakeHost::FakeHost(uint64_t seed, int64_t now_unix_ms) : random_state_(seed), now_unix_ms_(now_unix_ms) {
  table_.struct_size = sizeof table_;
  table_.host_data = this;
  table_.host_name = str("provhost-plugin-tests");
  table_.host_version = str("0");
  table_.log = &FakeHost::log;
  table_.now_unix_ms = &FakeHost::now;
  table_.random_bytes = &FakeHost::random_bytes;
  table_.get_config = nullptr;
  table_.digest = &FakeHost::digest;
}

void FakeHost::reseed(uint64_t seed) {
  std::lock_guard lock(mutex_);
  random_state_ = seed;
}

void FakeHost::set_now_unix_ms(int64_t now) {
  std::lock_guard lock(mutex_);
  now_unix_ms_ = now;
}

std::vector<std::string> FakeHost::log_lines() const {
  std::lock_guard lock(mutex_);
  return log_lines_;
}

void FakeHost::log(const ph_host *host, ph_log_level, ph_str message) {
  auto *self = static_cast<FakeHost *>(host->host_data);
  std::lock_guard lock(self->mutex_);
  self->log_lines_.emplace_back(view(message));
}

int64_t FakeHost::now(const ph_host *host) {
  auto *self = static_cast<FakeHost *>(host->host_data);
  std::lock_guard lock(self->mutex_);
  return self->now_unix_ms_;
}

// splitmix64: a fixed, well-mixed byte stream per seed.
void FakeHost::random_bytes(const ph_host *host, void *buffer, size_t size) {
  auto *self = static_cast<FakeHost *>(host->host_data);
  std::lock_guard lock(self->mutex_);
  auto *bytes = static_cast<unsigned char *>(buffer);
  for (size_t i = 0; i < size; ++i) {
    uint64_t z = (self->random_state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    bytes[i] = static_cast<unsigned char>(z ^ (z >> 31));
  }
}

size_t FakeHost::digest(const ph_host *, ph_str algorithm, ph_str data, uint8_t *out) {
  return openssl_digest(view(algorithm), view(data), out);
}

std::string digest_hex(std::string_view algorithm, std::string_view data) {
  uint8_t raw[EVP_MAX_MD_SIZE];
  size_t size = openssl_digest(algorithm, data, raw);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out.push_back(hex[raw[i] >> 4]);
    out.push_back(hex[raw[i] & 15]);
  }
  return out;
}

// ---- Plugin ----------------------------------------------------------------------------------------------

Plugin::Plugin(const std::string &path, FakeHost &host, uint32_t offered_version) {
  core::PluginLibraryLoad load = core::load_plugin_library(path, *host.table(), offered_version);
  if (!load.library) throw std::runtime_error(path + ": " + load.error);
  library_ = std::move(load.library);
  meta_ = std::move(load.meta);
}

// ---- Request / Outcome -----------------------------------------------------------------------------------

std::optional<std::string> Request::header(std::string_view name) const {
  for (const auto &[key, value] : headers)
    if (iequals(key, name)) return value;
  return std::nullopt;
}

size_t Request::header_count(std::string_view name) const {
  return std::count_if(headers.begin(), headers.end(), [&](const auto &h) { return iequals(h.first, name); });
}

std::string Outcome::text() const {
  std::string all;
  for (const std::string &piece : texts) all += piece;
  return all;
}

// ---- Session ---------------------------------------------------------------------------------------------

Session::Session(const Plugin &plugin, const Chat &chat) : session_(plugin.provider(), *this) {
  std::vector<ph_message> messages;
  for (const auto &[role, content] : chat.messages) messages.push_back(ph_message{str(role), str(content)});
  open_status_ = session_.open(chat.model, messages, chat.stream, chat.options_json);
}

std::optional<Request> Session::next_request() {
  if (!session_.has_session()) return std::nullopt;
  ph_http_request out;
  last_status_ = session_.next_request(out);
  if (last_status_ != PH_OK) return std::nullopt;
  Request request;
  if (std::optional<std::string_view> defect = core::copy_request(out, request))
    throw std::logic_error("the plugin " + std::string(*defect));
  request.retry = core::copy_retry_policy(out.retry);
  return request;
}

ph_response_action Session::start_response(int status, const Pairs &headers) {
  return session_.response_start(status, headers);
}

ph_status Session::body(std::string_view chunk) { return session_.body(chunk); }

ph_status Session::end_response() { return session_.response_end(); }

ph_response_action Session::respond(const Response &response, const std::vector<size_t> &cuts) {
  ph_response_action action = start_response(response.status, response.headers);
  if (action != PH_RESPONSE_READ) return action;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(response.body.size());
  for (size_t end : ends) {
    if (end < from) continue;
    ph_status status = body(std::string_view(response.body).substr(from, end - from));
    from = end;
    if (status != PH_OK) return action;  // PH_DONE: the host stops reading; PH_FAILED: the chat is over
  }
  end_response();
  return action;
}

Outcome answer_once(const Plugin &plugin, const Chat &chat, const Response &response, const std::vector<size_t> &cuts) {
  Session session(plugin, chat);
  if (session.open_status() != PH_OK) return session.outcome();
  if (!session.next_request()) return session.outcome();
  if (session.respond(response, cuts) == PH_RESPONSE_READ) {
    // A one-request protocol has nothing more to send, whether or not the answer was complete.
    if (session.next_request()) throw std::logic_error("the plugin asked for a second request");
  }
  return session.outcome();
}

std::vector<std::vector<size_t>> cut_plans(size_t size, size_t three_way_limit) {
  std::vector<std::vector<size_t>> plans;
  for (size_t cut = 0; cut <= size; ++cut) plans.push_back({cut});
  std::vector<size_t> every_byte;
  for (size_t cut = 1; cut < size; ++cut) every_byte.push_back(cut);
  plans.push_back(every_byte);
  if (size <= three_way_limit)
    for (size_t first = 1; first < size; ++first)
      for (size_t second = first + 1; second < size; ++second) plans.push_back({first, second});
  return plans;
}

Pairs form_decode(std::string_view body) {
  auto decode = [](std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '+') {
        out.push_back(' ');
      } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
        out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(text[i]);
      }
    }
    return out;
  };
  Pairs pairs;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view field = body.substr(0, amp);
    size_t eq = field.find('=');
    pairs.emplace_back(decode(field.substr(0, eq)), eq == std::string_view::npos ? "" : decode(field.substr(eq + 1)));
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
  }
  return pairs;
}

}  // namespace provhost::test

// The request engine: one thread drives every chat's HTTP transfers on libcurl's multi interface.
//
// A chat walks its candidates (fallback): for each, a plugin session asks for requests; each
// request is sent in attempts (retries); each attempt is one libcurl transfer whose bytes go
// straight from libcurl's buffer to the session. libcurl enforces only the connect timeout; the
// first-byte, idle, per-attempt and total timeouts and the retry waits are our own deadlines,
// checked when the loop wakes up (curl_multi_poll waits no longer than the nearest one). When a
// session has its whole answer before the response ends, the chat goes on at once and the rest of
// the response is drained on its own, so that the connection can be reused.
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <provhost/core/chat.hpp>
#include <provhost/core/upstream.hpp>
#include <provhost/framing.hpp>
#include <random>
#include <stdexcept>

#include "decisions.hpp"
#include "engine_errors.hpp"
#include "engine_session.hpp"

namespace provhost::core {

namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using std::chrono::milliseconds;
constexpr TimePoint never = TimePoint::max();

constexpr size_t error_body_limit = 64 * 1024;  // enough for any error message, bounded for a hostile one
constexpr milliseconds default_total{120'000};
constexpr milliseconds longest_poll{1000};
constexpr size_t idle_handle_limit = 64;
// After the session has its answer, the rest of the response is read and dropped for a while, so
// that the connection goes back to libcurl's pool rather than being closed.
constexpr size_t drain_limit = 64 * 1024;
constexpr milliseconds drain_time{1000};

using engine::seconds_text;

void initialise_libcurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

struct Engine::Impl {
  struct Chat;

  // What other threads hand to the loop. `multi` is null once the engine is gone, so that a handle
  // that outlives the engine cancels nothing.
  struct Mailbox {
    std::mutex mutex;
    std::vector<std::shared_ptr<Chat>> incoming;
    bool cancellations = false;
    bool stop = false;
    CURLM *multi = nullptr;

    void wake() {
      if (multi) curl_multi_wakeup(multi);
    }
  };

  // One attempt at one request: a libcurl transfer and what has come back so far.
  struct Transfer {
    Impl &engine;
    Chat *chat;  // null once the answer is complete and only the rest of the response is drained
    CURL *easy;
    curl_slist *request_headers = nullptr;
    HttpHeaders response_headers;
    long status = 0;
    bool response_started = false;  // on_response_start was called
    ph_response_action action = PH_RESPONSE_READ;
    std::string error_body;
    bool body_fed = false;  // body bytes reached the session: no retry any more
    // Why our callback stopped the transfer, when it did.
    enum class Stop { none, session_done, session_failed, error_body_full, retry } stop = Stop::none;
    milliseconds retry_wait{0};
    TimePoint started = Clock::now();
    TimePoint request_sent = never;  // connected, request on its way: the first-byte clock runs
    TimePoint first_byte = never;
    TimePoint last_data = started;
    size_t drained = 0;  // bytes dropped after session_done
    TimePoint drain_until = never;
    char error_buffer[CURL_ERROR_SIZE] = {};

    Transfer(Impl &engine, Chat &chat, CURL *easy) : engine(engine), chat(&chat), easy(easy) {}
    ~Transfer() { curl_slist_free_all(request_headers); }
    Transfer(const Transfer &) = delete;
    Transfer &operator=(const Transfer &) = delete;
  };

  struct Chat final : detail::SessionListener {
    ChatSpec spec;
    std::shared_ptr<ChatSink> sink;
    std::atomic<bool> cancel_requested{false};

    std::vector<Resolution> candidates;
    size_t next_candidate = 0;
    std::vector<ChatError> attempts;  // one per provider that failed

    std::unique_ptr<detail::PluginSession> session;
    std::string origin;  // the upstream override of the current provider; "" for its real origin
    detail::OutgoingRequest request;
    uint32_t attempt = 0;  // of `request`, from 1
    std::unique_ptr<Transfer> transfer;
    TimePoint retry_at = never;

    TimePoint started_at;
    TimePoint deadline = never;  // the whole chat, retries and fallback included
    bool answering = false;      // on_start was called: no fallback, no retry
    bool ended = false;          // on_done or on_error was called

    Chat(ChatSpec spec, std::shared_ptr<ChatSink> sink) : spec(std::move(spec)), sink(std::move(sink)) {}

    void session_text(std::string_view text) override {
      if (ended) return;
      if (!answering) {
        answering = true;
        sink->on_start(session->provider_name(), session->model());
      }
      sink->on_text(text);
    }

    void session_warning(std::string_view message) override {
      if (!ended) sink->on_warning(session->provider_name(), message);
    }
  };

  class Handle final : public ChatHandle {
   public:
    Handle(std::weak_ptr<Chat> chat, std::shared_ptr<Mailbox> mailbox)
        : chat_(std::move(chat)), mailbox_(std::move(mailbox)) {}
    void cancel() override {
      std::shared_ptr<Chat> chat = chat_.lock();
      if (!chat) return;
      chat->cancel_requested = true;
      std::lock_guard lock(mailbox_->mutex);
      mailbox_->cancellations = true;
      mailbox_->wake();
    }

   private:
    std::weak_ptr<Chat> chat_;
    std::shared_ptr<Mailbox> mailbox_;
  };

  const Registry &registry;
  EngineOptions options;
  CURLM *multi = nullptr;
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();
  std::vector<std::shared_ptr<Chat>> chats;  // the loop's own; chats arrive through the mailbox
  std::vector<CURL *> idle_handles;          // reused so that their buffers and state are not rebuilt
  std::vector<Chat *> answered;              // their session said PH_DONE during the last perform
  std::vector<std::unique_ptr<Transfer>> draining;
  TimePoint next_check = never;  // the nearest of all deadlines, or earlier
  std::mt19937 random{std::random_device{}()};

  Impl(const Registry &registry, EngineOptions options) : registry(registry), options(std::move(options)) {
    initialise_libcurl();
    multi = curl_multi_init();
    if (!multi) throw std::runtime_error("cannot start libcurl's multi interface");
    mailbox->multi = multi;
  }

  ~Impl() {
    std::vector<std::shared_ptr<Chat>> never_started;
    {
      std::lock_guard lock(mailbox->mutex);
      never_started.swap(mailbox->incoming);
      mailbox->multi = nullptr;
    }
    chats.insert(chats.end(), never_started.begin(), never_started.end());
    for (auto &chat : chats) {
      if (!chat->ended) end_with_error(*chat, make_error(ErrorKind::cancelled, "", "cancelled"));
    }
    chats.clear();
    for (auto &t : draining) release_handle(t->easy);
    draining.clear();
    for (CURL *easy : idle_handles) curl_easy_cleanup(easy);
    curl_multi_cleanup(multi);
  }

  void arm(TimePoint when) { next_check = std::min(next_check, when); }

  // ---- the loop -------------------------------------------------------------------------------

  void loop(bool until_idle) {
    for (;;) {
      if (take_mail()) {
        std::lock_guard lock(mailbox->mutex);
        mailbox->stop = false;  // consumed: the next run() runs
        return;
      }
      if (until_idle && chats.empty()) return;
      int running = 0;
      curl_multi_perform(multi, &running);
      collect_finished();
      let_answered_go_on();
      TimePoint now = Clock::now();
      if (now >= next_check) check_deadlines(now);
      std::erase_if(chats, [](const std::shared_ptr<Chat> &chat) { return chat->ended; });
      if (until_idle && chats.empty()) continue;  // look at the mailbox once more before leaving
      auto wait = next_check == never ? longest_poll : std::chrono::ceil<milliseconds>(next_check - Clock::now());
      wait = std::clamp(wait, milliseconds(0), longest_poll);
      curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
    }
  }

  // Starts the chats that arrived and cancels those asked to; true when the loop should stop.
  bool take_mail() {
    std::vector<std::shared_ptr<Chat>> arrived;
    bool cancellations = false, stop = false;
    {
      std::lock_guard lock(mailbox->mutex);
      arrived.swap(mailbox->incoming);
      cancellations = std::exchange(mailbox->cancellations, false);
      stop = mailbox->stop;
    }
    for (auto &chat : arrived) start(chat);
    if (cancellations) {
      for (auto &chat : chats) {
        if (chat->cancel_requested && !chat->ended) {
          end_with_error(*chat, make_error(ErrorKind::cancelled, "", "cancelled"));
        }
      }
    }
    return stop;
  }

  void collect_finished() {
    int queued = 0;
    while (CURLMsg *message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      CURLcode result = message->data.result;
      Transfer *transfer = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &transfer);
      if (transfer) transfer_done(*transfer, result);
    }
  }

  // The chats whose session completed its answer mid-response go on at once; their transfers drain
  // the rest of the response on their own.
  void let_answered_go_on() {
    std::vector<Chat *> ready;
    ready.swap(answered);
    for (Chat *chat : ready) {
      // A transfer that ended in the same perform was handled by collect_finished already.
      if (!chat->transfer || chat->transfer->stop != Transfer::Stop::session_done) continue;
      std::unique_ptr<Transfer> rest = std::move(chat->transfer);
      rest->chat = nullptr;
      rest->drain_until = Clock::now() + drain_time;
      arm(rest->drain_until);
      draining.push_back(std::move(rest));
      ask_next_request(*chat);
    }
  }

  void finish_draining(Transfer &drained) {
    release_handle(drained.easy);
    std::erase_if(draining, [&](const std::unique_ptr<Transfer> &t) { return t.get() == &drained; });
  }

  // Fires every deadline that has passed and arms the next one.
  void check_deadlines(TimePoint now) {
    next_check = never;
    std::erase_if(draining, [&](const std::unique_ptr<Transfer> &t) {
      if (now >= t->drain_until) {
        release_handle(t->easy);  // still going: give up on reusing its connection
        return true;
      }
      arm(t->drain_until);
      return false;
    });
    for (auto &pointer : chats) {
      Chat &chat = *pointer;
      if (chat.ended) continue;
      if (now >= chat.deadline) {
        out_of_time(chat);
        continue;
      }
      arm(chat.deadline);
      if (chat.transfer) {
        check_transfer(chat, now);
      } else if (chat.retry_at != never) {
        if (now >= chat.retry_at) {
          chat.retry_at = never;
          start_attempt(chat);
        } else {
          arm(chat.retry_at);
        }
      }
    }
  }

  void check_transfer(Chat &chat, TimePoint now) {
    Transfer &t = *chat.transfer;
    const Timeouts &limits = options.timeouts;
    if (chat.request.timeout_ms) {
      milliseconds limit(chat.request.timeout_ms);
      if (now >= t.started + limit) return expire(chat, ErrorKind::timeout, "timed out after " + seconds_text(limit));
      arm(t.started + limit);
    }
    if (t.first_byte == never) {
      if (t.request_sent != never && limits.first_byte_ms) {
        milliseconds limit(limits.first_byte_ms);
        if (now >= t.request_sent + limit) {
          return expire(chat, ErrorKind::timeout, "no response within " + seconds_text(limit));
        }
        arm(t.request_sent + limit);
      }
    } else if (limits.idle_ms) {
      milliseconds limit(limits.idle_ms);
      if (now >= t.last_data + limit)
        return expire(chat, ErrorKind::stalled, "stalled: no data for " + seconds_text(limit));
      arm(t.last_data + limit);
    }
  }

  // One attempt ran out of time; timeouts before the answer began may be retried.
  void expire(Chat &chat, ErrorKind kind, const std::string &what) {
    bool body_fed = chat.transfer->body_fed;
    drop_transfer(chat);
    attempt_failed(chat, make_error(kind, chat.session->provider_name(), what),
                   kind == ErrorKind::timeout ? PH_RETRY_ON_TIMEOUT : 0, body_fed);
  }

  void out_of_time(Chat &chat) {
    std::string provider = chat.session ? chat.session->provider_name() : "";
    provider_failed(
        chat, make_error(
                  ErrorKind::timeout, provider,
                  "timed out after " + seconds_text(std::chrono::ceil<milliseconds>(chat.deadline - chat.started_at))));
  }

  // ---- a chat from start to end ---------------------------------------------------------------

  void start(std::shared_ptr<Chat> pointer) {
    chats.push_back(pointer);
    Chat &chat = *pointer;
    chat.started_at = Clock::now();
    chat.deadline =
        chat.started_at + (options.timeouts.total_ms ? milliseconds(options.timeouts.total_ms) : default_total);
    arm(chat.deadline);
    if (chat.cancel_requested) return end_with_error(chat, make_error(ErrorKind::cancelled, "", "cancelled"));
    if (chat.spec.messages.empty()) {
      return end_with_error(chat, make_error(ErrorKind::bad_request, "", "no messages to send"));
    }
    ResolveResult resolved = registry.resolve(chat.spec.provider, chat.spec.model);
    if (resolved.candidates.empty()) {
      ErrorKind kind = resolved.kind == ResolveResult::Kind::unknown_provider ? ErrorKind::unknown_provider
                                                                              : ErrorKind::model_not_found;
      return end_with_error(chat, make_error(kind, "", resolved.error.empty() ? "no provider found" : resolved.error));
    }
    chat.candidates = std::move(resolved.candidates);
    try_next_candidate(chat);
  }

  void try_next_candidate(Chat &chat) {
    const Resolution &candidate = chat.candidates[chat.next_candidate++];
    chat.session = std::make_unique<detail::PluginSession>(*candidate.provider, candidate.model, chat);
    const std::string &name = candidate.provider->meta.name;
    chat.origin.clear();
    if (std::string upstream = find_upstream(name, options.upstreams); !upstream.empty()) {
      std::string error;
      std::optional<std::string> origin = parse_origin(upstream, error);
      if (!origin) return provider_failed(chat, make_error(ErrorKind::bad_request, name, error));
      chat.origin = std::move(*origin);
    }
    if (!chat.session->open(chat.spec)) return provider_failed(chat, chat.session->failure());
    ask_next_request(chat);
  }

  void ask_next_request(Chat &chat) {
    switch (chat.session->next_request(chat.request)) {
      case detail::PluginSession::Next::request:
        break;
      case detail::PluginSession::Next::done:
        if (chat.session->finished()) return end_with_answer(chat);
        return provider_failed(chat, make_error(ErrorKind::truncated, chat.session->provider_name(),
                                                "stream truncated: the answer ended before its end marker"));
      case detail::PluginSession::Next::failed:
        return provider_failed(chat, chat.session->failure());
    }
    if (!options.timeouts.total_ms) {
      chat.deadline = std::max(chat.deadline, chat.started_at + milliseconds(chat.request.timeout_ms));
    }
    if (!chat.origin.empty()) {
      std::optional<std::string> url = replace_origin(chat.request.url, chat.origin);
      if (!url) {
        return provider_failed(chat, make_error(ErrorKind::plugin, chat.session->provider_name(),
                                                "the plugin asked for a URL that is not absolute"));
      }
      chat.request.url = std::move(*url);
      // libcurl derives Host from the new URL; the provider's own Origin and Referer stay.
      std::erase_if(chat.request.headers, [](const auto &header) { return same_header_name(header.first, "host"); });
    }
    chat.attempt = 0;
    start_attempt(chat);
  }

  void start_attempt(Chat &chat) {
    ++chat.attempt;
    CURL *easy = take_handle();
    if (!easy) {
      return provider_failed(chat, make_error(ErrorKind::connection, chat.session->provider_name(),
                                              "cannot start a transfer (out of memory)"));
    }
    chat.transfer = std::make_unique<Transfer>(*this, chat, easy);
    Transfer &t = *chat.transfer;
    configure(t);
    if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
      drop_transfer(chat);
      return provider_failed(
          chat, make_error(ErrorKind::connection, chat.session->provider_name(), "cannot start a transfer"));
    }
    if (chat.request.timeout_ms) arm(t.started + milliseconds(chat.request.timeout_ms));
  }

  void configure(Transfer &t) {
    const detail::OutgoingRequest &request = t.chat->request;
    CURL *easy = t.easy;
    bool has_expect = false, has_accept_encoding = false;
    for (const auto &[name, value] : request.headers) {
      // "Name;" is libcurl's way to send a header with an empty value.
      std::string line = value.empty() ? name + ";" : name + ": " + value;
      t.request_headers = curl_slist_append(t.request_headers, line.c_str());
      has_expect = has_expect || same_header_name(name, "expect");
      has_accept_encoding = has_accept_encoding || same_header_name(name, "accept-encoding");
    }
    // libcurl would otherwise add "Expect: 100-continue" to large bodies, a header the provider
    // never asked for, and wait for an answer many servers do not give.
    if (!has_expect) t.request_headers = curl_slist_append(t.request_headers, "Expect:");
    curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t.request_headers);
    if (request.method == "GET") {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else {
      if (request.method != "POST") curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
    // The provider chose the encodings it accepts; libcurl decodes what comes back.
    if (has_accept_encoding) curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    if (!options.proxy.empty()) {
      curl_easy_setopt(easy, CURLOPT_PROXY, options.proxy.c_str());
      curl_easy_setopt(easy, CURLOPT_NOPROXY, "");  // an explicit proxy is used for every host
    }
    curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    if (options.timeouts.connect_ms) {
      curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.timeouts.connect_ms));
    }
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t.error_buffer);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, &on_connected);
    curl_easy_setopt(easy, CURLOPT_PREREQDATA, &t);
  }

  // ---- libcurl's callbacks (inside curl_multi_perform; they only record and feed) ------------

  static int on_connected(void *data, char *, char *, int, int) {
    Transfer &t = *static_cast<Transfer *>(data);
    t.request_sent = Clock::now();
    if (t.engine.options.timeouts.first_byte_ms) {
      t.engine.arm(t.request_sent + milliseconds(t.engine.options.timeouts.first_byte_ms));
    }
    return CURL_PREREQFUNC_OK;
  }

  static size_t on_header(char *data, size_t, size_t size, void *pointer) {
    Transfer &t = *static_cast<Transfer *>(pointer);
    t.last_data = Clock::now();
    if (t.first_byte == never) {
      t.first_byte = t.last_data;
      if (t.engine.options.timeouts.idle_ms)
        t.engine.arm(t.last_data + milliseconds(t.engine.options.timeouts.idle_ms));
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

  static size_t on_write(char *data, size_t, size_t size, void *pointer) {
    Transfer &t = *static_cast<Transfer *>(pointer);
    t.last_data = Clock::now();
    try {
      if (!t.response_started && !t.engine.begin_response(t)) return CURL_WRITEFUNC_ERROR;
      if (t.stop == Transfer::Stop::session_done) {
        t.drained += size;
        return t.drained <= drain_limit ? size : CURL_WRITEFUNC_ERROR;
      }
      switch (t.action) {
        case PH_RESPONSE_READ: {
          t.body_fed = true;
          ph_status status = t.chat->session->body(std::string_view(data, size));
          if (status == PH_OK) return size;
          if (status == PH_DONE) {
            t.stop = Transfer::Stop::session_done;
            t.engine.answered.push_back(t.chat);
            return size;
          }
          t.stop = Transfer::Stop::session_failed;
          return CURL_WRITEFUNC_ERROR;
        }
        case PH_RESPONSE_HTTP_ERROR: {
          size_t room = error_body_limit - t.error_body.size();
          t.error_body.append(data, std::min(room, size));
          if (size < room) return size;
          t.stop = Transfer::Stop::error_body_full;
          return CURL_WRITEFUNC_ERROR;
        }
        default:
          return size;  // discarded
      }
    } catch (...) {
      t.stop = Transfer::Stop::session_failed;
      return CURL_WRITEFUNC_ERROR;
    }
  }

  // The response's status and headers are known: retry it, or hand it to the session. False when
  // the transfer is to stop (t.stop says why).
  bool begin_response(Transfer &t) {
    t.response_started = true;
    curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &t.status);
    if (uint32_t flag = retry_flag_for_status(static_cast<int>(t.status))) {
      if (auto wait = retry_wait(*t.chat, flag, false, &t.response_headers)) {
        t.retry_wait = *wait;
        t.stop = Transfer::Stop::retry;
        return false;
      }
    }
    std::optional<ph_response_action> action =
        t.chat->session->response_start(static_cast<int>(t.status), t.response_headers);
    if (!action) {
      t.stop = Transfer::Stop::session_failed;
      return false;
    }
    t.action = *action;
    return true;
  }

  // ---- outcomes -------------------------------------------------------------------------------

  void transfer_done(Transfer &finished, CURLcode result) {
    if (!finished.chat) return finish_draining(finished);
    Chat &chat = *finished.chat;
    std::unique_ptr<Transfer> owned = std::move(chat.transfer);  // lives until this returns
    release_handle(finished.easy);
    Transfer &t = *owned;
    if (t.stop == Transfer::Stop::none && result == CURLE_OK && !t.response_started) begin_response(t);
    const std::string &provider = chat.session->provider_name();
    switch (t.stop) {
      case Transfer::Stop::session_done:
        return ask_next_request(chat);
      case Transfer::Stop::session_failed:
        return provider_failed(chat, chat.session->failure());
      case Transfer::Stop::retry:
        return schedule_retry(chat, map_http_error(provider, static_cast<int>(t.status), t.response_headers, {}),
                              t.retry_wait);
      case Transfer::Stop::error_body_full:
        return provider_failed(chat,
                               map_http_error(provider, static_cast<int>(t.status), t.response_headers, t.error_body));
      case Transfer::Stop::none:
        break;
    }
    if (result == CURLE_OK) {
      switch (t.action) {
        case PH_RESPONSE_READ:
          if (chat.session->response_end() != PH_OK) return provider_failed(chat, chat.session->failure());
          return ask_next_request(chat);
        case PH_RESPONSE_HTTP_ERROR:
          return provider_failed(
              chat, map_http_error(provider, static_cast<int>(t.status), t.response_headers, t.error_body));
        default:
          return ask_next_request(chat);
      }
    }
    transport_failed(chat, t, result);
  }

  void transport_failed(Chat &chat, Transfer &t, CURLcode result) {
    const std::string &provider = chat.session->provider_name();
    std::string reason = t.error_buffer[0] ? std::string(trim(t.error_buffer)) : curl_easy_strerror(result);
    if (t.body_fed || (t.response_started && t.action == PH_RESPONSE_READ)) {
      return provider_failed(chat, make_error(ErrorKind::truncated, provider, "stream truncated: " + reason));
    }
    if (t.response_started && t.action == PH_RESPONSE_HTTP_ERROR) {
      return provider_failed(chat,
                             map_http_error(provider, static_cast<int>(t.status), t.response_headers, t.error_body));
    }
    if (result == CURLE_OPERATION_TIMEDOUT) {  // the only timeout libcurl enforces for us
      std::string what = "timed out connecting";
      if (options.timeouts.connect_ms) what += " after " + seconds_text(milliseconds(options.timeouts.connect_ms));
      return attempt_failed(chat, make_error(ErrorKind::timeout, provider, what), PH_RETRY_ON_TIMEOUT, false);
    }
    attempt_failed(chat, make_error(ErrorKind::connection, provider, "connection failed: " + reason),
                   PH_RETRY_ON_CONNECT_ERROR, false);
  }

  // How long to wait before sending the request again, or nullopt when it must not be retried:
  // the policy does not cover this failure, no attempts are left, the answer has begun, or the
  // wait would end past the chat's deadline.
  std::optional<milliseconds> retry_wait(Chat &chat, uint32_t flag, bool body_fed, const HttpHeaders *headers) {
    const RetryPolicy &policy = chat.request.retry;
    if (!(policy.retry_on & flag) || chat.attempt >= policy.max_attempts || body_fed || chat.answering ||
        chat.cancel_requested) {
      return std::nullopt;
    }
    std::uniform_real_distribution<double> jitter(-1.0, 1.0);
    milliseconds wait = backoff_delay(policy, chat.attempt, options.backoff_scale, jitter(random));
    if (flag == PH_RETRY_ON_RATE_LIMIT && headers) {
      if (auto header = find_header(*headers, "retry-after")) {
        if (auto asked = parse_retry_after(*header, std::chrono::system_clock::now())) {
          wait = milliseconds(std::llround(static_cast<double>(asked->count()) * std::max(options.backoff_scale, 0.0)));
        }
      }
    }
    if (Clock::now() + wait >= chat.deadline) return std::nullopt;
    return wait;
  }

  void attempt_failed(Chat &chat, const ChatError &error, uint32_t flag, bool body_fed) {
    if (auto wait = retry_wait(chat, flag, body_fed, nullptr)) return schedule_retry(chat, error, *wait);
    provider_failed(chat, error);
  }

  void schedule_retry(Chat &chat, const ChatError &error, milliseconds wait) {
    chat.retry_at = Clock::now() + wait;
    arm(chat.retry_at);
    chat.sink->on_warning(error.provider, std::string(without_provider(error)) + "; retrying in " + seconds_text(wait) +
                                              " (attempt " + std::to_string(chat.attempt + 1) + " of " +
                                              std::to_string(chat.request.retry.max_attempts) + ")");
  }

  // The current provider cannot answer: try the next one while nothing has been said, else end.
  void provider_failed(Chat &chat, ChatError error) {
    drop_transfer(chat);
    chat.retry_at = never;
    if (chat.session) {
      chat.session->close();
      chat.session.reset();
    }
    chat.attempts.push_back(error);
    bool may_fall_back = !chat.answering && !chat.cancel_requested && Clock::now() < chat.deadline &&
                         chat.next_candidate < chat.candidates.size();
    if (may_fall_back) {
      chat.sink->on_warning(error.provider, std::string(without_provider(error)) + "; trying " +
                                                chat.candidates[chat.next_candidate].provider->meta.name);
      return try_next_candidate(chat);
    }
    if (chat.attempts.size() > 1) {
      ChatError all = chat.attempts.back();
      all.message = "all providers failed: ";
      for (size_t i = 0; i < chat.attempts.size(); ++i) all.message += (i ? "; " : "") + chat.attempts[i].message;
      all.attempts = chat.attempts;
      return end_with_error(chat, all);
    }
    error.attempts = chat.attempts;
    end_with_error(chat, error);
  }

  void end_with_answer(Chat &chat) {
    std::string provider = chat.session->provider_name(), model = chat.session->model();
    close_chat(chat);
    if (!chat.answering) chat.sink->on_start(provider, model);
    chat.sink->on_done();
  }

  void end_with_error(Chat &chat, const ChatError &error) {
    if (chat.ended) return;
    close_chat(chat);
    chat.sink->on_error(error);
  }

  void close_chat(Chat &chat) {
    chat.ended = true;
    drop_transfer(chat);
    chat.retry_at = never;
    if (chat.session) chat.session->close();
  }

  // ---- easy handles ---------------------------------------------------------------------------

  void drop_transfer(Chat &chat) {
    if (!chat.transfer) return;
    release_handle(chat.transfer->easy);
    chat.transfer.reset();
  }

  CURL *take_handle() {
    if (idle_handles.empty()) return curl_easy_init();
    CURL *easy = idle_handles.back();
    idle_handles.pop_back();
    curl_easy_reset(easy);
    return easy;
  }

  void release_handle(CURL *easy) {
    curl_multi_remove_handle(multi, easy);
    if (idle_handles.size() < idle_handle_limit) {
      idle_handles.push_back(easy);
    } else {
      curl_easy_cleanup(easy);
    }
  }
};

Engine::Engine(const Registry &registry, EngineOptions options)
    : impl_(std::make_unique<Impl>(registry, std::move(options))) {}

Engine::~Engine() = default;

std::shared_ptr<ChatHandle> Engine::submit(ChatSpec spec, std::shared_ptr<ChatSink> sink) {
  if (!sink) throw std::invalid_argument("Engine::submit needs a sink");
  auto chat = std::make_shared<Impl::Chat>(std::move(spec), std::move(sink));
  auto handle = std::make_shared<Impl::Handle>(chat, impl_->mailbox);
  std::lock_guard lock(impl_->mailbox->mutex);
  impl_->mailbox->incoming.push_back(chat);
  impl_->mailbox->wake();
  return handle;
}

void Engine::run() { impl_->loop(false); }

void Engine::run_until_idle() { impl_->loop(true); }

void Engine::stop() {
  std::lock_guard lock(impl_->mailbox->mutex);
  impl_->mailbox->stop = true;
  impl_->mailbox->wake();
}

}  // namespace provhost::core

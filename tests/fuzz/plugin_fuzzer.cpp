// plugin_fuzzer.cpp: one bundled plugin, linked into the target (fuzz_plugin_<id>), driven through
// its C ABI entry as the host drives it: loaded afresh for each input, then one to three sessions,
// each with a fuzz-chosen conversation, model, options and stream flag, and for every request it asks
// for, a fuzz-chosen status, headers and body, cut at fuzz-chosen places; unloaded (deinit) at the end.
// Every call and every event is checked against the ABI's contract (provhost.h):
//   - requests: GET or POST, an absolute http(s) URL, header names that are HTTP tokens and values
//     that are HTTP field values, a retry policy that can be followed;
//   - text events are well-formed UTF-8;
//   - warning and error messages are well-formed UTF-8 and one line (the check that
//     PROVHOST_FUZZ_MESSAGE_TEXT_CHECK=0 turns off: see tests/fuzz/README.md);
//   - at most one finish or one error, never both, and no event after either;
//   - PH_FAILED from any call comes with its error event, and no other status does;
//   - session_close once for every session opened (the harness's part; ASan checks the plugin's).
//
// The input is read with FuzzedDataProvider in the order of tests/fuzz/seeds.py, which writes the
// seed corpora in tests/fuzz/corpus/ from real upstream answers.
#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/evp.h>
#include <provhost/provhost.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <provhost/text.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "contract.hpp"

namespace {

using namespace provhost;
using provhost::fuzz::violated;

// The limits of one input, as tests/fuzz/seeds.py writes them.
constexpr size_t kMaxSessions = 3;
constexpr size_t kMaxMessages = 6;
constexpr size_t kMaxRequests = 8;  // a plugin asking for more is cut off here, as a host's total timeout would
constexpr size_t kMaxHeaders = 4;
constexpr size_t kMaxCuts = 16;
constexpr size_t kMaxShortString = 256;

constexpr std::string_view kRoles[] = {"user", "assistant", "system"};
constexpr int kStatuses[] = {200, 201, 204, 301, 400, 401, 403, 404, 413, 429, 500, 502, 503, 520};
constexpr std::string_view kHeaderNames[] = {"Content-Type", "Set-Cookie", "Retry-After", "Location", "Server"};

bool message_text_checked() {
  static const bool checked = [] {
    const char *setting = std::getenv("PROVHOST_FUZZ_MESSAGE_TEXT_CHECK");
    return !setting || std::string_view(setting) != "0";
  }();
  return checked;
}

// PROVHOST_FUZZ_TRACE=1: each call and event on stderr, to read what an input (a seed, a finding) does.
bool tracing() {
  static const bool on = [] {
    const char *setting = std::getenv("PROVHOST_FUZZ_TRACE");
    return setting && std::string_view(setting) == "1";
  }();
  return on;
}

void trace(std::string_view what, std::string_view detail = {}) {
  if (tracing())
    std::fprintf(stderr, "%.*s %s\n", static_cast<int>(what.size()), what.data(), fuzz::printable(detail, 200).c_str());
}

// ---- The host's services -----------------------------------------------------------------------------

void host_log(const ph_host *, ph_log_level, ph_str message) {
  PROVHOST_FUZZ_CHECK(fuzz::well_formed_utf8(view(message)), "log line is not UTF-8", view(message));
}

int64_t host_now(const ph_host *) { return 1'700'000'000'123; }

// A fixed stream: the same input always gives the same requests, which is what makes a finding reproducible.
void host_random(const ph_host *host, void *buffer, size_t size) {
  auto *state = static_cast<uint64_t *>(host->host_data);
  auto *bytes = static_cast<unsigned char *>(buffer);
  for (size_t i = 0; i < size; ++i) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    bytes[i] = static_cast<unsigned char>(z ^ (z >> 31));
  }
}

size_t host_digest(const ph_host *, ph_str algorithm, ph_str data, uint8_t *out) {
  const EVP_MD *md = EVP_get_digestbyname(std::string(view(algorithm)).c_str());
  unsigned int size = 0;
  if (!md || !EVP_Digest(data.data, data.size, out, &size, md, nullptr)) return 0;
  return size;
}

// The plugin as the host loads it: entry with a host table, the metadata read once; deinit when unloaded.
// Each input loads it afresh, so that what a provider caches between sessions (ChatgptFree's nonce) comes
// from that input alone, and a finding replays the same way on its own.
class LoadedPlugin {
 public:
  LoadedPlugin() {
    host_.struct_size = sizeof host_;
    host_.host_data = &random_state_;
    host_.host_name = str("provhost-fuzz");
    host_.host_version = str("0");
    host_.log = &host_log;
    host_.now_unix_ms = &host_now;
    host_.random_bytes = &host_random;
    host_.digest = &host_digest;
    ph_entry_args args{};
    args.struct_size = sizeof args;
    args.host_abi_version = PH_ABI_VERSION;
    args.host = &host_;
    if (provhost_plugin_entry(&args) != PH_OK || !args.provider || !args.provider->info) violated("entry failed");
    PROVHOST_FUZZ_CHECK(args.plugin_abi_version == PH_ABI_VERSION, "negotiated version", "");
    provider_ = args.provider;
    const ph_provider_info &info = *provider_->info;
    for (size_t i = 0; i < info.model_count; ++i) models_.emplace_back(view(info.models[i]));
    if (models_.empty()) models_.emplace_back(view(info.default_model));
  }
  ~LoadedPlugin() {
    if (provider_->deinit) provider_->deinit(provider_);
  }
  LoadedPlugin(const LoadedPlugin &) = delete;
  LoadedPlugin &operator=(const LoadedPlugin &) = delete;

  const ph_provider &provider() const { return *provider_; }
  const std::vector<std::string> &models() const { return models_; }

 private:
  uint64_t random_state_ = 1;
  ph_host host_{};
  const ph_provider *provider_ = nullptr;
  std::vector<std::string> models_;
};

// ---- Events -------------------------------------------------------------------------------------------

struct Recorder {
  ph_session_events table{};
  int finishes = 0;
  int errors = 0;

  bool ended() const { return finishes + errors > 0; }

  static Recorder &of(const ph_session_events *events) { return *static_cast<Recorder *>(events->host_data); }

  static void message_rules(std::string_view kind, std::string_view message) {
    if (!message_text_checked()) return;
    if (!fuzz::well_formed_utf8(message)) violated(std::string(kind) + " message is not UTF-8", message);
    if (!fuzz::one_line(message)) violated(std::string(kind) + " message is not one line", message);
  }

  static void on_text(const ph_session_events *events, ph_str text) {
    Recorder &self = of(events);
    trace("text", view(text));
    PROVHOST_FUZZ_CHECK(!self.ended(), "text after the end of the answer", view(text));
    PROVHOST_FUZZ_CHECK(fuzz::well_formed_utf8(view(text)), "text is not UTF-8", view(text));
  }
  static void on_finish(const ph_session_events *events) {
    Recorder &self = of(events);
    trace("finish");
    PROVHOST_FUZZ_CHECK(!self.ended(), "finish after the end of the answer", "");
    ++self.finishes;
  }
  static void on_warning(const ph_session_events *events, ph_str message) {
    trace("warning", view(message));
    PROVHOST_FUZZ_CHECK(!of(events).ended(), "warning after the end of the answer", view(message));
    message_rules("warning", view(message));
  }
  static void on_error(const ph_session_events *events, ph_failure failure, ph_str message) {
    Recorder &self = of(events);
    trace("error " + std::to_string(failure), view(message));
    PROVHOST_FUZZ_CHECK(!self.ended(), "error after the end of the answer", view(message));
    PROVHOST_FUZZ_CHECK(failure >= PH_FAIL_PROTOCOL && failure <= PH_FAIL_INTERNAL, "unknown failure kind",
                        std::to_string(failure));
    PROVHOST_FUZZ_CHECK(!view(message).empty(), "error without a message", "");
    message_rules("error", view(message));
    ++self.errors;
  }

  Recorder() {
    table.struct_size = sizeof table;
    table.host_data = this;
    table.text = &on_text;
    table.finish = &on_finish;
    table.warning = &on_warning;
    table.error = &on_error;
  }
  Recorder(const Recorder &) = delete;
  Recorder &operator=(const Recorder &) = delete;
};

// A call that says PH_FAILED has reported why.
void check_status(ph_status status, const Recorder &events, std::string_view call) {
  PROVHOST_FUZZ_CHECK(status == PH_OK || status == PH_DONE || status == PH_FAILED, "unknown status from", call);
  if (status == PH_FAILED) PROVHOST_FUZZ_CHECK(events.errors == 1, "PH_FAILED without an error event from", call);
  if (status != PH_FAILED) PROVHOST_FUZZ_CHECK(events.errors == 0, "an error event but no PH_FAILED from", call);
}

void check_request(const ph_http_request &request) {
  const std::string_view method = view(request.method), url = view(request.url);
  PROVHOST_FUZZ_CHECK(method == "GET" || method == "POST", "request method", method);
  PROVHOST_FUZZ_CHECK(url.starts_with("https://") || url.starts_with("http://"), "request URL", url);
  for (unsigned char c : url) PROVHOST_FUZZ_CHECK(c > 0x20 && c < 0x7f, "request URL", url);
  PROVHOST_FUZZ_CHECK(request.header_count == 0 || request.headers, "request headers are NULL", "");
  PROVHOST_FUZZ_CHECK(request.body.size == 0 || request.body.data, "request body is NULL", "");
  for (size_t i = 0; i < request.header_count; ++i) {
    const ph_header &header = request.headers[i];
    PROVHOST_FUZZ_CHECK(fuzz::http_token(view(header.name)), "request header name", view(header.name));
    PROVHOST_FUZZ_CHECK(fuzz::http_field_value(view(header.value)), "request header value", view(header.value));
  }
  if (const ph_retry_policy *retry = request.retry) {
    PROVHOST_FUZZ_CHECK(retry->struct_size >= sizeof *retry, "retry policy struct_size", "");
    PROVHOST_FUZZ_CHECK(retry->max_attempts >= 1 && retry->backoff_multiplier >= 1, "retry policy", "");
  }
}

// ---- One input ------------------------------------------------------------------------------------------

struct Conversation {
  std::string model;
  std::string options;
  bool stream = true;
  std::vector<std::string> roles, contents;
};

Conversation read_conversation(FuzzedDataProvider &input, const LoadedPlugin &loaded) {
  Conversation chat;
  chat.stream = input.ConsumeBool();
  // The host resolves the model before the plugin sees it: never empty, but not necessarily listed.
  const std::vector<std::string> &models = loaded.models();
  const size_t model_choice = input.ConsumeIntegralInRange<size_t>(0, models.size());
  chat.model = model_choice < models.size() ? models[model_choice] : input.ConsumeRandomLengthString(kMaxShortString);
  if (chat.model.empty()) chat.model = models.front();
  chat.options = input.ConsumeBool() ? input.ConsumeRandomLengthString(kMaxShortString) : "{}";
  const size_t messages = input.ConsumeIntegralInRange<size_t>(0, kMaxMessages);
  for (size_t i = 0; i < messages; ++i) {
    chat.roles.emplace_back(kRoles[input.ConsumeIntegralInRange<size_t>(0, std::size(kRoles) - 1)]);
    chat.contents.push_back(input.ConsumeRandomLengthString(kMaxShortString));
  }
  return chat;
}

// Feeds one response; true when the session goes on to its next request.
bool respond(FuzzedDataProvider &input, const ph_provider &provider, ph_session *session, Recorder &events) {
  const int status = kStatuses[input.ConsumeIntegralInRange<size_t>(0, std::size(kStatuses) - 1)];
  std::vector<std::string> values;
  std::vector<ph_header> headers;
  const size_t header_count = input.ConsumeIntegralInRange<size_t>(0, kMaxHeaders);
  for (size_t i = 0; i < header_count; ++i) {
    const size_t name = input.ConsumeIntegralInRange<size_t>(0, std::size(kHeaderNames) - 1);
    values.push_back(input.ConsumeRandomLengthString(kMaxShortString));
    headers.push_back(ph_header{str(kHeaderNames[name]), {}});
  }
  for (size_t i = 0; i < header_count; ++i) headers[i].value = str(values[i]);
  const std::string body = input.ConsumeRandomLengthString(input.remaining_bytes());
  std::vector<size_t> cuts(input.ConsumeIntegralInRange<size_t>(0, kMaxCuts));
  for (size_t &cut : cuts) cut = input.ConsumeIntegralInRange<size_t>(0, body.size());
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(body.size());

  trace("response " + std::to_string(status) + ", " + std::to_string(header_count) + " headers, " +
            std::to_string(cuts.size()) + " pieces",
        body);
  const ph_response_action action = provider.on_response_start(session, status, headers.data(), headers.size());
  PROVHOST_FUZZ_CHECK(action == PH_RESPONSE_READ || action == PH_RESPONSE_HTTP_ERROR || action == PH_RESPONSE_DISCARD,
                      "unknown response action", std::to_string(action));
  PROVHOST_FUZZ_CHECK(events.errors == 0, "an error event from on_response_start", "");
  if (action == PH_RESPONSE_HTTP_ERROR) return false;  // the host fails the chat itself
  if (action == PH_RESPONSE_DISCARD) return true;
  size_t fed = 0;
  for (size_t cut : cuts) {
    if (cut == fed) continue;  // a host never hands on an empty piece
    const ph_status status_after_chunk = provider.on_body(session, str(std::string_view(body).substr(fed, cut - fed)));
    fed = cut;
    check_status(status_after_chunk, events, "on_body");
    if (status_after_chunk == PH_FAILED) return false;
    if (status_after_chunk == PH_DONE) return true;  // the host stops reading, and skips on_response_end
  }
  const ph_status end = provider.on_response_end(session);
  PROVHOST_FUZZ_CHECK(end == PH_OK || end == PH_FAILED, "on_response_end status", std::to_string(end));
  check_status(end, events, "on_response_end");
  return end == PH_OK;
}

// One session, from session_open to session_close.
void run_session(FuzzedDataProvider &input, const LoadedPlugin &loaded) {
  const ph_provider &provider = loaded.provider();
  const Conversation chat = read_conversation(input, loaded);
  std::vector<ph_message> messages;
  for (size_t i = 0; i < chat.roles.size(); ++i)
    messages.push_back(ph_message{str(chat.roles[i]), str(chat.contents[i])});
  ph_chat_request request{};
  request.struct_size = sizeof request;
  request.model = str(chat.model);
  request.messages = messages.data();
  request.message_count = messages.size();
  request.stream = chat.stream ? 1 : 0;
  request.options_json = str(chat.options);

  trace("model", chat.model);
  trace("options", chat.options);
  for (size_t i = 0; i < chat.roles.size(); ++i) trace(chat.roles[i], chat.contents[i]);
  Recorder events;
  ph_session *session = nullptr;
  const ph_status opened = provider.session_open(&provider, &request, &events.table, &session);
  PROVHOST_FUZZ_CHECK(opened == PH_OK || opened == PH_FAILED, "session_open status", std::to_string(opened));
  check_status(opened, events, "session_open");
  if (opened == PH_OK) PROVHOST_FUZZ_CHECK(session != nullptr, "session_open gave PH_OK and no session", "");
  if (opened == PH_OK) {
    for (size_t requests = 0; requests < kMaxRequests; ++requests) {
      ph_http_request out{};
      out.struct_size = sizeof out;
      const ph_status next = provider.next_request(session, &out);
      check_status(next, events, "next_request");
      // PH_DONE without a finish is the contract too: the host then reports the answer as truncated.
      if (next != PH_OK) break;
      PROVHOST_FUZZ_CHECK(!events.ended(), "a request after the end of the answer", "");
      trace(std::string(view(out.method)), view(out.url));
      check_request(out);
      if (!respond(input, provider, session, events)) break;
    }
  }
  PROVHOST_FUZZ_CHECK(events.finishes <= 1 && events.errors <= 1 && events.finishes + events.errors <= 1,
                      "more than one end of the answer", "");
  if (session) provider.session_close(session);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider input(data, size);
  const LoadedPlugin loaded;
  // Sessions one after the other on one provider: a later one may use what an earlier one left cached.
  const size_t sessions = input.ConsumeIntegralInRange<size_t>(1, kMaxSessions);
  for (size_t i = 0; i < sessions; ++i) run_session(input, loaded);
  return 0;
}

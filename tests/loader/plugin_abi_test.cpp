// The host's ABI adapter: loading and negotiating with a host table the test provides (with test
// plugins of tests/broken_plugins); the raw session, request copy and retry-policy copy against a
// provider table written in this file; and core's guarded PluginSession on top of them.
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>
#include <memory>
#include <provhost/core/plugin_abi.hpp>
#include <provhost/core/registry.hpp>
#include <string>
#include <vector>

#include "engine_session.hpp"

using provhost::core::copy_request;
using provhost::core::copy_retry_policy;
using provhost::core::load_plugin_library;
using provhost::core::missing_session_function;
using provhost::core::PluginLibraryLoad;
using provhost::core::PluginRequest;
using provhost::core::RawSession;
using Pairs = std::vector<std::pair<std::string, std::string>>;

namespace {

ph_str s(std::string_view text) { return ph_str{text.data(), text.size()}; }
std::string text_of(ph_str text) { return text.data ? std::string(text.data, text.size) : std::string(); }

std::string plugin_file(const std::string &name) {
  return std::string(PROVHOST_TEST_PLUGIN_DIR) + "/provhost-" + name + ".so";
}

// A host table whose log lines the test reads, to see which table the plugin was given and when its
// deinit ran.
struct RecordingHost {
  ph_host table{};
  std::vector<std::string> log_lines;

  RecordingHost() {
    table.struct_size = sizeof table;
    table.host_data = this;
    table.log = [](const ph_host *host, ph_log_level, ph_str message) {
      static_cast<RecordingHost *>(host->host_data)->log_lines.push_back(text_of(message));
    };
    table.now_unix_ms = [](const ph_host *) -> int64_t { return 0; };
    table.random_bytes = [](const ph_host *, void *buffer, size_t size) { std::memset(buffer, 0, size); };
    table.get_config = [](const ph_host *, ph_str) { return ph_str{nullptr, 0}; };
  }
};

}  // namespace

// ---- a provider table in memory --------------------------------------------------------------------

// What the fake provider's sessions saw and what they are told to do.
struct Script {
  ph_status open_status = PH_OK;
  bool hand_out_session = true;
  std::string error_on_open = "slow down";  // the error event session_open sends; none when empty
  bool finish_on_open = true;
  std::string request_header_name = "Accept";
  const ph_retry_policy *retry = nullptr;
  std::vector<std::string> seen;  // each call, in order
  size_t chat_struct_size = 0;
  std::string model, options;
  Pairs messages;
  bool stream = false;
  Pairs response_headers;
  std::vector<std::string> chunks;
  std::vector<std::string> body_events;  // the text events on_body reports; the chunk itself when none
  size_t request_struct_size = 0;
  int closes = 0;
};

struct ph_session {
  Script *script;
  const ph_session_events *events;
  ph_header request_headers[1];
};

namespace {

Script *current_script = nullptr;

ph_status fake_open(const ph_provider *, const ph_chat_request *request, const ph_session_events *events,
                    ph_session **out) {
  Script &script = *current_script;
  script.seen.push_back("open");
  script.chat_struct_size = request->struct_size;
  script.model = text_of(request->model);
  script.options = text_of(request->options_json);
  script.stream = request->stream != 0;
  for (size_t i = 0; i < request->message_count; ++i)
    script.messages.emplace_back(text_of(request->messages[i].role), text_of(request->messages[i].content));
  events->text(events, s("he"));
  events->text(events, ph_str{nullptr, 3});  // a NULL pointer reads as empty, whatever the size
  events->warning(events, s("odd line"));
  if (!script.error_on_open.empty()) events->error(events, PH_FAIL_RATE_LIMITED, s(script.error_on_open));
  if (script.finish_on_open) events->finish(events);
  if (script.hand_out_session) *out = new ph_session{&script, events, {}};
  return script.open_status;
}

ph_status fake_next_request(ph_session *session, ph_http_request *out) {
  session->script->seen.push_back("next_request");
  session->script->request_struct_size = out->struct_size;
  session->request_headers[0] = ph_header{s(session->script->request_header_name), s("text/event-stream")};
  out->method = s("POST");
  out->url = s("https://fake.invalid/chat");
  out->headers = session->request_headers;
  out->header_count = 1;
  out->body = s("{}");
  out->retry = session->script->retry;
  return PH_OK;
}

ph_response_action fake_response_start(ph_session *session, int32_t status, const ph_header *headers, size_t count) {
  session->script->seen.push_back("response_start " + std::to_string(status));
  session->script->response_headers.clear();
  for (size_t i = 0; i < count; ++i)
    session->script->response_headers.emplace_back(text_of(headers[i].name), text_of(headers[i].value));
  return PH_RESPONSE_READ;
}

ph_status fake_body(ph_session *session, ph_str chunk) {
  session->script->chunks.push_back(text_of(chunk));
  if (session->script->body_events.empty()) session->events->text(session->events, chunk);
  for (const std::string &text : session->script->body_events) session->events->text(session->events, s(text));
  return PH_OK;
}

ph_status fake_response_end(ph_session *session) {
  session->script->seen.push_back("response_end");
  return PH_DONE;
}

void fake_close(ph_session *session) {
  ++session->script->closes;
  delete session;
}

ph_provider fake_provider() {
  ph_provider provider{};
  provider.struct_size = sizeof provider;
  provider.session_open = fake_open;
  provider.next_request = fake_next_request;
  provider.on_response_start = fake_response_start;
  provider.on_body = fake_body;
  provider.on_response_end = fake_response_end;
  provider.session_close = fake_close;
  return provider;
}

// Records the events as they arrive, as the test driver does.
struct Recorder final : provhost::core::SessionEventListener {
  std::vector<std::string> texts, warnings;
  std::vector<std::pair<ph_failure, std::string>> errors;
  int finishes = 0;

  void on_text(std::string_view text) noexcept override { texts.emplace_back(text); }
  void on_finish() noexcept override { ++finishes; }
  void on_warning(std::string_view message) noexcept override { warnings.emplace_back(message); }
  void on_error(ph_failure failure, std::string_view message) noexcept override {
    errors.emplace_back(failure, std::string(message));
  }
};

struct Fixture {
  Script script;
  ph_provider provider = fake_provider();
  Recorder recorder;
  Fixture() { current_script = &script; }
  ~Fixture() { current_script = nullptr; }
};

// A request as a plugin hands it out, without a body.
ph_http_request request_of(std::string_view method, std::string_view url, const ph_header *headers, size_t count) {
  ph_http_request request{};
  request.struct_size = sizeof request;
  request.method = s(method);
  request.url = s(url);
  request.headers = headers;
  request.header_count = count;
  return request;
}

const ph_message two_messages[] = {{s("system"), s("Be brief")}, {s("user"), s("Hello")}};

}  // namespace

// ---- loading -----------------------------------------------------------------------------------------

TEST_CASE("a plugin is loaded with the host table given, at the version offered, and deinit goes through it") {
  RecordingHost host;
  {
    PluginLibraryLoad load =
        load_plugin_library(plugin_file("raw-good"), host.table, PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR, 7));
    REQUIRE(load.library);
    CHECK(load.error.empty());
    CHECK(load.meta.name == "RawGood");
    CHECK(load.meta.models == std::vector<std::string>{"raw-model"});
    CHECK(load.library->offered_version() == PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR, 7));
    CHECK(load.library->negotiated_version() == PH_ABI_VERSION);
    REQUIRE(load.library->provider());
    CHECK(missing_session_function(*load.library->provider()) == nullptr);
    CHECK(host.log_lines.empty());
  }
  CHECK(host.log_lines == std::vector<std::string>{"unloading"});
}

TEST_CASE("a plugin answering another major is rejected without its deinit being called") {
  RecordingHost host;
  PluginLibraryLoad load =
      load_plugin_library(plugin_file("raw-good"), host.table, PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR + 1, 0));
  CHECK_FALSE(load.library);
  CHECK(load.error == "plugin speaks ABI 0.0; this host speaks " + std::to_string(PH_ABI_VERSION_MAJOR + 1) + ".x");
  CHECK(host.log_lines.empty());
}

TEST_CASE("refusals, answers newer than offered and files that are not libraries give one-line reasons") {
  RecordingHost host;
  CHECK(load_plugin_library(plugin_file("refuses"), host.table).error ==
        "the plugin refused to load: needs a licence key that is not installed");
  CHECK_THAT(load_plugin_library(plugin_file("newer-minor"), host.table).error,
             Catch::Contains("newer than the " + std::to_string(PH_ABI_VERSION_MAJOR) + "." +
                             std::to_string(PH_ABI_VERSION_MINOR)));
  std::string not_elf = load_plugin_library(plugin_file("notelf"), host.table).error;
  CHECK_THAT(not_elf, Catch::StartsWith("not loadable: "));
  CHECK(not_elf.find('\n') == std::string::npos);
  CHECK_THAT(load_plugin_library(plugin_file("no-such-plugin"), host.table).error, Catch::StartsWith("not loadable: "));
}

TEST_CASE("missing_session_function names the first NULL session function") {
  ph_provider provider = fake_provider();
  CHECK(missing_session_function(provider) == nullptr);
  provider.on_body = nullptr;
  provider.session_close = nullptr;
  CHECK(missing_session_function(provider) == std::string("on_body"));
}

// ---- the raw session ---------------------------------------------------------------------------------

TEST_CASE("a raw session hands the chat to session_open and forwards every event to its listener") {
  Fixture f;
  RawSession session(f.provider, f.recorder);
  CHECK(session.open("model-a", two_messages, true, R"({"temperature":1})") == PH_OK);
  CHECK(session.has_session());
  CHECK(f.script.chat_struct_size == sizeof(ph_chat_request));
  CHECK(f.script.model == "model-a");
  CHECK(f.script.messages == Pairs{{"system", "Be brief"}, {"user", "Hello"}});
  CHECK(f.script.stream);
  CHECK(f.script.options == R"({"temperature":1})");
  CHECK(f.recorder.texts == std::vector<std::string>{"he", ""});
  CHECK(f.recorder.warnings == std::vector<std::string>{"odd line"});
  REQUIRE(f.recorder.errors.size() == 1);
  CHECK(f.recorder.errors[0] == std::pair<ph_failure, std::string>{PH_FAIL_RATE_LIMITED, "slow down"});
  CHECK(f.recorder.finishes == 1);
}

TEST_CASE("a raw session passes statuses, response headers and body chunks through unchanged") {
  Fixture f;
  RawSession session(f.provider, f.recorder);
  REQUIRE(session.open("m", {}, false, "{}") == PH_OK);

  ph_http_request request;
  std::memset(&request, 0xab, sizeof request);  // whatever the caller's struct held is not passed on
  CHECK(session.next_request(request) == PH_OK);
  CHECK(f.script.request_struct_size == sizeof(ph_http_request));
  CHECK(request.timeout_ms == 0);
  CHECK(request.retry == nullptr);

  CHECK(session.response_start(200, {{"Content-Type", "text/plain"}, {"X-Id", "1"}}) == PH_RESPONSE_READ);
  CHECK(f.script.response_headers == Pairs{{"Content-Type", "text/plain"}, {"X-Id", "1"}});
  CHECK(session.response_start(503, {{"Retry-After", "2"}}) == PH_RESPONSE_READ);
  CHECK(f.script.response_headers == Pairs{{"Retry-After", "2"}});

  CHECK(session.body(std::string_view("ab\0c", 4)) == PH_OK);
  CHECK(f.script.chunks == std::vector<std::string>{std::string("ab\0c", 4)});
  CHECK(f.recorder.texts.back() == std::string("ab\0c", 4));
  CHECK(session.response_end() == PH_DONE);
  CHECK(f.script.seen ==
        std::vector<std::string>{"open", "next_request", "response_start 200", "response_start 503", "response_end"});
}

TEST_CASE("a raw session closes its session exactly once") {
  Fixture f;
  SECTION("close, then the destructor") {
    {
      RawSession session(f.provider, f.recorder);
      REQUIRE(session.open("m", {}, true, "{}") == PH_OK);
      session.close();
      CHECK_FALSE(session.has_session());
      CHECK(f.script.closes == 1);
      session.close();
      CHECK(f.script.closes == 1);
    }
    CHECK(f.script.closes == 1);
  }
  SECTION("an open that failed half-way is closed when it handed out its session, else not") {
    f.script.open_status = PH_FAILED;
    for (bool handed_out : {true, false}) {
      INFO("handed out: " << handed_out);
      f.script.hand_out_session = handed_out;
      f.script.closes = 0;
      {
        RawSession session(f.provider, f.recorder);
        CHECK(session.open("m", {}, true, "{}") == PH_FAILED);
        CHECK(session.has_session() == handed_out);
      }
      CHECK(f.script.closes == (handed_out ? 1 : 0));
    }
  }
}

// ---- copying requests out ----------------------------------------------------------------------------

TEST_CASE("copy_request copies a request out of the plugin, replacing what the target held") {
  ph_header headers[] = {{s("Content-Type"), s("application/json")}, {s("X-Empty"), ph_str{nullptr, 0}}};
  ph_http_request in = request_of("POST", "https://fake.invalid/v1/chat", headers, 2);
  in.body = s("{\"a\":1}");
  in.timeout_ms = 1500;

  PluginRequest out;
  out.headers = {{"Stale", "header"}};
  out.body = "stale body";
  REQUIRE_FALSE(copy_request(in, out));
  CHECK(out.method == "POST");
  CHECK(out.url == "https://fake.invalid/v1/chat");
  CHECK(out.headers == Pairs{{"Content-Type", "application/json"}, {"X-Empty", ""}});
  CHECK(out.body == "{\"a\":1}");
  CHECK(out.timeout_ms == 1500);

  in.body = ph_str{nullptr, 0};
  in.header_count = 0;
  in.headers = nullptr;
  REQUIRE_FALSE(copy_request(in, out));
  CHECK(out.headers.empty());
  CHECK(out.body.empty());
}

TEST_CASE("copy_request names what is wrong with a malformed request") {
  ph_header good[] = {{s("Accept"), s("*/*")}};
  const ph_http_request valid = request_of("GET", "https://fake.invalid/", good, 1);
  PluginRequest out;
  REQUIRE_FALSE(copy_request(valid, out));

  const std::string bad_target = "asked for a request without a valid method and URL";
  const std::string null_parts = "asked for a request with NULL headers or body";
  const std::string bad_header = "asked for a request with a malformed header";
  auto defect = [&](auto &&breaks) {
    ph_http_request in = valid;
    breaks(in);
    std::optional<std::string_view> found = copy_request(in, out);
    return found ? std::string(*found) : std::string("none");
  };
  CHECK(defect([](ph_http_request &in) { in.method = ph_str{nullptr, 0}; }) == bad_target);
  CHECK(defect([](ph_http_request &in) { in.url = s(""); }) == bad_target);
  CHECK(defect([](ph_http_request &in) { in.url = s("https://fake.invalid/\r\nX: y"); }) == bad_target);
  CHECK(defect([](ph_http_request &in) { in.method = s("GET\n"); }) == bad_target);
  CHECK(defect([](ph_http_request &in) { in.headers = nullptr; }) == null_parts);
  CHECK(defect([](ph_http_request &in) { in.body = ph_str{nullptr, 4}; }) == null_parts);
  static ph_header colon[] = {{s("X:Y"), s("1")}};
  static ph_header empty_name[] = {{s(""), s("1")}};
  static ph_header broken_value[] = {{s("X-Y"), s("1\r\nInjected: yes")}};
  CHECK(defect([](ph_http_request &in) { in.headers = colon; }) == bad_header);
  CHECK(defect([](ph_http_request &in) { in.headers = empty_name; }) == bad_header);
  CHECK(defect([](ph_http_request &in) { in.headers = broken_value; }) == bad_header);
}

TEST_CASE("copy_retry_policy keeps what the plugin declared and zeroes what its struct_size leaves out") {
  CHECK_FALSE(copy_retry_policy(nullptr));

  ph_retry_policy full{sizeof(ph_retry_policy), 5, 2000, 2, PH_RETRY_ON_TIMEOUT};
  std::optional<ph_retry_policy> copy = copy_retry_policy(&full);
  REQUIRE(copy);
  CHECK(copy->struct_size == sizeof(ph_retry_policy));
  CHECK(copy->max_attempts == 5);
  CHECK(copy->initial_backoff_ms == 2000);
  CHECK(copy->backoff_multiplier == 2);
  CHECK(copy->retry_on == PH_RETRY_ON_TIMEOUT);

  // An older plugin's shorter policy: the bytes past its struct_size are not the plugin's to define.
  ph_retry_policy older = full;
  older.struct_size = offsetof(ph_retry_policy, backoff_multiplier);
  copy = copy_retry_policy(&older);
  REQUIRE(copy);
  CHECK(copy->struct_size == offsetof(ph_retry_policy, backoff_multiplier));
  CHECK(copy->max_attempts == 5);
  CHECK(copy->initial_backoff_ms == 2000);
  CHECK(copy->backoff_multiplier == 0);
  CHECK(copy->retry_on == 0);
}

// ---- core's guarded session, on the adapter -------------------------------------------------------

namespace {

using provhost::core::ErrorKind;
using provhost::core::detail::OutgoingRequest;
using provhost::core::detail::PluginSession;

struct SessionRecorder final : provhost::core::detail::SessionListener {
  std::vector<std::string> texts, warnings;
  std::vector<bool> repaired;
  void session_text(std::string_view text, bool was_repaired) override {
    texts.emplace_back(text);
    repaired.push_back(was_repaired);
  }
  void session_warning(std::string_view message) override { warnings.emplace_back(message); }
};

struct Guarded : Fixture {
  provhost::core::LoadedProvider loaded;
  SessionRecorder listener;
  provhost::core::ChatSpec spec;
  Guarded() {
    loaded.meta.name = "Fake";
    loaded.abi = &provider;
    spec.messages = {{"user", "Hello"}};
    spec.options_json.clear();
  }
};

}  // namespace

TEST_CASE("PluginSession maps an error event to its kind, drops the provider's own name and closes once") {
  Guarded g;
  g.script.open_status = PH_FAILED;
  g.script.error_on_open = "Fake: slow down";
  {
    PluginSession session(g.loaded, "model-a", g.listener);
    CHECK_FALSE(session.open(g.spec));
    CHECK(g.script.options == "{}");
    CHECK(session.failure().kind == ErrorKind::rate_limited);
    CHECK(session.failure().provider == "Fake");
    CHECK(session.failure().detail == "slow down");
    // Text before the error still reaches the listener, in one piece per call; later text does not.
    CHECK(g.listener.texts == std::vector<std::string>{"he"});
    CHECK(g.listener.warnings == std::vector<std::string>{"odd line"});
    session.close();
    CHECK(g.script.closes == 1);
  }
  CHECK(g.script.closes == 1);
}

TEST_CASE("PluginSession refuses a provider table that lacks a function before calling the plugin") {
  Guarded g;
  g.provider.on_body = nullptr;
  {
    PluginSession session(g.loaded, "m", g.listener);
    CHECK_FALSE(session.open(g.spec));
    CHECK(session.failure().kind == ErrorKind::plugin);
    CHECK(session.failure().detail == "the plugin lacks on_body");
  }
  g.provider.struct_size = offsetof(ph_provider, session_close);
  {
    PluginSession session(g.loaded, "m", g.listener);
    CHECK_FALSE(session.open(g.spec));
    CHECK(session.failure().detail == "the plugin has an incomplete provider table");
  }
  CHECK(g.script.seen.empty());
  CHECK(g.script.closes == 0);
}

TEST_CASE("PluginSession copies a well-formed request with its retry policy made sane, and fails a malformed one") {
  Guarded g;
  g.script.error_on_open.clear();
  const ph_retry_policy retry{sizeof(ph_retry_policy), 0, 100, 0, PH_RETRY_ON_RATE_LIMIT};
  g.script.retry = &retry;
  PluginSession session(g.loaded, "m", g.listener);
  REQUIRE(session.open(g.spec));
  OutgoingRequest request;
  REQUIRE(session.next_request(request) == PluginSession::Next::request);
  CHECK(request.method == "POST");
  CHECK(request.headers == Pairs{{"Accept", "text/event-stream"}});
  CHECK(request.retry.max_attempts == 1);  // at least one attempt, a multiplier of at least 1
  CHECK(request.retry.backoff_multiplier == 1);
  CHECK(request.retry.initial_backoff_ms == 100);
  CHECK(request.retry.retry_on == PH_RETRY_ON_RATE_LIMIT);

  g.script.request_header_name = "Bad:Name";
  CHECK(session.next_request(request) == PluginSession::Next::failed);
  CHECK(session.failure().kind == ErrorKind::plugin);
  CHECK(session.failure().message() == "Fake: the plugin asked for a request with a malformed header");
}

TEST_CASE("PluginSession hands on a call's text events in one piece, each event UTF-8 on its own or repaired") {
  Guarded g;
  g.script.error_on_open.clear();
  g.script.finish_on_open = false;
  PluginSession session(g.loaded, "m", g.listener);
  REQUIRE(session.open(g.spec));
  const std::string fffd = "\xEF\xBF\xBD";
  auto body = [&](std::vector<std::string> events) {
    g.script.body_events = std::move(events);
    g.listener.texts.clear();
    g.listener.repaired.clear();
    REQUIRE(session.body("chunk") == PH_OK);
    REQUIRE(g.listener.texts.size() == 1);
    return std::make_pair(g.listener.texts[0], static_cast<bool>(g.listener.repaired[0]));
  };

  SECTION("whole characters pass as they came") {
    CHECK(body({"caf\xC3\xA9", " ok", "\xF0\x9F\xA6\x8A"}) ==
          std::make_pair(std::string("caf\xC3\xA9 ok\xF0\x9F\xA6\x8A"), false));
  }
  SECTION("valid and invalid events mixed are left to the trust boundary, which checks them together") {
    CHECK(body({"a\xFF", "b", "\xC3"}) == std::make_pair(std::string("a\xFF"
                                                                     "b\xC3"),
                                                         false));
  }
  SECTION("a character split between two events is two ill-formed events: both repaired, whatever follows") {
    CHECK(body({"ok", " caf\xC3", "\xA9", " fin\xE2\x82", "\xAC", "!"}) ==
          std::make_pair("ok caf" + fffd + fffd + " fin" + fffd + fffd + "!", true));
    CHECK(body({"\x80\x80x"}) == std::make_pair(fffd + fffd + "x", true));
    CHECK(body({"next call"}) == std::make_pair(std::string("next call"), false));
  }
  SECTION("many events of continuation bytes cost one repair each, of their own bytes") {
    std::vector<std::string> events(20000, "\xBF");
    std::string expected;
    for (size_t i = 0; i < events.size(); ++i) expected += fffd;
    CHECK(body(events) == std::make_pair(expected, true));
  }
}

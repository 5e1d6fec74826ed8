// CppEcho's unit test: the plugin's code, compiled in, driven through provhost.h as the host drives it;
// exits non-zero on the first failed check.
#include <provhost/provhost.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

void check(bool condition, const char *what, int line) {
  if (condition) return;
  std::fprintf(stderr, "echo_test.cpp:%d: check failed: %s\n", line, what);
  std::exit(1);
}
#define CHECK(condition) check((condition), #condition, __LINE__)

std::string_view view(ph_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }
ph_str str(std::string_view s) { return ph_str{s.data(), s.size()}; }

// The host's services: only the configuration matters to CppEcho.
struct TestHost {
  static inline std::string api_key;
  ph_host table{};
  TestHost() {
    table.struct_size = sizeof table;
    table.log = [](const ph_host *, ph_log_level, ph_str) {};
    table.now_unix_ms = [](const ph_host *) -> int64_t { return 0; };
    table.random_bytes = [](const ph_host *, void *, size_t) {};
    table.get_config = [](const ph_host *, ph_str key) {
      return view(key) == "api_key" && !api_key.empty() ? str(api_key) : ph_str{nullptr, 0};
    };
  }
};

// Every event of one session, in order: "text:...", "finish", "error:N:message".
struct Recorder {
  ph_session_events table{};
  std::vector<std::string> events;
  Recorder() {
    table.struct_size = sizeof table;
    table.host_data = this;
    table.text = [](const ph_session_events *e, ph_str text) {
      self(e).events.push_back("text:" + std::string(view(text)));
    };
    table.finish = [](const ph_session_events *e) { self(e).events.push_back("finish"); };
    table.warning = [](const ph_session_events *e, ph_str m) {
      self(e).events.push_back("warning:" + std::string(view(m)));
    };
    table.error = [](const ph_session_events *e, ph_failure failure, ph_str message) {
      self(e).events.push_back("error:" + std::to_string(failure) + ":" + std::string(view(message)));
    };
  }
  static Recorder &self(const ph_session_events *e) { return *static_cast<Recorder *>(e->host_data); }
  std::string text() const {
    std::string all;
    for (const auto &event : events) {
      if (event.rfind("text:", 0) == 0) all += event.substr(5);
    }
    return all;
  }
};

struct Chat {
  Recorder recorder;
  std::string method, url, body, authorization;
};

// A chat of "hi", answered with `chunks`.
Chat chat(const ph_provider &provider, const std::vector<std::string> &chunks) {
  Chat chat;
  ph_message message{str("user"), str("hi")};
  ph_chat_request request{sizeof(ph_chat_request), str("echo-1"), &message, 1, 1, str("{}")};
  ph_session *session = nullptr;
  CHECK(provider.session_open(&provider, &request, &chat.recorder.table, &session) == PH_OK);
  ph_http_request http{};
  http.struct_size = sizeof http;
  CHECK(provider.next_request(session, &http) == PH_OK);
  chat.method = std::string(view(http.method));
  chat.url = std::string(view(http.url));
  chat.body = std::string(view(http.body));
  for (size_t i = 0; i < http.header_count; ++i) {
    if (view(http.headers[i].name) == "Authorization") chat.authorization = std::string(view(http.headers[i].value));
  }
  CHECK(provider.on_response_start(session, 200, nullptr, 0) == PH_RESPONSE_READ);
  ph_status status = PH_OK;
  for (const std::string &chunk : chunks) {
    if (status == PH_OK) status = provider.on_body(session, str(chunk));
  }
  if (status == PH_OK) provider.on_response_end(session);
  provider.session_close(session);
  return chat;
}

}  // namespace

int main() {
  TestHost host;
  ph_entry_args args{};
  args.struct_size = sizeof args;
  args.host_abi_version = PH_MAKE_VERSION(1, 9);  // a newer host: the plugin speaks its own minor
  args.host = &host.table;
  CHECK(provhost_plugin_entry(&args) == PH_OK && args.plugin_abi_version == PH_ABI_VERSION);
  const ph_provider &provider = *args.provider;
  CHECK(view(provider.info->name) == "CppEcho");

  const std::string answer =
      "data: h\xC3\xA9llo\ndata: w\xC3\xB6rld\n\n: a comment\ndata: \xF0\x9F\x98\x80\n\nevent: done\ndata:\n\n";
  {  // the request, without and with a configured key
    Chat plain = chat(provider, {answer});
    CHECK(plain.method == "POST" && plain.url == "https://echo.example.com/v1/echo" && plain.body == "hi");
    CHECK(plain.authorization.empty());
    TestHost::api_key = "sk-test";
    CHECK(chat(provider, {answer}).authorization == "Bearer sk-test");
  }
  // Cut anywhere, the answer arrives whole (an event's data lines joined by "\n"), then one finish.
  for (size_t split = 0; split <= answer.size(); ++split) {
    Chat cut = chat(provider, {answer.substr(0, split), answer.substr(split)});
    CHECK(cut.recorder.text() == "h\xC3\xA9llo\nw\xC3\xB6rld\xF0\x9F\x98\x80");
    CHECK(cut.recorder.events.back() == "finish");
  }
  {  // an upstream error ends the answer, and what follows it in the same chunk is not reported
    Chat failed = chat(provider, {"data: a\n\nevent: error\ndata: quota\n\ndata: b\n\nevent: done\n\n"});
    CHECK((failed.recorder.events == std::vector<std::string>{"text:a", "error:2:upstream error: quota"}));
  }
  {  // without its terminator the answer is not finished: the host reports it as truncated
    Chat cut = chat(provider, {"data: a\n\n"});
    CHECK((cut.recorder.events == std::vector<std::string>{"text:a"}));
  }
  std::puts("CppEcho: all checks passed");
  return 0;
}

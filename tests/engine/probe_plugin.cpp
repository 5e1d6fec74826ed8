// probe_plugin.cpp: "Probe", a provider for the engine's own tests. It is written against the raw
// C ABI, without the SDK's helper, so that it can misbehave the way a careless plugin would: throw
// across the boundary, never finish, discard a response, stop reading early. Each chat chooses its
// behaviour in options_json:
//
//   {"path": "/v1/chat/completions", "body": "{...}", "throw_in": "on_body", "crash_in": "on_body",
//    "finish": false,
//    "discard_first": true, "done_after": 10, "timeout_ms": 500, "journal": "/tmp/x/journal",
//    "block_on": "/tmp/x/fifo", "body_delay_ms": 20,
//    "retry": {"attempts": 3, "backoff_ms": 10, "multiplier": 2, "on": ["rate_limit", "connect"]}}
//
// The answer is the response body itself, passed through as text. With "journal", every call the
// host makes is appended to that file as one line ("open", "next", "start 200", "end", "close").
#include <provhost/provhost.h>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct Script {
  std::string path = "/v1/chat/completions";
  std::string body = R"({"messages":[{"role":"user","content":"hi"}],"stream":true})";
  std::string throw_in;
  std::string crash_in;  // the call that segfaults: for a worker process only (--isolation process)
  std::string journal;
  std::string block_on;        // a FIFO: the first on_body waits until a writer opened it and closed it
  uint32_t body_delay_ms = 0;  // every on_body takes this long: a slow plugin
  bool finish = true;
  bool discard_first = false;
  size_t done_after = 0;
  uint32_t timeout_ms = 0;
  bool has_retry = false;
  ph_retry_policy retry{};
};

// Keeps the compiler from proving the crash and dropping it.
int *volatile nowhere = nullptr;

std::string_view view(ph_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }
ph_str str(std::string_view s) { return ph_str{s.data(), s.size()}; }

uint32_t retry_flag(std::string_view name) {
  if (name == "connect") return PH_RETRY_ON_CONNECT_ERROR;
  if (name == "timeout") return PH_RETRY_ON_TIMEOUT;
  if (name == "rate_limit") return PH_RETRY_ON_RATE_LIMIT;
  if (name == "server_error") return PH_RETRY_ON_SERVER_ERROR;
  throw std::invalid_argument("unknown retry flag");
}

Script read_script(std::string_view json) {
  Script script;
  rapidjson::Document options;
  options.Parse(json.data(), json.size());
  if (options.HasParseError() || !options.IsObject()) return script;
  auto text = [&](const char *key, std::string &out) {
    if (auto m = options.FindMember(key); m != options.MemberEnd() && m->value.IsString()) out = m->value.GetString();
  };
  text("path", script.path);
  text("body", script.body);
  text("throw_in", script.throw_in);
  text("crash_in", script.crash_in);
  text("journal", script.journal);
  text("block_on", script.block_on);
  if (auto m = options.FindMember("body_delay_ms"); m != options.MemberEnd() && m->value.IsUint()) {
    script.body_delay_ms = m->value.GetUint();
  }
  if (auto m = options.FindMember("finish"); m != options.MemberEnd() && m->value.IsBool()) {
    script.finish = m->value.GetBool();
  }
  if (auto m = options.FindMember("discard_first"); m != options.MemberEnd() && m->value.IsBool()) {
    script.discard_first = m->value.GetBool();
  }
  if (auto m = options.FindMember("done_after"); m != options.MemberEnd() && m->value.IsUint()) {
    script.done_after = m->value.GetUint();
  }
  if (auto m = options.FindMember("timeout_ms"); m != options.MemberEnd() && m->value.IsUint()) {
    script.timeout_ms = m->value.GetUint();
  }
  if (auto m = options.FindMember("retry"); m != options.MemberEnd() && m->value.IsObject()) {
    const auto &retry = m->value;
    script.has_retry = true;
    script.retry.struct_size = sizeof script.retry;
    script.retry.max_attempts = retry["attempts"].GetUint();
    script.retry.initial_backoff_ms = retry["backoff_ms"].GetUint();
    script.retry.backoff_multiplier = retry["multiplier"].GetUint();
    for (const auto &flag : retry["on"].GetArray()) script.retry.retry_on |= retry_flag(flag.GetString());
  }
  return script;
}

}  // namespace

struct ph_session {
  Script script;
  const ph_session_events *events;
  std::vector<ph_header> headers;
  std::string url;
  bool discarded = false;
  bool answered = false;  // the response that was read has ended
  size_t seen = 0;

  void journal(const std::string &line) const {
    if (script.journal.empty()) return;
    if (FILE *file = std::fopen(script.journal.c_str(), "a")) {
      std::fprintf(file, "%s\n", line.c_str());
      std::fclose(file);
    }
  }
  void maybe_throw(std::string_view function) const {
    if (script.crash_in == function) *nowhere = 1;
    if (script.throw_in == function) throw std::runtime_error("probe: thrown on purpose");
  }
  // The body passed on as text, in whole characters as the ABI asks: a character cut between two
  // chunks waits in `partial` for the rest.
  std::string partial;
  void text(std::string_view piece) {
    std::string whole = partial + std::string(piece);
    size_t start = whole.size();
    while (start > 0 && whole.size() - start < 4 && (static_cast<unsigned char>(whole[start - 1]) & 0xC0) == 0x80) {
      --start;
    }
    size_t keep = 0;
    if (start > 0) {
      auto lead = static_cast<unsigned char>(whole[start - 1]);
      size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (whole.size() - (start - 1) < length) keep = whole.size() - (start - 1);
    }
    partial = whole.substr(whole.size() - keep);
    whole.resize(whole.size() - keep);
    if (!whole.empty()) events->text(events, str(whole));
  }
  // The end of the body: a character still cut short goes out as it is (the host shows U+FFFD).
  void flush_text() {
    if (!partial.empty()) events->text(events, str(partial));
    partial.clear();
  }
};

namespace {

ph_status session_open(const ph_provider *, const ph_chat_request *request, const ph_session_events *events,
                       ph_session **out) {
  auto *session = new ph_session{read_script(view(request->options_json)), events, {}, {}, false, false, 0, {}};
  session->journal("open");
  if (session->script.throw_in == "session_open") {
    delete session;
    throw std::runtime_error("probe: thrown on purpose");
  }
  *out = session;
  return PH_OK;
}

ph_status next_request(ph_session *session, ph_http_request *out) {
  session->journal("next");
  session->maybe_throw("next_request");
  if (session->answered) return PH_DONE;
  session->url = "https://probe.invalid" + session->script.path;
  session->headers = {{str("Content-Type"), str("application/json")}, {str("X-Probe"), str("1")}};
  out->method = str("POST");
  out->url = str(session->url);
  out->headers = session->headers.data();
  out->header_count = session->headers.size();
  out->body = str(session->script.body);
  out->timeout_ms = session->script.timeout_ms;
  out->retry = session->script.has_retry ? &session->script.retry : nullptr;
  return PH_OK;
}

ph_response_action on_response_start(ph_session *session, int32_t status, const ph_header *, size_t) {
  session->journal("start " + std::to_string(status));
  session->maybe_throw("on_response_start");
  if (session->script.discard_first && !session->discarded) {
    session->discarded = true;
    return PH_RESPONSE_DISCARD;
  }
  return status >= 200 && status < 300 ? PH_RESPONSE_READ : PH_RESPONSE_HTTP_ERROR;
}

ph_status on_body(ph_session *session, ph_str chunk) {
  session->maybe_throw("on_body");
  if (!session->script.block_on.empty()) {
    std::string fifo = std::exchange(session->script.block_on, "");
    if (FILE *file = std::fopen(fifo.c_str(), "r")) {
      while (std::fgetc(file) != EOF) {
      }
      std::fclose(file);
    }
  }
  if (session->script.body_delay_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(session->script.body_delay_ms));
  }
  std::string_view bytes = view(chunk);
  size_t limit = session->script.done_after;
  if (limit && session->seen + bytes.size() >= limit) {
    session->text(bytes.substr(0, limit - session->seen));
    session->flush_text();
    session->answered = true;
    session->events->finish(session->events);
    return PH_DONE;
  }
  session->seen += bytes.size();
  session->text(bytes);
  return PH_OK;
}

ph_status on_response_end(ph_session *session) {
  session->journal("end");
  session->maybe_throw("on_response_end");
  session->answered = true;
  session->flush_text();
  if (session->script.finish) session->events->finish(session->events);
  return PH_OK;
}

void session_close(ph_session *session) {
  session->journal("close");
  delete session;
}

const ph_str capabilities[] = {{"stream", 6}};

const ph_provider_info info = {
    sizeof(ph_provider_info),
    str("Probe"),
    str("1.0.0"),
    str("The engine tests' scripted provider"),
    str("https://probe.invalid"),
    1,
    str("probe-1"),
    nullptr,
    0,
    nullptr,
    0,
    capabilities,
    1,
};

const ph_provider provider = {
    sizeof(ph_provider), &info,          &session_open, &next_request, &on_response_start, &on_body,
    &on_response_end,    &session_close, nullptr,
};

}  // namespace

extern "C" PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  uint32_t version = ph_negotiate_version(args->host_abi_version, PH_ABI_VERSION);
  if (!version) return PH_REFUSED;
  args->plugin_abi_version = version;
  args->provider = &provider;
  return PH_OK;
}

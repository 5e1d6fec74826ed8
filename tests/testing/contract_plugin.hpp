// contract_plugin.hpp: a provider linked into the kit's tests that answers one request with the
// response body as its text: a line "END" finishes the answer, a line "ERR" fails it. `bug` makes it
// break one rule of provhost.h's contract, for the test kit to catch.
#pragma once

#include <provhost/provhost.h>

#include <cstring>
#include <provhost/testing/contract.hpp>
#include <string>

namespace contract_plugin {

enum class Bug {
  none,
  text_after_finish,
  failed_without_error,
  event_in_close,
  split_sensitive,  // emits each chunk as it comes, "END" included when it straddles two chunks
  invalid_utf8,     // passes bytes on without checking them
  bad_header,
  two_finishes,
};
inline Bug bug = Bug::none;
// The events table of the session opened last, for a test to report an event from outside any call,
// as a plugin's own thread would.
inline const ph_session_events *last_events = nullptr;

struct State {
  const ph_session_events *events = nullptr;
  bool sent = false;
  std::string line;
  bool ended = false;
};

inline ph_str s(const char *text) { return ph_str{text, std::strlen(text)}; }

inline ph_status open(const ph_provider *, const ph_chat_request *, const ph_session_events *events, ph_session **out) {
  auto *state = new State;
  state->events = events;
  last_events = events;
  *out = reinterpret_cast<ph_session *>(state);
  return PH_OK;
}

inline State &of(ph_session *session) { return *reinterpret_cast<State *>(session); }

inline ph_status next_request(ph_session *session, ph_http_request *out) {
  State &state = of(session);
  if (state.sent) return PH_DONE;
  state.sent = true;
  static const ph_header good[] = {{s("Accept"), s("text/plain")}};
  static const ph_header bad[] = {{s("Bad Name"), s("x")}};
  out->method = s("POST");
  out->url = s("https://example.com/chat?key=1");
  out->headers = bug == Bug::bad_header ? bad : good;
  out->header_count = 1;
  out->body = s("hello");
  return PH_OK;
}

inline ph_response_action response_start(ph_session *, int32_t status, const ph_header *, size_t) {
  return status == 200 ? PH_RESPONSE_READ : PH_RESPONSE_HTTP_ERROR;
}

// One whole line of the body.
inline ph_status line(State &state, const std::string &text) {
  if (text == "END") {
    state.events->finish(state.events);
    if (bug == Bug::two_finishes) state.events->finish(state.events);
    if (bug == Bug::text_after_finish) state.events->text(state.events, s("late"));
    state.ended = true;
    return PH_OK;
  }
  if (text == "ERR") {
    if (bug != Bug::failed_without_error) state.events->error(state.events, PH_FAIL_UPSTREAM, s("upstream said ERR"));
    return PH_FAILED;
  }
  if (bug != Bug::invalid_utf8 && !provhost::testing::well_formed_utf8(text)) {
    state.events->warning(state.events, s("skipped a line that is not UTF-8"));
    return PH_OK;
  }
  if (bug != Bug::split_sensitive) state.events->text(state.events, ph_str{text.data(), text.size()});
  return PH_OK;
}

inline ph_status body(ph_session *session, ph_str chunk) {
  State &state = of(session);
  if (bug == Bug::split_sensitive) {
    std::string piece(chunk.data, chunk.size);
    if (piece.find('\n') == std::string::npos) state.events->text(state.events, chunk);
  }
  for (size_t i = 0; i < chunk.size; ++i) {
    if (chunk.data[i] != '\n') {
      state.line.push_back(chunk.data[i]);
      continue;
    }
    if (!state.line.empty()) {
      ph_status status = line(state, state.line);
      state.line.clear();
      if (status != PH_OK) return status;
    }
  }
  return state.ended ? PH_DONE : PH_OK;
}

inline ph_status response_end(ph_session *session) {
  State &state = of(session);
  if (!state.line.empty()) {
    ph_status status = line(state, state.line);
    state.line.clear();
    return status;
  }
  return PH_OK;
}

inline void close(ph_session *session) {
  State *state = &of(session);
  if (bug == Bug::event_in_close) state->events->warning(state->events, s("closing"));
  delete state;
}

inline const ph_str models[] = {{"echo", 4}};
inline const ph_provider_info info = {sizeof(ph_provider_info),
                                      s("Contract"),
                                      s("1.0"),
                                      s("a test provider"),
                                      s("https://example.com"),
                                      1,
                                      s("echo"),
                                      models,
                                      1,
                                      nullptr,
                                      0,
                                      nullptr,
                                      0};
inline const ph_provider provider = {sizeof(ph_provider), &info,  &open,  &next_request, &response_start, &body,
                                     &response_end,       &close, nullptr};

inline ph_status entry(ph_entry_args *args) {
  if (PH_VERSION_MAJOR(args->host_abi_version) != PH_ABI_VERSION_MAJOR) return PH_REFUSED;
  args->plugin_abi_version = ph_negotiate_version(args->host_abi_version, PH_ABI_VERSION);
  args->provider = &provider;
  return PH_OK;
}

}  // namespace contract_plugin

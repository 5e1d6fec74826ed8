// har.hpp: HTTP Archive 1.2 files (the format browsers' developer tools export), read and written,
// and replayed into a plugin session: an author captures the real site in a browser, saves a HAR and
// turns it into a regression test. `provhost chat --record` and `serve --record` write them with
// an extension, "_provhost" on the log, that says which chat was asked and what the host answered.
#pragma once

#include <provhost/provhost.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "provhost/testing/session.hpp"

namespace provhost::testing {

struct HarEntry {
  Request request;
  Response response;
  std::string started;   // ISO 8601, as HAR's startedDateTime
  double time_ms = 0;    // the exchange's duration
  std::string provider;  // "_provider": which provider asked for it (a recording may hold fallbacks)
};

// What the host answered, as recorded.
struct HarAnswer {
  std::string text;
  bool finished = false;
  std::string error;  // the host's one-line error when the chat failed
};

struct Har {
  std::vector<HarEntry> entries;
  std::optional<std::string> provider;  // the provider that answered (or failed last)
  std::optional<Chat> chat;             // the chat as the plugin was asked
  std::optional<HarAnswer> answer;
};

// Reads a HAR's JSON; throws std::runtime_error with a one-line reason when it is not HAR 1.x.
// Bodies in base64 ("encoding": "base64") are decoded.
Har parse_har(std::string_view json);
Har read_har_file(const std::string &path);

// HAR 1.2 JSON; bodies that are not UTF-8 are written in base64.
std::string write_har(const Har &har);

// A recorded chat replayed into a session of `provider`, its requests answered by
// recorded_responder. `chat` defaults to the recorded one.
struct Replay {
  Run run;
  std::vector<std::string> problems;  // requests that differ from the recording, and a different answer
  bool ok() const { return problems.empty() && run.violations.empty(); }
};
Replay replay_har(const ph_provider &provider, const Har &har, const std::optional<Chat> &chat = std::nullopt,
                  const Checks &checks = {});

// Answers each request of a chat with the recorded response to the same method and path (origins
// aside): the n-th request for a target gets the n-th recorded answer to it, so that a provider that
// skips a request the recording has (ChatgptFree's cached nonce) still gets the right answers. Only
// `provider`'s entries are used (all when it is empty); a request without a recorded answer gets
// none. A request with index 0 starts a new chat, so one responder serves check_splits' many runs.
Responder recorded_responder(const Har &har, std::string_view provider);

}  // namespace provhost::testing

// session.hpp: drives one plugin session through the C ABI as the host does, and checks the
// contract of provhost.h on every call and every event: statuses and actions from their allowed
// sets, PH_FAILED exactly when an error event came, requests well formed, text well-formed UTF-8,
// messages one line, at most one finish or one error and nothing after it but warnings after a
// finish, no event outside a call into the session (also none from session_close), and
// session_close exactly once. A broken rule is recorded as a violation, a line of text; nothing
// throws for the plugin's faults, so any test framework can assert on the results.
#pragma once

#include <provhost/provhost.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace provhost::testing {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// What a test asks the plugin for; messages are (role, content).
struct Chat {
  Pairs messages;
  std::string model;  // the host never passes an empty one: set it (e.g. to the default model)
  bool stream = true;
  std::string options_json = "{}";
};

// A chat of these (role, content) messages, everything else as defaults.
Chat chat_of(Pairs messages, std::string model = {});

// A request a session asked for, copied out of the ABI structs.
struct Request {
  std::string method;
  std::string url;
  Pairs headers;
  std::string body;
  uint32_t timeout_ms = 0;
  std::optional<ph_retry_policy> retry;  // as declared

  // Header names compare case-insensitively, as in HTTP.
  std::optional<std::string> header(std::string_view name) const;
  size_t header_count(std::string_view name) const;
};

struct Response {
  int status = 200;
  Pairs headers;
  std::string body;
};

// Everything a session reported through its events table.
struct Outcome {
  std::vector<std::string> texts;  // each text event, in order
  int finishes = 0;
  std::vector<std::string> warnings;
  std::vector<std::pair<ph_failure, std::string>> errors;

  std::string text() const;
  bool finished() const { return finishes == 1 && errors.empty(); }
  bool failed() const { return errors.size() == 1 && finishes == 0; }
  // The same answer, however its text was cut into events.
  bool same_answer(const Outcome &other) const;
  // One line: `finished: "text"` or `error 1 (message) after "text"`, for diagnostics.
  std::string summary() const;
  bool operator==(const Outcome &other) const;
  bool operator!=(const Outcome &other) const { return !(*this == other); }
};

struct Checks {
  // Whether warning and error messages are checked for UTF-8 and line breaks.
  bool message_text = true;
  // Called with each violation as it is found (a fuzzer aborts there, for a stack at the fault).
  std::function<void(const std::string &)> on_violation;
};

// One session of a provider, driven call by call. The provider table must stay valid. Calling it out
// of the host's order (a body before a response started, anything after PH_FAILED or close) is the
// test's mistake and throws std::logic_error.
class Session {
 public:
  Session(const ph_provider &provider, const Chat &chat, Checks checks = {});
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  ph_status open_status() const { return open_status_; }

  // The next request, or nullopt when next_request returned PH_DONE or PH_FAILED (see
  // last_status()) or handed out a request that breaks the contract (see violations()).
  std::optional<Request> next_request();
  ph_status last_status() const { return last_status_; }

  ph_response_action start_response(int status, const Pairs &headers = {});
  ph_status body(std::string_view chunk);
  ph_status end_response();

  // The host's reading loop: starts the response and, when the session reads it, feeds the body cut
  // at `cuts` (increasing offsets, empty pieces skipped as the host does), stopping at PH_DONE or
  // PH_FAILED and calling on_response_end only after a body fed whole.
  ph_response_action respond(const Response &response, const std::vector<size_t> &cuts = {});

  // session_close, once; the destructor calls it when the test did not.
  void close();

  // True when the session can take no more calls but close (it failed, said PH_DONE, or closed).
  bool over() const { return state_ == State::over || state_ == State::closed; }
  const Outcome &outcome() const { return outcome_; }
  const std::vector<std::string> &violations() const { return violations_; }

 private:
  enum class State { opened, requested, reading, read, over, closed };
  class Call;
  static void on_text(const ph_session_events *events, ph_str text);
  static void on_finish(const ph_session_events *events);
  static void on_warning(const ph_session_events *events, ph_str message);
  static void on_error(const ph_session_events *events, ph_failure failure, ph_str message);
  static Session *receiver(const ph_session_events *events, const char *event);

  void violated(std::string rule);
  bool ended() const { return outcome_.finishes > 0 || !outcome_.errors.empty(); }
  // The status of a call checked: one of `allowed`, PH_FAILED exactly with an error event.
  ph_status checked(ph_status status, std::initializer_list<ph_status> allowed, const char *function);
  void expect(std::initializer_list<State> states, const char *call) const;

  const ph_provider &provider_;
  Checks checks_;
  ph_session_events events_{};
  ph_session *session_ = nullptr;
  ph_status open_status_ = PH_FAILED;
  ph_status last_status_ = PH_OK;
  State state_ = State::opened;
  bool in_call_ = false;
  const char *closing_ = nullptr;  // set while session_close runs
  size_t errors_before_call_ = 0;
  Outcome outcome_;
  std::vector<std::string> violations_;
  std::vector<ph_header> header_views_;
};

// Answers a session's requests: the response to the request with this index (0 for the first), or
// nullopt to stop there, as a cancelled chat does (the session is closed without more calls).
using Responder = std::function<std::optional<Response>(const Request &request, size_t index)>;
// Where to cut the body of the response to the request with this index.
using CutPlanner = std::function<std::vector<size_t>(size_t index, const std::string &body)>;

// One whole chat as the host runs it, from session_open to session_close.
struct Run {
  Outcome outcome;
  std::vector<Request> requests;
  std::vector<std::string> violations;
  bool stopped = false;  // the responder had no answer for a request: the chat was cut off there
};

// At most `max_requests` requests are answered (the host's --max-requests); a session asking for more
// is a violation ("asked for more than N requests").
Run run_chat(const ph_provider &provider, const Chat &chat, const Responder &responder, const CutPlanner &cuts = {},
             const Checks &checks = {}, size_t max_requests = 8);

// The responses in order, one per request; nullopt past the last.
Responder in_order(std::vector<Response> responses);

// Opens a session, answers its one request with `response` cut at `cuts`, then asks for the next
// request (a one-request protocol has none: one is a violation) and returns what the session reported.
Run answer_once(const ph_provider &provider, const Chat &chat, const Response &response,
                const std::vector<size_t> &cuts = {}, const Checks &checks = {});

// The ways of cutting a body of `size` bytes that parsing must not notice: every single cut, one
// byte at a time, and, for bodies of at most `three_way_limit` bytes, every pair of cuts.
std::vector<std::vector<size_t>> cut_plans(size_t size, size_t three_way_limit);

// A chat answered whole, then with each response's body cut in every plan of cut_plans (one response
// at a time, the others whole): every run must keep the contract and give the same answer as the
// whole one.
struct SplitReport {
  Run whole;
  size_t runs = 0;
  std::vector<std::string> problems;  // one line each, at most `max_problems`
  bool ok() const { return problems.empty(); }
};
SplitReport check_splits(const ph_provider &provider, const Chat &chat, const Responder &responder,
                         size_t three_way_limit = 64, const Checks &checks = {}, size_t max_problems = 20);

// The pairs of an application/x-www-form-urlencoded body, decoded.
Pairs form_decode(std::string_view body);

}  // namespace provhost::testing

#include "provhost/testing/session.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "provhost/testing/contract.hpp"

namespace provhost::testing {
namespace {

std::string_view view_of(ph_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }
ph_str str_of(std::string_view s) { return ph_str{s.data(), s.size()}; }

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

const char *status_name(ph_status status) {
  switch (status) {
    case PH_OK:
      return "PH_OK";
    case PH_DONE:
      return "PH_DONE";
    case PH_FAILED:
      return "PH_FAILED";
    case PH_REFUSED:
      return "PH_REFUSED";
    default:
      return "an unknown status";
  }
}

}  // namespace

Chat chat_of(Pairs messages, std::string model) {
  Chat chat;
  chat.messages = std::move(messages);
  chat.model = std::move(model);
  return chat;
}

// ---- Request / Outcome ---------------------------------------------------------------------------

std::optional<std::string> Request::header(std::string_view name) const {
  for (const auto &[key, value] : headers)
    if (same_name(key, name)) return value;
  return std::nullopt;
}

size_t Request::header_count(std::string_view name) const {
  return static_cast<size_t>(
      std::count_if(headers.begin(), headers.end(), [&](const auto &h) { return same_name(h.first, name); }));
}

std::string Outcome::text() const {
  std::string all;
  for (const std::string &piece : texts) all += piece;
  return all;
}

bool Outcome::same_answer(const Outcome &other) const {
  return text() == other.text() && finishes == other.finishes && warnings == other.warnings && errors == other.errors;
}

bool Outcome::operator==(const Outcome &other) const { return texts == other.texts && same_answer(other); }

std::string Outcome::summary() const {
  std::string line;
  if (finishes) line += finishes == 1 ? "finished" : std::to_string(finishes) + " finishes";
  for (const auto &[failure, message] : errors) {
    if (!line.empty()) line += ", ";
    line += "error " + std::to_string(failure) + " (" + printable(message, 120) + ")";
  }
  if (line.empty()) line = "neither finished nor failed";
  line += " with text \"" + printable(text(), 120) + "\"";
  if (!warnings.empty()) line += " and " + std::to_string(warnings.size()) + " warning(s)";
  return line;
}

// ---- Session -------------------------------------------------------------------------------------

// Marks a call into the session: events are taken only while one is in progress.
class Session::Call {
 public:
  explicit Call(Session &session) : session_(session) {
    session_.in_call_ = true;
    session_.errors_before_call_ = session_.outcome_.errors.size();
  }
  ~Call() { session_.in_call_ = false; }
  Call(const Call &) = delete;
  Call &operator=(const Call &) = delete;

 private:
  Session &session_;
};

Session::Session(const ph_provider &provider, const Chat &chat, Checks checks)
    : provider_(provider), checks_(std::move(checks)) {
  events_.struct_size = sizeof events_;
  events_.host_data = this;
  events_.text = &on_text;
  events_.finish = &on_finish;
  events_.warning = &on_warning;
  events_.error = &on_error;

  std::vector<ph_message> messages;
  for (const auto &[role, content] : chat.messages) messages.push_back(ph_message{str_of(role), str_of(content)});
  ph_chat_request request{};
  request.struct_size = sizeof request;
  request.model = str_of(chat.model);
  request.messages = messages.empty() ? nullptr : messages.data();
  request.message_count = messages.size();
  request.stream = chat.stream ? 1 : 0;
  request.options_json = str_of(chat.options_json);
  {
    Call call(*this);
    open_status_ = provider_.session_open(&provider_, &request, &events_, &session_);
  }
  open_status_ = checked(open_status_, {PH_OK, PH_FAILED}, "session_open");
  if (open_status_ == PH_OK && !session_) {
    violated("session_open returned PH_OK without a session");
    open_status_ = PH_FAILED;
  }
  if (open_status_ != PH_OK) state_ = State::over;
}

Session::~Session() { close(); }

void Session::violated(std::string rule) {
  if (checks_.on_violation) checks_.on_violation(rule);
  violations_.push_back(std::move(rule));
}

void Session::expect(std::initializer_list<State> states, const char *call) const {
  if (std::find(states.begin(), states.end(), state_) == states.end())
    throw std::logic_error(std::string("the test called ") + call + " out of the host's order");
}

ph_status Session::checked(ph_status status, std::initializer_list<ph_status> allowed, const char *function) {
  const bool reported = outcome_.errors.size() > errors_before_call_;
  if (std::find(allowed.begin(), allowed.end(), status) == allowed.end()) {
    violated(std::string(function) + " returned " + status_name(status) + " (" + std::to_string(status) + ")");
    return PH_FAILED;
  }
  if (status == PH_FAILED && !reported) violated(std::string(function) + " returned PH_FAILED without an error event");
  if (status != PH_FAILED && reported)
    violated(std::string(function) + " reported an error but returned " + status_name(status));
  return status;
}

std::optional<Request> Session::next_request() {
  expect({State::opened, State::read}, "next_request");
  ph_http_request out{};
  out.struct_size = sizeof out;
  ph_status status;
  {
    Call call(*this);
    status = provider_.next_request(session_, &out);
  }
  last_status_ = checked(status, {PH_OK, PH_DONE, PH_FAILED}, "next_request");
  if (last_status_ != PH_OK) {
    state_ = State::over;
    return std::nullopt;
  }
  if (ended()) violated("next_request asked for a request after the end of the answer");
  if (auto defect = request_defect(out)) {
    violated(*defect);
    state_ = State::over;
    last_status_ = PH_FAILED;  // the host fails the chat for a request it cannot send
    return std::nullopt;
  }
  Request request;
  request.method = view_of(out.method);
  request.url = view_of(out.url);
  for (size_t i = 0; i < out.header_count; ++i)
    request.headers.emplace_back(view_of(out.headers[i].name), view_of(out.headers[i].value));
  request.body = view_of(out.body);
  request.timeout_ms = out.timeout_ms;
  if (out.retry) request.retry = *out.retry;
  state_ = State::requested;
  return request;
}

ph_response_action Session::start_response(int status, const Pairs &headers) {
  expect({State::requested}, "start_response");
  header_views_.clear();
  for (const auto &[name, value] : headers) header_views_.push_back(ph_header{str_of(name), str_of(value)});
  ph_response_action action;
  {
    Call call(*this);
    action = provider_.on_response_start(session_, status, header_views_.empty() ? nullptr : header_views_.data(),
                                         header_views_.size());
  }
  if (outcome_.errors.size() > errors_before_call_) violated("on_response_start reported an error event");
  switch (action) {
    case PH_RESPONSE_READ:
      state_ = State::reading;
      break;
    case PH_RESPONSE_DISCARD:
      state_ = State::read;
      break;
    case PH_RESPONSE_HTTP_ERROR:
      state_ = State::over;
      break;
    default:
      violated("on_response_start answered the unknown action " + std::to_string(action));
      state_ = State::over;
      action = PH_RESPONSE_HTTP_ERROR;
  }
  return action;
}

ph_status Session::body(std::string_view chunk) {
  expect({State::reading}, "body");
  if (chunk.empty()) throw std::logic_error("the test fed an empty chunk, which the host never does");
  ph_status status;
  {
    Call call(*this);
    status = provider_.on_body(session_, str_of(chunk));
  }
  status = checked(status, {PH_OK, PH_DONE, PH_FAILED}, "on_body");
  if (status == PH_DONE) state_ = State::read;  // no on_response_end: next_request follows
  if (status == PH_FAILED) state_ = State::over;
  return status;
}

ph_status Session::end_response() {
  expect({State::reading}, "end_response");
  ph_status status;
  {
    Call call(*this);
    status = provider_.on_response_end(session_);
  }
  status = checked(status, {PH_OK, PH_FAILED}, "on_response_end");
  state_ = status == PH_OK ? State::read : State::over;
  return status;
}

ph_response_action Session::respond(const Response &response, const std::vector<size_t> &cuts) {
  ph_response_action action = start_response(response.status, response.headers);
  if (action != PH_RESPONSE_READ) return action;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(response.body.size());
  for (size_t end : ends) {
    end = std::min(end, response.body.size());
    if (end <= from) continue;
    ph_status status = body(std::string_view(response.body).substr(from, end - from));
    from = end;
    if (status != PH_OK) return action;
  }
  end_response();
  return action;
}

void Session::close() {
  if (state_ == State::closed) return;
  state_ = State::closed;
  if (!session_) return;
  closing_ = "session_close";
  provider_.session_close(session_);
  closing_ = nullptr;
  session_ = nullptr;
}

Session *Session::receiver(const ph_session_events *events, const char *event) {
  auto *session = static_cast<Session *>(events->host_data);
  if (session->closing_) {
    session->violated(std::string("a ") + event + " event from inside session_close");
    return nullptr;
  }
  if (!session->in_call_) {
    session->violated(std::string("a ") + event + " event outside a call into the session");
    return nullptr;
  }
  return session;
}

void Session::on_text(const ph_session_events *events, ph_str text) {
  Session *self = receiver(events, "text");
  if (!self) return;
  if (!text.data && text.size) return self->violated("a text event with a NULL pointer and a size");
  const std::string_view piece = view_of(text);
  if (self->ended()) self->violated("text after the end of the answer: \"" + printable(piece, 80) + "\"");
  if (!well_formed_utf8(piece)) self->violated("text is not whole UTF-8 characters: \"" + printable(piece, 80) + "\"");
  if (!piece.empty()) self->outcome_.texts.emplace_back(piece);
}

void Session::on_finish(const ph_session_events *events) {
  Session *self = receiver(events, "finish");
  if (!self) return;
  if (self->ended()) self->violated("finish after the end of the answer");
  ++self->outcome_.finishes;
}

void Session::on_warning(const ph_session_events *events, ph_str message) {
  Session *self = receiver(events, "warning");
  if (!self) return;
  if (!message.data && message.size) return self->violated("a warning with a NULL pointer and a size");
  if (!self->outcome_.errors.empty()) self->violated("a warning after the error");
  if (self->checks_.message_text)
    if (auto defect = message_defect("a warning", view_of(message))) self->violated(*defect);
  self->outcome_.warnings.emplace_back(view_of(message));
}

void Session::on_error(const ph_session_events *events, ph_failure failure, ph_str message) {
  Session *self = receiver(events, "error");
  if (!self) return;
  if (!message.data && message.size) return self->violated("an error with a NULL pointer and a size");
  if (self->ended()) self->violated("an error after the end of the answer");
  if (failure < PH_FAIL_PROTOCOL || failure > PH_FAIL_INTERNAL)
    self->violated("an error of the unknown failure kind " + std::to_string(failure));
  if (view_of(message).empty()) self->violated("an error without a message");
  if (self->checks_.message_text)
    if (auto defect = message_defect("an error", view_of(message))) self->violated(*defect);
  self->outcome_.errors.emplace_back(failure, std::string(view_of(message)));
}

// ---- Whole chats -----------------------------------------------------------------------------------

Run run_chat(const ph_provider &provider, const Chat &chat, const Responder &responder, const CutPlanner &cuts,
             const Checks &checks, size_t max_requests) {
  Run run;
  Session session(provider, chat, checks);
  while (!session.over()) {
    std::optional<Request> request = session.next_request();
    if (!request) break;
    const size_t index = run.requests.size();
    run.requests.push_back(*request);
    if (index >= max_requests) {
      run.stopped = true;
      session.close();
      run.violations = session.violations();
      run.violations.push_back("asked for more than " + std::to_string(max_requests) + " requests");
      run.outcome = session.outcome();
      return run;
    }
    std::optional<Response> response = responder(*request, index);
    if (!response) {
      run.stopped = true;
      break;
    }
    session.respond(*response, cuts ? cuts(index, response->body) : std::vector<size_t>{});
  }
  session.close();
  run.outcome = session.outcome();
  run.violations = session.violations();
  return run;
}

Responder in_order(std::vector<Response> responses) {
  return [responses = std::move(responses)](const Request &, size_t index) -> std::optional<Response> {
    if (index >= responses.size()) return std::nullopt;
    return responses[index];
  };
}

Run answer_once(const ph_provider &provider, const Chat &chat, const Response &response,
                const std::vector<size_t> &cuts, const Checks &checks) {
  Run run;
  Session session(provider, chat, checks);
  if (session.open_status() == PH_OK) {
    if (std::optional<Request> request = session.next_request()) {
      run.requests.push_back(*request);
      if (session.respond(response, cuts) == PH_RESPONSE_READ && !session.over()) {
        if (std::optional<Request> second = session.next_request()) {
          run.requests.push_back(*second);
          run.stopped = true;
        }
      }
    }
  }
  session.close();
  run.outcome = session.outcome();
  run.violations = session.violations();
  if (run.stopped) run.violations.push_back("asked for a second request after a one-request answer");
  return run;
}

std::vector<std::vector<size_t>> cut_plans(size_t size, size_t three_way_limit) {
  std::vector<std::vector<size_t>> plans;
  for (size_t cut = 1; cut < size; ++cut) plans.push_back({cut});
  std::vector<size_t> every_byte;
  for (size_t cut = 1; cut < size; ++cut) every_byte.push_back(cut);
  if (size > 2) plans.push_back(every_byte);
  if (size <= three_way_limit)
    for (size_t first = 1; first < size; ++first)
      for (size_t second = first + 1; second < size; ++second) plans.push_back({first, second});
  return plans;
}

Pairs form_decode(std::string_view body) {
  auto hex = [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10);
  };
  auto decode = [&](std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '+') {
        out.push_back(' ');
      } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
        out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
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

}  // namespace provhost::testing

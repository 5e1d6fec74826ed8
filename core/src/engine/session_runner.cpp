#include "session_runner.hpp"

#include <provhost/core/error.hpp>
#include <string>

namespace provhost::core::engine {
namespace {

// Collects what a session reports into the result being produced.
class ResultListener final : public detail::SessionListener {
 public:
  void session_text(std::string_view text, bool repaired) override {
    current->text.append(text);
    current->text_repaired |= repaired;
  }
  void session_warning(std::string_view message) override { current->warnings.emplace_back(message); }
  void session_tool_call(const ToolCallDelta &call) override { current->tool_calls.push_back(call); }
  void session_report(const UpstreamReport &report) override { current->report = report; }
  SessionResult *current = nullptr;
};

}  // namespace

struct SessionRunner::Slot {
  ResultListener listener;
  std::unique_ptr<detail::PluginSession> session;
  bool failed = false;    // later work is ignored until the close
  bool answered = false;  // PH_DONE from on_body: the rest of this response is not the session's
  bool reading = false;   // the session reads the current response (its end is the session's)
};

SessionRunner::SessionRunner(ProviderPtr provider) : provider_(std::move(provider)) {}

SessionRunner::~SessionRunner() { close_all(); }

void SessionRunner::run(Batch<SessionWork> &work, Batch<SessionResult> &produced) {
  for (size_t i = 0; i < work.size(); ++i) handle(work[i], produced);
}

void SessionRunner::close_all() {
  for (auto &[id, slot] : sessions_) slot->session->close();
  sessions_.clear();
}

SessionResult &SessionRunner::result(Batch<SessionResult> &produced, Slot *slot, SessionId id,
                                     SessionResult::Kind kind) {
  SessionResult &out = produced.add();
  out.session = id;
  out.kind = kind;
  if (slot) slot->listener.current = &out;
  return out;
}

void SessionRunner::failed(SessionResult &out, Slot &slot) {
  out.kind = SessionResult::Kind::failed;
  out.error = slot.session->failure();
  slot.failed = true;
}

void SessionRunner::handle(SessionWork &work, Batch<SessionResult> &produced) {
  using Kind = SessionResult::Kind;
  if (work.kind == SessionWork::Kind::open) return open(work, produced);
  auto found = sessions_.find(work.session);
  if (work.kind == SessionWork::Kind::close) {
    // A session that never opened (its provider was gone) is closed all the same.
    Slot *slot = found == sessions_.end() ? nullptr : found->second.get();
    result(produced, slot, work.session, Kind::closed);
    if (slot) {
      slot->session->close();
      sessions_.erase(found);
    }
    return;
  }
  if (found == sessions_.end()) return;
  Slot &slot = *found->second;
  if (slot.failed) return;
  switch (work.kind) {
    case SessionWork::Kind::next_request:
      return next_request(slot, work.session, produced);
    case SessionWork::Kind::response_start: {
      SessionResult &out = result(produced, &slot, work.session, Kind::action);
      slot.answered = false;  // a new response: its bytes are the session's again
      std::optional<ph_response_action> action = slot.session->response_start(work.status, work.headers);
      if (!action) return failed(out, slot);
      out.action = *action;
      slot.reading = *action == PH_RESPONSE_READ;
      if (work.bytes.empty()) return;
      // The first body bytes came along: the session reads them now, or they go back.
      if (*action != PH_RESPONSE_READ) return out.bytes.swap(work.bytes);
      return body(slot, work, produced);
    }
    case SessionWork::Kind::body:
      return body(slot, work, produced);
    case SessionWork::Kind::response_end: {
      // A response the session does not read ends without it: the engine maps or drops it.
      if (slot.answered || !slot.reading) return;
      slot.reading = false;
      SessionResult &out = result(produced, &slot, work.session, Kind::response_ended);
      if (slot.session->response_end() != PH_OK) return failed(out, slot);
      return next_request(slot, work.session, produced);  // what the engine asks next, always
    }
    default:
      return;
  }
}

void SessionRunner::body(Slot &slot, SessionWork &work, Batch<SessionResult> &produced) {
  if (slot.answered) return;
  SessionResult &out = result(produced, &slot, work.session, SessionResult::Kind::body_taken);
  ph_status status = slot.session->body(work.body());
  if (status == PH_DONE) {
    out.answer_complete = slot.answered = true;
    // The rest of this response is not the session's; what the engine asks next is certain.
    next_request(slot, work.session, produced);
  } else if (status != PH_OK) {
    failed(out, slot);
  }
}

// May close the session (and free `slot`) when it has nothing more to send.
void SessionRunner::next_request(Slot &slot, SessionId id, Batch<SessionResult> &produced) {
  using Kind = SessionResult::Kind;
  SessionResult &out = result(produced, &slot, id, Kind::request);
  switch (slot.session->next_request(out.request)) {
    case detail::PluginSession::Next::request:
      return;
    case detail::PluginSession::Next::done:
      // Nothing can follow: the session is closed now, which spares the engine a round trip.
      out.kind = Kind::no_more_requests;
      out.finished = slot.session->finished();
      slot.session->close();
      sessions_.erase(id);
      return;
    case detail::PluginSession::Next::failed:
      return failed(out, slot);
  }
}

void SessionRunner::open(SessionWork &work, Batch<SessionResult> &produced) {
  if (!provider_) {
    SessionResult &out = result(produced, nullptr, work.session, SessionResult::Kind::failed);
    out.error = make_error(ErrorKind::plugin, work.provider, "the provider is not loaded");
    return;
  }
  auto slot = std::make_unique<Slot>();
  slot->session = std::make_unique<detail::PluginSession>(*provider_, work.model, slot->listener);
  SessionResult &out = result(produced, slot.get(), work.session, SessionResult::Kind::opened);
  if (!slot->session->open(work.spec)) failed(out, *slot);
  sessions_.emplace(work.session, std::move(slot));
}

}  // namespace provhost::core::engine

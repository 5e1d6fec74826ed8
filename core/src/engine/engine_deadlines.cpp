// Deadlines that came due (deadlines.hpp): each is judged again by decisions.hpp, then acted on,
// moved, or dropped.
#include <algorithm>
#include <provhost/core/error.hpp>
#include <provhost/core/http_error.hpp>
#include <provhost/core/retry.hpp>
#include <provhost/core/upstream.hpp>
#include <provhost/framing.hpp>

#include "engine_impl.hpp"

namespace provhost::core {

void Engine::Impl::fire_deadlines(TimePoint now) {
  deadlines.pop_due(now, due);
  for (const Deadline &deadline : due) fire(deadline, now);
  due.clear();
  // Entries of chats and transfers that are gone are dropped when they come due; when they
  // outnumber the live ones by far, drop them at once.
  size_t live = 4 * (chats.size() + transfers.size() + draining.size()) + 1024;
  if (deadlines.size() > 2 * live) {
    // The backend's are few (one per worker at most) and judged by the backend when they come due.
    deadlines.compact([&](const Deadline &d) {
      return d.kind == DeadlineKind::backend || chats.count(d.owner) || transfers.count(d.owner) ||
             draining.count(d.owner);
    });
  }
}

void Engine::Impl::fire(const Deadline &deadline, TimePoint now) {
  switch (deadline.kind) {
    case DeadlineKind::total: {
      auto found = chats.find(deadline.owner);
      if (found == chats.end()) return;
      Chat &chat = *found->second;
      if (chat.state == ChatState::closing) return;
      if (now < chat.deadline) return deadlines.arm(chat.deadline, DeadlineKind::total, chat.id);
      return out_of_time(chat);
    }
    case DeadlineKind::retry_wait: {
      auto found = chats.find(deadline.owner);
      if (found == chats.end()) return;
      Chat &chat = *found->second;
      if (chat.state != ChatState::retry_waiting) return;
      if (now < chat.retry_at) return deadlines.arm(chat.retry_at, DeadlineKind::retry_wait, chat.id);
      return start_attempt(chat);
    }
    case DeadlineKind::backend:
      return backend->deadline_due(deadline.owner, now);
    case DeadlineKind::drain: {
      auto found = draining.find(deadline.owner);
      if (found == draining.end()) return;
      transition(*found->second, TransferState::finished);
      pool.release(found->second->easy);  // still going: give up on reusing its connection
      draining.erase(found);
      return;
    }
    default: {
      auto found = transfers.find(deadline.owner);
      if (found == transfers.end()) return;
      Transfer &t = *found->second;
      if (t.curl_done) return;
      DeadlineCheck check = check_transfer_deadline(deadline.kind, t.clock, options.timeouts, now);
      if (check.expired) return expire(*t.chat, *check.expired);
      deadlines.arm(check.next, deadline.kind, t.id);
    }
  }
}

// One attempt ran out of time; timeouts before the answer began may be retried.
void Engine::Impl::expire(Chat &chat, const Expiry &expiry) {
  // Bytes on their way to the session count as fed: the session may be reading them right now.
  bool body_fed = chat.transfer->body_fed || chat.transfer->bodies_in_flight > 0;
  drop_transfer(chat);
  attempt_failed(chat, make_error(expiry.kind, chat.provider, expiry.what), expiry.retry_on, body_fed);
}

void Engine::Impl::out_of_time(Chat &chat) {
  provider_failed(chat, make_error(ErrorKind::timeout, chat.provider,
                                   "timed out after " +
                                       seconds_text(std::chrono::ceil<milliseconds>(chat.deadline - chat.started_at))));
}

}  // namespace provhost::core

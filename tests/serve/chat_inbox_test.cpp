// How often the engine's thread wakes a connection for a chat: once per batch of events for a
// stream, once at the end for a whole answer.
#include <catch2/catch.hpp>
#include <provhost/serve/chat_bridge.hpp>

using provhost::serve::ChatInbox;

TEST_CASE("a whole answer wakes its connection once, at its end") {
  ChatInbox inbox(SIZE_MAX, SIZE_MAX, true);
  inbox.started.emplace("Koala", "gpt-4o-mini");
  CHECK_FALSE(inbox.wake_needed(false));
  inbox.text = "Hello";
  CHECK_FALSE(inbox.wake_needed(false));
  CHECK_FALSE(inbox.wake_pending);
  inbox.done = true;
  CHECK(inbox.wake_needed(false));
  CHECK(inbox.wake_pending);
  // Anything after the end finds the wake-up pending.
  CHECK_FALSE(inbox.wake_needed(false));
}

TEST_CASE("a whole answer that fails wakes its connection at the error") {
  ChatInbox inbox(SIZE_MAX, SIZE_MAX, true);
  CHECK_FALSE(inbox.wake_needed(false));
  inbox.error.emplace();
  CHECK(inbox.wake_needed(false));
}

TEST_CASE("an urgent change to a whole answer wakes its connection before the end") {
  ChatInbox inbox(16, 4, true);
  CHECK(inbox.wake_needed(true));
}

TEST_CASE("a stream wakes its connection at its first event, then not again until the connection has looked") {
  ChatInbox inbox(1024, 256);
  inbox.started.emplace("Koala", "gpt-4o-mini");
  CHECK(inbox.wake_needed(false));
  inbox.text = "Hello";
  CHECK_FALSE(inbox.wake_needed(false));
  CHECK(inbox.wake_needed(true));  // an overflow is news even with a wake-up pending
  inbox.wake_pending = false;      // what the bridge does when it takes the inbox
  inbox.text += ", world";
  CHECK(inbox.wake_needed(false));
}

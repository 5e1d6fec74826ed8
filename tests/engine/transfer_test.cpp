// What a transfer hands on to its session, decided from its counts alone.
#include "transfer.hpp"

#include <catch2/catch.hpp>

using namespace provhost::core::engine;

TEST_CASE("buffered body bytes go on while fewer than two batches are with the session", "[engine][transfer]") {
  CHECK(may_hand_on_body(1, 0));
  // The second batch goes while the session still reads the first: it finds it waiting.
  CHECK(may_hand_on_body(transfer_buffer_limit, 1));
  CHECK_FALSE(may_hand_on_body(1, max_bodies_in_flight));
  CHECK_FALSE(may_hand_on_body(transfer_buffer_limit, max_bodies_in_flight));
  // Nothing buffered is nothing to send, however free the session is.
  CHECK_FALSE(may_hand_on_body(0, 0));
  CHECK_FALSE(may_hand_on_body(0, 1));
  CHECK(max_bodies_in_flight == 2);
}

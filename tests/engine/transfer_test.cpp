// What a transfer hands on to its session, decided from its counts alone.
#include "transfer.hpp"

#include <catch2/catch.hpp>

using namespace provhost::core::engine;

TEST_CASE("buffered body bytes go on while fewer than two batches are with the session", "[engine][transfer]") {
  CHECK(may_hand_on_body(1, 0));
  // The second batch goes while the session still reads the first: it finds it waiting.
  CHECK(may_hand_on_body(transfer_buffer_floor, 1));
  CHECK_FALSE(may_hand_on_body(1, max_bodies_in_flight));
  CHECK_FALSE(may_hand_on_body(transfer_buffer_floor, max_bodies_in_flight));
  // Nothing buffered is nothing to send, however free the session is.
  CHECK_FALSE(may_hand_on_body(0, 0));
  CHECK_FALSE(may_hand_on_body(0, 1));
  CHECK(max_bodies_in_flight == 2);
}

TEST_CASE("a transfer's batches shrink as more transfers share the engine, within bounds", "[engine][transfer]") {
  // Alone (or before any started), a transfer takes the largest batches: fewest round trips.
  CHECK(transfer_buffer_limit(0) == transfer_buffer_ceiling);
  CHECK(transfer_buffer_limit(1) == transfer_buffer_ceiling);
  CHECK(transfer_buffer_limit(4) == transfer_buffer_ceiling);
  // Then the budget is shared: what all of them may hold together stays the budget.
  CHECK(transfer_buffer_limit(16) == transfer_buffer_budget / 16);
  CHECK(transfer_buffer_limit(16) * 16 == transfer_buffer_budget);
  CHECK(transfer_buffer_limit(5) < transfer_buffer_limit(4));
  // However many transfers run, each still takes a useful batch.
  CHECK(transfer_buffer_limit(64) == transfer_buffer_floor);
  CHECK(transfer_buffer_limit(10'000) == transfer_buffer_floor);
  CHECK(transfer_buffer_floor < transfer_buffer_ceiling);
}

TEST_CASE("libcurl's receive buffer follows a transfer's batches, never below libcurl's default",
          "[engine][transfer]") {
  CHECK(receive_buffer_size(transfer_buffer_ceiling) == transfer_buffer_ceiling / 4);
  CHECK(receive_buffer_size(transfer_buffer_ceiling) > CURL_MAX_WRITE_SIZE);
  // Many transfers: each holds what libcurl holds by default, as before.
  CHECK(receive_buffer_size(transfer_buffer_limit(10'000)) == CURL_MAX_WRITE_SIZE);
  CHECK(receive_buffer_size(0) == CURL_MAX_WRITE_SIZE);
}

// eventually.hpp: waiting, bounded, for something another process does on its own time (a line
// on its stderr, a log entry): checks `predicate` every 10 ms until it holds or `limit` passed.
#pragma once

#include <chrono>
#include <thread>

namespace provhost::test {

template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return predicate();
}

}  // namespace provhost::test

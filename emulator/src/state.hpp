// state.hpp: what the server shares with the C++ API and the control endpoints: configuration,
// the rendered answers, faults, recorded requests and ChatgptFree's nonce. Thread-safe; no I/O.
#pragma once

#include <array>
#include <deque>
#include <emulator/emulator.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "render.hpp"

namespace provhost::emulator::detail {

enum class Fault {
  none,
  rate_limit,
  cloudflare,
  server_error,
  bad_gateway,
  reset,
  truncate,
  cut,
  malformed,
  stall,
  fail_first,
  stale_nonce,
  no_nonce,
  no_post_id,
};

// ChatgptFree is two requests; a fault applies to the step it makes sense for.
enum class Step { page, answer };

class State {
 public:
  explicit State(Config initial);

  void configure(Config config);  // throws std::invalid_argument for text that is not UTF-8
  Config config() const;
  void reset();  // faults, requests and configuration back to the start

  // The response for an answer, rendered once per configuration and shared by every connection.
  std::shared_ptr<const Wire> answer(Answer answer, Shape shape);
  std::string answer_body(Answer answer) const;
  std::string expected_text() const;
  std::size_t write_size() const;
  bool chatgptfree_json_answer() const;

  void record(RecordedRequest request);
  std::vector<RecordedRequest> requests() const;
  void clear_requests();
  void set_record_limit(std::size_t limit);

  // fault as Emulator::set_fault() takes it; throws std::invalid_argument.
  void set_fault(std::string_view route, std::string_view fault, int k, int times);
  void clear_faults();
  // The fault for this request of `route`, counted as used; Fault::none when there is none.
  Fault take_fault(Route route, Step step);

  std::string nonce() const;
  void rotate_nonce();  // the cached nonce of every client is stale from now on
  std::string post_id() const { return "106"; }

 private:
  struct ActiveFault {
    Fault fault = Fault::none;
    int remaining = -1;  // requests it still applies to; -1 = until cleared
  };

  void apply_config(Config config);  // with mutex_ held
  std::string next_nonce();

  mutable std::mutex mutex_;
  const Config initial_;
  Config config_;
  Tokens tokens_;
  std::map<std::pair<Answer, Shape>, std::shared_ptr<const Wire>> rendered_;
  std::array<ActiveFault, route_count> faults_{};
  std::deque<RecordedRequest> requests_;
  std::size_t record_limit_ = 100000;
  std::mt19937_64 random_;
  std::string nonce_;
};

}  // namespace provhost::emulator::detail

#include "state.hpp"

#include <charconv>
#include <stdexcept>

namespace provhost::emulator::detail {

namespace {

struct FaultName {
  std::string_view name;
  Fault fault;
};

constexpr FaultName fault_names[] = {
    {"rate_limit", Fault::rate_limit},
    {"cloudflare", Fault::cloudflare},
    {"server_error", Fault::server_error},
    {"bad_gateway", Fault::bad_gateway},
    {"reset", Fault::reset},
    {"truncate", Fault::truncate},
    {"cut", Fault::cut},
    {"malformed", Fault::malformed},
    {"stall", Fault::stall},
    {"fail_first", Fault::fail_first},
    {"stale_nonce", Fault::stale_nonce},
    {"no_nonce", Fault::no_nonce},
    {"no_post_id", Fault::no_post_id},
};

bool only_for_chatgptfree(Fault fault) {
  return fault == Fault::stale_nonce || fault == Fault::no_nonce || fault == Fault::no_post_id;
}

// The page carries no answer, so it is only blocked or refused; the answer is never missing a nonce.
bool applies_to(Fault fault, Step step) {
  switch (fault) {
    case Fault::no_nonce:
    case Fault::no_post_id:
      return step == Step::page;
    case Fault::truncate:
    case Fault::cut:
    case Fault::malformed:
    case Fault::stall:
    case Fault::stale_nonce:
      return step == Step::answer;
    default:
      return true;
  }
}

// Well beyond what the benchmarks use (100,000 chunks); a typo must not eat all the memory.
constexpr std::size_t max_chunks = 10'000'000;
constexpr std::size_t max_size = std::size_t(1) << 30;

Config checked(Config config) {
  if (!is_valid_utf8(config.text)) throw std::invalid_argument("the answer text is not valid UTF-8");
  if (config.chunks > max_chunks) throw std::invalid_argument("chunks must be at most " + std::to_string(max_chunks));
  if (config.text.size() > max_size || config.write_size > max_size || config.chunk_size > max_size)
    throw std::invalid_argument("text, write_size and chunk_size must be at most 1 GiB");
  return config;
}

}  // namespace

State::State(Config initial)
    : initial_(checked(std::move(initial))),
      config_(initial_),
      tokens_(tokenize(initial_.text, initial_.chunk_size), initial_.chunks),
      random_(std::random_device{}()) {
  nonce_ = next_nonce();
}

void State::configure(Config config) {
  config = checked(std::move(config));
  std::lock_guard lock(mutex_);
  apply_config(std::move(config));
}

void State::apply_config(Config config) {
  tokens_ = Tokens(tokenize(config.text, config.chunk_size), config.chunks);
  config_ = std::move(config);
  rendered_.clear();
}

Config State::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

void State::reset() {
  std::lock_guard lock(mutex_);
  apply_config(initial_);
  faults_ = {};
  requests_.clear();
}

std::shared_ptr<const Wire> State::answer(Answer answer, Shape shape) {
  std::lock_guard lock(mutex_);
  auto &slot = rendered_[{answer, shape}];
  if (!slot) {
    Head head;
    head.headers.emplace_back("Content-Type", content_type(answer));
    if (is_streamed(answer)) head.headers.emplace_back("Cache-Control", "no-cache");
    slot = std::make_shared<const Wire>(
        frame(head, render_body(answer, shape, tokens_), is_streamed(answer), config_.write_size));
  }
  return slot;
}

std::string State::answer_body(Answer answer) const {
  std::lock_guard lock(mutex_);
  return render_body(answer, Shape::whole, tokens_);
}

std::string State::expected_text() const {
  std::lock_guard lock(mutex_);
  return tokens_.text();
}

std::size_t State::write_size() const {
  std::lock_guard lock(mutex_);
  return config_.write_size;
}

bool State::chatgptfree_json_answer() const {
  std::lock_guard lock(mutex_);
  return config_.chatgptfree_json_answer;
}

void State::record(RecordedRequest request) {
  std::lock_guard lock(mutex_);
  if (record_limit_ == 0) return;
  while (requests_.size() >= record_limit_) requests_.pop_front();
  requests_.push_back(std::move(request));
}

std::vector<RecordedRequest> State::requests() const {
  std::lock_guard lock(mutex_);
  return {requests_.begin(), requests_.end()};
}

void State::clear_requests() {
  std::lock_guard lock(mutex_);
  requests_.clear();
}

void State::set_record_limit(std::size_t limit) {
  std::lock_guard lock(mutex_);
  record_limit_ = limit;
  while (requests_.size() > record_limit_) requests_.pop_front();
}

void State::set_fault(std::string_view route_text, std::string_view fault_text, int k, int times) {
  const auto route = parse_route(route_text);
  if (!route) throw std::invalid_argument("unknown route \"" + std::string(route_text) + "\"");
  if (k < 0 || times < 0) throw std::invalid_argument("k and times must not be negative");

  if (auto colon = fault_text.find(':'); colon != std::string_view::npos) {
    const std::string_view count = fault_text.substr(colon + 1);
    fault_text = fault_text.substr(0, colon);
    auto [end, error] = std::from_chars(count.data(), count.data() + count.size(), k);
    if (fault_text != "fail_first" || error != std::errc() || end != count.data() + count.size() || k < 1)
      throw std::invalid_argument("bad fault \"" + std::string(fault_text) + ":" + std::string(count) +
                                  "\" (only fail_first takes a count: fail_first:K with K >= 1)");
  }

  ActiveFault active;
  if (fault_text != "none" && !fault_text.empty()) {
    for (const auto &entry : fault_names)
      if (entry.name == fault_text) active.fault = entry.fault;
    if (active.fault == Fault::none) throw std::invalid_argument("unknown fault \"" + std::string(fault_text) + "\"");
    if (only_for_chatgptfree(active.fault) && *route != Route::chatgptfree)
      throw std::invalid_argument("fault \"" + std::string(fault_text) + "\" applies to the chatgptfree route only");
    if (active.fault == Fault::fail_first)
      active.remaining = std::max(k, 1);
    else if (times > 0)
      active.remaining = times;
    else if (active.fault == Fault::stale_nonce)
      active.remaining = 1;
  }
  std::lock_guard lock(mutex_);
  faults_[static_cast<std::size_t>(*route)] = active;
}

void State::clear_faults() {
  std::lock_guard lock(mutex_);
  faults_ = {};
}

Fault State::take_fault(Route route, Step step) {
  std::lock_guard lock(mutex_);
  auto &active = faults_[static_cast<std::size_t>(route)];
  if (active.fault == Fault::none || !applies_to(active.fault, step)) return Fault::none;
  const Fault fault = active.fault;
  if (active.remaining > 0 && --active.remaining == 0) active = {};
  return fault;
}

std::string State::nonce() const {
  std::lock_guard lock(mutex_);
  return nonce_;
}

void State::rotate_nonce() {
  std::lock_guard lock(mutex_);
  nonce_ = next_nonce();
}

std::string State::next_nonce() {
  // WordPress nonces are ten hex digits.
  static constexpr char digits[] = "0123456789abcdef";
  std::string nonce;
  do {
    nonce.clear();
    uint64_t bits = random_();
    for (int i = 0; i < 10; ++i, bits >>= 4) nonce += digits[bits & 0xF];
  } while (nonce == nonce_);
  return nonce;
}

}  // namespace provhost::emulator::detail

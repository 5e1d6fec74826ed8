#include <emulator/emulator.hpp>
#include <stdexcept>

#include "routes.hpp"
#include "server.hpp"
#include "state.hpp"

namespace provhost::emulator {

std::string RecordedRequest::header(std::string_view name) const {
  auto same = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (const auto &[key, value] : headers)
    if (same(key, name)) return value;
  return {};
}

struct Emulator::Impl {
  explicit Impl(Config initial) : state(std::move(initial)), server(state) {}
  detail::State state;
  detail::Server server;  // after the state it serves
};

Emulator::Emulator() : Emulator(Config{}) {}
Emulator::Emulator(Config initial) : impl_(std::make_unique<Impl>(std::move(initial))) {}
Emulator::~Emulator() { stop(); }

void Emulator::start(uint16_t port, std::string_view host) { impl_->server.start(port, host); }
void Emulator::stop() { impl_->server.stop(); }

uint16_t Emulator::port() const { return impl_->server.port(); }

std::string Emulator::origin() const {
  const std::string &host = impl_->server.host();
  const bool ipv6 = host.find(':') != std::string::npos;
  return "http://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port());
}

void Emulator::configure(Config config) { impl_->state.configure(std::move(config)); }
Config Emulator::config() const { return impl_->state.config(); }
void Emulator::reset() { impl_->state.reset(); }

std::string Emulator::expected_text() const { return impl_->state.expected_text(); }

std::string Emulator::answer_body(std::string_view route, bool stream) const {
  const auto parsed = detail::parse_route(route);
  if (!parsed) throw std::invalid_argument("unknown route \"" + std::string(route) + "\"");
  return impl_->state.answer_body(detail::answer_for(*parsed, stream, impl_->state.chatgptfree_json_answer()));
}

std::vector<RecordedRequest> Emulator::requests() const { return impl_->state.requests(); }
void Emulator::clear_requests() { impl_->state.clear_requests(); }
void Emulator::set_record_limit(std::size_t limit) { impl_->state.set_record_limit(limit); }

void Emulator::set_fault(std::string_view route, std::string_view fault, int k, int times) {
  impl_->state.set_fault(route, fault, k, times);
}
void Emulator::clear_faults() { impl_->state.clear_faults(); }

std::string Emulator::current_nonce() const { return impl_->state.nonce(); }

std::size_t Emulator::open_connections() const { return impl_->server.open_connections(); }

}  // namespace provhost::emulator

// The SDK's half of the ABI's "UTF-8, one line" rule for messages: whatever upstream bytes a
// plugin's warning, error or log line quotes, the host receives one line of valid UTF-8.
#include <catch2/catch.hpp>
#include <provhost/provider.hpp>
#include <string>
#include <vector>

namespace {

std::vector<std::string> received;

void record_warning(const ph_session_events *, ph_str message) { received.emplace_back(provhost::view(message)); }
void record_error(const ph_session_events *, ph_failure, ph_str message) {
  received.emplace_back(provhost::view(message));
}
void record_log(const ph_host *, ph_log_level, ph_str message) { received.emplace_back(provhost::view(message)); }

}  // namespace

TEST_CASE("Events and Host hand the host messages as one line of valid UTF-8") {
  received.clear();
  ph_session_events table{};
  table.struct_size = sizeof table;
  table.warning = record_warning;
  table.error = record_error;
  provhost::Events events(&table);
  events.warning("skipped: q\nuota \x1b[2J");
  events.error(provhost::Failure::upstream, "upstream error: q\nuota \xED\xB0\x80!");

  ph_host host_table{};
  host_table.struct_size = sizeof host_table;
  host_table.log = record_log;
  provhost::Host(&host_table).warning("line\r\nbreak");

  CHECK(received == std::vector<std::string>{"skipped: q\\x0auota \\x1b[2J",
                                             "upstream error: q\\x0auota \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!",
                                             "line\\x0d\\x0abreak"});
}

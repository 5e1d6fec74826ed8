// The test kit's checks, each seen to catch the one rule contract_plugin.hpp breaks, and its host.
#include <catch2/catch.hpp>
#include <provhost/testing/contract.hpp>
#include <provhost/testing/fake_host.hpp>
#include <provhost/testing/plugin.hpp>
#include <provhost/testing/session.hpp>
#include <string>
#include <vector>

#include "contract_plugin.hpp"

using namespace provhost::testing;
using contract_plugin::Bug;

namespace {

// Sets the plugin's bug for one test and puts it back.
struct WithBug {
  explicit WithBug(Bug bug) { contract_plugin::bug = bug; }
  ~WithBug() { contract_plugin::bug = Bug::none; }
};

Chat echo_chat() { return chat_of({{"user", "hi"}}, "echo"); }

Response ok(std::string body) { return Response{200, {{"Content-Type", "text/plain"}}, std::move(body)}; }

bool mentions(const std::vector<std::string> &lines, const std::string &part) {
  for (const std::string &line : lines)
    if (line.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a plugin that keeps the contract passes every split of its answer") {
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  CHECK(plugin.defect().empty());
  SplitReport report = check_splits(plugin, echo_chat(), in_order({ok("one\ntwo\nEND\n")}));
  CHECK(report.ok());
  CHECK(report.whole.outcome.finished());
  CHECK(report.whole.outcome.text() == "onetwo");
  CHECK(report.whole.requests.size() == 1);
  // 12 bytes: the whole run, every single cut (11), every pair of cuts (55) and byte by byte
  CHECK(report.runs == 1 + 11 + 55 + 1);
}

TEST_CASE("the kit finds text after the finish") {
  WithBug bug(Bug::text_after_finish);
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Run run = answer_once(plugin, echo_chat(), ok("a\nEND\n"));
  CHECK(mentions(run.violations, "text after the end of the answer"));
}

TEST_CASE("the kit finds a second finish") {
  WithBug bug(Bug::two_finishes);
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Run run = answer_once(plugin, echo_chat(), ok("END\n"));
  CHECK(mentions(run.violations, "finish after the end of the answer"));
}

TEST_CASE("the kit finds PH_FAILED without an error event") {
  WithBug bug(Bug::failed_without_error);
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Run run = answer_once(plugin, echo_chat(), ok("ERR\n"));
  CHECK(mentions(run.violations, "on_body returned PH_FAILED without an error event"));
}

TEST_CASE("a proper failure is one error and no violation") {
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Run run = answer_once(plugin, echo_chat(), ok("x\nERR\n"));
  CHECK(run.violations.empty());
  CHECK(run.outcome.failed());
  CHECK(run.outcome.errors[0].first == PH_FAIL_UPSTREAM);
  CHECK(run.outcome.text() == "x");
}

TEST_CASE("the kit finds an event from inside session_close") {
  WithBug bug(Bug::event_in_close);
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Run run = answer_once(plugin, echo_chat(), ok("END\n"));
  CHECK(mentions(run.violations, "a warning event from inside session_close"));
  CHECK(run.outcome.warnings.empty());  // dropped, as the host drops it
}

TEST_CASE("the kit finds an event reported outside a call into the session, and drops it") {
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Session session(plugin, echo_chat());
  REQUIRE(session.next_request());
  const ph_session_events *events = contract_plugin::last_events;
  events->text(events, contract_plugin::s("from another thread"));
  CHECK(mentions(session.violations(), "a text event outside a call into the session"));
  CHECK(session.outcome().texts.empty());
}

TEST_CASE("the kit finds an answer that depends on where the body is cut") {
  WithBug bug(Bug::split_sensitive);
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  SplitReport report = check_splits(plugin, echo_chat(), in_order({ok("ab\nEND\n")}));
  CHECK_FALSE(report.ok());
  CHECK(mentions(report.problems, "response 1 cut at"));
}

TEST_CASE("the kit finds text that is not UTF-8, also a character split across events") {
  WithBug bug(Bug::invalid_utf8);
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Run run = answer_once(plugin, echo_chat(), ok("\xed\xb0\x80\nEND\n"));  // an encoded lone surrogate
  CHECK(mentions(run.violations, "text is not whole UTF-8 characters"));
}

TEST_CASE("the kit finds a request header that is not a token") {
  WithBug bug(Bug::bad_header);
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Run run = answer_once(plugin, echo_chat(), ok("END\n"));
  CHECK(mentions(run.violations, "header name is not a token"));
  CHECK(run.requests.empty());
}

TEST_CASE("the driver follows the host's order: after PH_DONE from on_body, next_request and no on_response_end") {
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Session session(plugin, echo_chat());
  REQUIRE(session.open_status() == PH_OK);
  REQUIRE(session.next_request());
  REQUIRE(session.start_response(200) == PH_RESPONSE_READ);
  CHECK(session.body("END\n") == PH_DONE);
  CHECK_THROWS_AS(session.end_response(), std::logic_error);
  CHECK_FALSE(session.next_request());
  CHECK(session.last_status() == PH_DONE);
  CHECK(session.violations().empty());
}

TEST_CASE("a request past the limit is a violation") {
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Run run = run_chat(plugin, echo_chat(), in_order({ok("a\n")}), {}, {}, 0);
  CHECK(mentions(run.violations, "asked for more than 0 requests"));
}

TEST_CASE("on_violation hears each violation as it happens") {
  WithBug bug(Bug::two_finishes);
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  std::vector<std::string> heard;
  Checks checks;
  checks.on_violation = [&](const std::string &rule) { heard.push_back(rule); };
  answer_once(plugin, echo_chat(), ok("END\n"), {}, checks);
  CHECK(heard.size() == 1);
}

TEST_CASE("the handshake rules: the offered major with an older or newer minor, another major refused") {
  FakeHost host;
  CHECK(handshake_defect(&contract_plugin::entry, host, PH_MAKE_VERSION(1, 0)).empty());
  CHECK(handshake_defect(&contract_plugin::entry, host, PH_MAKE_VERSION(1, 99)).empty());
  CHECK(handshake_defect(&contract_plugin::entry, host, PH_MAKE_VERSION(2, 0)).empty());
  Plugin newer(&contract_plugin::entry, host, PH_MAKE_VERSION(1, 99));
  CHECK(newer.negotiated_version() == PH_ABI_VERSION);
}

TEST_CASE("metadata rules") {
  ph_provider provider = contract_plugin::provider;
  ph_provider_info info = contract_plugin::info;
  provider.info = &info;
  CHECK_FALSE(metadata_defect(provider));
  info.default_model = contract_plugin::s("other");
  CHECK(metadata_defect(provider) == std::string("default_model other is not among the models exactly once"));
  info = contract_plugin::info;
  info.name = contract_plugin::s("bad name");
  CHECK(metadata_defect(provider));
  info = contract_plugin::info;
  info.models = nullptr;
  CHECK(metadata_defect(provider) == std::string("models is NULL with a count of 1"));
}

TEST_CASE("the fake host: configuration, a clock and randomness the test controls") {
  FakeHost host(7, 1000);
  const ph_host &table = *host.table();
  host.set_config("api_key", "secret");
  ph_str key{"api_key", 7};
  ph_str value = table.get_config(&table, key);
  CHECK(std::string(value.data, value.size) == "secret");
  CHECK(table.get_config(&table, ph_str{"other", 5}).data == nullptr);
  CHECK(table.now_unix_ms(&table) == 1000);
  host.advance_ms(500);
  CHECK(table.now_unix_ms(&table) == 1500);
  unsigned char first[8], second[8];
  table.random_bytes(&table, first, sizeof first);
  host.reseed(7);
  table.random_bytes(&table, second, sizeof second);
  CHECK(std::equal(first, first + 8, second));
  table.log(&table, PH_LOG_WARNING, ph_str{"careful", 7});
  REQUIRE(host.log().size() == 1);
  CHECK(host.log()[0].level == PH_LOG_WARNING);
}

TEST_CASE("the fake host's digests match the standards' test vectors") {
  CHECK(digest_hex("md5", "") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(digest_hex("md5", "The quick brown fox jumps over the lazy dog") == "9e107d9d372bb6826bd81d3542a419d6");
  CHECK(digest_hex("sha1", "abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(digest_hex("sha256", "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string million(1000000, 'a');
  CHECK(digest_hex("sha256", million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  CHECK(digest_hex("sha1", std::string(64, 'a')) == "0098ba824b5c16427bd7a1122a5a442a25ec644d");
  CHECK(digest_hex("crc32", "abc").empty());
  FakeHost host;
  uint8_t out[PH_MAX_DIGEST_SIZE];
  CHECK(host.table()->digest(host.table(), ph_str{"md5", 3}, ph_str{"", 0}, out) == 16);
}

TEST_CASE("the contract's value checks") {
  CHECK(well_formed_utf8("h\xc3\xa9"));
  CHECK_FALSE(well_formed_utf8("\xc3"));
  CHECK_FALSE(well_formed_utf8("\xed\xa0\x80"));
  CHECK(one_line("a\tb"));
  CHECK_FALSE(one_line("a\nb"));
  CHECK(http_token("Content-Type"));
  CHECK_FALSE(http_token("Content Type"));
  CHECK(http_field_value("a b"));
  CHECK_FALSE(http_field_value(" a"));
  CHECK(printable("a\nb") == "a\\x0ab");
}

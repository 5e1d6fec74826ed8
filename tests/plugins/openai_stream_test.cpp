// plugins/common's OpenAiStreamReader, the one reader of OpenAI streams: driven directly (every way of cutting
// a stream), then through each bundled plugin that uses it, which must agree on where an answer ends.
#include <catch2/catch.hpp>
#include <provhost/openai/openai_stream.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "conversations.hpp"

using namespace provhost::openai;
using provhost::test::Outcome;

namespace {

// A session's events table that records what the reader reports, in the driver's Outcome.
class Recorder {
 public:
  Recorder() {
    table_.struct_size = sizeof table_;
    table_.host_data = this;
    table_.text = [](const ph_session_events *events, ph_str text) {
      self(events).outcome_.texts.emplace_back(provhost::view(text));
    };
    table_.finish = [](const ph_session_events *events) { ++self(events).outcome_.finishes; };
    table_.warning = [](const ph_session_events *events, ph_str message) {
      self(events).outcome_.warnings.emplace_back(provhost::view(message));
    };
    table_.error = [](const ph_session_events *events, ph_failure failure, ph_str message) {
      self(events).outcome_.errors.emplace_back(failure, std::string(provhost::view(message)));
    };
  }
  Recorder(const Recorder &) = delete;
  Recorder &operator=(const Recorder &) = delete;

  provhost::Events events() const { return provhost::Events(&table_); }
  const Outcome &outcome() const { return outcome_; }

 private:
  static Recorder &self(const ph_session_events *events) { return *static_cast<Recorder *>(events->host_data); }

  ph_session_events table_{};
  Outcome outcome_;
};

// `stream` fed to a fresh reader in the pieces that `cuts` (increasing offsets) make, then ended.
Outcome read_stream(std::string_view stream, const std::vector<size_t> &cuts = {}) {
  Recorder recorder;
  provhost::Events events = recorder.events();
  OpenAiStreamReader reader;
  size_t from = 0;
  for (size_t cut : cuts) {
    reader.feed(stream.substr(from, cut - from), events);
    from = cut;
  }
  reader.feed(stream.substr(from), events);
  reader.finish(events);
  return recorder.outcome();
}

void check_every_cut(std::string_view stream, const Outcome &expected) {
  for (const std::vector<size_t> &cuts : provhost::test::cut_plans(stream.size(), 120)) {
    std::string plan;
    for (size_t cut : cuts) plan += std::to_string(cut) + " ";
    INFO("cut at: " << plan);
    REQUIRE(read_stream(stream, cuts) == expected);
  }
}

std::string chunk(const std::string &content) {
  return R"({"choices":[{"index":0,"delta":{"content":")" + content + R"("}}]})";
}

}  // namespace

TEST_CASE("is_done_marker: exactly [DONE], whitespace around it forgiven") {
  for (std::string_view done : {"[DONE]", " [DONE]", "[DONE] ", "\t[DONE]\r", " [DONE]  \n"}) {
    INFO(done);
    CHECK(is_done_marker(done));
  }
  for (std::string_view not_done : {"", "[DONE", "DONE", "[done]", "[DONE]x", "[DONE] extra", "\"[DONE]\"", "x[DONE]",
                                    "{\"choices\":[]}", "[DONE][DONE]"}) {
    INFO(not_done);
    CHECK_FALSE(is_done_marker(not_done));
  }
}

TEST_CASE("OpenAiStreamReader reads a stream the same however it is cut, up to [DONE]") {
  const std::string stream = ": keep-alive\n\nevent: message\nid: 7\ndata: " + chunk("Hel") + "\r\n\r\n" +
                             "data:" + chunk("lo") + "\n" + "data: " + chunk(" мир 🙂") + "\n\n" +
                             "data: {broken\n\n" + "data: " + chunk("!") + "\r\r" + "data: [DONE] \r\n\r\n" +
                             "data: " + chunk("late") + "\n\n";
  Outcome expected;
  expected.texts = {"Hel", "lo", " мир 🙂", "!"};
  expected.finishes = 1;
  expected.warnings = {"skipped undecodable data: {broken"};
  check_every_cut(stream, expected);
}

TEST_CASE("OpenAiStreamReader: a payload that only starts with [DONE] is a chunk, not the end") {
  const std::string stream = "data: " + chunk("a") + "\n\ndata: [DONE] but not quite\n\ndata: " + chunk("b") + "\n\n";
  Outcome expected;
  expected.texts = {"a", "b"};
  expected.warnings = {"skipped undecodable data: [DONE] but not quite"};
  check_every_cut(stream, expected);
}

TEST_CASE("OpenAiStreamReader: without [DONE] the answer stays unfinished, its last line read all the same") {
  const std::string stream = "data: " + chunk("a") + "\n\ndata: " + chunk("b");
  Outcome expected;
  expected.texts = {"a", "b"};
  check_every_cut(stream, expected);

  Outcome done_unterminated;
  done_unterminated.texts = {"a"};
  done_unterminated.finishes = 1;
  check_every_cut("data: " + chunk("a") + "\ndata: [DONE]", done_unterminated);
}

TEST_CASE("OpenAiStreamReader reports an error object in the stream as the upstream's failure") {
  Recorder recorder;
  provhost::Events events = recorder.events();
  OpenAiStreamReader reader;
  CHECK_THROWS_AS(reader.feed("data: {\"error\":{\"message\":\"overloaded\"}}\n\n", events), provhost::ProviderError);
}

TEST_CASE("OpenAiStreamReader::read_line claims data lines only, so that a caller may read the others") {
  Recorder recorder;
  provhost::Events events = recorder.events();
  OpenAiStreamReader reader;
  for (std::string_view other : {"", "event: ping", ": comment", "Data: x", " data: x", "{\"data\": \"x\"}"}) {
    INFO(other);
    CHECK_FALSE(reader.read_line(other, events));
  }
  CHECK(reader.read_line("data: " + chunk("a"), events));
  CHECK(reader.read_line("data:[DONE]", events));
  CHECK(reader.read_line("data: " + chunk("after the end"), events));
  CHECK_FALSE(reader.read_line("event: ping", events));
  CHECK(recorder.outcome().texts == std::vector<std::string>{"a"});
  CHECK(recorder.outcome().finishes == 1);
  CHECK(recorder.outcome().warnings.empty());
}

TEST_CASE("Ylokh, ChatgptFree and FreeNetfly agree on where an OpenAI stream ends") {
  provhost::test::FakeHost host;
  const std::vector<const char *> plugins = {PROVHOST_YLOKH_PLUGIN, PROVHOST_CHATGPTFREE_PLUGIN,
                                             PROVHOST_FREENETFLY_PLUGIN};
  for (const char *path : plugins) {
    INFO(path);
    provhost::test::Plugin plugin(path, host);
    provhost::test::Session session(plugin, provhost::test::single_user());
    REQUIRE(session.open_status() == PH_OK);
    // ChatgptFree fetches its nonce page first.
    for (auto request = session.next_request(); request && request->method == "GET"; request = session.next_request())
      session.respond({200, {}, R"(<div data-post-id="106" data-nonce="0123456789"></div>)"});
    Outcome ended = provhost::test::answer_once(plugin, provhost::test::single_user(),
                                                {200, {}, "data: " + chunk("a") + "\n\ndata:  [DONE]\t\r\n\r\n"});
    CHECK(ended.texts == std::vector<std::string>{"a"});
    CHECK(ended.finishes == 1);
    Outcome not_ended = provhost::test::answer_once(plugin, provhost::test::single_user(),
                                                    {200, {}, "data: " + chunk("a") + "\n\ndata: [DONE]x\n\n"});
    CHECK(not_ended.texts == std::vector<std::string>{"a"});
    CHECK(not_ended.finishes == 0);
    CHECK(not_ended.warnings == std::vector<std::string>{"skipped undecodable data: [DONE]x"});
  }
}

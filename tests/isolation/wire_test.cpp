// The wire format between the host and its plugin workers: what one side writes the other reads
// back exactly, and whatever a worker sends that is not exactly a frame is refused, never trusted.
#include "isolation/wire.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "engine/byte_buffer.hpp"

using namespace provhost::core;
using namespace provhost::core::isolation;

namespace {

// The payload of the one frame in `bytes` (after its length and type).
std::string_view payload(const std::string &bytes, FrameType type) {
  uint32_t length = 0;
  REQUIRE(bytes.size() > 5);
  std::memcpy(&length, bytes.data(), 4);
  REQUIRE(length == bytes.size() - 4);
  REQUIRE(static_cast<FrameType>(bytes[4]) == type);
  return std::string_view(bytes).substr(5);
}

// A work frame of body bytes for session 9, one item per entry of `bodies`, written with `region`.
std::string body_frame(const std::vector<std::string> &bodies, BodyRegion &region) {
  engine::Batch<engine::SessionWork> work;
  for (const std::string &bytes : bodies) {
    engine::SessionWork &body = work.add();
    body.kind = engine::SessionWork::Kind::body;
    body.session = 9;
    body.bytes = bytes;
  }
  std::string frame;
  WireWriter w(frame);
  write_work(w, work, &region);
  return frame;
}

}  // namespace

TEST_CASE("a batch of work reads back as written") {
  engine::Batch<engine::SessionWork> work, back;
  engine::SessionWork &open = work.add();
  open.kind = engine::SessionWork::Kind::open;
  open.session = 7;
  open.provider = "Koala";
  open.model = "gpt-4o-mini";
  open.spec.messages = {{"system", "be brief"}, {"user", "Hi \xF0\x9F\xA6\x8A"}};
  open.spec.stream = false;
  open.spec.options_json = R"({"temperature":0.5})";
  engine::SessionWork &start = work.add();
  start.kind = engine::SessionWork::Kind::response_start;
  start.session = 7;
  start.status = 200;
  start.headers = {{"content-type", "text/event-stream"}};
  start.bytes = std::string("data: \0x\n\n", 10);
  std::string bytes;
  WireWriter w(bytes);
  write_work(w, work);
  WireReader r(payload(bytes, FrameType::work));
  REQUIRE(read_work(r, back));
  REQUIRE(back.size() == 2);
  CHECK(back[0].kind == engine::SessionWork::Kind::open);
  CHECK(back[0].session == 7);
  CHECK(back[0].provider == "Koala");
  CHECK(back[0].spec.messages.size() == 2);
  CHECK(back[0].spec.messages[1].content == "Hi \xF0\x9F\xA6\x8A");
  CHECK_FALSE(back[0].spec.stream);
  CHECK(back[0].spec.options_json == R"({"temperature":0.5})");
  CHECK(back[1].status == 200);
  CHECK(back[1].headers == start.headers);
  CHECK(back[1].bytes == start.bytes);
}

TEST_CASE("results read back as written") {
  engine::Batch<engine::SessionResult> results, back;
  engine::SessionResult &request = results.add();
  request.kind = engine::SessionResult::Kind::request;
  request.session = 3;
  request.warnings = {"careful"};
  request.text = "partial";
  request.text_repaired = true;
  request.request.method = "POST";
  request.request.url = "https://example.invalid/v1";
  request.request.headers = {{"a", "b"}};
  request.request.body = "{}";
  request.request.timeout_ms = 1234;
  request.request.retry.max_attempts = 3;
  engine::SessionResult &failed = results.add();
  failed.kind = engine::SessionResult::Kind::failed;
  failed.session = 3;
  failed.error = make_error(ErrorKind::upstream, "Koala", "it said no");
  std::string bytes;
  WireWriter w(bytes);
  write_results(w, results);
  WireReader r(payload(bytes, FrameType::results));
  REQUIRE(read_results(r, back));
  REQUIRE(back.size() == 2);
  CHECK(back[0].warnings == std::vector<std::string>{"careful"});
  CHECK(back[0].text == "partial");
  CHECK(back[0].text_repaired);
  CHECK_FALSE(back[1].text_repaired);
  CHECK(back[0].request.url == "https://example.invalid/v1");
  CHECK(back[0].request.timeout_ms == 1234);
  CHECK(back[0].request.retry.max_attempts == 3);
  CHECK(back[1].error.kind == ErrorKind::upstream);
  CHECK(back[1].error.detail == "it said no");
}

TEST_CASE("ABI 1.1's tool calls, the upstream's report and the passthrough read back as written") {
  engine::Batch<engine::SessionWork> work, work_back;
  engine::SessionWork &open = work.add();
  open.kind = engine::SessionWork::Kind::open;
  open.spec.passthrough_json = R"({"tools":[]})";
  std::string work_bytes;
  WireWriter work_writer(work_bytes);
  write_work(work_writer, work);
  WireReader work_reader(payload(work_bytes, FrameType::work));
  REQUIRE(read_work(work_reader, work_back));
  CHECK(work_back[0].spec.passthrough_json == R"({"tools":[]})");

  engine::Batch<engine::SessionResult> results, back;
  engine::SessionResult &taken = results.add();
  taken.kind = engine::SessionResult::Kind::body_taken;
  taken.tool_calls = {{0, "call_1", "lookup", ""}, {0, "", "", "{\"q\":1}"}};
  taken.report = UpstreamReport{12, std::nullopt, "tool_calls"};
  engine::SessionResult &plain = results.add();  // without either: none read back
  plain.kind = engine::SessionResult::Kind::body_taken;
  std::string bytes;
  WireWriter w(bytes);
  write_results(w, results);
  WireReader r(payload(bytes, FrameType::results));
  REQUIRE(read_results(r, back));
  REQUIRE(back.size() == 2);
  REQUIRE(back[0].tool_calls.size() == 2);
  CHECK(back[0].tool_calls[0].id == "call_1");
  CHECK(back[0].tool_calls[0].name == "lookup");
  CHECK(back[0].tool_calls[1].arguments == "{\"q\":1}");
  REQUIRE(back[0].report);
  CHECK(back[0].report->prompt_tokens == 12u);
  CHECK_FALSE(back[0].report->completion_tokens);  // "none" is not 0
  CHECK(back[0].report->finish_reason == "tool_calls");
  CHECK(back[1].tool_calls.empty());
  CHECK_FALSE(back[1].report);
}

TEST_CASE("a worker's frame that is cut short, too long or out of range is refused") {
  engine::Batch<engine::SessionResult> results, back;
  engine::SessionResult &action = results.add();
  action.kind = engine::SessionResult::Kind::action;
  action.session = 1;
  action.action = PH_RESPONSE_READ;
  std::string bytes;
  WireWriter w(bytes);
  write_results(w, results);
  std::string whole(payload(bytes, FrameType::results));

  for (size_t cut = 0; cut < whole.size(); ++cut) {
    WireReader r(std::string_view(whole).substr(0, cut));
    back.clear();
    CHECK_FALSE(read_results(r, back));
  }
  const std::string longer_bytes = whole + "x";  // the reader only looks at the bytes: they must outlive it
  WireReader longer(longer_bytes);
  back.clear();
  CHECK_FALSE(read_results(longer, back));

  std::string bad_action = whole;
  uint32_t action_value = 99;
  // The action follows the count (4), kind (1), session (8), warnings count (4), text (4), the text's repair
  // flag (1), the tool calls' count (4) and the report's flag (1).
  std::memcpy(bad_action.data() + 27, &action_value, 4);
  WireReader r_action(bad_action);
  back.clear();
  CHECK_FALSE(read_results(r_action, back));

  std::string bad_kind = whole;
  bad_kind[4] = 42;
  WireReader r_kind(bad_kind);
  back.clear();
  CHECK_FALSE(read_results(r_kind, back));

  // A count no frame could hold is refused before anything is allocated for it.
  std::string huge_count = whole;
  uint32_t count = 0xFFFFFFFF;
  std::memcpy(huge_count.data(), &count, 4);
  WireReader r_count(huge_count);
  back.clear();
  CHECK_FALSE(read_results(r_count, back));
}

TEST_CASE("a scan answer reads back as written, loaded or not") {
  ScanAnswer loaded;
  loaded.loaded = true;
  loaded.meta.name = "Koala";
  loaded.meta.models = {"a", "b"};
  loaded.meta.aliases = {{"x", "a"}};
  loaded.abi_offered = PH_ABI_VERSION;
  loaded.abi_negotiated = PH_ABI_VERSION;
  ScanAnswer rejected;
  rejected.error = "the plugin refused to load: no";
  for (const ScanAnswer *answer : {&loaded, &rejected}) {
    std::string bytes;
    WireWriter w(bytes);
    write_scan(w, *answer);
    WireReader r(payload(bytes, FrameType::scan));
    ScanAnswer back;
    REQUIRE(read_scan(r, back));
    CHECK(back.loaded == answer->loaded);
    CHECK(back.meta.name == answer->meta.name);
    CHECK(back.meta.models == answer->meta.models);
    CHECK(back.meta.aliases == answer->meta.aliases);
    CHECK(back.error == answer->error);
  }
}

TEST_CASE("body bytes cross in the body region while they fit, and in the frame after") {
  char memory[16] = {};
  BodyRegion region{memory, sizeof memory, 0};
  engine::Batch<engine::SessionWork> back;
  std::string frame = body_frame({"0123456789", "abcdefghij", std::string("XYZ\0!!", 6)}, region);
  // The first and the last fit (10 + 6 of 16 bytes); the second went in the frame.
  CHECK(region.used == 16);
  CHECK(std::string_view(memory, 10) == "0123456789");
  CHECK(frame.find("0123456789") == std::string::npos);
  CHECK(frame.find("abcdefghij") != std::string::npos);
  WireReader r(payload(frame, FrameType::work));
  REQUIRE(read_work(r, back, std::string_view(memory, sizeof memory)));
  REQUIRE(back.size() == 3);
  CHECK(back[0].body() == "0123456789");
  CHECK(back[0].bytes.empty());
  CHECK(back[0].shared.data() == memory);
  CHECK(back[1].body() == "abcdefghij");
  CHECK(back[1].shared.empty());
  CHECK(back[2].body() == std::string_view("XYZ\0!!", 6));
  CHECK(back[2].shared.data() == memory + 10);

  // A recycled item forgets where its last bytes were.
  back.clear();
  engine::SessionWork &again = back.add();
  CHECK(again.shared.empty());
  CHECK(again.body().empty());
}

TEST_CASE("a body placed outside the worker's view of the region is refused") {
  char memory[16] = {};
  BodyRegion region{memory, sizeof memory, 0};
  engine::Batch<engine::SessionWork> back;
  std::string frame = body_frame({"0123456789"}, region);
  REQUIRE(region.used == 10);
  {
    WireReader r(payload(frame, FrameType::work));
    CHECK_FALSE(read_work(r, back, std::string_view(memory, 8)));  // ends past the view
  }
  back.clear();
  {
    WireReader r(payload(frame, FrameType::work));
    CHECK_FALSE(read_work(r, back));  // no region at all
  }
  back.clear();
  // An offset past the region, and an unknown placement, are refused too.
  std::string forged = frame;
  uint32_t offset = 17;
  size_t placement_at = 4 + 1 + 4 + 1 + 8;  // length, type, count, kind, session
  REQUIRE(static_cast<uint8_t>(forged[placement_at]) == 1);
  std::memcpy(forged.data() + placement_at + 1, &offset, sizeof offset);
  {
    WireReader r(payload(forged, FrameType::work));
    CHECK_FALSE(read_work(r, back, std::string_view(memory, sizeof memory)));
  }
  back.clear();
  forged = frame;
  forged[placement_at] = 7;
  {
    WireReader r(payload(forged, FrameType::work));
    CHECK_FALSE(read_work(r, back, std::string_view(memory, sizeof memory)));
  }
}

TEST_CASE("a receive buffer keeps what it holds as it grows, and takes values as a vector does") {
  engine::ByteBuffer buffer;
  std::string written;
  for (size_t round = 0; round < 6; ++round) {
    const size_t old_size = buffer.size();
    buffer.resize(old_size == 0 ? 100 : 2 * old_size + 7);
    // What a read would put in the new room: a pattern that differs from round to round.
    for (size_t i = old_size; i < buffer.size(); ++i) buffer[i] = static_cast<char>('a' + (i * 7 + round) % 26);
    written.append(buffer.data() + old_size, buffer.size() - old_size);
    REQUIRE(std::string(buffer.data(), buffer.size()) == written);
  }
  buffer.resize(10);
  CHECK(std::string(buffer.data(), buffer.size()) == written.substr(0, 10));
  engine::ByteBuffer filled(5, 'x');
  filled.push_back('y');
  CHECK(std::string(filled.data(), filled.size()) == "xxxxxy");
}

// The SDK's OpenAI component alone: the request body it builds and what its reader reports from a streamed or
// whole chat-completions answer (text, tool calls, usage, finish reason, errors), through the ABI's events table.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <provhost/openai/chat_completion.hpp>
#include <string>
#include <vector>

using namespace provhost;

namespace {

// An events table that records what a session reports, as a 1.1 host's does.
struct Recorder {
  ph_session_events table{};
  std::string text;
  std::vector<std::string> warnings, tool_calls;
  int64_t prompt_tokens = -2, completion_tokens = -2;
  std::string finish_reason;
  int finishes = 0;

  Recorder() {
    table.struct_size = sizeof table;
    table.host_data = this;
    table.text = [](const ph_session_events *e, ph_str t) { self(e).text.append(view(t)); };
    table.finish = [](const ph_session_events *e) { ++self(e).finishes; };
    table.warning = [](const ph_session_events *e, ph_str m) { self(e).warnings.emplace_back(view(m)); };
    table.error = [](const ph_session_events *, ph_failure, ph_str) {};
    table.answer_info = [](const ph_session_events *e, const ph_answer_info *info) {
      self(e).prompt_tokens = info->prompt_tokens;
      self(e).completion_tokens = info->completion_tokens;
      self(e).finish_reason = std::string(view(info->finish_reason));
    };
    table.tool_call = [](const ph_session_events *e, const ph_tool_call *call) {
      self(e).tool_calls.push_back(std::to_string(call->index) + "|" + std::string(view(call->id)) + "|" +
                                   std::string(view(call->name)) + "|" + std::string(view(call->arguments)));
    };
  }
  static Recorder &self(const ph_session_events *events) { return *static_cast<Recorder *>(events->host_data); }
};

// Feeds `body` byte by byte, the hardest split, then ends the response.
void read_all(openai::ChatCompletionReader &reader, std::string_view body, Events &events) {
  for (char c : body) reader.feed(std::string_view(&c, 1), events);
  reader.finish(events);
}

}  // namespace

TEST_CASE("a streamed answer gives its text, the upstream's usage and finish reason") {
  Recorder recorder;
  Events events(&recorder.table);
  openai::ChatCompletionReader reader(true);
  read_all(reader,
           "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
           "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
           "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"length\"}]}\n\n"
           "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2}}\n\n"
           "data: [DONE]\n\n",
           events);
  CHECK(recorder.text == "Hello");
  CHECK(recorder.finishes == 1);
  CHECK(recorder.prompt_tokens == 12);
  CHECK(recorder.completion_tokens == 2);
  CHECK(recorder.finish_reason == "length");
  CHECK(recorder.warnings.empty());
}

TEST_CASE("streamed tool calls arrive as pieces: id and name first, then the arguments") {
  Recorder recorder;
  Events events(&recorder.table);
  openai::ChatCompletionReader reader(true);
  read_all(
      reader,
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":"
      "\"lookup\",\"arguments\":\"\"}}]}}]}\n\n"
      "data: "
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"q\\\":\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
      "data: [DONE]\n\n",
      events);
  CHECK(recorder.tool_calls == std::vector<std::string>{"0|call_1|lookup|", "0|||{\"q\":", "0|||1}"});
  CHECK(recorder.finish_reason == "tool_calls");
  CHECK(recorder.prompt_tokens == -1);  // no usage chunk: the host estimates
}

TEST_CASE("a whole answer gives its text or its tool calls, with usage") {
  Recorder recorder;
  Events events(&recorder.table);
  openai::ChatCompletionReader reader(false);
  SECTION("text") {
    read_all(reader,
             R"({"choices":[{"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],)"
             R"("usage":{"prompt_tokens":5,"completion_tokens":3}})",
             events);
    CHECK(recorder.text == "Hi there");
    CHECK(recorder.prompt_tokens == 5);
    CHECK(recorder.completion_tokens == 3);
    CHECK(recorder.finish_reason == "stop");
    CHECK(recorder.finishes == 1);
  }
  SECTION("tool calls, each whole, indexed by their place") {
    read_all(
        reader,
        R"({"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[)"
        R"({"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},)"
        R"({"id":"b","type":"function","function":{"name":"g","arguments":"[1]"}}]},"finish_reason":"tool_calls"}]})",
        events);
    CHECK(recorder.tool_calls == std::vector<std::string>{"0|a|f|{}", "1|b|g|[1]"});
    CHECK(recorder.text.empty());
  }
}

TEST_CASE("an error object fails the answer; a stream without [DONE] stays unfinished") {
  Recorder recorder;
  Events events(&recorder.table);
  SECTION("error in a stream") {
    openai::ChatCompletionReader reader(true);
    CHECK_THROWS_AS(read_all(reader, "data: {\"error\":{\"message\":\"boom\"}}\n\ndata: [DONE]\n\n", events),
                    ProviderError);
    CHECK(recorder.finishes == 0);
  }
  SECTION("a whole answer cut short is truncated") {
    openai::ChatCompletionReader reader(false);
    try {
      read_all(reader, R"({"choices":[{"message":{"content":"Hi)", events);
      FAIL("no error");
    } catch (const ProviderError &e) {
      CHECK(e.failure() == Failure::truncated);
    }
  }
  SECTION("no [DONE]") {
    openai::ChatCompletionReader reader(true);
    read_all(reader, "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n", events);
    CHECK(recorder.text == "Hi");
    CHECK(recorder.finishes == 0);
  }
}

TEST_CASE("the request body carries the options and the passthrough fields, messages replaced") {
  ChatRequest request;
  request.model = "m";
  request.messages = {{"user", "plain"}};
  request.stream = true;
  request.options_json = R"({"temperature":0.5,"stop":["x"],"cookie":"not forwarded"})";
  request.passthrough_json =
      R"({"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto",)"
      R"("messages":[{"role":"user","content":"raw"},{"role":"tool","tool_call_id":"a","content":"42"}]})";
  rapidjson::Document body;
  body.Parse(openai::chat_request_body(request, "m").c_str());
  REQUIRE_FALSE(body.HasParseError());
  CHECK(std::string(body["model"].GetString()) == "m");
  CHECK(body["stream"].GetBool());
  CHECK(body["stream_options"]["include_usage"].GetBool());
  CHECK(body["temperature"].GetDouble() == 0.5);
  CHECK(body["stop"][0] == "x");
  CHECK_FALSE(body.HasMember("cookie"));
  CHECK(body["tools"].Size() == 1);
  CHECK(std::string(body["tool_choice"].GetString()) == "auto");
  REQUIRE(body["messages"].Size() == 2);
  CHECK(std::string(body["messages"][1]["role"].GetString()) == "tool");
}

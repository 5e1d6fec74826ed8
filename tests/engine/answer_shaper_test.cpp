// AnswerShaper: stop strings and max_tokens applied to any provider's text, whatever the pieces it
// arrives in, and the summary the sink hears before on_done.
#include "answer_shaper.hpp"

#include <catch2/catch.hpp>
#include <memory>
#include <provhost/core/registry.hpp>
#include <string>
#include <vector>

using namespace provhost::core;
using provhost::core::engine::AnswerShaper;

namespace {

struct RecordingSink final : ChatSink {
  void on_text(std::string_view piece) override {
    CHECK_FALSE(done);
    text += piece;
    pieces.emplace_back(piece);
  }
  void on_summary(const AnswerSummary &answer) override { summary = answer; }
  void on_done() override {
    CHECK_FALSE(done);
    CHECK(summary.has_value());
    done = true;
  }
  void on_error(const ChatError &chat_error) override { errors.push_back(chat_error); }
  bool reads_usage() const override { return wants_usage; }

  bool wants_usage = true;
  std::string text;
  std::vector<std::string> pieces;
  std::optional<AnswerSummary> summary;
  bool done = false;
  std::vector<ChatError> errors;
};

struct CountingHandle final : ChatHandle {
  void cancel() override { ++cancels; }
  void hold_output(bool) override {}
  int cancels = 0;
};

ChatError error_of(ErrorKind kind) {
  ChatError error;
  error.kind = kind;
  error.provider = "Koala";
  return error;
}

const Registry no_providers;

struct Shaped {
  explicit Shaped(const std::string &options_json, const Registry &registry = no_providers,
                  std::vector<Message> messages = {{"user", "Hello"}}) {
    ChatSpec spec;
    spec.messages = std::move(messages);
    spec.options_json = options_json;
    shaper = std::make_shared<AnswerShaper>(spec, sink, registry);
    shaper->attach(handle);
  }
  // The answer in pieces of `size` bytes, then the upstream's end (ignored once the shaper ended).
  void answer(std::string_view text, size_t size) {
    shaper->on_start("Koala", "m");
    for (size_t at = 0; at < text.size(); at += size) shaper->on_text(text.substr(at, size));
    if (handle->cancels == 0) {
      shaper->on_done();
    } else {
      shaper->on_error(error_of(ErrorKind::cancelled));
    }
  }

  std::shared_ptr<RecordingSink> sink = std::make_shared<RecordingSink>();
  std::shared_ptr<CountingHandle> handle = std::make_shared<CountingHandle>();
  std::shared_ptr<AnswerShaper> shaper;
};

const std::string answer = "Hello! I am a model. STOP here, and more \xC3\xA9l\xC3\xA9phants after.";

}  // namespace

TEST_CASE("shaper: without stop or max_tokens the text passes as it came, and usage is counted") {
  Shaped shaped("{}");
  shaped.answer(answer, 7);
  CHECK(shaped.sink->text == answer);
  CHECK(shaped.sink->pieces.size() == (answer.size() + 6) / 7);
  CHECK(shaped.handle->cancels == 0);
  REQUIRE(shaped.sink->summary);
  CHECK(shaped.sink->summary->finish_reason == FinishReason::stop);
  CHECK(shaped.sink->summary->usage.completion_tokens == estimate_tokens(answer));
  CHECK(shaped.sink->summary->usage.prompt_tokens == estimate_prompt_tokens({{"user", "Hello"}}));
  CHECK(shaped.sink->done);
}

TEST_CASE("shaper: a sink that does not read usage gets the same text and end, and no completion count") {
  Shaped shaped("{}");
  shaped.sink->wants_usage = false;
  shaped.answer(answer, 7);
  CHECK(shaped.sink->text == answer);
  REQUIRE(shaped.sink->summary);
  CHECK(shaped.sink->summary->finish_reason == FinishReason::stop);
  CHECK(shaped.sink->summary->usage.completion_tokens == 0);
  CHECK(shaped.sink->done);

  SECTION("max_tokens still counts them, and ends the answer where a sink that reads usage sees it end") {
    Shaped limited(R"({"max_tokens": 5})");
    limited.sink->wants_usage = false;
    limited.answer(answer, 3);
    CHECK(limited.sink->text == "Hello! I am a ");
    CHECK(limited.sink->summary->finish_reason == FinishReason::length);
    CHECK(limited.sink->summary->usage.completion_tokens == 5);
    CHECK(limited.handle->cancels == 1);
  }
}

TEST_CASE("shaper: the answer ends before the first stop string, in every split, and the upstream is cancelled") {
  for (size_t size = 1; size <= answer.size(); ++size) {
    INFO("pieces of " << size << " bytes");
    Shaped shaped(R"({"stop": ["nothing like this", "STOP", "model"]})");
    shaped.answer(answer, size);
    CHECK(shaped.sink->text == "Hello! I am a ");
    CHECK(shaped.sink->summary->finish_reason == FinishReason::stop);
    CHECK(shaped.sink->summary->usage.completion_tokens == estimate_tokens("Hello! I am a "));
    CHECK(shaped.handle->cancels == 1);
    CHECK(shaped.sink->errors.empty());  // the cancellation's error is the shaper's, not the client's
    CHECK(shaped.sink->done);
  }
}

TEST_CASE("shaper: held-back text is released whole at the end, never cut inside a character") {
  for (size_t size = 1; size <= answer.size(); ++size) {
    INFO("pieces of " << size << " bytes");
    Shaped shaped(R"({"stop": "\u00e9l\u00e9phant rose"})");
    shaped.answer(answer, size);
    CHECK(shaped.sink->text == answer);
    for (const std::string &piece : shaped.sink->pieces) CHECK((static_cast<unsigned char>(piece[0]) & 0xC0) != 0x80);
    CHECK(shaped.handle->cancels == 0);
  }
}

TEST_CASE("shaper: max_tokens ends the answer after that many estimated tokens, with finish_reason length") {
  for (size_t size = 1; size <= answer.size(); size += 3) {
    INFO("pieces of " << size << " bytes");
    Shaped shaped(R"({"max_tokens": 5})");
    shaped.answer(answer, size);
    CHECK(shaped.sink->text == "Hello! I am a ");  // the space before the sixth token is free
    CHECK(shaped.sink->summary->finish_reason == FinishReason::length);
    CHECK(shaped.sink->summary->usage.completion_tokens == 5);
    CHECK(shaped.handle->cancels == 1);
  }
  SECTION("an answer exactly max_tokens long finishes with stop") {
    Shaped shaped(R"({"max_tokens": 3})");
    shaped.answer("one two three", 4);
    CHECK(shaped.sink->text == "one two three");
    CHECK(shaped.sink->summary->finish_reason == FinishReason::stop);
    CHECK(shaped.handle->cancels == 0);
  }
  SECTION("the first limit reached wins: stop before max_tokens") {
    Shaped shaped(R"({"max_tokens": 50, "stop": "!"})");
    shaped.answer(answer, 5);
    CHECK(shaped.sink->text == "Hello");
    CHECK(shaped.sink->summary->finish_reason == FinishReason::stop);
  }
}

TEST_CASE("shaper: a provider that declares param:max_tokens counts them upstream; stop still applies") {
  Registry registry;
  auto provider = std::make_unique<LoadedProvider>();
  provider->meta.name = "Koala";
  provider->meta.capabilities = {"stream", "param:max_tokens"};
  REQUIRE_FALSE(registry.add(std::move(provider)));
  Shaped shaped(R"({"max_tokens": 2, "stop": "STOP"})", registry);
  shaped.answer(answer, 4);
  CHECK(shaped.sink->text == "Hello! I am a model. ");
  CHECK(shaped.sink->summary->finish_reason == FinishReason::stop);
}

TEST_CASE("shaper: an error passes through once, with no summary") {
  Shaped shaped(R"({"stop": "x"})");
  shaped.shaper->on_start("Koala", "m");
  shaped.shaper->on_text("partial");
  shaped.shaper->on_error(error_of(ErrorKind::truncated));
  CHECK(shaped.sink->errors.size() == 1);
  CHECK_FALSE(shaped.sink->summary);
  CHECK_FALSE(shaped.sink->done);
}

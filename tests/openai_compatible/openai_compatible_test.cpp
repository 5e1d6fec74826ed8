// The OpenAICompatible plugin against the emulator's OpenAI-compatible endpoint, as a user runs it: instances
// configured in the environment or the configuration file, `provhost chat` in both isolation modes, and
// `provhost serve` in front of it (client -> serve -> plugin -> emulator).
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <fstream>
#include <string>

#include "http_client.hpp"
#include "support/json_fields.hpp"
#include "support/process.hpp"

using namespace provhost;
using namespace provhost::test;

namespace {

// Two instances of the one plugin, from the environment: the emulator's endpoint with the right key, and the
// same endpoint with a key it refuses.
Environment instances_env(const emulator::Emulator &upstream) {
  const std::string base_url = upstream.origin() + "/openai/v1";
  return {{"PROVHOST_PLUGIN_PATH", ""},
          {"PROVHOST_BACKOFF_SCALE", "0.01"},
          {"PROVHOST_API_KEY", ""},
          {"PROVHOST_INSTANCES", "Emu, WrongKey"},
          {"PROVHOST_EMU_BASE_URL", base_url},
          {"PROVHOST_EMU_API_KEY_ENV", "EMU_TEST_KEY"},
          {"PROVHOST_EMU_MODELS", "emu-model,rate-limited,error-in-stream"},
          {"EMU_TEST_KEY", "sk-emulator"},
          {"PROVHOST_WRONGKEY_BASE_URL", base_url},
          {"PROVHOST_WRONGKEY_API_KEY_ENV", "WRONG_TEST_KEY"},
          {"WRONG_TEST_KEY", "sk-wrong"}};
}

ProcessResult run_provhost(const Environment &env, std::vector<std::string> args) {
  args.insert(args.begin(), provhost_binary());
  return run_process(args, "", std::chrono::seconds(30), env);
}

}  // namespace

TEST_CASE("instances from the environment are providers of their own, listed by name") {
  emulator::Emulator upstream;
  upstream.start();
  ProcessResult r = run_provhost(instances_env(upstream), {"list", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  rapidjson::Document list = parse_json(r.out);
  std::string names;
  for (const auto &provider : list["providers"].GetArray()) names += std::string(provider["name"].GetString()) + ",";
  CHECK_THAT(names, Catch::Contains("Emu,") && Catch::Contains("WrongKey,") && Catch::Contains("OpenAICompatible,"));
}

TEST_CASE("an instance chats, streamed and whole, in a worker and in process, with the upstream's usage") {
  emulator::Emulator upstream;
  upstream.start();
  const Environment env = instances_env(upstream);
  for (const char *isolation : {"process", "none"}) {
    for (const bool stream : {true, false}) {
      INFO(isolation << (stream ? " streamed" : " whole"));
      std::vector<std::string> args = {"--isolation", isolation, "chat", "-p", "Emu", "--usage", "hello"};
      if (!stream) args.push_back("--no-stream");
      ProcessResult r = run_provhost(env, args);
      INFO(r.err);
      CHECK(r.exit_code == 0);
      CHECK(r.out == upstream.expected_text());
      // 17 prompt tokens a message is the emulator's count, which no estimate would give.
      CHECK_THAT(r.err, Catch::Contains("usage: 17 prompt + ") && Catch::Contains("(the upstream's count)"));
    }
  }
  const auto requests = upstream.requests();
  REQUIRE_FALSE(requests.empty());
  CHECK(requests.back().path == "/openai/v1/chat/completions");
}

TEST_CASE("instances come from the configuration file, their key from the variable it names") {
  emulator::Emulator upstream;
  upstream.start();
  TempDir dir;
  const auto file = dir.path() / "config.toml";
  std::ofstream(file) << "[[instances]]\nname = \"FromFile\"\nplugin = \"OpenAICompatible\"\nbase_url = \""
                      << upstream.origin() << "/openai/v1\"\napi_key_env = \"FILE_TEST_KEY\"\nmodels = [\"m1\"]\n";
  Environment env = {{"PROVHOST_PLUGIN_PATH", ""}, {"FILE_TEST_KEY", "sk-emulator"}};
  ProcessResult r = run_provhost(env, {"--config", file.string(), "chat", "-p", "FromFile", "hi"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == upstream.expected_text());
  // The key is read, never shown.
  ProcessResult shown = run_provhost(env, {"--config", file.string(), "config"});
  CHECK(shown.out.find("sk-emulator") == std::string::npos);
}

TEST_CASE("the upstream's errors come through: a refused key, a rate limit, an error inside the stream") {
  emulator::Emulator upstream;
  upstream.start();
  const Environment env = instances_env(upstream);
  ProcessResult refused = run_provhost(env, {"chat", "-p", "WrongKey", "-m", "emu-model", "hi"});
  CHECK(refused.exit_code != 0);
  CHECK_THAT(refused.err, Catch::Contains("Incorrect API key provided"));
  ProcessResult limited = run_provhost(env, {"chat", "-p", "Emu", "-m", "rate-limited", "hi"});
  CHECK(limited.exit_code != 0);
  CHECK_THAT(limited.err, Catch::Contains("Rate limit reached"));
  ProcessResult in_stream = run_provhost(env, {"chat", "-p", "Emu", "-m", "error-in-stream", "hi"});
  CHECK(in_stream.exit_code != 0);
  CHECK_THAT(in_stream.err, Catch::Contains("The server had an error"));
}

TEST_CASE("chained through serve: the upstream's usage reaches the client, and a 429 keeps its Retry-After") {
  emulator::Emulator upstream;
  upstream.start();
  BackgroundProcess serve({provhost_binary(), "serve", "--listen", "127.0.0.1:0", "--drop-unsupported-params"},
                          instances_env(upstream));
  auto line = serve.wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
  if (!line) FAIL("provhost serve did not start: " << serve.err());
  const auto port = static_cast<uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));

  serve_test::Response whole = serve_test::fetch(
      port, "POST", "/v1/chat/completions",
      R"({"model":"Emu/emu-model","messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"Hi"}]})");
  REQUIRE(whole.status == 200);
  rapidjson::Document answer = parse_json(whole.body);
  CHECK(std::string(answer["choices"][0]["message"]["content"].GetString()) == upstream.expected_text());
  CHECK(answer["usage"]["prompt_tokens"].GetUint64() == 34);  // the emulator's 17 a message

  serve_test::Response streamed = serve_test::fetch(
      port, "POST", "/v1/chat/completions",
      R"({"model":"Emu/emu-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]})");
  REQUIRE(streamed.status == 200);
  std::vector<std::string> events = serve_test::sse_data(streamed.body);
  REQUIRE(events.size() >= 2);
  rapidjson::Document usage = parse_json(events[events.size() - 2]);
  CHECK(usage["usage"]["prompt_tokens"].GetUint64() == 17);

  serve_test::Response limited =
      serve_test::fetch(port, "POST", "/v1/chat/completions",
                        R"({"model":"Emu/rate-limited","messages":[{"role":"user","content":"Hi"}]})");
  CHECK(limited.status == 429);
  CHECK(limited.header("retry-after") == "7");

  // A dropped parameter is said in a header as well as in the log.
  serve_test::Response dropped =
      serve_test::fetch(port, "POST", "/v1/chat/completions",
                        R"({"model":"Emu/emu-model","n":2,"messages":[{"role":"user","content":"Hi"}]})");
  CHECK(dropped.status == 200);
  CHECK(dropped.header("x-provhost-warning") == "ignored unsupported parameters: n");
}

TEST_CASE("GET /v1/models/{id} answers a served model's object, 'Provider/model' ids included, else a 404") {
  emulator::Emulator upstream;
  upstream.start();
  BackgroundProcess serve({provhost_binary(), "serve", "--listen", "127.0.0.1:0"}, instances_env(upstream));
  auto line = serve.wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
  if (!line) FAIL("provhost serve did not start: " << serve.err());
  const auto port = static_cast<uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
  for (const char *target : {"/v1/models/Emu/emu-model", "/v1/models/Emu%2Femu-model"}) {
    INFO(target);
    serve_test::Response found = serve_test::fetch(port, "GET", target);
    REQUIRE(found.status == 200);
    rapidjson::Document model = parse_json(found.body);
    CHECK(std::string(model["id"].GetString()) == "Emu/emu-model");
    CHECK(std::string(model["object"].GetString()) == "model");
    CHECK(std::string(model["owned_by"].GetString()) == "Emu");
  }
  serve_test::Response missing = serve_test::fetch(port, "GET", "/v1/models/no-such-model");
  CHECK(missing.status == 404);
  rapidjson::Document error = parse_json(missing.body);
  CHECK(std::string(error["error"]["code"].GetString()) == "model_not_found");
  CHECK(serve_test::fetch(port, "GET", "/v1/models/").status == 404);
}

TEST_CASE("an instance of a plugin that makes none, or one without its base URL, is refused with the reason") {
  TempDir dir;
  const auto file = dir.path() / "config.toml";
  std::ofstream(file)
      << "[[instances]]\nname = \"NotMade\"\nplugin = \"Ylokh\"\nbase_url = \"http://127.0.0.1:1/v1\"\n";
  ProcessResult list = run_provhost({{"PROVHOST_PLUGIN_PATH", ""}}, {"--config", file.string(), "list", "--json"});
  INFO(list.err);
  REQUIRE(list.exit_code == 0);
  CHECK_THAT(list.out, Catch::Contains("instance \\\"NotMade\\\": no loaded plugin \\\"Ylokh\\\" makes instances"));
  ProcessResult unset =
      run_provhost({{"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_INSTANCES", "Lost"}}, {"chat", "-p", "Lost", "hi"});
  CHECK(unset.exit_code == 2);
  CHECK_THAT(unset.err, Catch::Contains("PROVHOST_INSTANCES names \"Lost\" but PROVHOST_LOST_BASE_URL is unset"));
}

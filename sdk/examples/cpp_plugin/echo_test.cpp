// CppEcho's unit test, on the SDK's test kit (ProvHost::testing): the built plugin loaded as the host loads
// it, each answer fed whole, cut at every byte, at every pair of bytes and byte by byte, and every call and
// event checked against the contract of provhost.h.   Usage: cpp_echo_test path/to/provhost-cpp-echo.so
#include <cstdio>
#include <provhost/testing/plugin.hpp>
#include <provhost/testing/session.hpp>

using namespace provhost::testing;

namespace {

// The kit returns plain values, so any test framework will do; this test needs none.
int failures = 0;
#define EXPECT(condition)                                                        \
  do {                                                                           \
    if (condition) break;                                                        \
    std::fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #condition); \
    ++failures;                                                                  \
  } while (0)

// `events`, the echo service's answer to a chat of "hi", in every split: the same outcome each time, and
// nothing against the contract (what was is printed). Returns the run with the answer whole.
Run every_split(const Plugin &plugin, std::string events) {
  const Response response{200, {{"Content-Type", "text/event-stream"}}, std::move(events)};
  SplitReport report = check_splits(plugin, chat_of({{"user", "hi"}}, "echo-1"), in_order({response}));
  for (const std::string &problem : report.problems) std::fprintf(stderr, "  %s\n", problem.c_str());
  EXPECT(report.ok());
  return report.whole;
}

// The run's only request; an empty one (which no check accepts) when it made none or several.
Request only_request(const Run &run) { return run.requests.size() == 1 ? run.requests[0] : Request{}; }

}  // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PLUGIN_FILE\n", argv[0]);
    return 2;
  }
  FakeHost host;
  Plugin plugin(argv[1], host);  // throws, with the reason, when it does not load
  EXPECT(plugin.defect().empty());

  // An event's data lines joined by "\n", a comment skipped, characters whole wherever cut, one finish.
  Run run = every_split(plugin,
                        "data: h\xC3\xA9llo\ndata: w\xC3\xB6rld\n\n: a comment\ndata: \xF0\x9F\x98\x80\n\n"
                        "event: done\ndata:\n\n");
  EXPECT(run.outcome.finished() && run.outcome.text() == "h\xC3\xA9llo\nw\xC3\xB6rld\xF0\x9F\x98\x80");
  const Request request = only_request(run);
  EXPECT(request.method == "POST" && request.url == "https://echo.example.com/v1/echo" && request.body == "hi");
  EXPECT(!request.header("Authorization"));

  // An upstream error ends the answer, and what follows it is not reported.
  run = every_split(plugin, "data: a\n\nevent: error\ndata: quota\n\ndata: b\n\nevent: done\n\n");
  EXPECT(run.outcome.failed() && run.outcome.text() == "a" && run.outcome.errors[0].first == PH_FAIL_UPSTREAM &&
         run.outcome.errors[0].second == "upstream error: quota");

  // Without "event: done" the answer neither finishes nor fails: the host reports it as truncated.
  run = every_split(plugin, "data: a\n\n");
  EXPECT(run.outcome.text() == "a" && run.outcome.finishes == 0 && run.outcome.errors.empty());

  // A configured key goes out as a bearer token.
  host.set_config("api_key", "sk-test");
  run = every_split(plugin, "event: done\n\n");
  EXPECT(only_request(run).header("Authorization") == "Bearer sk-test");

  // A chat without a user message is refused as a bad request.
  Session refused(plugin, chat_of({{"system", "be brief"}}, "echo-1"));
  EXPECT(refused.open_status() == PH_FAILED && refused.violations().empty());
  EXPECT(refused.outcome().failed() && refused.outcome().errors[0].first == PH_FAIL_BAD_REQUEST);

  std::puts(failures ? "CppEcho: checks failed" : "CppEcho: all checks passed");
  return failures ? 1 : 0;
}

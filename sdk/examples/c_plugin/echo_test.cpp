// CEcho's unit test, on the SDK's test kit (ProvHost::testing). The kit is C++, the plugin plain C: the test
// loads the built plugin as the host loads it, feeds each answer whole, cut at every byte, at every pair of
// bytes and byte by byte, and checks every call and event against the contract of provhost.h.
//   Usage: c_echo_test path/to/provhost-c-echo.so
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

// `body`, the echo service's answer to `prompt`, in every split: the same outcome each time, and nothing
// against the contract (what was is printed). Returns the run with the answer whole.
Run every_split(const Plugin &plugin, std::string body, const std::string &prompt = "hi") {
  const Response response{200, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
  SplitReport report = check_splits(plugin, chat_of({{"user", prompt}}, "echo-1"), in_order({response}));
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

  // 2-, 3- and 4-byte characters arrive whole wherever the body is cut, and its end finishes the answer.
  Run run = every_split(plugin, "h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80", "hi there");
  EXPECT(run.outcome.finished() && run.outcome.text() == "h\xC3\xA9llo \xE2\x9C\x93 \xF0\x9F\x98\x80");
  const Request request = only_request(run);
  EXPECT(request.method == "POST" && request.url == "https://echo.example.com/v1/echo/plain");
  EXPECT(request.body == "hi there" && !request.header("Authorization"));

  // Bytes that are not UTF-8, and a character the body's end cuts short, become U+FFFD.
  run = every_split(plugin,
                    "a\xFF"
                    "b\xE2\x9C");
  EXPECT(run.outcome.finished() && run.outcome.text() ==
                                       "a\xEF\xBF\xBD"
                                       "b\xEF\xBF\xBD");

  // A configured key goes out as a bearer token.
  host.set_config("api_key", "sk-test");
  run = every_split(plugin, "x");
  EXPECT(only_request(run).header("Authorization") == "Bearer sk-test");

  // A chat without a user message is refused as a bad request.
  Session refused(plugin, chat_of({{"system", "be brief"}}, "echo-1"));
  EXPECT(refused.open_status() == PH_FAILED && refused.violations().empty());
  EXPECT(refused.outcome().failed() && refused.outcome().errors[0].first == PH_FAIL_BAD_REQUEST);

  std::puts(failures ? "CEcho: checks failed" : "CEcho: all checks passed");
  return failures ? 1 : 0;
}

// plugin_fuzzer.cpp: one bundled plugin, linked into the target (fuzz_plugin_<id>), driven through
// its C ABI entry as the host drives it: loaded afresh for each input, then one to three sessions,
// each with a fuzz-chosen conversation, model, options and stream flag, and for every request it asks
// for, a fuzz-chosen status, headers and body, cut at fuzz-chosen places; unloaded (deinit) at the end.
// Every call and every event is checked against the ABI's contract (provhost.h):
//   - requests: GET or POST, an absolute http(s) URL, header names that are HTTP tokens and values
//     that are HTTP field values, a retry policy that can be followed;
//   - text events are well-formed UTF-8;
//   - warning and error messages are well-formed UTF-8 and one line (the check that
//     PROVHOST_FUZZ_MESSAGE_TEXT_CHECK=0 turns off: see tests/fuzz/README.md);
//   - at most one finish or one error, never both, and no event after either;
//   - PH_FAILED from any call comes with its error event, and no other status does;
//   - session_close once for every session opened (the harness's part; ASan checks the plugin's).
// These are the test kit's checks (ProvHost::testing, sdk/testing/), the same the plugin tests and
// `provhost validate` use; a violation aborts at once, for libFuzzer to report with the input.
//
// The input is read with FuzzedDataProvider in the order of tests/fuzz/seeds.py, which writes the
// seed corpora in tests/fuzz/corpus/ from real upstream answers.
#include <fuzzer/FuzzedDataProvider.h>
#include <provhost/provhost.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <provhost/testing/contract.hpp>
#include <provhost/testing/fake_host.hpp>
#include <provhost/testing/plugin.hpp>
#include <provhost/testing/session.hpp>
#include <provhost/text.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "contract.hpp"

namespace {

using namespace provhost;
using provhost::fuzz::violated;

// The limits of one input, as tests/fuzz/seeds.py writes them.
constexpr size_t kMaxSessions = 3;
constexpr size_t kMaxMessages = 6;
constexpr size_t kMaxRequests = 8;  // a plugin asking for more is cut off here, as a host's total timeout would
constexpr size_t kMaxHeaders = 4;
constexpr size_t kMaxCuts = 16;
constexpr size_t kMaxShortString = 256;

constexpr std::string_view kRoles[] = {"user", "assistant", "system"};
constexpr int kStatuses[] = {200, 201, 204, 301, 400, 401, 403, 404, 413, 429, 500, 502, 503, 520};
constexpr std::string_view kHeaderNames[] = {"Content-Type", "Set-Cookie", "Retry-After", "Location", "Server"};

bool message_text_checked() {
  static const bool checked = [] {
    const char *setting = std::getenv("PROVHOST_FUZZ_MESSAGE_TEXT_CHECK");
    return !setting || std::string_view(setting) != "0";
  }();
  return checked;
}

// PROVHOST_FUZZ_TRACE=1: each call and event on stderr, to read what an input (a seed, a finding) does.
bool tracing() {
  static const bool on = [] {
    const char *setting = std::getenv("PROVHOST_FUZZ_TRACE");
    return setting && std::string_view(setting) == "1";
  }();
  return on;
}

void trace(std::string_view what, std::string_view detail = {}) {
  if (tracing())
    std::fprintf(stderr, "%.*s %s\n", static_cast<int>(what.size()), what.data(), fuzz::printable(detail, 200).c_str());
}

// ---- The plugin --------------------------------------------------------------------------------------

// The plugin as the host loads it (the test kit's Plugin over the linked-in entry, with the kit's fake
// host); deinit when unloaded. Each input loads it afresh, so that what a provider caches between
// sessions (ChatgptFree's nonce) comes from that input alone, and a finding replays the same way on its own.
class LoadedPlugin {
 public:
  LoadedPlugin() : plugin_(&provhost_plugin_entry, host_) {
    PROVHOST_FUZZ_CHECK(plugin_.negotiated_version() == PH_ABI_VERSION, "negotiated version", "");
    PROVHOST_FUZZ_CHECK(plugin_.defect().empty(), "metadata", plugin_.defect());
    const ph_provider_info &info = plugin_.info();
    for (size_t i = 0; i < info.model_count; ++i) models_.emplace_back(view(info.models[i]));
    if (models_.empty()) models_.emplace_back(view(info.default_model));
  }

  const ph_provider &provider() const { return plugin_.provider(); }
  const std::vector<std::string> &models() const { return models_; }
  // Log lines are the plugin's text too: UTF-8, whatever the input.
  void check_log() const {
    for (const std::string &line : host_.log_lines())
      PROVHOST_FUZZ_CHECK(testing::well_formed_utf8(line), "log line is not UTF-8", line);
  }

 private:
  testing::FakeHost host_;
  testing::Plugin plugin_;
  std::vector<std::string> models_;
};

// ---- One input ------------------------------------------------------------------------------------------

struct Conversation {
  std::string model;
  std::string options;
  bool stream = true;
  std::vector<std::string> roles, contents;
};

Conversation read_conversation(FuzzedDataProvider &input, const LoadedPlugin &loaded) {
  Conversation chat;
  chat.stream = input.ConsumeBool();
  // The host resolves the model before the plugin sees it: never empty, but not necessarily listed.
  const std::vector<std::string> &models = loaded.models();
  const size_t model_choice = input.ConsumeIntegralInRange<size_t>(0, models.size());
  chat.model = model_choice < models.size() ? models[model_choice] : input.ConsumeRandomLengthString(kMaxShortString);
  if (chat.model.empty()) chat.model = models.front();
  chat.options = input.ConsumeBool() ? input.ConsumeRandomLengthString(kMaxShortString) : "{}";
  const size_t messages = input.ConsumeIntegralInRange<size_t>(0, kMaxMessages);
  for (size_t i = 0; i < messages; ++i) {
    chat.roles.emplace_back(kRoles[input.ConsumeIntegralInRange<size_t>(0, std::size(kRoles) - 1)]);
    chat.contents.push_back(input.ConsumeRandomLengthString(kMaxShortString));
  }
  return chat;
}

// Feeds one response, as the host would: its status, headers and body cut where the input says.
void respond(FuzzedDataProvider &input, testing::Session &session) {
  testing::Response response;
  response.status = kStatuses[input.ConsumeIntegralInRange<size_t>(0, std::size(kStatuses) - 1)];
  const size_t header_count = input.ConsumeIntegralInRange<size_t>(0, kMaxHeaders);
  for (size_t i = 0; i < header_count; ++i) {
    const size_t name = input.ConsumeIntegralInRange<size_t>(0, std::size(kHeaderNames) - 1);
    response.headers.emplace_back(kHeaderNames[name], input.ConsumeRandomLengthString(kMaxShortString));
  }
  response.body = input.ConsumeRandomLengthString(input.remaining_bytes());
  std::vector<size_t> cuts(input.ConsumeIntegralInRange<size_t>(0, kMaxCuts));
  for (size_t &cut : cuts) cut = input.ConsumeIntegralInRange<size_t>(0, response.body.size());
  std::sort(cuts.begin(), cuts.end());
  trace("response " + std::to_string(response.status) + ", " + std::to_string(header_count) + " headers, " +
            std::to_string(cuts.size() + 1) + " pieces",
        response.body);
  session.respond(response, cuts);
}

// One session, from session_open to session_close, every call and event checked by the test kit.
void run_session(FuzzedDataProvider &input, const LoadedPlugin &loaded) {
  const Conversation chat = read_conversation(input, loaded);
  testing::Chat asked;
  asked.model = chat.model;
  asked.stream = chat.stream;
  asked.options_json = chat.options;
  for (size_t i = 0; i < chat.roles.size(); ++i) asked.messages.emplace_back(chat.roles[i], chat.contents[i]);
  trace("model", chat.model);
  trace("options", chat.options);
  for (size_t i = 0; i < chat.roles.size(); ++i) trace(chat.roles[i], chat.contents[i]);

  testing::Checks checks;
  checks.message_text = message_text_checked();
  checks.on_violation = [](const std::string &rule) { violated(rule); };
  testing::Session session(loaded.provider(), asked, checks);
  // A plugin asking for more than kMaxRequests is cut off, as a host's total timeout would.
  for (size_t requests = 0; requests < kMaxRequests && !session.over(); ++requests) {
    const std::optional<testing::Request> request = session.next_request();
    if (!request) break;  // PH_DONE without a finish is the contract too: the host reports a truncation
    trace(request->method, request->url);
    respond(input, session);
  }
  session.close();
  trace("outcome", session.outcome().summary());
  loaded.check_log();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FuzzedDataProvider input(data, size);
  const LoadedPlugin loaded;
  // Sessions one after the other on one provider: a later one may use what an earlier one left cached.
  const size_t sessions = input.ConsumeIntegralInRange<size_t>(1, kMaxSessions);
  for (size_t i = 0; i < sessions; ++i) run_session(input, loaded);
  return 0;
}

// What all five bundled plugins share: the entry handshake, their metadata's shape, HTTP errors, options.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "conversations.hpp"

using namespace provhost::test;

namespace {

struct Bundled {
  const char *name;
  const char *path;
  bool takes_options;  // reads ChatRequest::options_json
};

const Bundled kBundled[] = {
    {"Koala", PROVHOST_KOALA_PLUGIN, false},
    {"Ylokh", PROVHOST_YLOKH_PLUGIN, true},
    {"ChatgptFree", PROVHOST_CHATGPTFREE_PLUGIN, true},
    {"FreeNetfly", PROVHOST_FREENETFLY_PLUGIN, false},
    {"FlowGpt", PROVHOST_FLOWGPT_PLUGIN, true},
};

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

TEST_CASE("Each bundled plugin is provhost-<name>.so and names its provider") {
  for (const Bundled &bundled : kBundled) {
    INFO(bundled.path);
    CHECK(std::filesystem::path(bundled.path).filename() == "provhost-" + lowercase(bundled.name) + ".so");
    FakeHost host;
    Plugin plugin(bundled.path, host);
    CHECK(plugin.name() == bundled.name);
    CHECK(plugin.negotiated_version() == PH_ABI_VERSION);
  }
}

TEST_CASE("Each bundled plugin speaks its own ABI version to a host of a newer minor version") {
  for (const Bundled &bundled : kBundled) {
    INFO(bundled.name);
    FakeHost host;
    Plugin plugin(bundled.path, host, PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR, PH_ABI_VERSION_MINOR + 3));
    CHECK(plugin.negotiated_version() == PH_ABI_VERSION);
  }
}

TEST_CASE("Each bundled plugin refuses a host of another major version, with a reason") {
  for (const Bundled &bundled : kBundled) {
    INFO(bundled.name);
    FakeHost host;
    CHECK_THROWS_WITH(Plugin(bundled.path, host, PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR + 1, 0)),
                      Catch::Contains("major"));
  }
}

TEST_CASE("Each bundled plugin's metadata is well formed") {
  const std::set<std::string> known = {"stream", "no_stream", "message_history", "system_message"};
  for (const Bundled &bundled : kBundled) {
    INFO(bundled.name);
    FakeHost host;
    Plugin plugin(bundled.path, host);
    CHECK(plugin.info().struct_size >= sizeof(ph_provider_info));
    CHECK_FALSE(plugin.default_model().empty());
    std::vector<std::string> models = plugin.models();
    CHECK(std::count(models.begin(), models.end(), plugin.default_model()) == 1);
    for (const auto &[alias, model] : plugin.aliases()) CHECK(std::count(models.begin(), models.end(), model) == 1);
    std::vector<std::string> capabilities = plugin.capabilities();
    CHECK(std::count(capabilities.begin(), capabilities.end(), "stream") == 1);
    for (const std::string &capability : capabilities) CHECK(known.count(capability) == 1);
    CHECK(plugin.url().rfind("https://", 0) == 0);
  }
}

TEST_CASE("Each bundled plugin leaves a non-2xx answer to the host's common error reporting") {
  for (const Bundled &bundled : kBundled) {
    for (int status : {401, 402, 403, 429, 500, 502, 504}) {
      INFO(bundled.name << " status " << status);
      FakeHost host;
      Plugin plugin(bundled.path, host);
      Session session(plugin, single_user());
      REQUIRE(session.next_request());
      CHECK(session.start_response(status) == PH_RESPONSE_HTTP_ERROR);
      CHECK(session.outcome().errors.empty());
    }
  }
}

TEST_CASE("Plugins that read options refuse options that are not a JSON object") {
  for (const Bundled &bundled : kBundled) {
    INFO(bundled.name);
    FakeHost host;
    Plugin plugin(bundled.path, host);
    Chat chat = single_user();
    chat.options_json = "[1, 2";
    Session session(plugin, chat);
    if (!bundled.takes_options) {
      CHECK(session.open_status() == PH_OK);
      continue;
    }
    CHECK(session.open_status() == PH_FAILED);
    REQUIRE(session.outcome().errors.size() == 1);
    CHECK(session.outcome().errors[0].first == PH_FAIL_BAD_REQUEST);
    CHECK_THAT(session.outcome().errors[0].second, Catch::Contains("options"));
  }
}

TEST_CASE("Each bundled plugin refuses an empty conversation") {
  for (const Bundled &bundled : kBundled) {
    INFO(bundled.name);
    FakeHost host;
    Plugin plugin(bundled.path, host);
    Session session(plugin, Chat{});
    CHECK(session.open_status() == PH_FAILED);
    REQUIRE(session.outcome().errors.size() == 1);
    CHECK(session.outcome().errors[0].first == PH_FAIL_BAD_REQUEST);
  }
}

TEST_CASE("Plugins with a JSON body refuse text that is not UTF-8") {
  // ChatgptFree's form body carries any bytes, percent-encoded; JSON cannot.
  for (const Bundled &bundled : kBundled) {
    if (std::string(bundled.name) == "ChatgptFree") continue;
    INFO(bundled.name);
    FakeHost host;
    Plugin plugin(bundled.path, host);
    Session session(plugin, chat_of({{"user", "bad \xC3\x28 byte"}}));
    CHECK(session.open_status() == PH_FAILED);
    REQUIRE(session.outcome().errors.size() == 1);
    CHECK(session.outcome().errors[0].first == PH_FAIL_BAD_REQUEST);
    CHECK_THAT(session.outcome().errors[0].second, Catch::Contains("UTF-8"));
  }
}

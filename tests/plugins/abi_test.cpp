// What all bundled plugins share: the entry handshake, their metadata's shape, HTTP errors, options.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <iterator>
#include <provhost/bundled_providers.hpp>
#include <set>
#include <string>
#include <string_view>

#include "conversations.hpp"

using namespace provhost::test;

namespace {

using provhost::bundled::BundledProvider;

// What a few plugins do that the others do not; every other bundled plugin is held to the opposite.
const std::set<std::string_view> kReadOptions = {"Ylokh", "ChatgptFree", "FlowGpt"};  // ChatRequest::options_json
const std::set<std::string_view> kFormBody = {"ChatgptFree"};  // percent-encoded, so it carries any bytes

std::string lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower;
}

}  // namespace

TEST_CASE("The build lists every plugin folder as a bundled provider, and only those") {
  std::set<std::string> folders;
  for (const auto &entry : std::filesystem::directory_iterator(PROVHOST_PLUGINS_SOURCE_DIR)) {
    // openai_compatible is no provider of the emulator's: its plugin makes the instances a user configures.
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name != "common" && name != "openai_compatible") folders.insert(name);
  }
  std::set<std::string> listed;
  for (const BundledProvider &bundled : provhost::bundled::providers) listed.emplace(bundled.id);
  CHECK(listed == folders);
  CHECK(listed.size() == std::size(provhost::bundled::providers));
}

TEST_CASE("Each bundled plugin is provhost-<name>.so and names its provider") {
  for (const BundledProvider &bundled : provhost::bundled::providers) {
    INFO(bundled.file);
    CHECK(bundled.id == lowercase(bundled.name));
    CHECK(std::filesystem::path(bundled.file).filename() == "provhost-" + std::string(bundled.id) + ".so");
    FakeHost host;
    Plugin plugin(std::string(bundled.file), host);
    CHECK(plugin.name() == bundled.name);
    CHECK(plugin.negotiated_version() == PH_ABI_VERSION);
  }
}

TEST_CASE("Each bundled plugin speaks its own ABI version to a host of a newer minor version") {
  for (const BundledProvider &bundled : provhost::bundled::providers) {
    INFO(bundled.name);
    FakeHost host;
    Plugin plugin(std::string(bundled.file), host, PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR, PH_ABI_VERSION_MINOR + 3));
    CHECK(plugin.negotiated_version() == PH_ABI_VERSION);
  }
}

TEST_CASE("Each bundled plugin refuses a host of another major version, with a reason") {
  for (const BundledProvider &bundled : provhost::bundled::providers) {
    INFO(bundled.name);
    FakeHost host;
    CHECK_THROWS_WITH(Plugin(std::string(bundled.file), host, PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR + 1, 0)),
                      Catch::Contains("major"));
  }
}

TEST_CASE("Each bundled plugin's metadata is well formed") {
  const std::set<std::string> known = {"stream",     "no_stream",        "message_history",   "system_message",
                                       "param:stop", "param:max_tokens", "param:temperature", "param:top_p"};
  for (const BundledProvider &bundled : provhost::bundled::providers) {
    INFO(bundled.name);
    FakeHost host;
    Plugin plugin(std::string(bundled.file), host);
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
  for (const BundledProvider &bundled : provhost::bundled::providers) {
    for (int status : {401, 402, 403, 429, 500, 502, 504}) {
      INFO(bundled.name << " status " << status);
      FakeHost host;
      Plugin plugin(std::string(bundled.file), host);
      Session session(plugin, single_user());
      REQUIRE(session.next_request());
      CHECK(session.start_response(status) == PH_RESPONSE_HTTP_ERROR);
      CHECK(session.outcome().errors.empty());
    }
  }
}

TEST_CASE("Plugins that read options refuse options that are not a JSON object") {
  for (const BundledProvider &bundled : provhost::bundled::providers) {
    INFO(bundled.name);
    FakeHost host;
    Plugin plugin(std::string(bundled.file), host);
    Chat chat = single_user();
    chat.options_json = "[1, 2";
    Session session(plugin, chat);
    if (kReadOptions.count(bundled.name) == 0) {
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
  for (const BundledProvider &bundled : provhost::bundled::providers) {
    INFO(bundled.name);
    FakeHost host;
    Plugin plugin(std::string(bundled.file), host);
    Session session(plugin, Chat{});
    CHECK(session.open_status() == PH_FAILED);
    REQUIRE(session.outcome().errors.size() == 1);
    CHECK(session.outcome().errors[0].first == PH_FAIL_BAD_REQUEST);
  }
}

TEST_CASE("Plugins with a JSON body refuse text that is not UTF-8") {
  for (const BundledProvider &bundled : provhost::bundled::providers) {
    if (kFormBody.count(bundled.name)) continue;
    INFO(bundled.name);
    FakeHost host;
    Plugin plugin(std::string(bundled.file), host);
    Session session(plugin, chat_of({{"user", "bad \xC3\x28 byte"}}));
    CHECK(session.open_status() == PH_FAILED);
    REQUIRE(session.outcome().errors.size() == 1);
    CHECK(session.outcome().errors[0].first == PH_FAIL_BAD_REQUEST);
    CHECK_THAT(session.outcome().errors[0].second, Catch::Contains("UTF-8"));
  }
}

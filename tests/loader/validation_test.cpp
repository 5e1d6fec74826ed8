// The rules a provider descriptor must follow, checked on descriptors built in memory.
#include <catch2/catch.hpp>
#include <cstddef>
#include <provhost/core/plugin_loader.hpp>
#include <provhost/text.hpp>
#include <string_view>

using provhost::core::ProviderMeta;
using provhost::core::validate_provider;

namespace {

ph_str s(std::string_view text) { return ph_str{text.data(), text.size()}; }

ph_status open_session(const ph_provider *, const ph_chat_request *, const ph_session_events *, ph_session **) {
  return PH_FAILED;
}
ph_status next_request(ph_session *, ph_http_request *) { return PH_DONE; }
ph_response_action on_response_start(ph_session *, int32_t, const ph_header *, size_t) { return PH_RESPONSE_READ; }
ph_status on_body(ph_session *, ph_str) { return PH_OK; }
ph_status on_response_end(ph_session *) { return PH_OK; }
void close_session(ph_session *) {}

// A valid provider, fields to be broken one at a time by each test.
struct Fixture {
  ph_str models[2] = {s("model-a"), s("model-b")};
  ph_alias aliases[1] = {{s("a"), s("model-a")}};
  ph_str capabilities[2] = {s("stream"), s("message_history")};
  ph_provider_info info{};
  ph_provider provider{};

  Fixture() {
    info.struct_size = sizeof info;
    info.name = s("Example");
    info.version = s("1.2.3");
    info.description = s("An example");
    info.url = s("https://example.invalid");
    info.working = 1;
    info.default_model = s("model-b");
    info.models = models;
    info.model_count = 2;
    info.aliases = aliases;
    info.alias_count = 1;
    info.capabilities = capabilities;
    info.capability_count = 2;
    provider.struct_size = sizeof provider;
    provider.info = &info;
    provider.session_open = open_session;
    provider.next_request = next_request;
    provider.on_response_start = on_response_start;
    provider.on_body = on_body;
    provider.on_response_end = on_response_end;
    provider.session_close = close_session;
  }

  std::optional<std::string> validate() { return validate_provider(&provider, meta); }
  ProviderMeta meta;
};

}  // namespace

TEST_CASE("a valid provider's metadata is copied") {
  Fixture f;
  REQUIRE_FALSE(f.validate());
  CHECK(f.meta.name == "Example");
  CHECK(f.meta.version == "1.2.3");
  CHECK(f.meta.description == "An example");
  CHECK(f.meta.url == "https://example.invalid");
  CHECK(f.meta.working);
  CHECK(f.meta.default_model == "model-b");
  CHECK(f.meta.models == std::vector<std::string>{"model-a", "model-b"});
  REQUIRE(f.meta.aliases.size() == 1);
  CHECK(f.meta.aliases[0] == std::pair<std::string, std::string>{"a", "model-a"});
  CHECK(f.meta.has_capability("message_history"));
  CHECK_FALSE(f.meta.has_capability("system_message"));
}

TEST_CASE("a bigger struct_size from a newer plugin is accepted") {
  struct NewerProvider {
    ph_provider base;
    void (*added_later)(void);
  } newer{};
  struct NewerInfo {
    ph_provider_info base;
    ph_str added_later;
  } newer_info{};
  Fixture f;
  newer.base = f.provider;
  newer.base.struct_size = sizeof newer;
  newer_info.base = f.info;
  newer_info.base.struct_size = sizeof newer_info;
  newer.base.info = &newer_info.base;
  ProviderMeta meta;
  CHECK_FALSE(validate_provider(&newer.base, meta));
  CHECK(meta.name == "Example");
}

TEST_CASE("a provider struct too small for the required functions is rejected") {
  Fixture f;
  f.provider.struct_size = offsetof(ph_provider, on_body);
  auto reason = f.validate();
  REQUIRE(reason);
  CHECK_THAT(*reason, Catch::Contains("ph_provider.struct_size is " + std::to_string(offsetof(ph_provider, on_body))));
}

TEST_CASE("an info struct too small for the required fields is rejected") {
  Fixture f;
  f.info.struct_size = offsetof(ph_provider_info, working);
  auto reason = f.validate();
  REQUIRE(reason);
  CHECK_THAT(*reason, Catch::Contains("ph_provider_info.struct_size"));
}

TEST_CASE("optional trailing fields that struct_size does not cover are absent, not read") {
  Fixture f;
  f.provider.struct_size = offsetof(ph_provider, deinit);
  f.info.struct_size = offsetof(ph_provider_info, aliases);
  // What lies past struct_size is garbage the reader must not look at.
  f.info.aliases = reinterpret_cast<const ph_alias *>(0x1);
  f.info.alias_count = 99;
  f.info.capabilities = nullptr;
  f.info.capability_count = 7;
  REQUIRE_FALSE(f.validate());
  CHECK(f.meta.aliases.empty());
  CHECK(f.meta.capabilities.empty());
  CHECK(f.meta.models.size() == 2);
}

TEST_CASE("a NULL provider or NULL info is rejected") {
  ProviderMeta meta;
  CHECK(validate_provider(nullptr, meta));
  Fixture f;
  f.provider.info = nullptr;
  auto reason = f.validate();
  REQUIRE(reason);
  CHECK_THAT(*reason, Catch::Contains("no info"));
}

TEST_CASE("a provider name must be present and made of letters, digits, _ and -") {
  Fixture f;
  SECTION("NULL") {
    f.info.name = ph_str{nullptr, 0};
    CHECK_THAT(f.validate().value_or(""), Catch::Contains("name is NULL"));
  }
  SECTION("NULL with a size") {
    f.info.name = ph_str{nullptr, 4};
    CHECK_THAT(f.validate().value_or(""), Catch::Contains("name has a NULL pointer"));
  }
  SECTION("empty") {
    f.info.name = s("");
    CHECK_THAT(f.validate().value_or(""), Catch::Contains("name is empty"));
  }
  SECTION("invalid characters") {
    f.info.name = s("Bad Name!");
    CHECK_THAT(f.validate().value_or(""), Catch::Contains("invalid provider name \"Bad Name!\""));
  }
  SECTION("allowed characters") {
    f.info.name = s("Good_Name-2");
    CHECK_FALSE(f.validate());
  }
}

TEST_CASE("every required function must be set") {
  Fixture f;
  f.provider.on_response_end = nullptr;
  CHECK(f.validate().value_or("") == "required function on_response_end is NULL");
}

TEST_CASE("the optional deinit may be NULL") {
  Fixture f;
  f.provider.deinit = nullptr;
  CHECK_FALSE(f.validate());
}

TEST_CASE("an array that is NULL with a non-zero count is rejected") {
  Fixture f;
  SECTION("models") {
    f.info.models = nullptr;
    CHECK(f.validate().value_or("") == "models is NULL but its count is 2");
  }
  SECTION("aliases") {
    f.info.aliases = nullptr;
    CHECK(f.validate().value_or("") == "aliases is NULL but its count is 1");
  }
  SECTION("capabilities") {
    f.info.capabilities = nullptr;
    CHECK(f.validate().value_or("") == "capabilities is NULL but its count is 2");
  }
}

TEST_CASE("the default model must be one of the models a provider lists") {
  Fixture f;
  f.info.default_model = s("model-z");
  CHECK(f.validate().value_or("") == "default model \"model-z\" is not among its models");
}

TEST_CASE("a provider that lists no models may have any default model") {
  Fixture f;
  f.info.model_count = 0;
  f.info.alias_count = 0;
  f.info.default_model = s("anything");
  REQUIRE_FALSE(f.validate());
  CHECK(f.meta.default_model == "anything");
}

TEST_CASE("an alias must point at a listed model") {
  Fixture f;
  f.aliases[0].model = s("model-z");
  CHECK(f.validate().value_or("") == "alias \"a\" points at unknown model \"model-z\"");
}

TEST_CASE("metadata strings must be UTF-8") {
  Fixture f;
  f.info.description = s("caf\xc3");
  CHECK(f.validate().value_or("") == "description is not valid UTF-8");
  CHECK(provhost::is_utf8("caf\xc3\xa9 \xe2\x82\xac"));
  CHECK_FALSE(provhost::is_utf8("\xff"));
}

// core's provider catalogue: the object `list --json` prints and /v1/providers answers, and the
// models /v1/models lists.
#include <catch2/catch.hpp>
#include <memory>
#include <provhost/core/catalogue.hpp>
#include <provhost/core/registry.hpp>

#include "support/process.hpp"

using namespace provhost;

namespace {

std::unique_ptr<core::LoadedProvider> provider(std::string name, std::vector<std::string> models,
                                               std::string default_model = "") {
  auto p = std::make_unique<core::LoadedProvider>();
  p->meta.name = std::move(name);
  p->meta.models = std::move(models);
  p->meta.default_model = std::move(default_model);
  p->meta.working = true;
  return p;
}

}  // namespace

TEST_CASE("the providers object lists every member of each provider, indented by two spaces") {
  core::Registry registry;
  auto koala = provider("Koala", {"gpt-4o-mini", "gpt-3.5-turbo"}, "gpt-4o-mini");
  koala->meta.version = "1.2.0";
  koala->meta.working = true;
  koala->meta.url = "https://koala.sh";
  koala->meta.description = "Koala chat";
  koala->meta.aliases = {{"mini", "gpt-4o-mini"}};
  koala->meta.capabilities = {"stream"};
  koala->file = "/plugins/provhost-koala.so";
  koala->abi_negotiated = (1u << 16) | 2u;  // ABI 1.2
  REQUIRE_FALSE(registry.add(std::move(koala)));
  CHECK(core::providers_json(registry) == R"({
  "providers": [
    {
      "name": "Koala",
      "version": "1.2.0",
      "file": "/plugins/provhost-koala.so",
      "abi": "1.2",
      "working": true,
      "url": "https://koala.sh",
      "description": "Koala chat",
      "default_model": "gpt-4o-mini",
      "models": [
        "gpt-4o-mini",
        "gpt-3.5-turbo"
      ],
      "aliases": {
        "mini": "gpt-4o-mini"
      },
      "capabilities": [
        "stream"
      ]
    }
  ],
  "rejected": []
})");
}

TEST_CASE("a rejected file is listed with its reason, a name that is not UTF-8 made ASCII") {
  test::TempDir folder;
  folder.write("provhost-\xff.so", "not a shared library");
  core::Registry registry;
  registry.load({folder.path()});
  REQUIRE(registry.rejected().size() == 1);
  std::string json = core::providers_json(registry);
  CHECK_THAT(json, Catch::StartsWith("{\n  \"providers\": [],\n  \"rejected\": [\n    {\n      \"file\": \""));
  CHECK_THAT(json, Catch::Contains("/provhost-?.so\",\n      \"reason\": \""));
}

TEST_CASE("the model catalogue names each model of a working provider once, then every Provider/model") {
  std::vector<std::unique_ptr<core::LoadedProvider>> providers;
  providers.push_back(provider("Koala", {}, "gpt-4o-mini"));
  providers.push_back(provider("Ylokh", {"gpt-3.5-turbo", "gpt-4"}));
  providers.push_back(provider("FreeNetfly", {"gpt-3.5-turbo"}));
  providers.push_back(provider("Empty", {}));
  providers.push_back(provider("Broken", {"o1", "gpt-4"}));
  providers.back()->meta.working = false;  // "o1" alone would be a 404: only Broken/o1 reaches it
  std::vector<core::ModelEntry> expected = {
      {"gpt-4o-mini", "Koala"},
      {"gpt-3.5-turbo", "Ylokh"},
      {"gpt-4", "Ylokh"},
      {"Koala/gpt-4o-mini", "Koala"},
      {"Ylokh/gpt-3.5-turbo", "Ylokh"},
      {"Ylokh/gpt-4", "Ylokh"},
      {"FreeNetfly/gpt-3.5-turbo", "FreeNetfly"},
      {"Broken/o1", "Broken"},
      {"Broken/gpt-4", "Broken"},
  };
  CHECK(core::model_catalogue(providers) == expected);
}

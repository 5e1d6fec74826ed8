// Which provider and model a request resolves to.
#include <catch2/catch.hpp>
#include <provhost/core/registry.hpp>

using namespace provhost::core;

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

ProviderMeta meta(std::string name, bool working, std::string default_model, std::vector<std::string> models,
                  std::vector<std::pair<std::string, std::string>> aliases = {}) {
  ProviderMeta m;
  m.name = std::move(name);
  m.working = working;
  m.default_model = std::move(default_model);
  m.models = std::move(models);
  m.aliases = std::move(aliases);
  return m;
}

// Alpha and Gamma work; Beta does not.
struct Providers {
  Registry registry;
  Providers() {
    add(meta("Alpha", true, "a-1", {"a-1", "shared"}, {{"short", "a-1"}}));
    add(meta("Beta", false, "b-1", {"b-1", "shared"}));
    add(meta("Gamma", true, "shared", {"shared", "g-2"}));
  }
  void add(ProviderMeta m) {
    auto provider = std::make_unique<LoadedProvider>();
    provider->meta = std::move(m);
    REQUIRE_FALSE(registry.add(std::move(provider)));
  }
  Pairs resolve(std::string_view provider, std::string_view model) const {
    Pairs out;
    for (const auto &c : registry.resolve(provider, model).candidates) out.emplace_back(c.provider->meta.name, c.model);
    return out;
  }
};

}  // namespace

TEST_CASE("resolve_model: empty is the default, an alias its target, a listed model itself") {
  ProviderMeta p = meta("Alpha", true, "a-1", {"a-1", "a-2"}, {{"short", "a-2"}});
  CHECK(*resolve_model(p, "") == "a-1");
  CHECK(*resolve_model(p, "short") == "a-2");
  CHECK(*resolve_model(p, "a-2") == "a-2");
}

TEST_CASE("resolve_model: an unknown model is an error that names the valid models") {
  ProviderMeta p = meta("Alpha", true, "a-1", {"a-1", "a-2"}, {{"short", "a-2"}});
  Result<std::string> model = resolve_model(p, "nope");
  REQUIRE_FALSE(model);
  CHECK(model.error().kind == ErrorKind::model_not_found);
  const std::string &error = model.error().detail;
  CHECK_THAT(error, Catch::Contains("\"nope\"") && Catch::Contains("a-1, a-2") && Catch::Contains("short"));
  CHECK(error.find('\n') == std::string::npos);
}

TEST_CASE("resolve_model: a provider that lists no models accepts any model") {
  ProviderMeta p = meta("Open", true, "", {});
  CHECK(*resolve_model(p, "whatever-1") == "whatever-1");
  Result<std::string> no_default = resolve_model(p, "");
  REQUIRE_FALSE(no_default);
  CHECK_THAT(no_default.error().detail, Catch::Contains("no default model"));
}

TEST_CASE("an explicit provider is used even when not working, case-insensitively") {
  Providers p;
  CHECK(p.registry.resolve("beta", "").kind == ResolveResult::Kind::ok);
  CHECK(p.resolve("beta", "") == Pairs{{"Beta", "b-1"}});
}

TEST_CASE("an explicit provider with a model it lacks is model_not_found") {
  Providers p;
  ResolveResult r = p.registry.resolve("Alpha", "g-2");
  CHECK(r.candidates.empty());
  CHECK(r.kind == ResolveResult::Kind::model_not_found);
  CHECK_THAT(r.error, Catch::Contains("a-1, shared"));
}

TEST_CASE("an unknown provider is an error naming the loaded ones") {
  Providers p;
  ResolveResult r = p.registry.resolve("Delta", "");
  CHECK(r.kind == ResolveResult::Kind::unknown_provider);
  CHECK_THAT(r.error, Catch::Contains("\"Delta\"") && Catch::Contains("Alpha, Beta, Gamma"));
}

TEST_CASE("Provider/model names the provider") {
  Providers p;
  CHECK(p.resolve("", "Gamma/g-2") == Pairs{{"Gamma", "g-2"}});
  CHECK(p.resolve("", "alpha/short") == Pairs{{"Alpha", "a-1"}});
  CHECK(p.resolve("", "Beta/b-1") == Pairs{{"Beta", "b-1"}});
  CHECK(p.resolve("Gamma", "Gamma/g-2") == Pairs{{"Gamma", "g-2"}});
}

TEST_CASE("Provider/model with an unknown provider is unknown_provider") {
  Providers p;
  ResolveResult r = p.registry.resolve("", "Delta/x");
  CHECK(r.kind == ResolveResult::Kind::unknown_provider);
  CHECK_THAT(r.error, Catch::Contains("\"Delta\""));
}

TEST_CASE("a model name with a slash goes to a provider that accepts it") {
  Providers p;
  p.add(meta("Open", true, "", {}));
  CHECK(p.resolve("", "meta-llama/Llama-2") == Pairs{{"Open", "meta-llama/Llama-2"}});
}

// The rules sdk/README.md gives plugin authors whose model ids contain '/'.
TEST_CASE("a model id with a slash: a loaded provider's name before it wins, and doubling the name reaches it") {
  Providers p;
  p.add(meta("Groq", true, "meta-llama/Llama-3", {"meta-llama/Llama-3", "Groq/x"}));
  CHECK(p.resolve("", "meta-llama/Llama-3") == Pairs{{"Groq", "meta-llama/Llama-3"}});
  CHECK(p.resolve("", "Groq/meta-llama/Llama-3") == Pairs{{"Groq", "meta-llama/Llama-3"}});
  CHECK(p.resolve("Groq", "meta-llama/Llama-3") == Pairs{{"Groq", "meta-llama/Llama-3"}});
  CHECK(p.resolve("", "Groq/Groq/x") == Pairs{{"Groq", "Groq/x"}});
  CHECK(p.registry.resolve("", "Groq/x").kind == ResolveResult::Kind::model_not_found);
  p.add(meta("meta-llama", true, "m", {"m"}));  // now "meta-llama/" names this provider
  CHECK(p.registry.resolve("", "meta-llama/Llama-3").kind == ResolveResult::Kind::model_not_found);
}

TEST_CASE("without a provider, only working providers that list the model are eligible, in load order") {
  Providers p;
  CHECK(p.resolve("", "shared") == Pairs{{"Alpha", "shared"}, {"Gamma", "shared"}});
  CHECK(p.resolve("", "short") == Pairs{{"Alpha", "a-1"}});
  ResolveResult r = p.registry.resolve("", "b-1");
  CHECK(r.kind == ResolveResult::Kind::model_not_found);
  CHECK_THAT(r.error, Catch::Contains("\"b-1\""));
}

TEST_CASE("without a provider or model, every working provider is eligible with its default") {
  Providers p;
  CHECK(p.resolve("", "") == Pairs{{"Alpha", "a-1"}, {"Gamma", "shared"}});
}

TEST_CASE("a provider that lists no models is eligible for any model") {
  Providers p;
  p.add(meta("Open", true, "", {}));
  CHECK(p.resolve("", "g-2") == Pairs{{"Gamma", "g-2"}, {"Open", "g-2"}});
  // With no model and no default it cannot answer, so it is not eligible.
  CHECK(p.resolve("", "") == Pairs{{"Alpha", "a-1"}, {"Gamma", "shared"}});
}

TEST_CASE("with no working provider the error says so") {
  Registry registry;
  auto provider = std::make_unique<LoadedProvider>();
  provider->meta = meta("Beta", false, "b-1", {"b-1"});
  REQUIRE_FALSE(registry.add(std::move(provider)));
  ResolveResult r = registry.resolve("", "b-1");
  CHECK(r.candidates.empty());
  CHECK_THAT(r.error, Catch::Contains("no working provider"));
}

TEST_CASE("a second provider with the same name, in any case, is refused") {
  Providers p;
  auto twin = std::make_unique<LoadedProvider>();
  twin->meta = meta("ALPHA", true, "", {});
  auto error = p.registry.add(std::move(twin));
  REQUIRE(error);
  CHECK_THAT(*error, Catch::Contains("duplicate provider name \"ALPHA\""));
  CHECK(p.registry.providers().size() == 3);
}

TEST_CASE("without a provider, the preferred order comes first and the rest follow in load order") {
  Providers p;
  p.add(meta("Delta", true, "shared", {"shared"}));
  p.registry.set_preferences({{"delta", "Gamma"}, {}});
  CHECK(p.resolve("", "shared") == Pairs{{"Delta", "shared"}, {"Gamma", "shared"}, {"Alpha", "shared"}});
  CHECK(p.resolve("", "") == Pairs{{"Delta", "shared"}, {"Gamma", "shared"}, {"Alpha", "a-1"}});
  SECTION("a named provider is not affected") { CHECK(p.resolve("Alpha", "shared") == Pairs{{"Alpha", "shared"}}); }
}

TEST_CASE("a model's configured chain is the only providers tried for it, in its order") {
  Providers p;
  p.add(meta("Delta", true, "shared", {"shared"}));
  ResolutionPreferences preferences;
  preferences.provider_order = {"Alpha"};
  preferences.model_providers = {
      {"shared", {"Gamma", "Missing", "Beta", "delta", "Gamma"}}, {"a-1", {"Gamma"}}, {"short", {"Alpha"}}};
  p.registry.set_preferences(preferences);
  // Missing is not loaded, Beta does not work, Gamma is listed twice: skipped.
  CHECK(p.resolve("", "shared") == Pairs{{"Gamma", "shared"}, {"Delta", "shared"}});
  CHECK(p.resolve("", "short") == Pairs{{"Alpha", "a-1"}});  // the chain's key is the model as asked
  ResolveResult none = p.registry.resolve("", "a-1");
  CHECK(none.candidates.empty());
  CHECK(none.kind == ResolveResult::Kind::model_not_found);
  CHECK(none.error ==
        "model not found: none of the providers configured for \"a-1\" (Gamma) is loaded, working and "
        "offers it");
  CHECK(p.resolve("Gamma", "shared") == Pairs{{"Gamma", "shared"}});
  CHECK(p.resolve("", "Alpha/shared") == Pairs{{"Alpha", "shared"}});
}

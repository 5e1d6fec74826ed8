// Model resolution with providers that list very many models: the work is linear in the models and
// the error names a bounded number of them.
#include <catch2/catch.hpp>
#include <provhost/core/registry.hpp>

using namespace provhost::core;

namespace {

void add(Registry &registry, std::string name, size_t first, size_t count) {
  auto provider = std::make_unique<LoadedProvider>();
  provider->meta.name = std::move(name);
  provider->meta.working = true;
  for (size_t i = first; i < first + count; ++i) provider->meta.models.push_back("model-" + std::to_string(i));
  provider->meta.default_model = provider->meta.models.front();
  REQUIRE_FALSE(registry.add(std::move(provider)));
}

}  // namespace

TEST_CASE("an unknown model among 200,000 names lists twenty distinct ones and counts them all") {
  Registry registry;
  // Half of the second provider's models are the first one's too: 150,000 distinct names.
  add(registry, "Alpha", 0, 100'000);
  add(registry, "Beta", 50'000, 100'000);

  ResolveResult result = registry.resolve("", "no-such-model");
  REQUIRE(result.candidates.empty());
  CHECK_THAT(result.error, Catch::StartsWith("model not found: no working provider offers \"no-such-model\"; working "
                                             "providers' models: model-0, model-1, "));
  CHECK_THAT(result.error, Catch::EndsWith(", model-19, ... (150000 in all)"));
  CHECK(result.error.size() < 400);

  ResolveResult named = registry.resolve("Beta", "no-such-model");
  REQUIRE(named.candidates.empty());
  CHECK_THAT(named.error, Catch::EndsWith("its models: model-50000, model-50001, model-50002, model-50003, "
                                          "model-50004, model-50005, model-50006, model-50007, model-50008, "
                                          "model-50009, model-50010, model-50011, model-50012, model-50013, "
                                          "model-50014, model-50015, model-50016, model-50017, model-50018, "
                                          "model-50019, ... (100000 in all)"));

  // A known model is found in either.
  ResolveResult found = registry.resolve("", "model-120000");
  REQUIRE(found.candidates.size() == 1);
  CHECK(found.candidates[0].provider->meta.name == "Beta");
}

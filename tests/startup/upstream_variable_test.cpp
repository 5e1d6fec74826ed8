// The configuration keys upstream overrides as core looks them up, without linking core's libcurl side.
#include <catch2/catch.hpp>
#include <provhost/core/upstream.hpp>

#include "config.hpp"

TEST_CASE("the configuration spells upstream variables as core does") {
  for (const char *provider : {"Koala", "my-provider", "Free Netfly", "ChatgptFree", "a.b_c", "", "Ü"}) {
    INFO(provider);
    CHECK(provhost::host::config::upstream_variable(provider) == provhost::core::upstream_variable(provider));
  }
}

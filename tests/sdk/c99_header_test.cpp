// The ABI header compiled as strict C99 (c99_header.c) still negotiates, reads struct_size and names
// capabilities as it does in C++.
#include <provhost/provhost.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <string_view>

extern "C" {
uint32_t c99_negotiate(uint32_t offered);
int c99_has_digest(const ph_host *host);
const char *c99_capability_param_max_tokens(void);
}

TEST_CASE("the ABI header compiled as C99 negotiates, checks struct_size and names capabilities") {
  CHECK(c99_negotiate(PH_MAKE_VERSION(1, 7)) == PH_ABI_VERSION);
  CHECK(c99_negotiate(PH_MAKE_VERSION(2, 0)) == 0);
  ph_host host{};
  host.struct_size = offsetof(ph_host, digest);  // a host from before the digest service
  CHECK(c99_has_digest(&host) == 0);
  host.struct_size = sizeof host;
  CHECK(c99_has_digest(&host) == 1);
  CHECK(std::string_view(c99_capability_param_max_tokens()) == "param:max_tokens");
}

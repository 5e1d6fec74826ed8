/* provhost.h as a C99 compiler sees it: tests/sdk/CMakeLists.txt builds this file as strict C99 with
 * -pedantic-errors and -Werror, so that a C++ or C11 construct in the header fails the build, and
 * c99_header_test.cpp checks that the header's inline code and macros work there too. */
#include <provhost/provhost.h>

uint32_t c99_negotiate(uint32_t offered) { return ph_negotiate_version(offered, PH_ABI_VERSION); }

int c99_has_digest(const ph_host *host) { return PH_HAS_FIELD(host, ph_host, digest); }

const char *c99_capability_param_max_tokens(void) { return PH_CAP_PARAM_MAX_TOKENS; }

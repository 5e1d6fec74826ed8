// contract.hpp: the checks the fuzz targets share, from the SDK's test kit, and how a broken one ends
// a fuzz run: it aborts with a one-line reason, which libFuzzer reports with the input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <provhost/testing/contract.hpp>
#include <string>
#include <string_view>

namespace provhost::fuzz {

// The checks themselves are the SDK's test kit's (provhost/testing/contract.hpp), which the plugin
// tests and `provhost validate` use too: one contract, one checker.
using testing::http_field_value;
using testing::http_token;
using testing::one_line;
using testing::printable;
using testing::well_formed_utf8;

[[noreturn]] inline void violated(std::string_view rule, std::string_view detail = {}) {
  std::fprintf(stderr, "CONTRACT VIOLATED: %.*s", static_cast<int>(rule.size()), rule.data());
  if (!detail.empty()) std::fprintf(stderr, ": %s", printable(detail).c_str());
  std::fputc('\n', stderr);
  std::abort();
}

#define PROVHOST_FUZZ_CHECK(condition, rule, detail)            \
  do {                                                          \
    if (!(condition)) ::provhost::fuzz::violated(rule, detail); \
  } while (0)

}  // namespace provhost::fuzz

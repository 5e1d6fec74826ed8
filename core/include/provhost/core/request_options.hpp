// request_options.hpp: the request parameters a chat may carry to its provider, in
// ChatSpec::options_json. serve reads them from a request body and `chat -o KEY=VALUE` from the
// command line; both check them against this one table, so the two front ends accept the same.
#pragma once

#include <rapidjson/document.h>

#include <span>
#include <string_view>

namespace provhost::core {

struct RequestOption {
  std::string_view name;
  std::string_view expected;  // what a value must be, as an error message says it: "a number"
  bool (*accepts)(const rapidjson::Value &value);
};

// temperature, top_p, max_tokens, stop.
std::span<const RequestOption> request_options();

// The option called `name`, or nullptr.
const RequestOption *find_request_option(std::string_view name);

}  // namespace provhost::core

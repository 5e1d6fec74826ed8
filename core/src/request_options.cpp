#include <algorithm>
#include <array>
#include <provhost/core/request_options.hpp>

namespace provhost::core {
namespace {

bool is_number(const rapidjson::Value &value) { return value.IsNumber(); }

bool is_count(const rapidjson::Value &value) { return value.IsInt64() && value.GetInt64() >= 0; }

bool is_stop(const rapidjson::Value &value) {
  if (value.IsString()) return true;
  if (!value.IsArray()) return false;
  return std::all_of(value.Begin(), value.End(), [](const rapidjson::Value &item) { return item.IsString(); });
}

constexpr std::array<RequestOption, 4> options = {{
    {"temperature", "a number", is_number},
    {"top_p", "a number", is_number},
    {"max_tokens", "a non-negative integer", is_count},
    {"stop", "a string or an array of strings", is_stop},
}};

}  // namespace

std::span<const RequestOption> request_options() { return options; }

const RequestOption *find_request_option(std::string_view name) {
  auto found = std::find_if(options.begin(), options.end(), [&](const RequestOption &o) { return o.name == name; });
  return found == options.end() ? nullptr : &*found;
}

}  // namespace provhost::core

// environment_name.hpp: how the host names its environment variables, in one place.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace provhost::core {

// "PROVHOST" and each part in capitals, joined by '_'; any character of a part other than an ASCII letter or
// digit becomes '_' too: environment_name({"Ylokh", "api-key"}) == "PROVHOST_YLOKH_API_KEY".
inline std::string environment_name(std::initializer_list<std::string_view> parts) {
  std::string name = "PROVHOST";
  for (std::string_view part : parts) {
    name += '_';
    for (char c : part) {
      const bool digit = c >= '0' && c <= '9', lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z';
      name += lower ? static_cast<char>(c - 'a' + 'A') : digit || upper ? c : '_';
    }
  }
  return name;
}

}  // namespace provhost::core

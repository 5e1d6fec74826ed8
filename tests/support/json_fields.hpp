// json_fields.hpp: read a JSON request body field by field inside a Catch2 test, each read failing
// the test (with the field's name) when the field is missing or of another type.
#pragma once

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

namespace provhost::test {

inline rapidjson::Document parse_json(const std::string &text) {
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  INFO("JSON: " << text.substr(0, 500));
  REQUIRE_FALSE(document.HasParseError());
  return document;
}

inline std::string string_field(const rapidjson::Value &object, const char *name) {
  INFO("field " << name);
  REQUIRE(object.IsObject());
  REQUIRE(object.HasMember(name));
  REQUIRE(object[name].IsString());
  return std::string(object[name].GetString(), object[name].GetStringLength());
}

inline double number_field(const rapidjson::Value &object, const char *name) {
  INFO("field " << name);
  REQUIRE(object.HasMember(name));
  REQUIRE(object[name].IsNumber());
  return object[name].GetDouble();
}

inline bool bool_field(const rapidjson::Value &object, const char *name) {
  INFO("field " << name);
  REQUIRE(object.HasMember(name));
  REQUIRE(object[name].IsBool());
  return object[name].GetBool();
}

inline std::vector<std::string> strings_field(const rapidjson::Value &object, const char *name) {
  INFO("field " << name);
  REQUIRE(object.HasMember(name));
  REQUIRE(object[name].IsArray());
  std::vector<std::string> out;
  for (const auto &item : object[name].GetArray()) {
    REQUIRE(item.IsString());
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return out;
}

// An OpenAI-style messages array as (role, content) pairs; each message has exactly those two fields.
inline std::vector<std::pair<std::string, std::string>> messages_field(const rapidjson::Value &object,
                                                                       const char *name) {
  INFO("field " << name);
  REQUIRE(object.HasMember(name));
  REQUIRE(object[name].IsArray());
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto &item : object[name].GetArray()) {
    REQUIRE(item.IsObject());
    REQUIRE(item.MemberCount() == 2);
    out.emplace_back(string_field(item, "role"), string_field(item, "content"));
  }
  return out;
}

// The member names of a JSON object, in order.
inline std::vector<std::string> field_names(const rapidjson::Value &object) {
  std::vector<std::string> names;
  for (const auto &member : object.GetObject()) names.emplace_back(member.name.GetString());
  return names;
}

}  // namespace provhost::test

// PH_EXPORT and PH_ABI leave the Linux ABI as it was: the calling convention is the platform's only
// one, so every function pointer type is the plain C one, and the entry symbol keeps its name.
#include <provhost/provhost.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <type_traits>

static_assert(std::is_same_v<ph_entry_fn, ph_status (*)(ph_entry_args *)>);
static_assert(std::is_same_v<decltype(&provhost_plugin_entry), ph_entry_fn>);
static_assert(std::is_same_v<decltype(ph_host::log), void (*)(const ph_host *, ph_log_level, ph_str)>);
static_assert(std::is_same_v<decltype(ph_provider::on_body), ph_status (*)(ph_session *, ph_str)>);
static_assert(std::is_same_v<decltype(ph_session_events::text), void (*)(const ph_session_events *, ph_str)>);

TEST_CASE("the entry symbol's name is the one the loader looks up") {
  CHECK(std::strcmp(PH_ENTRY_SYMBOL, "provhost_plugin_entry") == 0);
}

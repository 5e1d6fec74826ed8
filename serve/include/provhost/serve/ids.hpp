// ids.hpp: the random identifiers `serve` hands out: completion ids and request ids.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace provhost::serve {

// `length` characters of [A-Za-z0-9], from a per-thread generator seeded by the system.
std::string random_token(std::size_t length);

// The request id of an exchange: the client's X-Request-Id when it is a sane token (1 to 128
// bytes of printable ASCII without spaces), so that a client's and a proxy's logs can be joined
// with ours; otherwise a fresh "req_" id. Nothing else a client sends could be logged safely.
std::string request_id_for(std::string_view given);

}  // namespace provhost::serve

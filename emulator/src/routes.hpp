// routes.hpp: from one parsed request to the bytes of its reply and what the connection does
// afterwards. The five upstream routes (recorded, subject to faults) and the control endpoints
// under /__emulator/ (not recorded). No socket I/O here: server.cpp writes the reply.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "render.hpp"
#include "state.hpp"

namespace provhost::emulator::detail {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

// What the connection does once the reply's bytes up to `limit` are written.
enum class After {
  next_request,  // keep-alive (or close when the client asked to)
  close,         // close mid-body: the client sees the connection end early
  reset,         // write nothing and abort with a TCP RST
  stall,         // keep the connection open, silent, until the client goes away
};

struct Reply {
  std::shared_ptr<const Wire> wire;
  std::size_t limit = 0;
  After after = After::next_request;
};

// A whole response with a Content-Length, written in one piece.
Reply small_reply(int status, std::string_view content_type, std::string_view body, const Head &extra = {});
Reply json_error(int status, std::string_view message);

Answer answer_for(Route route, bool stream, bool chatgptfree_json);

Reply respond(State &state, const Request &request);
// The route's answer without faults, exactly as the route sends it.
Reply raw_answer(State &state, Route route, bool stream);
Reply respond_control(State &state, const Request &request, std::string_view path, std::string_view query);

}  // namespace provhost::emulator::detail

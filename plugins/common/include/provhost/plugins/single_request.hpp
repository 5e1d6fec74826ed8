// single_request.hpp: the session shape of every protocol that is one request and one answer.
#pragma once

#include <optional>
#include <provhost/provider.hpp>
#include <utility>

namespace provhost::plugins {

// Hands the host its one request, then reports the answer complete; subclasses only parse the answer.
class SingleRequestSession : public Session {
 public:
  SingleRequestSession(Events events, HttpRequest request) : Session(events), request_(std::move(request)) {}

  std::optional<HttpRequest> next_request() override {
    if (sent_) return std::nullopt;
    sent_ = true;
    return request_;
  }

 private:
  HttpRequest request_;
  bool sent_ = false;
};

}  // namespace provhost::plugins

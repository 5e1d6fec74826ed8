// responses.hpp: OpenAI's Responses API (POST /v1/responses), the default of newer clients (the AI
// SDK's openai('model'), openai-node's responses.create), for text in and text out. The request
// becomes the same chat the chat-completions endpoint runs; the answer is written as one
// "response" object or as its stream of typed events (response.created ... response.completed).
// Stateless: previous_response_id and stored conversations are unsupported parameters.
#pragma once

#include <memory>
#include <provhost/serve/answer_format.hpp>
#include <provhost/serve/openai.hpp>
#include <string_view>
#include <variant>

namespace provhost::serve {

// `input` (a string, or message items whose content is a string or input_text/output_text parts),
// `instructions` (a system message first), `model`/`provider`, `stream`, `temperature`, `top_p`,
// `max_output_tokens`; include_usage is unused (a response always carries its usage).
std::variant<ChatRequest, ApiError> parse_responses_request(std::string_view body);

std::unique_ptr<AnswerFormat> responses_format();

}  // namespace provhost::serve

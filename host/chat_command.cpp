// provhost chat, in the engine module (engine_module.hpp): builds the conversation from --messages,
// --system and PROMPT, runs it on the engine and streams the answer's text to stdout as it arrives
// (the options are parsed in the executable, engine_commands.cpp).
#include <pthread.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/host_services.hpp>
#include <provhost/core/isolation.hpp>
#include <provhost/core/recording.hpp>
#include <provhost/core/request_options.hpp>
#include <provhost/text.hpp>
#include <thread>

#include "engine_module.hpp"

namespace provhost::host {
namespace {

// A problem with what the user gave us: reported as one line, exit code 2.
struct UsageError {
  std::string message;
};

std::string read_all(std::istream &in) { return std::string(std::istreambuf_iterator<char>(in), {}); }

std::string read_file(const std::filesystem::path &file) {
  std::error_code ignored;
  if (std::filesystem::is_directory(file, ignored)) {
    throw UsageError{"cannot read messages file " + file.string() + ": it is a directory"};
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UsageError{"cannot read messages file " + file.string() + ": " + std::strerror(errno)};
  std::string text = read_all(in);
  if (in.bad()) throw UsageError{"cannot read messages file " + file.string() + ": " + std::strerror(errno)};
  return text;
}

// An OpenAI-style content: a string, or an array of parts of which the "text" ones count.
std::optional<std::string> message_content(const rapidjson::Value &content) {
  if (content.IsString()) return std::string(content.GetString(), content.GetStringLength());
  if (!content.IsArray()) return std::nullopt;
  std::string text;
  for (const auto &part : content.GetArray()) {
    if (!part.IsObject()) return std::nullopt;
    auto type = part.FindMember("type");
    auto part_text = part.FindMember("text");
    if (type == part.MemberEnd() || !type->value.IsString() || std::string_view(type->value.GetString()) != "text" ||
        part_text == part.MemberEnd() || !part_text->value.IsString()) {
      return std::nullopt;
    }
    // Parts are separate pieces of text (a question, then a pasted file): keep them apart.
    if (&part != content.Begin()) text += '\n';
    text.append(part_text->value.GetString(), part_text->value.GetStringLength());
  }
  return text;
}

std::vector<core::Message> parse_messages(const std::string &json, const std::string &source) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (document.HasParseError()) {
    throw UsageError{source + ": malformed JSON at offset " + std::to_string(document.GetErrorOffset()) + ": " +
                     rapidjson::GetParseError_En(document.GetParseError())};
  }
  if (!document.IsArray()) throw UsageError{source + ": expected a JSON array of {\"role\", \"content\"} objects"};
  std::vector<core::Message> messages;
  size_t index = 0;
  for (const auto &item : document.GetArray()) {
    const std::string where = source + ": message " + std::to_string(index++);
    if (!item.IsObject()) throw UsageError{where + " is not an object"};
    auto role = item.FindMember("role");
    if (role == item.MemberEnd() || !role->value.IsString()) throw UsageError{where + " has no \"role\" string"};
    std::string role_name(role->value.GetString(), role->value.GetStringLength());
    if (role_name != "system" && role_name != "user" && role_name != "assistant") {
      throw UsageError{where + " has the role \"" + role_name + "\"; expected system, user or assistant"};
    }
    auto content = item.FindMember("content");
    std::optional<std::string> text;
    if (content != item.MemberEnd()) text = message_content(content->value);
    if (!text) throw UsageError{where + " has no \"content\" string (or array of text parts)"};
    messages.push_back({std::move(role_name), std::move(*text)});
  }
  return messages;
}

// What was piped into standard input, "" when it is a terminal: `git diff | provhost chat "describe
// this"` sends both. Ends with a newline, so that a PROMPT after it starts a line of its own.
std::string piped_input() {
  if (::isatty(STDIN_FILENO)) return {};
  std::string text = read_all(std::cin);
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

// --messages FILE, then --system first, then the user message last: piped stdin, then PROMPT.
std::vector<core::Message> conversation(const ChatOptions &options) {
  bool prompt_from_stdin = options.prompt == "-";
  bool messages_from_stdin = options.messages_file == "-";
  std::vector<core::Message> messages;
  if (!options.messages_file.empty()) {
    if (messages_from_stdin) {
      if (prompt_from_stdin) throw UsageError{"--messages - and PROMPT - cannot both read standard input"};
      messages = parse_messages(read_all(std::cin), "standard input");
    } else {
      messages = parse_messages(read_file(options.messages_file), options.messages_file.string());
    }
  }
  if (prompt_from_stdin) {
    std::string prompt = read_all(std::cin);
    if (prompt.empty()) throw UsageError{"no prompt: standard input was empty"};
    messages.push_back({"user", std::move(prompt)});
  } else {
    std::string prompt = messages_from_stdin ? std::string() : piped_input();
    prompt += options.prompt;
    if (!prompt.empty()) messages.push_back({"user", std::move(prompt)});
  }
  if (messages.empty()) throw UsageError{"no prompt: give PROMPT, - for stdin, or --messages FILE"};
  if (!options.system.empty()) messages.insert(messages.begin(), {"system", options.system});
  return messages;
}

// -o KEY=VALUE...: the options object for the provider. VALUE is JSON (0.2, ["a","b"], "x"); a
// value that is not JSON is taken as a string, so `-o stop=END` works without shell quoting.
std::string request_options_json(const std::vector<std::string> &assignments) {
  rapidjson::Document options(rapidjson::kObjectType);
  auto &allocator = options.GetAllocator();
  for (const std::string &assignment : assignments) {
    size_t equals = assignment.find('=');
    std::string key = assignment.substr(0, equals);
    const core::RequestOption *option = core::find_request_option(key);
    if (equals == std::string::npos || option == nullptr) {
      std::string known;
      for (const auto &each : core::request_options()) known += (known.empty() ? "" : ", ") + std::string(each.name);
      throw UsageError{"-o " + assignment + ": expected KEY=VALUE with KEY one of " + known};
    }
    std::string text = assignment.substr(equals + 1);
    rapidjson::Document value(&allocator);
    value.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
    if (value.HasParseError()) value.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
    if (!option->accepts(value)) {
      throw UsageError{"-o " + assignment + ": " + key + " must be " + std::string(option->expected)};
    }
    options.RemoveMember(key.c_str());  // given twice: the last one wins
    options.AddMember(rapidjson::Value(key.c_str(), allocator), rapidjson::Value(value, allocator), allocator);
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  options.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

// Writes all of `text` to stdout now, without a buffer in between.
void write_stdout(std::string_view text) {
  while (!text.empty()) {
    ssize_t written = ::write(STDOUT_FILENO, text.data(), text.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // stdout is gone; the answer has nowhere to go
    }
    text.remove_prefix(static_cast<size_t>(written));
  }
}

// Ctrl-C, when the process may end in the signal handler (see InterruptExit). Lock-free atomics
// only, as a handler may touch.
std::atomic<bool> interrupt_pending{false};
std::atomic<bool> writing_output{false};
std::atomic<bool> wrote_any_text{false};
bool stdout_is_terminal = false;

// Ends an interrupted chat as the engine's cancellation would: the text so far stays, a terminal
// gets its line ended, the status is 130. Async-signal-safe.
[[noreturn]] void end_interrupted() {
  if (wrote_any_text.load() && stdout_is_terminal) {
    ssize_t ignored = ::write(STDOUT_FILENO, "\n", 1);
    (void)ignored;
  }
  ::_exit(exit_interrupted);
}

void on_interrupt(int) {
  interrupt_pending.store(true);
  // A line being written is finished first (no character cut in two); its writer ends the process.
  if (!writing_output.load()) end_interrupted();
}

// Marks a write to stdout or stderr in progress, so that Ctrl-C waits for it to be whole. Ordering:
// a handler that found no write in progress set `interrupt_pending` first, so a write that starts
// afterwards sees it and does not start.
class WholeWrite {
 public:
  WholeWrite() {
    writing_output.store(true);
    if (interrupt_pending.load()) end_interrupted();
  }
  ~WholeWrite() {
    writing_output.store(false);
    if (interrupt_pending.load()) end_interrupted();
  }
  WholeWrite(const WholeWrite &) = delete;
  WholeWrite &operator=(const WholeWrite &) = delete;
};

class StdoutSink final : public core::ChatSink {
 public:
  StdoutSink(bool verbose, bool usage) : verbose_(verbose), usage_(usage) {}

  void on_start(const std::string &provider, const std::string &model) override {
    WholeWrite whole;
    if (verbose_)
      std::cerr << core::format_log_line(provider, PH_LOG_INFO, "answering with model " + model) << std::flush;
  }
  void on_text(std::string_view text) override {
    WholeWrite whole;
    wrote_text = true;
    wrote_any_text.store(true);
    write_stdout(text);
  }
  void on_warning(const std::string &provider, std::string_view message) override {
    WholeWrite whole;
    std::cerr << core::format_log_line(provider, PH_LOG_WARNING, message) << std::flush;
  }
  bool reads_usage() const override { return usage_; }
  void on_summary(const core::AnswerSummary &summary) override {
    if (!usage_) return;
    WholeWrite whole;
    std::cerr << "provhost: usage: " << summary.usage.prompt_tokens << " prompt + " << summary.usage.completion_tokens
              << " completion = " << summary.usage.total() << " tokens ("
              << (summary.usage_from_upstream ? "the upstream's count" : "estimated")
              << "); finish_reason: " << core::to_string(summary.finish_reason) << "\n"
              << std::flush;
  }
  void on_done() override { done = true; }
  void on_error(const core::ChatError &chat_error) override { error = chat_error; }

  bool wrote_text = false;
  bool done = false;
  std::optional<core::ChatError> error;

 private:
  bool verbose_;
  bool usage_;
};

// Turns SIGINT into a cancellation of the chat, for when the engine must end it in order: a
// recording (--record) is written when the chat ends, and a sanitized build checks for leaks at a
// normal exit. SIGINT is blocked in every thread (libcurl's resolver threads inherit the mask), and
// one thread waits for it, so no code runs in a signal handler.
class InterruptWatcher {
 public:
  explicit InterruptWatcher(std::shared_ptr<core::ChatHandle> handle) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);  // "the chat is over": ends the watcher
    pthread_sigmask(SIG_BLOCK, &signals, &previous_);
    watcher_ = std::thread([this, signals, handle = std::move(handle)] {
      int received = 0;
      while (sigwait(&signals, &received) == 0 && received == SIGINT) {
        interrupted_ = true;
        handle->cancel();
      }
    });
  }
  ~InterruptWatcher() {
    pthread_kill(watcher_.native_handle(), SIGUSR1);
    watcher_.join();
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  InterruptWatcher(const InterruptWatcher &) = delete;
  InterruptWatcher &operator=(const InterruptWatcher &) = delete;

  bool interrupted() const { return interrupted_; }

 private:
  sigset_t previous_;
  std::atomic<bool> interrupted_{false};
  std::thread watcher_;
};

// Otherwise Ctrl-C ends the process in its handler, with the status and output of a cancelled chat:
// the answer so far is on stdout already (written unbuffered), and a plugin worker dies with the
// host (PR_SET_PDEATHSIG). That saves `chat` the watcher's thread: starting it, its stack, waking it
// to end it and joining it were a tenth of a millisecond and two context switches of every chat.
class InterruptExit {
 public:
  InterruptExit() {
    stdout_is_terminal = ::isatty(STDOUT_FILENO);
    struct sigaction action {};
    action.sa_handler = &on_interrupt;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptExit() { ::sigaction(SIGINT, &previous_, nullptr); }
  InterruptExit(const InterruptExit &) = delete;
  InterruptExit &operator=(const InterruptExit &) = delete;

 private:
  struct sigaction previous_ {};
};

#ifdef PROVHOST_SANITIZED_BUILD
constexpr bool sanitized_build = true;
#else
constexpr bool sanitized_build = false;
#endif

}  // namespace

int run_chat(const GlobalOptions &global, const ChatOptions &options) {
  core::ChatSpec spec;
  try {
    spec.messages = conversation(options);
    spec.options_json = request_options_json(options.request_options);
  } catch (const UsageError &e) {
    std::cerr << "provhost: " << e.message << "\n";
    return exit_usage;
  }
  spec.provider = options.provider;
  spec.model = options.model;
  spec.stream = !options.no_stream;

  core::Registry registry(host_settings(global));
  load_plugins(registry, global, spec.provider);
  core::EngineOptions engine_options = config::engine_options(global.config);
  if (!options.record.empty()) {
    // Checked before the chat: a recording that cannot be written is a usage error, not a lost one.
    if (std::ofstream probe(options.record, std::ios::app); !probe) {
      std::cerr << "provhost: --record " << one_line(options.record.string()) << " cannot be written\n";
      return exit_usage;
    }
    engine_options.recorder = core::har_file_recorder(options.record);
  }
  core::Engine engine(registry, std::move(engine_options));
  auto sink = std::make_shared<StdoutSink>(options.verbose, options.usage);
  bool interrupted = false;
  if (options.record.empty() && !sanitized_build) {
    InterruptExit exit_on_interrupt;
    engine.submit(std::move(spec), sink);
    engine.run_until_idle();
  } else {
    // Submitting starts no thread: the watcher blocks SIGINT before libcurl's resolver threads exist.
    InterruptWatcher watcher(engine.submit(std::move(spec), sink));
    engine.run_until_idle();
    interrupted = watcher.interrupted();
  }
  if (sink->wrote_text && ::isatty(STDOUT_FILENO)) write_stdout("\n");
  if (sink->done) return exit_ok;
  if (interrupted) return exit_interrupted;
  std::cerr << "provhost: " << (sink->error ? one_line(sink->error->message()) : "the chat ended without an answer")
            << "\n";
  return sink->error ? core::info(sink->error->kind).exit_code : exit_internal_error;
}

}  // namespace provhost::host

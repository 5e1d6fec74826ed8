// The checks of `provhost validate`, as a worker runs them: one check per process, its findings
// written to the channel as lines. A check loads the plugin the way the host does
// (load_plugin_library with a fake host) and drives it with the SDK's test kit.
#include <elf.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <provhost/core/plugin_abi.hpp>
#include <provhost/core/plugin_loader.hpp>
#include <provhost/core/validate.hpp>
#include <provhost/testing/contract.hpp>
#include <provhost/testing/fake_host.hpp>
#include <provhost/testing/har.hpp>
#include <provhost/testing/session.hpp>
#include <provhost/text.hpp>
#include <random>
#include <thread>

#include "child.hpp"

namespace provhost::core {
namespace {

namespace kit = provhost::testing;
using Findings = std::vector<std::string>;

constexpr size_t max_models_checked = 64;  // a provider with thousands of models is sampled
constexpr size_t max_findings = 10;        // per check: the first ones tell the story

// ---- What the checks feed sessions ---------------------------------------------------------------

// Answers as the common protocols frame them, well formed.
const std::vector<std::string> &well_formed_bodies() {
  static const std::vector<std::string> bodies = {
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":"
      "\"lo \\u00e9\"}}]}\n\ndata: [DONE]\n\n",
      "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":"
      "\"stop\"}]}",
      "{\"event\":\"text\",\"data\":\"Hel\"}\n{\"event\":\"text\",\"data\":\"lo\"}\n{\"event\":\"done\"}\n",
      "data: \"Hel\"\n\ndata: \"lo\"\n\n",
      "Hello",
  };
  return bodies;
}

// The same shapes carrying what a careless decoder turns into invalid UTF-8 or forged lines: lone
// surrogate escapes, raw bytes that are not UTF-8, a character cut short, an overlong form, control
// characters, and error objects with line breaks in their messages.
const std::vector<std::string> &hostile_bodies() {
  static const std::vector<std::string> bodies = {
      "data: {\"choices\":[{\"delta\":{\"content\":\"a\\udc00b\"}}]}\n\ndata: [DONE]\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"\\ud800\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":"
      "\"\\udc00\"}}]}\n\ndata: [DONE]\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"\\ud83d\"}}]}\n\ndata: [DONE]\n\n",
      "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"x\\udc00\"}}]}",
      "{\"event\":\"text\",\"data\":\"\\udfff\"}\n{\"event\":\"done\"}\n",
      "data: \"\\udc00\"\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"\xff\xfe\"}}]}\n\ndata: [DONE]\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"\xc3\"}}]}\n\ndata: [DONE]\n\n",
      "data: {\"choices\":[{\"delta\":{\"content\":\"\xc0\xaf\xed\xa0\x80\"}}]}\n\ndata: [DONE]\n\n",
      "{\"event\":\"text\",\"data\":\"\xff\"}\n{\"event\":\"done\"}\n",
      "data: {\"error\":{\"message\":\"line one\\nline two\\u001b[31m\",\"code\":\"x\"}}\n\n",
      "{\"error\":{\"message\":\"bad\\r\\nX-Forged: 1\"}}",
      "\xff\xfe\x00\x01",
  };
  return bodies;
}

// What an upstream sends that is no answer at all.
std::vector<std::string> garbage_bodies() {
  std::vector<std::string> bodies = {
      "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body></body></html>",
      "{",
      "data: {",
      "data: [DONE",
      "null",
      "[]",
      "{\"choices\":[]}",
      "{\"choices\":[{\"delta\":null}]}",
      "data: {\"choices\":[{}]}\n\n",
      std::string(4096, '['),
      "\r\n\r\n",
      std::string(3, '\0'),
  };
  std::mt19937 random(20240229);  // the same bytes every run: a finding replays
  for (size_t length : {1, 17, 512, 8192}) {
    std::string bytes(length, '\0');
    for (char &c : bytes) c = static_cast<char>(random() & 0xff);
    bodies.push_back(bytes);
  }
  return bodies;
}

// ---- Loading -------------------------------------------------------------------------------------

struct Loaded {
  kit::FakeHost host;
  PluginLibraryLoad load;
};

// The plugin loaded as the host loads it; a finding when the host would reject it.
std::unique_ptr<Loaded> load(const std::filesystem::path &file, Findings &findings, uint32_t offered = PH_ABI_VERSION) {
  auto loaded = std::make_unique<Loaded>();
  loaded->load = load_plugin_library(file, *loaded->host.table(), offered);
  if (!loaded->load.library) {
    findings.push_back("the host rejects it: " + loaded->load.error);
    return nullptr;
  }
  return loaded;
}

std::vector<std::string> models_of(const ProviderMeta &meta) {
  std::vector<std::string> models = meta.models;
  if (models.empty()) models.push_back(meta.default_model.empty() ? "any-model" : meta.default_model);
  if (models.size() > max_models_checked) models.resize(max_models_checked);
  return models;
}

std::vector<kit::Chat> chats_for(const std::string &model) {
  std::vector<kit::Chat> chats;
  for (bool stream : {true, false}) {
    kit::Chat chat = kit::chat_of({{"system", "Be brief."}, {"user", "Hello"}}, model);
    chat.stream = stream;
    chats.push_back(chat);
  }
  return chats;
}

std::string chat_label(const kit::Chat &chat) {
  return "model " + kit::printable(chat.model, 60) + (chat.stream ? ", streaming" : ", not streaming");
}

void add(Findings &findings, const std::string &where, const std::vector<std::string> &violations) {
  for (const std::string &violation : violations)
    if (findings.size() < max_findings) findings.push_back(where + ": " + violation);
}

// A body as the answer to every request the session asks for, whole and in seeded random cuts.
void answer_with(const ph_provider &provider, const kit::Chat &chat, const kit::Response &response,
                 const std::string &label, Findings &findings) {
  const kit::Responder always = [&](const kit::Request &, size_t) { return std::optional<kit::Response>(response); };
  std::mt19937 random(7);
  const size_t size = response.body.size();
  std::vector<std::vector<size_t>> plans = {{}};
  if (size > 1) {
    std::vector<size_t> every_byte;
    for (size_t cut = 1; cut < size && cut < 4096; ++cut) every_byte.push_back(cut);
    plans.push_back(every_byte);
    for (int i = 0; i < 8; ++i) {
      std::vector<size_t> plan = {random() % size, random() % size};
      std::sort(plan.begin(), plan.end());
      plans.push_back(plan);
    }
  }
  std::optional<kit::Outcome> whole;
  for (const std::vector<size_t> &plan : plans) {
    const kit::CutPlanner cuts = [&](size_t, const std::string &) { return plan; };
    kit::Run run = kit::run_chat(provider, chat, always, cuts);
    const std::string where = chat_label(chat) + ", " + label + (plan.empty() ? "" : " (cut)");
    add(findings, where, run.violations);
    if (!whole) {
      whole = run.outcome;
    } else if (!run.outcome.same_answer(*whole) && findings.size() < max_findings) {
      findings.push_back(where + ": the answer depends on where the body is cut: " + run.outcome.summary() +
                         ", whole: " + whole->summary());
    }
    if (findings.size() >= max_findings) return;
  }
}

// ---- The checks ----------------------------------------------------------------------------------

// The ELF dynamic symbol table: every defined global or weak symbol but the entry is a finding.
Findings check_exports(const std::filesystem::path &file) {
  std::ifstream in(file, std::ios::binary);
  std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Findings findings;
  if (image.size() < sizeof(Elf64_Ehdr) || image.compare(0, SELFMAG, ELFMAG) != 0 || image[EI_CLASS] != ELFCLASS64)
    return {"not a 64-bit ELF file"};
  Elf64_Ehdr header;
  std::memcpy(&header, image.data(), sizeof header);
  if (header.e_shoff == 0 || header.e_shoff + uint64_t{header.e_shnum} * sizeof(Elf64_Shdr) > image.size())
    return {"its section headers are out of the file"};
  auto section = [&](size_t index) {
    Elf64_Shdr out;
    std::memcpy(&out, image.data() + header.e_shoff + index * sizeof(Elf64_Shdr), sizeof out);
    return out;
  };
  for (size_t i = 0; i < header.e_shnum; ++i) {
    const Elf64_Shdr symbols = section(i);
    if (symbols.sh_type != SHT_DYNSYM || symbols.sh_link >= header.e_shnum) continue;
    const Elf64_Shdr names = section(symbols.sh_link);
    if (symbols.sh_offset + symbols.sh_size > image.size() || names.sh_offset + names.sh_size > image.size())
      return {"its dynamic symbol table is out of the file"};
    for (size_t at = 0; at + sizeof(Elf64_Sym) <= symbols.sh_size; at += sizeof(Elf64_Sym)) {
      Elf64_Sym symbol;
      std::memcpy(&symbol, image.data() + symbols.sh_offset + at, sizeof symbol);
      const unsigned binding = ELF64_ST_BIND(symbol.st_info);
      if (symbol.st_shndx == SHN_UNDEF || (binding != STB_GLOBAL && binding != STB_WEAK) ||
          symbol.st_name >= names.sh_size)
        continue;
      const char *name = image.data() + names.sh_offset + symbol.st_name;
      const std::string_view symbol_name(name, strnlen(name, names.sh_size - symbol.st_name));
      if (symbol_name != PH_ENTRY_SYMBOL && findings.size() < max_findings)
        findings.push_back("exports " + kit::printable(symbol_name, 120) +
                           " besides " PH_ENTRY_SYMBOL " (build with provhost_add_plugin, or hide it)");
    }
    return findings;
  }
  return {"has no dynamic symbol table, so no entry symbol"};
}

Findings check_handshake(const std::filesystem::path &file, uint32_t offered) {
  Findings findings;
  const std::string version =
      std::to_string(PH_VERSION_MAJOR(offered)) + "." + std::to_string(PH_VERSION_MINOR(offered));
  kit::FakeHost host;
  PluginLibraryLoad load = load_plugin_library(file, *host.table(), offered);
  if (PH_VERSION_MAJOR(offered) != PH_ABI_VERSION_MAJOR) {
    if (load.library) return {"accepted a host of ABI " + version + ", another major"};
    if (load.error.rfind("the plugin refused to load", 0) != 0)
      return {"answered a host of ABI " + version + " with something else than PH_REFUSED: " + load.error};
    return findings;
  }
  if (!load.library) return {"a host offering ABI " + version + " rejects it: " + load.error};
  if (PH_VERSION_MINOR(load.library->negotiated_version()) > PH_VERSION_MINOR(offered))
    findings.push_back("answered a minor newer than the " + version + " offered");
  return findings;
}

Findings check_metadata(const std::filesystem::path &file) {
  Findings findings;
  std::unique_ptr<Loaded> loaded = load(file, findings);
  if (!loaded) return findings;
  if (auto defect = kit::metadata_defect(*loaded->load.library->provider())) findings.push_back(*defect);
  return findings;
}

Findings check_open_close(const std::filesystem::path &file) {
  Findings findings;
  std::unique_ptr<Loaded> loaded = load(file, findings);
  if (!loaded) return findings;
  const ph_provider &provider = *loaded->load.library->provider();
  for (const std::string &model : models_of(loaded->load.meta)) {
    for (const kit::Chat &chat : chats_for(model)) {
      kit::Session session(provider, chat);
      if (session.open_status() != PH_OK && findings.size() < max_findings)
        findings.push_back(chat_label(chat) + ": a plain chat does not open: " + session.outcome().summary());
      session.close();
      add(findings, chat_label(chat), session.violations());
    }
  }
  return findings;
}

Findings check_requests(const std::filesystem::path &file) {
  Findings findings;
  std::unique_ptr<Loaded> loaded = load(file, findings);
  if (!loaded) return findings;
  const ph_provider &provider = *loaded->load.library->provider();
  const kit::Responder none = [](const kit::Request &, size_t) { return std::optional<kit::Response>(); };
  for (const std::string &model : models_of(loaded->load.meta)) {
    for (const kit::Chat &chat : chats_for(model)) {
      kit::Run run = kit::run_chat(provider, chat, none);
      add(findings, chat_label(chat), run.violations);
      if (run.requests.empty() && run.outcome.errors.empty() && findings.size() < max_findings)
        findings.push_back(chat_label(chat) + ": asked for no request and reported no error");
    }
  }
  return findings;
}

// Every body of `bodies` with `status` as the answer to every request, for the default model.
Findings check_answers(const std::filesystem::path &file, const std::vector<std::string> &bodies, int status) {
  Findings findings;
  std::unique_ptr<Loaded> loaded = load(file, findings);
  if (!loaded) return findings;
  const ph_provider &provider = *loaded->load.library->provider();
  for (const kit::Chat &chat : chats_for(models_of(loaded->load.meta).front())) {
    for (size_t i = 0; i < bodies.size() && findings.size() < max_findings; ++i) {
      kit::Response response{status, {{"Content-Type", "text/event-stream"}}, bodies[i]};
      answer_with(provider, chat, response, "HTTP " + std::to_string(status) + " body " + std::to_string(i + 1),
                  findings);
    }
  }
  return findings;
}

Findings check_truncated(const std::filesystem::path &file) {
  std::vector<std::string> bodies;
  for (const std::string &body : well_formed_bodies())
    for (size_t keep : {body.size() / 3, body.size() / 2, body.size() - 1}) bodies.push_back(body.substr(0, keep));
  return check_answers(file, bodies, 200);
}

// 32 sessions at once, 8 on each of 4 threads, each answered by a well-formed or a hostile body.
Findings check_concurrency(const std::filesystem::path &file) {
  Findings findings;
  std::unique_ptr<Loaded> loaded = load(file, findings);
  if (!loaded) return findings;
  const ph_provider &provider = *loaded->load.library->provider();
  const std::string model = models_of(loaded->load.meta).front();
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int thread = 0; thread < 4; ++thread) {
    threads.emplace_back([&, thread] {
      std::vector<std::unique_ptr<kit::Session>> sessions;
      for (int i = 0; i < 8; ++i) {
        kit::Chat chat = kit::chat_of({{"user", "Hello " + std::to_string(thread * 8 + i)}}, model);
        sessions.push_back(std::make_unique<kit::Session>(provider, chat));
      }
      // The sessions' calls interleave on this thread, as a lane's do.
      const std::vector<std::string> &bodies = (thread % 2) ? hostile_bodies() : well_formed_bodies();
      for (size_t round = 0; round < 8; ++round) {
        for (size_t i = 0; i < sessions.size(); ++i) {
          kit::Session &session = *sessions[i];
          if (session.over()) continue;
          if (!session.next_request()) continue;
          session.respond(kit::Response{200, {}, bodies[(i + round) % bodies.size()]}, {round + 1});
        }
      }
      std::lock_guard lock(mutex);
      for (auto &session : sessions) {
        session->close();
        add(findings, "thread " + std::to_string(thread), session->violations());
      }
    });
  }
  for (std::thread &thread : threads) thread.join();
  return findings;
}

// A recording: the replay gives the recorded answer, in every split of its responses too.
Findings check_har(const std::filesystem::path &file, const std::string &har_file) {
  Findings findings;
  std::unique_ptr<Loaded> loaded = load(file, findings);
  if (!loaded) return findings;
  const ph_provider &provider = *loaded->load.library->provider();
  kit::Har har;
  try {
    har = kit::read_har_file(har_file);
  } catch (const std::exception &e) {
    return {e.what()};
  }
  std::optional<kit::Chat> chat = har.chat;
  if (!chat) chat = kit::chat_of({{"user", "Hello"}});
  if (chat->model.empty()) chat->model = loaded->load.meta.default_model;
  kit::Replay replay = kit::replay_har(provider, har, chat);
  add(findings, "replay", replay.run.violations);
  add(findings, "replay", replay.problems);
  kit::SplitReport splits =
      kit::check_splits(provider, *chat, kit::recorded_responder(har, loaded->load.meta.name), 24);
  for (const std::string &problem : splits.problems)
    if (findings.size() < max_findings && problem.rfind("whole: ", 0) != 0) findings.push_back("split " + problem);
  return findings;
}

Findings run_check(const std::filesystem::path &file, const std::string &check) {
  if (check == "exports") return check_exports(file);
  if (check == "handshake-oldest") return check_handshake(file, PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR, 0));
  if (check == "handshake-newer-minor")
    return check_handshake(file, PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR, PH_ABI_VERSION_MINOR + 1));
  if (check == "handshake-other-major") return check_handshake(file, PH_MAKE_VERSION(PH_ABI_VERSION_MAJOR + 1, 0));
  if (check == "metadata") return check_metadata(file);
  if (check == "sessions-open-close") return check_open_close(file);
  if (check == "requests") return check_requests(file);
  if (check == "answers-well-formed") return check_answers(file, well_formed_bodies(), 200);
  if (check == "answers-empty") return check_answers(file, {""}, 200);
  if (check == "answers-garbage") return check_answers(file, garbage_bodies(), 200);
  if (check == "answers-hostile-text") return check_answers(file, hostile_bodies(), 200);
  if (check == "answers-truncated") return check_truncated(file);
  if (check == "answers-http-4xx") {
    Findings findings = check_answers(file, {"{\"error\":{\"message\":\"bad\"}}", ""}, 400);
    for (int status : {401, 403, 404, 429}) {
      Findings more = check_answers(file, {"{\"error\":{\"message\":\"no\"}}"}, status);
      findings.insert(findings.end(), more.begin(), more.end());
    }
    return findings;
  }
  if (check == "answers-http-5xx") {
    Findings findings;
    for (int status : {500, 502, 503, 504}) {
      Findings more = check_answers(file, {"{\"error\":{\"message\":\"down\"}}", "<html>Bad gateway</html>"}, status);
      findings.insert(findings.end(), more.begin(), more.end());
    }
    return findings;
  }
  if (check == "answers-redirect") return check_answers(file, {""}, 302);
  if (check == "concurrent-sessions") return check_concurrency(file);
  if (check.rfind("har:", 0) == 0) return check_har(file, check.substr(4));
  return {"unknown check " + kit::printable(check)};
}

}  // namespace

std::vector<ValidationCheck> validation_checks(const std::vector<std::filesystem::path> &hars) {
  std::vector<ValidationCheck> checks = {
      {"exports", "only " PH_ENTRY_SYMBOL " is exported"},
      {"handshake-oldest", "a host offering ABI 1.0 loads it"},
      {"handshake-newer-minor", "a host offering a newer minor loads it, and it answers no newer minor"},
      {"handshake-other-major", "it refuses a host of another major"},
      {"metadata", "its metadata keeps the rules"},
      {"sessions-open-close", "for every model, a session opens and closes without requests"},
      {"requests", "every first request is http(s) with valid headers"},
      {"answers-well-formed", "common answer framings end in one finish or error, however cut"},
      {"answers-empty", "an empty body ends in one finish or error"},
      {"answers-garbage", "garbage ends in one finish or error"},
      {"answers-hostile-text",
       "lone surrogates, bytes that are not UTF-8, and line breaks in messages give only "
       "UTF-8 text and one-line messages"},
      {"answers-truncated", "a truncated answer ends in one finish or error"},
      {"answers-http-4xx", "HTTP 4xx ends in one error"},
      {"answers-http-5xx", "HTTP 5xx ends in one error"},
      {"answers-redirect", "HTTP 302 ends in one finish or error"},
      {"concurrent-sessions", "32 sessions at once on 4 threads keep the contract"},
  };
  for (const std::filesystem::path &har : hars)
    checks.push_back({"har:" + har.string(), "the recorded answers replay to the recorded text, however cut"});
  return checks;
}

int run_validation_check(const std::filesystem::path &file, const std::string &check, int channel) {
  Findings findings;
  try {
    findings = run_check(file, check);
  } catch (const std::exception &e) {
    findings.push_back(std::string("an exception crossed into the host: ") + e.what());
  } catch (...) {
    findings.push_back("an exception crossed into the host");
  }
  std::string out;
  for (const std::string &finding : findings) out += "fail " + one_line(finding) + "\n";
  out += "done\n";
  return isolation::write_all(channel, out.data(), out.size()) ? 0 : 1;
}

}  // namespace provhost::core

// provhost list [--json]: the providers that loaded, then the files that were rejected and why.
#include <iostream>
#include <memory>
#include <provhost/core/catalogue.hpp>
#include <provhost/core/registry.hpp>
#include <provhost/text.hpp>

#include "commands.hpp"
#include "config/instances.hpp"

namespace provhost::host {
namespace {

std::string joined(const std::vector<std::string> &items, std::string_view separator) {
  std::string out;
  for (const auto &item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string counted(size_t count, std::string_view singular, std::string_view plural) {
  return std::to_string(count) + " " + std::string(count == 1 ? singular : plural);
}

void print_table(const std::vector<std::vector<std::string>> &rows) {
  std::vector<size_t> widths;
  for (const auto &row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto &row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << '\n';
  }
}

void print_text(const core::Registry &registry, const std::vector<std::filesystem::path> &searched) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "VERSION", "WORKING", "DEFAULT MODEL", "MODELS", "CAPABILITIES", "FILE"}};
  for (const auto &provider : registry.providers()) {
    const core::ProviderMeta &meta = provider->meta;
    rows.push_back(
        {meta.name, meta.version, meta.working ? "yes" : "no", meta.default_model.empty() ? "-" : meta.default_model,
         meta.models.empty() ? "any" : std::to_string(meta.models.size()),
         meta.capabilities.empty() ? "-" : joined(meta.capabilities, ","), one_line(provider->file.string())});
  }
  if (!registry.providers().empty()) print_table(rows);

  if (!registry.rejected().empty()) {
    if (!registry.providers().empty()) std::cout << '\n';
    std::cout << "Rejected files:\n";
    // A file's name and a plugin's words in a reason are shown, never obeyed: no line can be forged.
    for (const auto &rejected : registry.rejected())
      std::cout << "  " << one_line(rejected.file.string()) << ": " << one_line(rejected.reason) << '\n';
  }
  if (!registry.providers().empty() || !registry.rejected().empty()) std::cout << '\n';
  std::cout << counted(registry.providers().size(), "provider", "providers") << ", "
            << counted(registry.rejected().size(), "rejected file", "rejected files");
  if (registry.providers().empty()) {
    std::vector<std::string> folders;
    for (const auto &folder : searched) folders.push_back(one_line(folder.string()));
    std::cout << " (searched: " << (folders.empty() ? "nothing" : joined(folders, ", ")) << ")";
  }
  std::cout << '\n';
}

}  // namespace

Command add_list_command(CLI::App &app, const GlobalOptions &global) {
  auto json = std::make_shared<bool>(false);
  CLI::App *list = app.add_subcommand("list", "List the providers that loaded, and the files that did not");
  list->add_flag("--json", *json, "Print one JSON object");
  return {list, [&global, json] {
            core::Registry registry(host_settings(global));
            isolate_plugins(registry, global);
            std::vector<std::filesystem::path> searched = plugin_folders(global);
            registry.load(searched);
            registry.load_instances(config::instance_specs(global.config));
            if (*json)
              std::cout << core::providers_json(registry) << '\n';
            else
              print_text(registry, searched);
            return static_cast<int>(exit_ok);
          }};
}

}  // namespace provhost::host

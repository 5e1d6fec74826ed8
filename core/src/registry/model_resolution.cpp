// Which provider answers, and with which model: the rules of registry.hpp's resolve().
#include <algorithm>
#include <provhost/text.hpp>
#include <unordered_set>

#include "provhost/core/registry.hpp"

namespace provhost::core {
namespace {

std::string joined(const std::vector<std::string> &items) {
  std::string out;
  for (const auto &item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

// The names a message lists for the user: at most this many, then how many there are in all, so that
// a provider with 100,000 models neither makes a 2 MB error line nor costs more than linear time.
constexpr size_t names_shown = 20;

// `names` with repeats left out (the first of each kept), as "a, b, c", at most names_shown of them.
std::string listed(const std::vector<const std::string *> &names) {
  std::unordered_set<std::string_view> seen;
  std::string out;
  size_t shown = 0, distinct = 0;
  for (const std::string *name : names) {
    if (!seen.insert(*name).second) continue;
    ++distinct;
    if (shown == names_shown) continue;
    if (shown++) out += ", ";
    out += *name;
  }
  if (distinct > shown) out += ", ... (" + std::to_string(distinct) + " in all)";
  return out;
}

std::vector<const std::string *> pointers(const std::vector<std::string> &names) {
  std::vector<const std::string *> out;
  out.reserve(names.size());
  for (const std::string &name : names) out.push_back(&name);
  return out;
}

std::vector<std::string> provider_names(const std::vector<ProviderPtr> &providers) {
  std::vector<std::string> names;
  for (const auto &provider : providers) names.push_back(provider->meta.name);
  return names;
}

ResolveResult failure(ResolveResult::Kind kind, std::string error) {
  ResolveResult result;
  result.kind = kind;
  result.error = std::move(error);
  return result;
}

ResolveResult unknown_provider(std::string_view name, const std::vector<ProviderPtr> &providers) {
  std::string error = "unknown provider " + in_quotes(name);
  error += providers.empty() ? "; no providers are loaded" : "; loaded providers: " + joined(provider_names(providers));
  return failure(ResolveResult::Kind::unknown_provider, std::move(error));
}

}  // namespace

Result<std::string> resolve_model(const ProviderMeta &provider, std::string_view requested) {
  if (requested.empty()) {
    if (provider.default_model.empty()) {
      return make_error(ErrorKind::model_not_found, "",
                        provider.name + " has no default model; name one with -m MODEL");
    }
    return provider.default_model;
  }
  for (const auto &[alias, target] : provider.aliases) {
    if (alias == requested) return target;
  }
  if (provider.models.empty() ||
      std::find(provider.models.begin(), provider.models.end(), requested) != provider.models.end()) {
    return std::string(requested);
  }
  std::string error = "model not found: " + provider.name + " has no model " + in_quotes(requested) +
                      "; its models: " + listed(pointers(provider.models));
  if (!provider.aliases.empty()) {
    std::vector<const std::string *> aliases;
    for (const auto &alias : provider.aliases) aliases.push_back(&alias.first);
    error += " (aliases: " + listed(aliases) + ")";
  }
  return make_error(ErrorKind::model_not_found, "", std::move(error));
}

ResolveResult Registry::resolve(std::string_view provider, std::string_view model) const {
  const std::shared_ptr<const RegistrySnapshot> current = snapshot();
  const std::vector<ProviderPtr> &loaded = current->providers;
  auto find = [&current](std::string_view name) { return current->find(name); };
  ProviderPtr chosen;
  std::string_view requested_model = model;
  if (!provider.empty()) {
    chosen = find(provider);
    if (!chosen) return unknown_provider(provider, loaded);
    // "-p Ylokh -m Ylokh/gpt-4" says the same thing twice.
    if (size_t slash = model.find('/'); slash != std::string_view::npos && find(model.substr(0, slash)) == chosen)
      requested_model = model.substr(slash + 1);
  } else if (size_t slash = model.find('/'); slash != std::string_view::npos) {
    // Model names may contain '/' themselves ("meta-llama/Llama-2"), so only a loaded provider's
    // name before the slash makes it the "Provider/model" form.
    if ((chosen = find(model.substr(0, slash)))) requested_model = model.substr(slash + 1);
  }

  if (chosen) {
    ResolveResult result;
    Result<std::string> resolved = resolve_model(chosen->meta, requested_model);
    if (!resolved) return failure(ResolveResult::Kind::model_not_found, resolved.error().detail);
    result.candidates.push_back(Resolution{chosen, std::move(*resolved)});
    return result;
  }

  const ResolutionPreferences &preferred = preferences();
  if (auto chain = preferred.model_providers.find(model); chain != preferred.model_providers.end()) {
    ResolveResult result;
    for (const std::string &name : chain->second) {
      ProviderPtr candidate = find(name);
      if (!candidate || !candidate->meta.working) continue;
      auto same = [candidate](const Resolution &r) { return r.provider == candidate; };
      if (std::any_of(result.candidates.begin(), result.candidates.end(), same)) continue;
      if (Result<std::string> resolved = resolve_model(candidate->meta, requested_model))
        result.candidates.push_back(Resolution{candidate, std::move(*resolved)});
    }
    if (result.candidates.empty()) {
      return failure(ResolveResult::Kind::model_not_found, "model not found: none of the providers configured for " +
                                                               in_quotes(model) + " (" + joined(chain->second) +
                                                               ") is loaded, working and offers it");
    }
    return result;
  }

  ResolveResult result;
  bool any_working = false;
  for (const auto &candidate : loaded) {
    if (!candidate->meta.working) continue;
    any_working = true;
    if (Result<std::string> resolved = resolve_model(candidate->meta, requested_model))
      result.candidates.push_back(Resolution{candidate, std::move(*resolved)});
  }
  if (!result.candidates.empty()) {
    // The configured order first, then load order: a stable sort by rank keeps the rest as loaded.
    auto rank = [&](const Resolution &r) {
      for (size_t i = 0; i < preferred.provider_order.size(); ++i) {
        if (find(preferred.provider_order[i]) == r.provider) return i;
      }
      return preferred.provider_order.size();
    };
    std::stable_sort(result.candidates.begin(), result.candidates.end(),
                     [&](const Resolution &a, const Resolution &b) { return rank(a) < rank(b); });
    return result;
  }

  if (!any_working) {
    return failure(ResolveResult::Kind::model_not_found,
                   loaded.empty() ? "no providers are loaded (see provhost list)"
                                  : "no working provider is loaded; choose one with -p NAME (see provhost list)");
  }
  if (size_t slash = model.find('/'); slash != std::string_view::npos)
    return unknown_provider(model.substr(0, slash), loaded);
  if (model.empty())
    return failure(ResolveResult::Kind::model_not_found,
                   "no working provider has a default model; name one with -m MODEL");
  std::vector<const std::string *> offered;
  for (const auto &candidate : loaded) {
    if (!candidate->meta.working) continue;
    for (const auto &name : candidate->meta.models) offered.push_back(&name);
  }
  return failure(ResolveResult::Kind::model_not_found, "model not found: no working provider offers " +
                                                           in_quotes(model) +
                                                           "; working providers' models: " + listed(offered));
}

ResolveResult keep_declaring(ResolveResult resolved, const std::vector<std::string> &required) {
  for (const std::string &capability : required) {
    if (resolved.candidates.empty()) return resolved;
    std::vector<Resolution> declaring;
    for (Resolution &candidate : resolved.candidates) {
      if (candidate.provider->meta.has_capability(capability)) declaring.push_back(std::move(candidate));
    }
    if (declaring.empty()) {
      std::vector<std::string> names;
      for (const Resolution &candidate : resolved.candidates) names.push_back(candidate.provider->meta.name);
      return failure(ResolveResult::Kind::lacks_capability,
                     "no provider this request could go to (" + joined(names) + ") declares " + in_quotes(capability));
    }
    resolved.candidates = std::move(declaring);
  }
  return resolved;
}

}  // namespace provhost::core

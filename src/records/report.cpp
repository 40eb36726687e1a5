#include "cifar_exp/records/report.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/logging.h"
#include "cifar_exp/records/run_records.h"
#include "cifar_exp/records/sweep_folder.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

// Plots larger than this are linked by name rather than inlined (a page stays mailable).
constexpr uintmax_t kMaxInlinedPlotBytes = 8u << 20;

const char* const kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 64rem; padding: 1rem; line-height: 1.45; color: #1b1b1b; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left;
         vertical-align: top; }
th, .num { white-space: nowrap; }
th { background: #f3f3f3; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.note, .meta { color: #555; font-size: 0.85rem; }
figure { margin: 1rem 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
code { font-size: 0.85rem; }
)";

std::string base64(const std::string& bytes) {
  static const char* const kDigits =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = 0;
    for (size_t k = 0; k < 3; ++k) v = (v << 8) | (k < n ? uint8_t(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kDigits[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw OutputError(path.string() + ": cannot read");
  return text.str();
}

std::string cell(const std::string& text, bool numeric = false) {
  return std::string(numeric ? "<td class=\"num\">" : "<td>") + html_escape(text) + "</td>";
}

// A resolved config as "section.key" -> value text, less what names or places a run rather than
// describing its settings (the seed is shown with the seeds).
std::map<std::string, std::string> settings_of(const json& config) {
  std::map<std::string, std::string> out;
  if (!config.is_object()) return out;
  const json flat = config.flatten();  // kept: items() refers to it
  for (const auto& [pointer, value] : flat.items()) {
    std::string key = pointer.substr(1);
    std::replace(key.begin(), key.end(), '/', '.');
    if (key == "name" || key == "description" || key == "training.seed" || key == "data.dir" ||
        key.rfind("output.", 0) == 0)
      continue;
    out[key] = value.is_string() ? value.get<std::string>() : value.dump();
  }
  return out;
}

std::string question_section(const std::vector<ComparisonRow>& rows) {
  std::string text =
      "<h2>The question</h2>\n<p>On CIFAR-10, what do data augmentation and transfer learning "
      "from an ImageNet-pretrained VGG16 each bring, alone and together? Each row below is one "
      "configuration: its test accuracy over seeds (mean &plusmn; standard deviation) and its "
      "difference from the baseline with a 95% Welch interval and p-value.</p>\n";
  const bool random_backbone =
      std::any_of(rows.begin(), rows.end(), [](auto& r) { return r.transfer == "random"; });
  if (random_backbone) {
    text +=
        "<p class=\"note\">Rows whose transfer is <code>random</code> used a randomly "
        "initialised VGG16 backbone (no ImageNet weights were given): they are not transfer "
        "learning.</p>\n";
  }
  return text;
}

std::string plots_section(const std::string& plots_dir) {
  std::string text = "<h2>Plots</h2>\n";
  std::vector<fs::path> pngs;
  std::error_code ec;
  if (!plots_dir.empty() && fs::is_directory(plots_dir, ec)) {
    for (const auto& entry : fs::directory_iterator(plots_dir, ec))
      if (entry.path().extension() == ".png" && entry.is_regular_file(ec))
        pngs.push_back(entry.path());
  }
  std::sort(pngs.begin(), pngs.end());
  if (pngs.empty()) {
    return text + "<p class=\"note\">No plots" +
           (plots_dir.empty() ? std::string() : " in " + html_escape(plots_dir)) +
           ": <code>scripts/plot_runs.py DIR --out DIR/plots</code> draws them (a sweep does "
           "when Python with matplotlib is there).</p>\n";
  }
  for (const auto& png : pngs) {
    const std::string name = html_escape(png.filename().string());
    if (fs::file_size(png, ec) > kMaxInlinedPlotBytes) {
      text += "<p class=\"note\">" + name + ": too large to inline (see the file).</p>\n";
      continue;
    }
    text += "<figure><img alt=\"" + name + "\" src=\"data:image/png;base64," +
            base64(read_bytes(png)) + "\"><figcaption>" + name + "</figcaption></figure>\n";
  }
  return text;
}

// The settings of each row (its first run's config.json): those that differ between rows as a
// table, the rest once.
std::string settings_section(const std::vector<ComparisonRow>& rows,
                             const std::map<std::string, const RunRecord*>& by_dir,
                             const std::vector<RunRecord>& runs) {
  std::vector<std::map<std::string, std::string>> settings;
  std::set<std::string> keys;
  for (const auto& row : rows) {
    const RunRecord* first = nullptr;
    if (!row.seeds.empty() && by_dir.count(row.seeds.front().dir))
      first = by_dir.at(row.seeds.front().dir);
    for (size_t i = 0; !first && i < runs.size(); ++i)
      if (runs[i].name == row.name && runs[i].config.is_object()) first = &runs[i];
    settings.push_back(first ? settings_of(first->config) : std::map<std::string, std::string>{});
    for (const auto& [key, value] : settings.back()) keys.insert(key);
  }
  std::vector<std::string> differ, shared;
  for (const auto& key : keys) {
    std::set<std::string> values;
    for (const auto& s : settings) values.insert(s.count(key) ? s.at(key) : "-");
    (values.size() > 1 ? differ : shared).push_back(key);
  }
  std::string text = "<h2>Settings</h2>\n";
  if (differ.empty()) {
    text += "<p>Every row has the same settings (rows differ by name only).</p>\n";
  } else {
    text +=
        "<p>What differs between rows (each row's first run's <code>config.json</code>):</p>\n"
        "<div class=\"scroll\"><table>\n<thead><tr><th>key</th>";
    for (const auto& row : rows) text += "<th>" + html_escape(row.label()) + "</th>";
    text += "</tr></thead>\n<tbody>\n";
    for (const auto& key : differ) {
      text += "<tr><td><code>" + html_escape(key) + "</code></td>";
      for (const auto& s : settings) text += cell(s.count(key) ? s.at(key) : "-");
      text += "</tr>\n";
    }
    text += "</tbody></table></div>\n";
  }
  if (!shared.empty() && !settings.empty()) {
    text += "<details><summary>Shared by every row (" + std::to_string(shared.size()) +
            " keys)</summary>\n<div class=\"scroll\"><table>\n<tbody>\n";
    for (const auto& key : shared) {
      const auto& first = settings.front();
      text += "<tr><td><code>" + html_escape(key) + "</code></td>" +
              cell(first.count(key) ? first.at(key) : "-") + "</tr>\n";
    }
    text += "</tbody></table></div></details>\n";
  }
  return text;
}

std::string seeds_section(const std::vector<ComparisonRow>& rows) {
  std::string text =
      "<h2>Seeds</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th>configuration</th>"
      "<th class=\"num\">seed</th><th class=\"num\">test accuracy</th><th>run folder</th></tr>"
      "</thead>\n<tbody>\n";
  for (const auto& row : rows) {
    for (const auto& seed : row.seeds) {
      std::ostringstream accuracy;
      accuracy.setf(std::ios::fixed);
      accuracy.precision(2);
      accuracy << 100 * seed.test_accuracy << "%";
      text +=
          "<tr>" + cell(row.label()) + cell(seed.seed ? std::to_string(*seed.seed) : "-", true) +
          cell(accuracy.str(), true) + "<td><code>" + html_escape(seed.dir) + "</code></td></tr>\n";
    }
    for (const auto& dir : row.incomplete_dirs) {
      text += "<tr>" + cell(row.label()) + cell("-", true) + cell("incomplete", true) +
              "<td><code>" + html_escape(dir) + "</code></td></tr>\n";
    }
  }
  return text + "</tbody></table></div>\n";
}

// Where the results come from: each distinct (machine, libtorch, device, convolution path, code)
// among the completed runs, with how many runs it gave.
std::string provenance_section(const std::vector<RunRecord>& runs) {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"cpu", "CPU"},
      {"gpu", "GPU"},
      {"host", "host"},
      {"libtorch", "libtorch"},
      {"convolution", "convolution"},
      {"cifar_exp_version", "cifar-exp"},
      {"git_commit", "commit"}};
  std::map<std::vector<std::string>, int> counts;
  for (const auto& run : runs) {
    if (!run.complete()) continue;
    const json& p = run.summary.provenance;
    std::vector<std::string> key;
    for (const auto& [field, header] : fields) {
      const json value = p.is_object() && p.contains(field) ? p[field] : json(nullptr);
      key.push_back(value.is_null()     ? "-"
                    : value.is_string() ? value.get<std::string>()
                                        : value.dump());
    }
    key.push_back(run.summary.device.empty() ? "-" : run.summary.device);
    ++counts[key];
  }
  std::string text = "<h2>Provenance</h2>\n";
  if (counts.empty()) return text + "<p>No completed run.</p>\n";
  text += "<div class=\"scroll\"><table>\n<thead><tr>";
  for (const auto& field : fields) text += "<th>" + html_escape(field.second) + "</th>";
  text += "<th>device</th><th class=\"num\">runs</th></tr></thead>\n<tbody>\n";
  for (const auto& [key, count] : counts) {
    text += "<tr>";
    for (const auto& value : key) text += cell(value);
    text += cell(std::to_string(count), true) + "</tr>\n";
  }
  return text + "</tbody></table></div>\n";
}

}  // namespace

std::string report_html(const ReportOptions& options) {
  const auto runs = find_runs(options.paths);
  if (runs.empty()) throw ConfigError(no_run_folders_message(options.paths));
  CompareOptions compare = options.compare;
  compare.order = read_sweep_order(options.paths);
  const auto rows = compare_runs(runs, compare);
  std::map<std::string, const RunRecord*> by_dir;
  for (const auto& run : runs) by_dir[run.dir] = &run;
  std::string plots = options.plots_dir;
  std::error_code ec;
  const std::string folder_plots = SweepFolder(options.paths.front()).plots();
  if (plots.empty() && fs::is_directory(folder_plots, ec)) plots = folder_plots;

  std::string where;
  for (const auto& path : options.paths) where += (where.empty() ? "" : ", ") + path;
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>cifar-exp report: " +
      html_escape(where) + "</title>\n<style>" + kStyle +
      "</style>\n</head>\n<body>\n<h1>CIFAR-10: augmentation and transfer learning"
      "</h1>\n<p class=\"meta\">" +
      std::to_string(runs.size()) + " run folder(s) in <code>" + html_escape(where) +
      "</code>; report made by cifar-exp " + CIFAR_EXP_VERSION + " at " + iso_utc_now() + ".</p>\n";
  html += question_section(rows);
  html += "<h2>Results</h2>\n" + format_html(rows, options.compare.columns);
  html += "<details><summary>Every column</summary>\n" + format_html(rows, "all") + "</details>\n";
  html += plots_section(plots);
  html += settings_section(rows, by_dir, runs);
  html += seeds_section(rows);
  html += provenance_section(runs);
  return html + "</body>\n</html>\n";
}

std::string default_report_path(const std::vector<std::string>& paths) {
  std::error_code ec;
  if (paths.size() != 1 || !fs::is_directory(paths.front(), ec)) {
    throw ConfigError(
        "report: --out FILE is needed for " +
        std::string(paths.size() == 1 ? "a path that is not a folder" : "several paths") +
        " (one folder's report goes to FOLDER/report.html)");
  }
  return SweepFolder(paths.front()).report();
}

}  // namespace cifar_exp

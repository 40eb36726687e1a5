#include "cifar_exp/comparison.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include "cifar_exp/config.h"
#include "cifar_exp/errors.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

bool is_run_folder(const fs::path& dir) {
  for (const char* f : {"summary.json", "metrics.csv", "config.json", "failure.json"}) {
    if (fs::is_regular_file(dir / f)) return true;
  }
  return false;
}

std::optional<json> try_read_json(const fs::path& file, std::string& problem) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    problem = file.filename().string() + " unreadable";
    return std::nullopt;
  }
}

// "no_aug_no_tl-20261128T040129Z-2" -> "no_aug_no_tl".
std::string name_from_folder(const std::string& folder) {
  const auto pos = folder.find("-20");
  return pos == std::string::npos ? folder : folder.substr(0, pos);
}

RunRecord read_run(const fs::path& dir) {
  RunRecord run;
  run.dir = dir.string();
  std::string problem;
  if (auto summary = try_read_json(dir / "summary.json", problem)) {
    run.summary = *summary;
    run.name = run.summary.value("name", "");
    run.status = run.summary.value("status", "completed");
    if (!run.complete()) run.problem = run.status;
  } else if (auto failure = try_read_json(dir / "failure.json", problem)) {
    run.summary = *failure;
    run.name = failure->value("name", "");
    run.status = "failed";
    run.problem = failure->value("error", "failed");
    // What the run would have been, from its config, so the table row says what is missing.
    try {
      const auto config = load_config(failure->value("config", ""));
      run.summary["model"] = config.model.type;
      run.summary["augmentation"] = config.augmentation.enabled;
      run.summary["transfer"] = transfer_kind(config.model);
      if (config.reference_accuracy) run.summary["reference_accuracy"] = *config.reference_accuracy;
    } catch (const Error&) {
      // The config itself may be what failed; the row then shows what is known.
    }
  } else {
    run.status = "incomplete";
    run.problem = problem.empty() ? "no summary.json" : problem;
    if (auto config = try_read_json(dir / "config.json", problem))
      run.name = config->value("name", "");
  }
  if (run.name.empty()) run.name = name_from_folder(dir.filename().string());
  std::ifstream csv(dir / "metrics.csv");
  std::string line;
  std::getline(csv, line);  // header
  while (std::getline(csv, line)) {
    // epoch,train_loss,train_accuracy,train_error,val_loss,val_accuracy,...
    std::stringstream fields(line);
    std::string field;
    for (int i = 0; i <= 5 && std::getline(fields, field, ','); ++i) {
      if (i == 5) {
        try {
          run.val_accuracy.push_back(std::stod(field));
        } catch (const std::exception&) {
        }
      }
    }
  }
  return run;
}

std::string fixed(double v, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << v;
  return out.str();
}

std::string pct(const Stat& s) {
  if (s.n == 0) return "-";
  std::string text = fixed(100 * s.mean, 2) + "%";
  if (s.n > 1) text += " ± " + fixed(100 * s.std, 2);
  return text;
}

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

json stat_json(const Stat& s) {
  if (s.n == 0) return nullptr;
  return {{"mean", s.mean}, {"std", s.std}, {"n", s.n}};
}

}  // namespace

Stat mean_std(const std::vector<double>& values) {
  Stat s;
  s.n = int64_t(values.size());
  if (values.empty()) return s;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / double(values.size());
  if (values.size() > 1) {
    double squares = 0;
    for (double v : values) squares += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(squares / double(values.size() - 1));
  }
  return s;
}

std::vector<RunRecord> find_runs(const std::vector<std::string>& paths) {
  std::vector<RunRecord> runs;
  for (const auto& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) throw ConfigError(path + ": no such run folder");
    if (is_run_folder(path)) {
      runs.push_back(read_run(path));
      continue;
    }
    std::vector<fs::path> children;
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (entry.is_directory() && is_run_folder(entry.path())) children.push_back(entry.path());
    }
    std::sort(children.begin(), children.end());
    for (const auto& child : children) runs.push_back(read_run(child));
  }
  return runs;
}

std::vector<ComparisonRow> compare_runs(const std::vector<RunRecord>& runs) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const RunRecord*>> groups;
  for (const auto& run : runs) {
    if (!groups.count(run.name)) order.push_back(run.name);
    groups[run.name].push_back(&run);
  }
  std::vector<ComparisonRow> rows;
  for (const auto& name : order) {
    ComparisonRow row;
    row.name = name;
    std::vector<double> acc, err, best, seconds, speed;
    for (const RunRecord* run : groups[name]) {
      const json& s = run->summary;
      if (!s.is_null()) {
        if (row.model.empty()) row.model = s.value("model", "");
        if (row.transfer.empty()) row.transfer = s.value("transfer", "");
        if (s.contains("augmentation") && s["augmentation"].is_boolean())
          row.augmentation = s["augmentation"];
        if (s.contains("reference_accuracy") && s["reference_accuracy"].is_number())
          row.reference_accuracy = s["reference_accuracy"].get<double>();
      }
      if (!run->complete()) {
        ++row.incomplete;
        std::string note = run->problem;
        if (run->status == "failed" && s.value("exit_code", 0) == 4) {
          note = "missing weights: run scripts/download_vgg16_weights.sh";
        }
        if (row.note.find(note) == std::string::npos) {
          row.note += (row.note.empty() ? "" : "; ") + note;
        }
        continue;
      }
      ++row.runs;
      row.epochs = s.value("epochs", int64_t(0));
      row.trainable_params = s.value("trainable_params", int64_t(0));
      row.frozen_params = s.value("frozen_params", int64_t(0));
      acc.push_back(s.value("test_accuracy", 0.0));
      err.push_back(s.value("test_error", 1.0 - s.value("test_accuracy", 0.0)));
      seconds.push_back(s.value("train_seconds", 0.0));
      speed.push_back(s.value("images_per_second", 0.0));
      if (!run->val_accuracy.empty()) {
        best.push_back(*std::max_element(run->val_accuracy.begin(), run->val_accuracy.end()));
      } else if (s.contains("best_val_accuracy")) {
        best.push_back(s["best_val_accuracy"].get<double>());
      }
    }
    if (row.incomplete > 0 && row.note.empty()) row.note = "incomplete";
    row.test_accuracy = mean_std(acc);
    row.test_error = mean_std(err);
    row.best_val_accuracy = mean_std(best);
    row.train_seconds = mean_std(seconds);
    row.images_per_second = mean_std(speed);
    rows.push_back(row);
  }
  return rows;
}

std::string format_markdown(const std::vector<ComparisonRow>& rows) {
  std::ostringstream out;
  out << "| configuration | model | augmentation | transfer | epochs | runs | test accuracy | "
         "test error | best val accuracy | train time (s) | images/s | trainable params | "
         "frozen params | notebook accuracy | notes |\n";
  out << "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : rows) {
    std::string runs = std::to_string(r.runs);
    if (r.incomplete) runs += " (+" + std::to_string(r.incomplete) + " incomplete)";
    out << "| " << r.name << " | " << (r.model.empty() ? "-" : r.model) << " | "
        << (r.augmentation ? "yes" : "no") << " | " << (r.transfer.empty() ? "-" : r.transfer)
        << " | " << (r.runs ? std::to_string(r.epochs) : "-") << " | " << runs << " | "
        << pct(r.test_accuracy) << " | " << pct(r.test_error) << " | " << pct(r.best_val_accuracy)
        << " | " << (r.runs ? fixed(r.train_seconds.mean, 1) : "-") << " | "
        << (r.runs ? fixed(r.images_per_second.mean, 0) : "-") << " | "
        << (r.runs ? std::to_string(r.trainable_params) : "-") << " | "
        << (r.runs ? std::to_string(r.frozen_params) : "-") << " | "
        << (r.reference_accuracy ? fixed(100 * *r.reference_accuracy, 2) + "%" : "-") << " | "
        << r.note << " |\n";
  }
  return out.str();
}

std::string format_csv(const std::vector<ComparisonRow>& rows) {
  std::ostringstream out;
  out << "configuration,model,augmentation,transfer,epochs,runs,incomplete,test_accuracy_mean,"
         "test_accuracy_std,test_error_mean,test_error_std,best_val_accuracy_mean,"
         "train_seconds_mean,images_per_second_mean,trainable_params,frozen_params,"
         "reference_accuracy,notes\n";
  auto num = [](const Stat& s, double v) { return s.n ? fixed(v, 6) : std::string(); };
  for (const auto& r : rows) {
    out << csv_escape(r.name) << ',' << r.model << ',' << (r.augmentation ? "true" : "false") << ','
        << r.transfer << ',' << r.epochs << ',' << r.runs << ',' << r.incomplete << ','
        << num(r.test_accuracy, r.test_accuracy.mean) << ','
        << num(r.test_accuracy, r.test_accuracy.std) << ',' << num(r.test_error, r.test_error.mean)
        << ',' << num(r.test_error, r.test_error.std) << ','
        << num(r.best_val_accuracy, r.best_val_accuracy.mean) << ','
        << num(r.train_seconds, r.train_seconds.mean) << ','
        << num(r.images_per_second, r.images_per_second.mean) << ',' << r.trainable_params << ','
        << r.frozen_params << ',' << (r.reference_accuracy ? fixed(*r.reference_accuracy, 4) : "")
        << ',' << csv_escape(r.note) << '\n';
  }
  return out.str();
}

json to_json(const std::vector<ComparisonRow>& rows) {
  json out = json::array();
  for (const auto& r : rows) {
    out.push_back(
        {{"configuration", r.name},
         {"model", r.model},
         {"augmentation", r.augmentation},
         {"transfer", r.transfer},
         {"epochs", r.epochs},
         {"runs", r.runs},
         {"incomplete", r.incomplete},
         {"test_accuracy", stat_json(r.test_accuracy)},
         {"test_error", stat_json(r.test_error)},
         {"best_val_accuracy", stat_json(r.best_val_accuracy)},
         {"train_seconds", stat_json(r.train_seconds)},
         {"images_per_second", stat_json(r.images_per_second)},
         {"trainable_params", r.trainable_params},
         {"frozen_params", r.frozen_params},
         {"reference_accuracy", r.reference_accuracy ? json(*r.reference_accuracy) : json(nullptr)},
         {"notes", r.note}});
  }
  return out;
}

}  // namespace cifar_exp

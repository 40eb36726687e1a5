// Sweep planning: grid axes, run names, the task list and sweep.json (sweep.h).
#include "cifar_exp/sweep.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "cifar_exp/comparison.h"
#include "cifar_exp/errors.h"
#include "cifar_exp/files.h"
#include "cifar_exp/run_records.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace cifar_exp {
namespace {

// Splits at the commas outside [...], {...} and "..." (a backslash escapes inside quotes).
std::vector<std::string> split_values(const std::string& text) {
  std::vector<std::string> values;
  std::string current;
  int depth = 0;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 1 < text.size()) {
        current += c;
        current += text[++i];
        continue;
      }
      if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 0) {
      values.push_back(current);
      current.clear();
      continue;
    }
    current += c;
  }
  values.push_back(current);
  return values;
}

bool overlaps(const std::string& a, const std::string& b) {
  return a == b || b.rfind(a + ".", 0) == 0 || a.rfind(b + ".", 0) == 0;
}

std::string point_text(const GridPoint& point) {
  std::string text;
  for (const auto& [key, value] : point) text += (text.empty() ? "" : " ") + key + "=" + value;
  return text;
}

// The value as run-name characters: quotes around a JSON string dropped, other characters
// than [A-Za-z0-9_.-] as single underscores, none at either end.
std::string name_part(const std::string& value) {
  std::string text = value;
  const size_t first = text.find_first_not_of(" \t"), last = text.find_last_not_of(" \t");
  if (first != std::string::npos && text[first] == '"' && text[last] == '"' && last > first) {
    text = text.substr(first + 1, last - first - 1);
  }
  std::string out;
  for (const char c : text) {
    const bool keep =
        std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    const char next = keep ? c : '_';
    if (next == '_' && !out.empty() && out.back() == '_') continue;
    out += next;
  }
  while (!out.empty() && out.front() == '_') out.erase(out.begin());
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  const fs::path absolute = fs::weakly_canonical(fs::absolute(path), ec);
  return ec ? fs::absolute(path).lexically_normal().string() : absolute.string();
}

// Completed runs in the output folder by (name, seed): the first one found.
std::map<std::pair<std::string, int64_t>, std::string> completed_runs(const std::string& dir) {
  std::map<std::pair<std::string, int64_t>, std::string> completed;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return completed;
  for (const RunRecord& run : find_runs({dir})) {
    if (run.complete() && run.seed) completed.emplace(std::make_pair(run.name, *run.seed), run.dir);
  }
  return completed;
}

// Appends `name` to `names` unless it is there.
void add_name(std::vector<std::string>& names, const std::string& name) {
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}

}  // namespace

GridAxis parse_grid_axis(const std::string& spec) {
  const size_t equals = spec.find('=');
  if (equals == std::string::npos) throw ConfigError("--grid " + spec + ": expected KEY=V1,V2,...");
  GridAxis axis{spec.substr(0, equals), split_values(spec.substr(equals + 1))};
  if (!is_config_key_path(axis.key)) {
    throw ConfigError("--grid " + spec + ": not a config key path (e.g. training.epochs)");
  }
  if (axis.key == "name") throw ConfigError("--grid name: the sweep names each grid point's run");
  if (axis.key == "training.seed") throw ConfigError("--grid training.seed: use --seeds N");
  if (axis.key == "output" || axis.key == "output.dir") {
    throw ConfigError("--grid " + axis.key + ": use --output-dir");
  }
  for (const auto& value : axis.values) {
    if (value.empty()) throw ConfigError("--grid " + spec + ": empty value");
    if (value.find_first_of("\t\n\r\x1f") != std::string::npos) {
      throw ConfigError("--grid " + axis.key + ": a value holds a tab or newline");
    }
  }
  return axis;
}

std::vector<GridPoint> grid_points(const std::vector<GridAxis>& axes) {
  for (size_t i = 0; i < axes.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (overlaps(axes[i].key, axes[j].key)) {
        throw ConfigError("--grid " + axes[i].key + ": overlaps --grid " + axes[j].key);
      }
    }
  }
  std::vector<GridPoint> points = {{}};
  for (const auto& axis : axes) {
    std::vector<GridPoint> next;
    for (const auto& point : points) {
      for (const auto& value : axis.values) {
        GridPoint extended = point;
        extended.emplace_back(axis.key, value);
        next.push_back(extended);
      }
    }
    points = next;
  }
  return points;
}

std::string grid_point_name(const std::string& base, const GridPoint& point) {
  std::string name = base;
  for (const auto& [key, value] : point) name += "+" + key + "=" + name_part(value);
  return name;
}

int64_t SweepPlan::completed() const {
  return std::count_if(tasks.begin(), tasks.end(),
                       [](const SweepTask& t) { return !t.completed_dir.empty(); });
}

SweepPlan plan_sweep(const SweepOptions& options) {
  if (options.seeds < 1) throw ConfigError("--seeds: must be a positive integer");
  if (options.configs.empty()) throw ConfigError("--configs: no configuration given");
  std::vector<GridAxis> axes;
  for (const auto& spec : options.grid) axes.push_back(parse_grid_axis(spec));
  const std::vector<GridPoint> points = grid_points(axes);
  SweepPlan plan;
  plan.output_dir = absolute_path(options.output_dir);
  plan.configurations = int64_t(options.configs.size());
  plan.points = int64_t(points.size());
  plan.seeds = options.seeds;
  const auto completed = completed_runs(plan.output_dir);
  for (const auto& item : options.configs) {
    std::string file;
    try {
      file = absolute_path(find_config(item));
    } catch (const ConfigError& e) {
      throw ConfigError("--configs: " + std::string(e.what()));
    }
    const std::string base = load_config(file, options.overrides).name;
    std::map<std::string, std::string> seen;  // run name -> the grid point that gave it
    for (const auto& point : points) {
      const std::string name = grid_point_name(base, point);
      std::vector<std::string> set;
      if (!point.empty()) {
        if (seen.count(name)) {
          throw ConfigError(file + ": grid points " + seen[name] + " and " + point_text(point) +
                            " both give the run name " + name);
        }
        seen[name] = point_text(point);
        set.push_back("name=" + name);
        for (const auto& [key, value] : point) set.push_back(key + "=" + value);
        ConfigOverrides at_point = options.overrides;
        at_point.set.insert(at_point.set.end(), set.begin(), set.end());
        try {
          load_config(file, at_point);
        } catch (const ConfigError& e) {
          throw ConfigError(file + " at " + point_text(point) + ": " + e.what());
        }
      }
      for (int64_t seed = 1; seed <= options.seeds; ++seed) {
        SweepTask task{int64_t(plan.tasks.size()), file, name, seed, set, ""};
        if (const auto it = completed.find({name, seed}); it != completed.end()) {
          task.completed_dir = it->second;
        }
        plan.tasks.push_back(task);
      }
    }
  }
  return plan;
}

void prepare_sweep_folder(const SweepPlan& plan) {
  std::error_code ec;
  fs::create_directories(fs::path(plan.output_dir) / "logs", ec);
  if (ec) throw OutputError(plan.output_dir + ": cannot create the sweep folder: " + ec.message());
  SweepOrder order = read_sweep_order({plan.output_dir});
  for (const SweepTask& task : plan.tasks) {
    add_name(order.configurations, task.name.substr(0, task.name.find('+')));
    add_name(order.runs, task.name);
  }
  write_file_atomic(
      (fs::path(plan.output_dir) / "sweep.json").string(),
      json_text({{"configurations", order.configurations}, {"runs", order.runs}}) + "\n");
}

std::string describe_plan(const SweepPlan& plan) {
  std::ostringstream out;
  out << "Sweep: " << plan.configurations << " configuration(s) x " << plan.points
      << " grid point(s) x " << plan.seeds << " seed(s) = " << plan.tasks.size() << " runs ("
      << plan.completed() << " of them completed before).";
  return out.str();
}

json to_json(const SweepPlan& plan) {
  json tasks = json::array();
  for (const SweepTask& t : plan.tasks) {
    tasks.push_back({{"index", t.index},
                     {"config", t.config},
                     {"name", t.name},
                     {"seed", t.seed},
                     {"set", t.set},
                     {"status", t.completed_dir.empty() ? "pending" : "completed"},
                     {"run_dir", t.completed_dir.empty() ? json(nullptr) : json(t.completed_dir)}});
  }
  return {{"output_dir", plan.output_dir},
          {"configurations", plan.configurations},
          {"points", plan.points},
          {"seeds", plan.seeds},
          {"total", plan.tasks.size()},
          {"completed", plan.completed()},
          {"tasks", tasks}};
}

std::string format_tsv(const SweepPlan& plan) {
  std::string text = "index\tstatus\tseed\tname\tconfig\toutput_dir\trun_dir\tset\n";
  for (const SweepTask& t : plan.tasks) {
    std::string set;
    for (const auto& s : t.set) set += (set.empty() ? "" : "\x1f") + s;
    text += std::to_string(t.index) + "\t" + (t.completed_dir.empty() ? "pending" : "completed") +
            "\t" + std::to_string(t.seed) + "\t" + t.name + "\t" + t.config + "\t" +
            plan.output_dir + "\t" + (t.completed_dir.empty() ? "-" : t.completed_dir) + "\t" +
            set + "\n";
  }
  return text;
}

}  // namespace cifar_exp

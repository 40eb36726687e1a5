// Sweep planning: grid axes, run names, the task list and sweep.json (sweep.h).
#include "cifar_exp/sweep/sweep.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "cifar_exp/config/run_name.h"
#include "cifar_exp/data/data.h"
#include "cifar_exp/io/errors.h"
#include "cifar_exp/io/files.h"
#include "cifar_exp/records/comparison.h"
#include "cifar_exp/records/run_records.h"
#include "cifar_exp/records/sweep_folder.h"

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
    const char next = is_run_name_char(c) ? c : '_';
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

// Runs in the output folder that a task could reuse or that stand in its way, by (name, seed):
// completed, or stopped and resumable (interrupted, crashed, still running).
std::map<std::pair<std::string, int64_t>, std::vector<RunRecord>> existing_runs(
    const std::string& dir) {
  std::map<std::pair<std::string, int64_t>, std::vector<RunRecord>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return found;
  for (RunRecord& run : find_runs({dir})) {
    const bool reusable = run.complete() || run.status == "interrupted" ||
                          run.status == "crashed" || run.status == "running";
    if (reusable && run.seed) found[{run.name, *run.seed}].push_back(std::move(run));
  }
  return found;
}

// "training.epochs: 2 there, 4 now" for each key in which `run` differs from `task`.
std::string changed_keys(const RunRecord& run, const SweepTask& task) {
  if (!run.identity) return "no readable config.json";
  std::string text;
  for (const auto& key : identity_differences(*run.identity, task.identity)) {
    const std::string there = describe_keys(*run.identity, {key}),
                      now = describe_keys(task.identity, {key});
    text += (text.empty() ? "" : "; ") + key + ": " + there.substr(there.find('=') + 1) +
            " there, " + now.substr(now.find('=') + 1) + " now";
  }
  return text;
}

[[noreturn]] void throw_changed_runs(const SweepPlan& plan,
                                     const std::vector<std::string>& conflicts) {
  std::string list;
  const size_t shown = std::min<size_t>(conflicts.size(), 3);
  for (size_t i = 0; i < shown; ++i) list += (i ? "; " : "") + conflicts[i];
  if (conflicts.size() > shown)
    list += "; and " + std::to_string(conflicts.size() - shown) + " more";
  throw ConfigError("--output-dir " + plan.output_dir + ": " + std::to_string(conflicts.size()) +
                    " run(s) there have a task's name and seed but other settings, so they are "
                    "neither skipped nor resumed: " +
                    list +
                    ". Use another --output-dir, or --beside-changed to start new runs beside "
                    "them (compare keeps them in rows of their own)");
}

// The data files a task's run would read (null when none is found), checksummed once per data
// folder; the cache is read, never written (planning writes nothing).
nlohmann::json task_data_files(const ExperimentConfig& config, const ConfigOverrides& overrides,
                               const std::string& output_dir,
                               std::map<std::string, json>& by_folder) {
  const std::string dir = resolve_data_dir(overrides.data_dir, config.data.dir);
  if (!by_folder.count(dir)) {
    OutputConfig output = config.output;
    output.dir = output_dir;
    resolve_cache_dir(output);
    json files = data_file_checksums(dir, output.cache_dir, /*update_cache=*/false);
    by_folder[dir] = files.empty() ? json(nullptr) : files;
  }
  return by_folder[dir];
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
  RunName name{base, {}};
  for (const auto& [key, value] : point) name.grid.emplace_back(key, name_part(value));
  return name.text();
}

int64_t SweepPlan::completed() const {
  return std::count_if(tasks.begin(), tasks.end(),
                       [](const SweepTask& t) { return !t.completed_dir.empty(); });
}

bool computes_task(const RunRecord& run, const SweepTask& task) {
  return run.identity && identity_differences(*run.identity, task.identity).empty();
}

namespace {

// Configurations x grid points x seeds within kMaxSweepRuns, counted before anything is built
// (each factor is at least 1, so a partial product over the limit stays over it).
void check_sweep_size(const SweepOptions& options, const std::vector<GridAxis>& axes) {
  std::string factors = std::to_string(options.configs.size()) + " configuration(s)";
  int64_t total = int64_t(options.configs.size());
  const auto times = [&](int64_t factor, const std::string& what) {
    factors += " x " + std::to_string(factor) + " " + what;
    total = factor > kMaxSweepRuns || total > kMaxSweepRuns / factor ? kMaxSweepRuns + 1
                                                                     : total * factor;
  };
  for (const auto& axis : axes) times(int64_t(axis.values.size()), "values of " + axis.key);
  times(options.seeds, "seed(s)");
  if (total > kMaxSweepRuns) {
    throw ConfigError("sweep of " + factors + ": more than " + std::to_string(kMaxSweepRuns) +
                      " runs, the most one sweep plans; split it into several sweeps");
  }
}

// The settings a config resolves to, less its name (grid points that parse alike).
std::string settings_text(const ExperimentConfig& config) {
  json doc = to_json(config);
  doc.erase("name");
  return doc.dump();
}

// Each configuration once, by file and by name: a sweep finds its runs by name.
void check_distinct_configurations(const std::vector<std::string>& files,
                                   const ConfigOverrides& overrides) {
  std::map<std::string, std::string> file_of_name;
  for (size_t i = 0; i < files.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (files[j] == files[i]) throw ConfigError("--configs: " + files[i] + " is listed twice");
    }
    const std::string name = load_config(files[i], overrides).name;
    if (const auto it = file_of_name.find(name); it != file_of_name.end()) {
      throw ConfigError("--configs: " + it->second + " and " + files[i] + " are both named \"" +
                        name +
                        "\"; a sweep tells its runs apart by name, so give one another \"name\"");
    }
    file_of_name[name] = files[i];
  }
}

}  // namespace

SweepPlan plan_sweep(const SweepOptions& options) {
  if (options.seeds < 1) throw ConfigError("--seeds: must be a positive integer");
  if (options.configs.empty()) throw ConfigError("--configs: no configuration given");
  if (options.output_dir.empty()) throw ConfigError("--output-dir: empty path");
  std::vector<GridAxis> axes;
  for (const auto& spec : options.grid) axes.push_back(parse_grid_axis(spec));
  check_sweep_size(options, axes);
  const std::vector<GridPoint> points = grid_points(axes);
  SweepPlan plan;
  plan.output_dir = absolute_path(options.output_dir);
  plan.configurations = int64_t(options.configs.size());
  plan.points = int64_t(points.size());
  plan.seeds = options.seeds;
  std::vector<std::string> files;
  for (const auto& item : options.configs) {
    try {
      files.push_back(absolute_path(find_config(item)));
    } catch (const ConfigError& e) {
      throw ConfigError("--configs: " + std::string(e.what()));
    }
  }
  check_distinct_configurations(files, options.overrides);
  const auto existing = existing_runs(plan.output_dir);
  std::map<std::string, json> data_by_folder;
  std::vector<std::string> conflicts;
  for (const auto& file : files) {
    const std::string base = load_config(file, options.overrides).name;
    std::map<std::string, std::string> seen;           // run name -> the grid point that gave it
    std::map<std::string, std::string> seen_settings;  // settings -> the grid point
    for (const auto& point : points) {
      const std::string name = grid_point_name(base, point);
      std::vector<std::string> set;
      ConfigOverrides at_point = options.overrides;
      if (!point.empty()) {
        if (seen.count(name)) {
          throw ConfigError(file + ": grid points " + seen[name] + " and " + point_text(point) +
                            " both give the run name " + name);
        }
        seen[name] = point_text(point);
        set.push_back("name=" + name);
        for (const auto& [key, value] : point) set.push_back(key + "=" + value);
        at_point.set.insert(at_point.set.end(), set.begin(), set.end());
      }
      ExperimentConfig config;
      try {
        config = load_config(file, at_point);
      } catch (const ConfigError& e) {
        throw ConfigError(file + " at " + point_text(point) + ": " + e.what());
      }
      const std::string settings = settings_text(config);
      if (!point.empty() && seen_settings.count(settings)) {
        throw ConfigError(file + ": grid points " + seen_settings[settings] + " and " +
                          point_text(point) + " resolve to the same settings (one run twice)");
      }
      seen_settings[settings] = point_text(point);
      const RunIdentity identity = RunIdentity::of(
          config, task_data_files(config, options.overrides, plan.output_dir, data_by_folder));
      for (int64_t seed = 1; seed <= options.seeds; ++seed) {
        SweepTask task{int64_t(plan.tasks.size()), file, name, seed, set, "", identity};
        const auto it = existing.find({name, seed});
        for (const RunRecord& run : it == existing.end() ? std::vector<RunRecord>{} : it->second) {
          if (computes_task(run, task)) {
            // The newest completed one (folder names end in their UTC start time).
            if (run.complete() && run.dir > task.completed_dir) task.completed_dir = run.dir;
          } else if (!options.beside_changed) {
            conflicts.push_back(name + " seed " + std::to_string(seed) + " in " + run.dir + " (" +
                                changed_keys(run, task) + ")");
          }
        }
        plan.tasks.push_back(task);
      }
    }
  }
  if (!conflicts.empty()) throw_changed_runs(plan, conflicts);
  return plan;
}

void prepare_sweep_folder(const SweepPlan& plan) {
  // Read (and refuse) an existing sweep.json before anything is created.
  SweepOrder order = read_sweep_order({plan.output_dir});
  const SweepFolder folder(plan.output_dir);
  const fs::path logs = folder.logs();
  std::error_code ec;
  if (fs::exists(logs, ec) && !fs::is_directory(logs, ec)) {
    throw OutputError(logs.string() + ": not a folder (the sweep keeps its runs' logs there)");
  }
  fs::create_directories(logs, ec);
  if (ec)
    throw OutputError(logs.string() + ": cannot create the sweep's log folder: " + ec.message());
  for (const SweepTask& task : plan.tasks) {
    add_name(order.configurations, RunName::parse(task.name).base);
    add_name(order.runs, task.name);
  }
  write_file_atomic(
      folder.order(),
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
                     {"fingerprint", t.identity.fingerprint},
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

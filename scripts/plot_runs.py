#!/usr/bin/python3
"""Plots cifar-exp run folders: learning curves, test accuracy against the notebook, confusion
matrices and per-class accuracy, as PNG files.

Needs Python 3 with matplotlib and numpy. On Debian/Ubuntu: `apt-get install python3-matplotlib
python3-numpy`, then run the script with /usr/bin/python3 (the shebang does this), not with a
virtual environment's python that lacks them. Headless: uses matplotlib's Agg backend.

Usage:
  plot_runs.py RUN_DIR_OR_PARENT... --out DIR [--cifar-exp PATH]

Each argument is a run folder or a parent folder, such as runs/, whose direct subfolders are run
folders. The plots follow cifar-exp's comparison table, `cifar-exp compare --format json ARG...`:
its rows are the configurations, in its order (the sweep's order from sweep.json, else the order
of the run folders' names; cifar-exp's rules, not repeated here), and every plot uses them
(test_accuracy.png's bars, per_class_accuracy.png's groups, the grid plots' lines and panels).
From each row come its name, its grid point ("base" and "grid": each key, in the name's order,
with the value config.json recorded), its test accuracy (mean, std and n over seeds) and the
test accuracy of each completed run behind it ("seeds": "dir", "seed", "test_accuracy"). The runs themselves (status,
summary.json, config.json and per-epoch metrics, for the curves, confusion matrices and
captions) come from `cifar-exp compare --runs --format json ARG...`: a row's seeds are the runs
listed with the same "dir", and its incomplete runs those listed under its name; runs without a
recorded epoch are left out. When compare fails (e.g. an unreadable sweep.json) the script exits
with a one-line error and draws nothing: there is no grouping of its own to fall back on.
cifar-exp: --cifar-exp PATH, else $CIFAR_EXP_BIN (the variable sweep.sh and bench/ read), else
$CIFAR_EXP (deprecated: a note says so), else build/cifar-exp of this checkout (or bin/cifar-exp
of the installation), else cifar-exp on PATH.

Captions: each caption, legend entry or bar label that gives figures says what is behind them:
epochs, training images, test images and seeds (summary.json epochs, train_images, test_images,
and the number of runs combined), e.g. "2 epochs, 5,000 training images, 500 test images x 3
seeds" (values that differ between runs are given as "2/10"). Validation: summary.json
"validation" says what the per-epoch val_* metrics were measured on: "test" (the test split, as
the notebook did; also what an absent field means), "split" (held-out training images,
"validation_images" of them) or "none" (no per-epoch validation). The curves label their
validation line "test (used as validation)" or "validation (N held-out training images)", draw
none for "none", and their caption says which was used. (cifar-exp builds that do not pass the
field through in the listing yet: it is read from the run folder's summary.json, else from
config.json training.validation.)

Writes into DIR (created if missing):
  curves_<name>.png       per configuration: train and validation accuracy, and train and
                          validation error, by epoch (one line per run for up to 3 runs, else mean
                          with min-max band); y axis padded to at least a few points for one
                          epoch or flat curves, tick labels never repeated; the learning rate
                          (metrics' learning_rate, when recorded) on a log axis of the error panel
  test_accuracy.png       final test accuracy per configuration: mean over runs with std error bar
                          and each run (the row's seeds) as a dot, beside the notebook's reported
                          accuracy (the row's reference_accuracy) where there is one; under each
                          bar its epochs, training images, test images x seeds and validation; the
                          title says that the notebook's figures are for 10 epochs on 50,000
                          images when a bar's runs trained otherwise (not like for like)
  confusion_<name>.png    per configuration: confusion matrix summed over runs, each row in percent
                          of its true class, with per-class accuracy as a bar chart beside it;
                          the caption says "N test images x S seeds"
  per_class_accuracy.png  per class, one bar per configuration (mean over runs)
  grid_<KEY>.png          for rows of a sweep with one --grid key (names "base+KEY=VALUE", the
                          table's "grid"): test accuracy against the key's value, one line per
                          configuration, error bars: std over seeds (log x axis for positive values
                          spanning 20x or more, e.g. learning rates)
  grid_<KEY1>_<KEY2>.png  for a grid over two keys: a heat map of mean test accuracy (± std over
                          seeds) per configuration, KEY1 (the key the names spell first) down,
                          KEY2 across
                          (grids over three or more keys get no grid plot; a note says so)

A run without summary.json, or whose status is not "completed", is incomplete: its curves are
drawn (dashed) but it is left out of the other plots. Prints the files written; exits 1 with a
one-line error when no run folder is found, cifar-exp cannot be run or compare fails.

For tests, the hidden option --describe FILE writes, for each PNG written, its texts as JSON:
the figure's title, and per axes the title, labels, limits, the tick labels as drawn, the
legend and the points of its scatter dots; and the order of the configurations.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

# The cifar-exp lookup shared with bench/ (installed beside this script).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cifar_exp_binary  # noqa: E402

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection
    from matplotlib.text import Text
    from matplotlib.ticker import Formatter, MaxNLocator
    import numpy as np
except ImportError as error:  # pragma: no cover - depends on the machine
    sys.exit("plot_runs.py: needs matplotlib and numpy ({}); on Debian: apt-get install "
             "python3-matplotlib python3-numpy, then run with /usr/bin/python3".format(error))

# Every epoch row needs these; the val_ ones may be missing (no per-epoch validation): NaN then.
CURVE_FIELDS = ["epoch", "train_loss", "train_accuracy", "train_error"]
VAL_FIELDS = ["val_loss", "val_accuracy", "val_error"]
RATE_FIELD = "learning_rate"  # the epoch's last step's rate; missing in runs of older versions
RATE_COLOR = "tab:gray"
TRAIN_COLOR = "tab:blue"
TEST_COLOR = "tab:orange"  # the test split used as validation
VAL_COLOR = "tab:green"  # held-out training images
SEED_STYLES = ["-", "--", ":"]
# What the notebook's reported accuracies were trained with (all 50,000 training images).
NOTEBOOK_EPOCHS = 10
NOTEBOOK_TRAIN_IMAGES = 50000


def note(message):
    print("note: " + message, file=sys.stderr)


# ----------------------------------------------------------------------------- reading runs
# Runs are found and read by cifar-exp itself, never from the files here. The comparison table
# (`compare --format json`) gives the configurations: its rows, their order, their grid points,
# their test accuracy (mean, std, n) and the completed runs behind it (each row's "seeds": "dir",
# "seed", "test_accuracy"). The run listing (`compare --runs --format json`) gives each run's
# summary.json, config.json and per-epoch rows, for the curves, confusion matrices and captions;
# a row's seeds are its entries with the same "dir". The one exception: summary.json's
# "validation" and "validation_images", read from the run folder when the listing leaves them out
# (cifar-exp builds from before the field).

def locate_cifar_exp(given=None):
    """The cifar-exp binary: `given` (--cifar-exp), else cifar_exp_binary's lookup
    ($CIFAR_EXP_BIN, else the deprecated $CIFAR_EXP with a note, else build/cifar-exp of this
    checkout, else the installed one beside these scripts, else cifar-exp on PATH). Exits with a
    one-line error when there is none."""
    source = "--cifar-exp" if given else None
    if not given:
        given, source = cifar_exp_binary.environment_binary()
        if source == "$" + cifar_exp_binary.DEPRECATED_BINARY_ENV:
            note("{} is deprecated for plot_runs.py; set ${} instead".format(
                source, cifar_exp_binary.BINARY_ENV))
    if given:
        if cifar_exp_binary.is_executable(given):
            return given
        sys.exit("plot_runs.py: {}: no such executable ({})".format(given, source))
    found = cifar_exp_binary.default_binaries()
    if found:
        return found[0]
    sys.exit("plot_runs.py: cifar-exp not found (build it with scripts/build.sh, or give "
             "--cifar-exp PATH or ${})".format(cifar_exp_binary.BINARY_ENV))


def compare_json(cifar_exp, arguments):
    """`cifar-exp compare ARGUMENTS` (which should ask for --format json), parsed: (document,
    None), or (None, a one-line reason) when it fails or does not print JSON."""
    try:
        result = subprocess.run([cifar_exp, "compare"] + arguments, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True, check=False)
    except OSError as error:
        return None, "cannot run {}: {}".format(cifar_exp, error)
    if result.returncode != 0:
        return None, (result.stderr.strip().splitlines() or ["exit status {}".format(
            result.returncode)])[-1]
    try:
        return json.loads(result.stdout), None
    except ValueError as error:
        return None, "not JSON ({})".format(error)


def finite_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def curves(epochs):
    """The listing's per-epoch rows as {column: np.array} sorted by epoch, or None when no row has
    the epoch and the train columns. val_ columns that are missing or null (no per-epoch
    validation) are NaN."""
    rows = [row for row in epochs if all(finite_number(row.get(key)) for key in CURVE_FIELDS)]
    if not rows:
        return None
    rows.sort(key=lambda r: r["epoch"])
    columns = {key: np.array([float(r[key]) for r in rows]) for key in CURVE_FIELDS}
    for key in VAL_FIELDS + [RATE_FIELD]:
        columns[key] = np.array([float(r[key]) if finite_number(r.get(key)) else np.nan
                                 for r in rows])
    return columns


def draw_rates(axis, runs):
    """The learning rate by epoch on a second y axis of `axis` (up to three runs: those of one
    configuration share a schedule unless reduce_on_plateau took them apart), log where it spans
    20x or more; its line joins `axis`'s legend, which stays on top."""
    with_rate = [r for r in runs if (r.metrics[RATE_FIELD] > 0).any()][:3]
    if not with_rate:
        return
    rates = axis.twinx()
    shown = []
    for index, run in enumerate(with_rate):
        positive = run.metrics[RATE_FIELD] > 0
        shown.extend(run.metrics[RATE_FIELD][positive])
        rates.plot(run.metrics["epoch"][positive], run.metrics[RATE_FIELD][positive],
                   SEED_STYLES[index % len(SEED_STYLES)], color=RATE_COLOR, linewidth=1,
                   label="learning rate" if index == 0 else None)
    if max(shown) >= 20 * min(shown):
        rates.set_yscale("log")
    rates.set_ylabel("Learning rate (the epoch's last step)", color=RATE_COLOR, fontsize=8)
    rates.tick_params(axis="y", colors=RATE_COLOR, labelsize=7)
    # The curves' axis in front (with its legend), the rates behind it.
    axis.set_zorder(rates.get_zorder() + 1)
    axis.patch.set_visible(False)
    handles, labels = axis.get_legend_handles_labels()
    rate_handles, rate_labels = rates.get_legend_handles_labels()
    axis.legend(handles + rate_handles, labels + rate_labels, fontsize=8, loc="best",
                framealpha=0.9)


VALIDATION_KINDS = ("test", "split", "none")


def read_validation(path, listed_summary, config):
    """(kind, held-out image count or None): what the per-epoch val_ metrics were measured on.
    From the listing's summary.json; else from the run folder's summary.json (cifar-exp builds
    that do not pass the field through yet); else config.json training.validation; else "test",
    what runs from before the field did."""
    def from_document(document):
        if not isinstance(document, dict) or not isinstance(document.get("validation"), str):
            return None
        count = document.get("validation_images")
        return document["validation"], int(count) if finite_number(count) and count > 0 else None

    found = from_document(listed_summary)
    if found is None and listed_summary:
        try:
            with open(os.path.join(path, "summary.json")) as f:
                found = from_document(json.load(f))
        except (OSError, ValueError):
            found = None
    if found is None:
        training = config.get("training") if isinstance(config, dict) else None
        if isinstance(training, dict) and isinstance(training.get("validation"), str):
            found = training["validation"], None
    kind, count = found or ("test", None)
    if kind not in VALIDATION_KINDS:
        note("{}: validation {!r} not known (test, split or none); taken as 'test'".format(
            path, kind))
        kind, count = "test", None
    return kind, count if kind == "split" else None


class Run:
    """One entry of `cifar-exp compare --runs --format json`."""

    def __init__(self, entry):
        self.path = entry["dir"]
        self.folder = os.path.basename(os.path.normpath(self.path))
        self.name = entry["name"]
        self.seed = entry.get("seed")
        self.metrics = curves(entry.get("epochs") or [])
        self.config = entry.get("config") or {}
        summary = entry.get("summary")
        self.listed_summary = summary if isinstance(summary, dict) else {}
        self.validation, self.validation_images = read_validation(self.path, summary, self.config)
        self.complete = entry.get("status") == "completed" and bool(summary)
        if summary and not self.complete:
            note("{}: summary status is {!r}, not 'completed': curves only".format(
                self.path, entry.get("status")))
        elif not summary:
            note("{}: no readable summary.json (incomplete run): curves only".format(self.path))
        self.summary = summary if self.complete else None

    def label(self):
        text = "seed {}".format(self.seed) if self.seed is not None else self.folder
        return text if self.complete else text + " (incomplete)"

    def get(self, key):
        return self.summary.get(key) if self.summary else None

    def count(self, key):
        """A positive whole number from the summary (of an incomplete run too), else None."""
        value = self.listed_summary.get(key)
        return int(value) if finite_number(value) and value > 0 else None

    def epochs(self):
        """The epochs the run trains for: summary.json's, else config.json's."""
        found = self.count("epochs")
        if found is None:
            found = config_value(self.config, "training.epochs")
            found = int(found) if finite_number(found) and found > 0 else None
        return found

    def test_images(self):
        """summary.json test_images, else the sum of its confusion matrix, else None."""
        found = self.count("test_images")
        if found is None:
            try:
                total = float(np.sum(np.array(self.listed_summary.get("confusion_matrix"),
                                              dtype=float)))
            except (TypeError, ValueError):
                total = 0.0
            found = int(total) if math.isfinite(total) and total > 0 else None
        return found

    def has_validation_curve(self):
        return self.validation != "none" and self.metrics is not None and bool(
            np.isfinite(self.metrics["val_accuracy"]).any())


def config_value(config, path):
    """The value at a dotted path of a config.json document, or None."""
    value = config
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def grid_point(row):
    """(base, [(key, value)]): a row's configuration without its grid point, and the grid's keys
    with the values config.json recorded, in the order of the run name's keys (the row's "base"
    and "grid", as compare gives them). (name, []) for a row without a grid."""
    grid = row.get("grid")
    if not isinstance(grid, list) or not grid:
        return row["configuration"], []
    return row.get("base", row["configuration"]), [(g["key"], g["value"]) for g in grid]


class Configuration:
    """One row of `cifar-exp compare --format json` and its runs: those behind its statistics (its
    "seeds", in their order), then its incomplete runs (listed under the row's name)."""

    def __init__(self, row, runs):
        # The row as the table shows it: "name [keys that set it apart]" where one name has rows
        # with other settings (compare's "label"), else the configuration.
        self.name = row.get("label") or row["configuration"]
        self.runs = runs
        self.base, self.grid = grid_point(row)
        seeds = [s for s in row["seeds"] if finite_number(s.get("test_accuracy"))]
        # Each seed's test accuracy (in %) as the table has it, and the runs listed for them.
        self.accuracies = [100 * s["test_accuracy"] for s in seeds]
        by_dir = {run.path: run for run in runs}
        self.measured = [by_dir[s["dir"]] for s in seeds if s["dir"] in by_dir]
        stat = row.get("test_accuracy")
        count = stat.get("n") if isinstance(stat, dict) else None
        self.count = int(count) if finite_number(count) else 0
        self.mean = 100 * stat["mean"] if self.count and finite_number(stat.get("mean")) else None
        self.std = 100 * stat["std"] if self.count > 1 and finite_number(stat.get("std")) else 0.0
        reference = row.get("reference_accuracy")
        self.reference = 100 * reference if finite_number(reference) else None


def read_table(arguments, cifar_exp=None):
    """(runs, configurations) of the arguments (run folders or folders of run folders): the runs
    cifar-exp lists that have at least one epoch, and the comparison table's rows in its order,
    each with its runs. Exits with a one-line error when no run is found, or when compare fails
    (the plots follow the table: no table, no plots)."""
    cifar_exp = locate_cifar_exp(cifar_exp)
    folders = []
    for argument in arguments:
        if os.path.isdir(argument):
            folders.append(argument)
        else:
            note("{}: not a folder, ignored".format(argument))
    if not folders:
        return [], []
    entries, problem = compare_json(cifar_exp, ["--runs", "--format", "json"] + folders)
    if problem is None and not (isinstance(entries, list) and all(
            isinstance(e, dict) and isinstance(e.get("dir"), str) for e in entries)):
        problem = "not a list of runs with a dir"
    if problem is not None:
        sys.exit("plot_runs.py: {} compare --runs: {}".format(cifar_exp, problem))
    runs = []
    for entry in entries:
        if entry.get("epochs"):
            runs.append(Run(entry))
        else:
            note("{}: no epoch recorded ({}), ignored".format(
                entry["dir"], entry.get("problem") or entry.get("status")))
    if not runs:
        return [], []
    rows, problem = compare_json(cifar_exp, ["--format", "json"] + folders)
    if problem is None and not (isinstance(rows, list) and all(
            isinstance(row, dict) and isinstance(row.get("configuration"), str)
            and isinstance(row.get("seeds"), list)
            and all(isinstance(s, dict) and isinstance(s.get("dir"), str) for s in row["seeds"])
            for row in rows)):
        problem = "not a list of rows with a configuration and seeds (a cifar-exp from before " \
                  "compare listed each row's seeds?)"
    if problem is not None:
        sys.exit("plot_runs.py: {} compare: {}; the plots follow the comparison table, so none "
                 "are drawn".format(cifar_exp, problem))
    by_dir = {run.path: run for run in runs}
    placed, configurations = set(), []
    for row in rows:
        members = [by_dir[s["dir"]] for s in row["seeds"] if s["dir"] in by_dir]
        incomplete = row.get("incomplete_runs")
        if isinstance(incomplete, list):
            members += [by_dir[d] for d in incomplete if d in by_dir and d not in placed]
        else:  # a cifar-exp from before compare listed a row's incomplete runs
            members += [run for run in runs if not run.complete
                        and run.name == row["configuration"] and run.path not in placed]
        placed.update(run.path for run in members)
        configurations.append(Configuration(row, members))
    for run in runs:
        if run.path not in placed:
            note("{}: not behind any row of the comparison table, left out".format(run.path))
    return runs, configurations


def safe_filename(name):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"


def describe(runs):
    """Short description of a configuration from its summaries, e.g. 'VGG16 pretrained, aug'."""
    summary = next((r.summary for r in runs if r.summary), None)
    if not summary:
        return ""
    model = summary.get("model")
    transfer = summary.get("transfer")
    if model == "vgg16_transfer":
        text = "VGG16 " + (transfer if isinstance(transfer, str) and transfer != "none" else "")
    elif model == "small_cnn":
        text = "small CNN"
    else:
        text = str(model) if model else ""
    augmentation = summary.get("augmentation")
    if isinstance(augmentation, bool):
        text += ", aug" if augmentation else ", no aug"
    return text.strip(" ,")


def check_consistent(name, runs):
    for key in ("model", "augmentation", "transfer", "epochs", "train_images", "test_images"):
        values = {json.dumps(r.get(key)) for r in runs if r.summary}
        if len(values) > 1:
            note("{}: runs differ in {} ({}); they are still combined".format(
                name, key, ", ".join(sorted(values))))
    kinds = {(r.validation, r.validation_images) for r in runs}
    if len(kinds) > 1:
        note("{}: runs differ in validation ({}); they are still combined".format(
            name, ", ".join(sorted(validation_short(k, n) for k, n in kinds))))


# ----------------------------------------------------------------------------- captions
# What every figure stands on: epochs, training images, test images and seeds (summary.json
# epochs, train_images, test_images; the runs combined), and what was used as validation.


def joined(values, form="{:,}"):
    """Distinct values, ascending, as '2/10' (one value: '10')."""
    return "/".join(form.format(v) for v in sorted(set(values)))


def seeds_text(figures):
    """'3 seeds': how many runs are behind each figure (figures: a list of run lists, one per
    figure), '2/3 seeds' where that differs; 'runs' instead of 'seeds' when a figure's runs do
    not all have different seeds."""
    distinct = all(None not in [r.seed for r in runs]
                   and len({str(r.seed) for r in runs}) == len(runs) for runs in figures)
    counts = sorted({len(runs) for runs in figures})
    return "{} {}{}".format(joined(counts, "{}"), "seed" if distinct else "run",
                            "" if counts == [1] else "s")


def basis(runs, figures=None, separator=", "):
    """'2 epochs, 5,000 training images, 500 test images x 3 seeds': what the figures of `runs`
    stand on. figures: the runs behind each figure, when there are several (a line's points:
    '... x 2 seeds per point'); separator: between the training part and the test part."""
    epochs = [r.epochs() for r in runs if r.epochs()]
    train = [r.count("train_images") for r in runs if r.count("train_images")]
    test = [r.test_images() for r in runs if r.test_images()]
    return "{}, {}{}{} x {}".format(
        "{} epoch{}".format(joined(epochs, "{}"), "" if set(epochs) == {1} else "s")
        if epochs else "epochs not recorded",
        "{} training images".format(joined(train)) if train else "training images not recorded",
        separator,
        "{} test images".format(joined(test)) if test else "test images not recorded",
        seeds_text(figures or [runs]) + (" per point" if figures and len(figures) > 1 else ""))


def validation_label(kind, count):
    """The legend label of a validation line."""
    if kind == "test":
        return "test (used as validation)"
    if count:
        return "validation ({:,} held-out training images)".format(count)
    return "validation (held-out training images)"


def validation_short(kind, count):
    if kind == "test":
        return "validation: test split"
    if kind == "split":
        return "validation: {} held-out training images".format(
            "{:,}".format(count) if count else "some")
    return "no validation"


def validation_caption(runs):
    """Which validation the runs used, for a caption."""
    texts = []
    for kind, count in sorted({(r.validation, r.validation_images) for r in runs},
                              key=lambda k: (VALIDATION_KINDS.index(k[0]), k[1] or 0)):
        if kind == "test":
            text = "validation on the test split (per epoch, as the notebook did)"
        elif kind == "split":
            text = "validation on {} held-out training images (test split only at the " \
                   "end)".format("{:,}".format(count) if count else "some")
        else:
            text = "no per-epoch validation (test split only at the end)"
        texts.append(text)
    return ("mixed: " if len(texts) > 1 else "") + "; ".join(texts)


# ----------------------------------------------------------------------------- plots


def percent_text(value, decimals):
    return "{:.{}f}%".format(round(value, decimals) + 0.0, decimals)  # + 0.0: no "-0%"


class DistinctPercentFormatter(Formatter):
    """Percent tick labels (values already in %) with the fewest decimals (up to 4) that show every
    tick exactly, so that no two labels are ever the same ('13% 13% 13%' on a tiny range)."""

    def __init__(self):
        self.decimals = 0

    def set_locs(self, locs):
        super().set_locs(locs)
        locs = [float(v) for v in locs if math.isfinite(v)]
        self.decimals = 6
        for decimals in range(0, 5):
            if all(abs(round(v, decimals) - v) < 1e-6 * max(1.0, abs(v)) for v in locs):
                self.decimals = decimals
                break
        else:  # not exactly: the fewest decimals that still tell every tick apart
            for decimals in range(0, 7):
                if len({percent_text(v, decimals) for v in locs}) == len(locs):
                    self.decimals = decimals
                    break

    def __call__(self, value, pos=None):
        return percent_text(value, self.decimals)


def percent_axis(axis, which="y"):
    target = axis.yaxis if which == "y" else axis.xaxis
    target.set_major_formatter(DistinctPercentFormatter())


# Curves and accuracies that hardly differ (one epoch, one seed) get at least this range, in
# percentage points, so that the axis shows a few whole ticks around them instead of 0.01 steps.
MIN_PERCENT_SPAN = 4.0


def fit_percent_range(axis, values):
    """Y limits for percentages `values`: at least MIN_PERCENT_SPAN points around them, within 0
    and 100 (matplotlib's own margins where the values spread wider)."""
    values = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    if high - low < MIN_PERCENT_SPAN:
        centre = (low + high) / 2
        low, high = centre - MIN_PERCENT_SPAN / 2, centre + MIN_PERCENT_SPAN / 2
        if low < 0:
            low, high = 0.0, MIN_PERCENT_SPAN
        elif high > 100:
            low, high = 100.0 - MIN_PERCENT_SPAN, 100.0
        axis.set_ylim(low, high)
    else:
        low, high = axis.get_ylim()
        axis.set_ylim(max(0.0, low), min(100.0, high))


# --describe FILE: {png name: texts of its figure}, filled by save_figure.
DESCRIPTIONS = None


def drawn_tick_labels(axis):
    """The major tick labels as drawn (after a draw): those within the view, non-empty."""
    low, high = sorted(axis.get_view_interval())
    slack = 1e-9 * max(1.0, abs(high - low))
    locs = list(axis.get_majorticklocs())
    ticks = axis.get_major_ticks(len(locs))
    return [tick.label1.get_text() for loc, tick in zip(locs, ticks)
            if low - slack <= loc <= high + slack and tick.label1.get_visible()
            and tick.label1.get_text()]


def describe_figure(figure):
    suptitle = getattr(figure, "_suptitle", None)
    axes = []
    for axis in figure.axes:
        legend = axis.get_legend()
        axes.append({
            "title": axis.get_title(), "xlabel": axis.get_xlabel(), "ylabel": axis.get_ylabel(),
            "xlim": [float(v) for v in axis.get_xlim()], "ylim": [float(v) for v in axis.get_ylim()],
            "xticklabels": drawn_tick_labels(axis.xaxis),
            "yticklabels": drawn_tick_labels(axis.yaxis),
            "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
            "points": [[float(v) for v in point] for collection in axis.collections
                       if isinstance(collection, PathCollection)
                       for point in collection.get_offsets()]})
    return {"suptitle": suptitle.get_text() if suptitle else "", "axes": axes,
            "texts": [t.get_text() for t in figure.findobj(Text)
                      if t.get_visible() and t.get_text()]}


def save_figure(figure, path, **options):
    figure.savefig(path, dpi=120, **options)
    if DESCRIPTIONS is not None:
        DESCRIPTIONS[os.path.basename(path)] = describe_figure(figure)
    plt.close(figure)
    return path


def draw_run_lines(axis, metric, with_metrics, validated, marker):
    """Up to three runs: one line per run and split (dashed where the run is incomplete).
    Returns every value drawn, for the y range."""
    drawn = []
    for index, run in enumerate(with_metrics):
        style = SEED_STYLES[index % len(SEED_STYLES)]
        if not run.complete:
            style = "--" if style != "--" else "-."
        epochs = run.metrics["epoch"]
        lines = [("train", "train_", TRAIN_COLOR)]
        if run in validated:
            lines.append((validation_label(run.validation, run.validation_images), "val_",
                          TEST_COLOR if run.validation == "test" else VAL_COLOR))
        for split, key, color in lines:
            values = 100 * run.metrics[key + metric]
            drawn.extend(values)
            axis.plot(epochs, values, style, color=color, linewidth=1.3, marker=marker,
                      markersize=3.5, label="{} · {}".format(split, run.label()))
    return drawn


def draw_mean_bands(axis, metric, with_metrics, validated, marker):
    """More than three runs: per split the mean by epoch with a min-max band. Returns every
    value drawn, for the y range."""
    drawn = []
    lines = [("train", "train_", TRAIN_COLOR, with_metrics)]
    if validated:
        kinds = sorted({(r.validation, r.validation_images) for r in validated},
                       key=lambda k: (VALIDATION_KINDS.index(k[0]), k[1] or 0))
        label = validation_label(*kinds[0]) if len(kinds) == 1 else \
            "validation (mixed: {})".format(", ".join(validation_label(*k) for k in kinds))
        lines.append((label, "val_", TEST_COLOR if kinds == [("test", None)] else VAL_COLOR,
                      validated))
    for split, key, color, members in lines:
        epochs, values = [], []
        for epoch in sorted({e for r in members for e in r.metrics["epoch"]}):
            at = [100 * r.metrics[key + metric][r.metrics["epoch"] == epoch][0]
                  for r in members if epoch in r.metrics["epoch"]]
            at = [v for v in at if math.isfinite(v)]
            if at:
                epochs.append(epoch)
                values.append((np.mean(at), np.min(at), np.max(at)))
        if not values:
            continue
        values = np.array(values)
        drawn.extend(values.ravel())
        axis.fill_between(epochs, values[:, 1], values[:, 2], color=color, alpha=0.2,
                          linewidth=0, label="{} min–max".format(split))
        axis.plot(epochs, values[:, 0], color=color, linewidth=1.8, marker=marker,
                  markersize=3.5,
                  label="{} mean of {} runs".format(split, len(members)))
    return drawn


def style_epoch_panel(axis, title, with_metrics, drawn):
    """Titles, whole-epoch x ticks, the percent y axis fitted to `drawn`, grid and legend."""
    axis.set_title(title + " by epoch", fontsize=10)
    axis.set_xlabel("Epoch")
    axis.set_ylabel(title)
    first = min(r.metrics["epoch"][0] for r in with_metrics)
    last = max(r.metrics["epoch"][-1] for r in with_metrics)
    if last - first < 2:  # one or two epochs: whole-epoch ticks, not 0.995, 1.000, ...
        axis.set_xlim(first - 0.5, last + 0.5)
        axis.set_xticks(np.arange(first, last + 1))
    else:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    percent_axis(axis)
    fit_percent_range(axis, drawn)
    axis.grid(True, alpha=0.3)
    # Where it covers the fewest points: a fixed corner hid the first epoch's train point.
    axis.legend(fontsize=8, loc="best", framealpha=0.9)


def curves_title(name, runs, with_metrics, description):
    """The curves' suptitle: runs (incomplete ones), seeds, description, basis, validation."""
    incomplete = sum(1 for r in runs if not r.complete)
    count = "{} run{}".format(len(runs), "" if len(runs) == 1 else "s")
    if incomplete:
        count += " ({} incomplete)".format(incomplete)
    seeds = [r.seed for r in with_metrics if r.seed is not None]
    if seeds:
        count += ", seed{} {}".format("" if len(seeds) == 1 else "s",
                                      ", ".join(str(seed) for seed in seeds))
    return "{} — {}{}\n{}; {}".format(
        name, count, " — " + description if description else "", basis(with_metrics),
        validation_caption(with_metrics))


def plot_curves(name, runs, out_dir, description):
    with_metrics = [r for r in runs if r.metrics is not None]
    if not with_metrics:
        note("{}: no epoch in any metrics.csv, no curves".format(name))
        return None
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    panels = [(axes[0], "accuracy", "Accuracy"), (axes[1], "error", "Error")]
    max_epochs = max(len(r.metrics["epoch"]) for r in with_metrics)
    marker = "o" if max_epochs <= 15 else None
    validated = [r for r in with_metrics if r.has_validation_curve()]
    draw = draw_run_lines if len(with_metrics) <= 3 else draw_mean_bands
    for axis, metric, title in panels:
        drawn = draw(axis, metric, with_metrics, validated, marker)
        style_epoch_panel(axis, title, with_metrics, drawn)
    draw_rates(axes[1], with_metrics)
    figure.suptitle(curves_title(name, runs, with_metrics, description), fontsize=11)
    figure.tight_layout()
    return save_figure(figure, os.path.join(out_dir, "curves_{}.png".format(safe_filename(name))))


def training_budget(runs):
    """'2 epochs, 5,000 training images' for completed runs trained otherwise than the notebook
    (10 epochs on 50,000 images), naming only what differs ('' when nothing does or when the
    summaries do not say). Runs of one configuration that differ give each value: '2/10 epochs'."""
    def values(key):
        found = {int(r.get(key)) for r in runs if r.summary and finite_number(r.get(key))}
        return sorted(found)

    parts = []
    epochs = values("epochs")
    if epochs and epochs != [NOTEBOOK_EPOCHS]:
        parts.append("{} epoch{}".format("/".join(str(e) for e in epochs),
                                         "" if epochs == [1] else "s"))
    images = values("train_images")
    if images and images != [NOTEBOOK_TRAIN_IMAGES]:
        parts.append("{} training images".format("/".join("{:,}".format(n) for n in images)))
    return ", ".join(parts)


def plot_test_accuracy(groups, out_dir):
    rows = []  # (name, description, [accuracies %], mean %, std %, reference % or None)
    for group in groups:
        if group.mean is None:
            continue
        measured = group.measured
        # Under each bar what it stands on, so that a 2-epoch bar is not read as the notebook's 10.
        description = "\n".join(part for part in (
            describe(group.runs), basis(measured, separator="\n"),
            " / ".join(sorted({validation_short(r.validation, r.validation_images)
                               for r in measured}))) if part)
        rows.append((group.name, description, group.accuracies, group.mean, group.std,
                     group.reference))
    if not rows:
        note("no completed run with test_accuracy: no test_accuracy.png")
        return None
    any_reference = any(row[5] is not None for row in rows)
    width = 0.38 if any_reference else 0.6
    figure, axis = plt.subplots(figsize=(max(8.0, 2.3 * len(rows) + 3), 6.2))
    x = np.arange(len(rows))
    top = 0.0
    for index, (name, _, accuracies, mean, std, reference) in enumerate(rows):
        ours_x = x[index] - width / 2 if any_reference else x[index]
        spread = len(accuracies) > 1  # an error bar and a "±" only where seeds can differ
        axis.bar(ours_x, mean, width, color="tab:blue", alpha=0.85,
                 yerr=std if spread else None, capsize=4,
                 error_kw={"elinewidth": 1.2, "ecolor": "black"},
                 label="cifar-exp (mean ± std over runs)" if index == 0 else None)
        jitter = np.linspace(-width * 0.22, width * 0.22, len(accuracies)) if spread \
            else np.zeros(len(accuracies))
        axis.scatter(ours_x + jitter, accuracies, s=18, color="black", zorder=3,
                     label="each run (seed)" if index == 0 else None)
        label_y = max([mean + std] + accuracies)
        text = "{:.1f}%".format(mean) + ("\n±{:.1f}".format(std) if spread else "")
        axis.annotate(text, (ours_x, label_y), xytext=(0, 3), textcoords="offset points",
                      ha="center", va="bottom", fontsize=8)
        top = max(top, label_y)
        if reference is not None:
            axis.bar(x[index] + width / 2, reference, width, color="tab:gray", alpha=0.35,
                     hatch="//", edgecolor="dimgray",
                     label="notebook (reported)" if not any(
                         r[5] is not None for r in rows[:index]) else None)
            axis.annotate("{:.1f}%".format(reference), (x[index] + width / 2, reference),
                          xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                          fontsize=8)
            top = max(top, reference)
    axis.set_xticks(x)
    axis.set_xticklabels(["{}\n{}".format(name, description)
                          for name, description, _, _, _, _ in rows], fontsize=8)
    axis.set_ylabel("Test accuracy")
    axis.set_xlim(-0.8, len(rows) - 0.2)
    axis.set_ylim(0, top + 14)  # room for the value labels and the legend
    axis.set_yticks(np.arange(0, min(100, top + 14) + 0.1, 10))
    percent_axis(axis)
    axis.grid(True, axis="y", alpha=0.3)
    axis.set_axisbelow(True)
    axis.legend(fontsize=8, loc="upper center", ncol=3, framealpha=0.95)
    title = "Final test accuracy per configuration"
    if any_reference:
        title += " vs. the notebook's reported accuracy"
        if any(training_budget(group.runs) for group in groups):
            title += ("\n(the notebook trained {} epochs on {:,} images; some bars here did "
                      "not: see below them)".format(NOTEBOOK_EPOCHS, NOTEBOOK_TRAIN_IMAGES))
    axis.set_title(title, fontsize=11)
    figure.tight_layout()
    return save_figure(figure, os.path.join(out_dir, "test_accuracy.png"))


def summed_confusion(name, runs):
    """Returns (class_names, summed matrix as float array, paths of the runs summed) or None."""
    total, class_names, used = None, None, set()
    for run in runs:
        if not run.summary:
            continue
        matrix = run.get("confusion_matrix")
        try:
            matrix = np.array(matrix, dtype=float)
        except (TypeError, ValueError):
            matrix = None
        if matrix is None or matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] \
                or matrix.shape[0] == 0:
            note("{}: no usable confusion_matrix".format(run.path))
            continue
        names = run.get("class_names")
        if not (isinstance(names, list) and len(names) == matrix.shape[0]):
            names = ["class {}".format(i) for i in range(matrix.shape[0])]
        if total is None:
            total, class_names = matrix, [str(n) for n in names]
        elif total.shape != matrix.shape:
            note("{}: confusion matrix shape differs from the other runs', skipped".format(run.path))
            continue
        else:
            total = total + matrix
        used.add(run.path)
    return (class_names, total, used) if total is not None else None


def plot_confusion(name, runs, out_dir, description):
    result = summed_confusion(name, runs)
    if result is None:
        return None
    class_names, matrix, result_paths = result
    completed = [r for r in runs if r.summary]
    n = len(class_names)
    row_sums = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(100 * matrix, row_sums, out=np.zeros_like(matrix), where=row_sums > 0)
    per_class = np.diag(normalised)
    overall = 100 * np.trace(matrix) / matrix.sum() if matrix.sum() > 0 else 0.0

    figure = plt.figure(figsize=(13, 7.6))
    # heat map | colour bar | gap for the colour bar's labels | per-class bars
    grid = figure.add_gridspec(1, 4, width_ratios=[6, 0.22, 0.45, 2.4], wspace=0.05)
    heat = figure.add_subplot(grid[0, 0])
    color_axis = figure.add_subplot(grid[0, 1])
    bars = figure.add_subplot(grid[0, 3], sharey=heat)

    image = heat.imshow(normalised, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    for i in range(n):
        for j in range(n):
            value = normalised[i, j]
            heat.text(j, i, "{:.1f}".format(value) if value < 99.95 else "100", ha="center",
                      va="center", fontsize=8 if n <= 10 else 6,
                      color="white" if value > 55 else "black",
                      fontweight="bold" if i == j else "normal")
    heat.set_xticks(range(n))
    heat.set_xticklabels(class_names, rotation=40, ha="right")
    heat.set_yticks(range(n))
    heat.set_yticklabels(class_names)
    heat.set_xlabel("Predicted class")
    heat.set_ylabel("True class")
    heat.set_title("% of each true class (row) predicted as each class", fontsize=10)
    colorbar = figure.colorbar(image, cax=color_axis)
    percent_axis(colorbar.ax)

    colors = plt.get_cmap("RdYlGn")(np.clip((per_class - 40) / 55, 0, 1))
    bars.barh(range(n), per_class, color=colors, edgecolor="dimgray", linewidth=0.5)
    for i, value in enumerate(per_class):
        bars.text(min(value, 100) + 1.5, i, "{:.1f}%".format(value), va="center", fontsize=8,
                  bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
                  zorder=4)
    bars.axvline(overall, color="black", linestyle="--", linewidth=1)
    bars.set_xlim(0, 118)
    bars.set_xticks([0, 25, 50, 75, 100])
    percent_axis(bars, "x")
    bars.tick_params(axis="y", labelleft=False)
    bars.set_title("Per-class accuracy (diagonal)\ndashed line: overall {:.1f}%".format(overall),
                   fontsize=10)
    bars.set_xlabel("Accuracy")
    bars.grid(True, axis="x", alpha=0.3)

    off = normalised.copy()
    np.fill_diagonal(off, -1)
    worst = np.unravel_index(np.argmax(off), off.shape)
    subtitle = "best class: {} ({:.1f}%), worst: {} ({:.1f}%); most common mistake: {} → {} " \
               "({:.1f}% of {})".format(
                   class_names[int(np.argmax(per_class))], per_class.max(),
                   class_names[int(np.argmin(per_class))], per_class.min(),
                   class_names[worst[0]], class_names[worst[1]], off[worst], class_names[worst[0]])
    # The runs whose matrices were summed: "500 test images x 3 seeds", not "1500 test images".
    summed = [r for r in completed if r.path in result_paths]
    figure.suptitle("{} — confusion matrix summed over {} run{}{}\n{}\n{}".format(
        name, len(summed), "" if len(summed) == 1 else "s",
        " — " + description if description else "", basis(summed), subtitle), fontsize=11)
    figure.subplots_adjust(left=0.1, right=0.97, bottom=0.14, top=0.84)
    return save_figure(figure, os.path.join(out_dir, "confusion_{}.png".format(
        safe_filename(name))))


def plot_per_class(groups, out_dir):
    rows, class_names = [], None  # (name, description, mean %, std %, runs)
    for group in groups:
        name, runs = group.name, group.runs
        values, used = [], []
        for run in runs:
            if not run.summary:
                continue
            per_class = run.get("per_class_accuracy")
            if not (isinstance(per_class, list) and per_class
                    and all(finite_number(v) for v in per_class)):
                result = summed_confusion(name, [run])
                if result is None:
                    continue
                matrix = result[1]
                sums = matrix.sum(axis=1)
                per_class = list(np.divide(np.diag(matrix), sums, out=np.zeros(len(sums)),
                                           where=sums > 0))
            names = run.get("class_names")
            if not (isinstance(names, list) and len(names) == len(per_class)):
                names = ["class {}".format(i) for i in range(len(per_class))]
            if class_names is None:
                class_names = [str(n) for n in names]
            if len(per_class) != len(class_names):
                note("{}: number of classes differs from other runs', left out of "
                     "per_class_accuracy.png".format(run.path))
                continue
            values.append(100 * np.array(per_class, dtype=float))
            used.append(run)
        if values:
            values = np.array(values)
            label = "{} ({})".format(name, describe(runs)) if describe(runs) else name
            rows.append((label, basis(used, separator="\n"), values.mean(axis=0),
                         values.std(axis=0, ddof=1) if len(values) > 1 else None, len(values)))
    if not rows:
        return None
    n = len(class_names)
    figure, axis = plt.subplots(figsize=(min(16.0, max(10.0, 6 + 0.3 * n * len(rows))), 5.5))
    width = 0.8 / len(rows)
    x = np.arange(n)
    colors = plt.get_cmap("tab10")
    for index, (name, description, mean, std, count) in enumerate(rows):
        label = "{}\n{}".format(name, description)
        axis.bar(x - 0.4 + width * (index + 0.5), mean, width, color=colors(index % 10),
                 yerr=std, capsize=2, error_kw={"elinewidth": 0.8}, label=label)
    axis.set_xticks(x)
    axis.set_xticklabels(class_names)
    axis.set_ylabel("Test accuracy of the class")
    axis.set_ylim(0, 102)
    axis.set_yticks(range(0, 101, 10))
    percent_axis(axis)
    axis.grid(True, axis="y", alpha=0.3)
    axis.set_axisbelow(True)
    # Below the class names, so that it never covers a bar.
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.07),
                ncol=min(len(rows), 3), frameon=False)
    axis.set_title("Per-class test accuracy by configuration (mean over runs; error bar: std)")
    figure.tight_layout()
    return save_figure(figure, os.path.join(out_dir, "per_class_accuracy.png"))


# ----------------------------------------------------------------------------- grid sweeps


def grid_label(value):
    if finite_number(value):
        return "{:g}".format(value)
    return value if isinstance(value, str) else json.dumps(value)


def collect_grid(groups):
    """The configurations with a grid point, in the order of `groups` (the comparison table's):
    (keys in order first seen, [(configuration, {key: value})])."""
    keys, points = [], []
    for group in groups:
        if not group.grid:
            continue
        for key, _ in group.grid:
            if key not in keys:
                keys.append(key)
        points.append((group, dict(group.grid)))
    return keys, points


def axis_values(values):
    """The distinct values of a key in plotting order: numbers ascending, else as first seen."""
    distinct = []
    for value in values:
        if value not in distinct:
            distinct.append(value)
    if all(finite_number(v) for v in distinct):
        distinct.sort()
    return distinct


def plot_grid_line(key, points, out_dir):
    xs = axis_values([values[key] for _, values in points])
    numeric = all(finite_number(v) for v in xs)
    figure, axis = plt.subplots(figsize=(8.5, 5.2))
    bases = []  # in the order of the points: the comparison table's
    for group, _ in points:
        if group.base not in bases:
            bases.append(group.base)
    drawn = []
    for index, base in enumerate(bases):
        line = []  # (x, the configuration at x)
        for x_index, x in enumerate(xs):
            found = [group for group, values in points
                     if group.base == base and values[key] == x and group.mean is not None]
            if found:
                line.append((x if numeric else x_index, found[0]))
        if not line:
            continue
        color = plt.get_cmap("tab10")(index % 10)
        axis.errorbar([x for x, _ in line], [group.mean for _, group in line],
                      yerr=[group.std for _, group in line], color=color, marker="o", capsize=4,
                      linewidth=1.6,
                      label="{}\n{}".format(base, basis([r for _, g in line for r in g.measured],
                                                        [g.measured for _, g in line])))
        drawn.extend(a for _, group in line for a in group.accuracies)
        drawn.extend(v for _, g in line for v in (g.mean - g.std, g.mean + g.std))
        for x, group in line:
            axis.scatter([x] * len(group.accuracies), group.accuracies, s=10, color=color,
                         alpha=0.45, zorder=3)
    if numeric:
        positive = [x for x in xs if x > 0]
        if len(positive) == len(xs) and max(xs) / min(xs) >= 20:
            axis.set_xscale("log")
        axis.set_xticks(xs)
        axis.set_xticklabels([grid_label(x) for x in xs])
        axis.minorticks_off()
    else:
        axis.set_xticks(range(len(xs)))
        axis.set_xticklabels([grid_label(x) for x in xs])
    axis.set_xlabel(key)
    axis.set_ylabel("Test accuracy")
    percent_axis(axis)
    fit_percent_range(axis, drawn)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title("Test accuracy against {} (mean ± std over seeds; dots: each seed)".format(key),
                   fontsize=10)
    figure.tight_layout()
    return save_figure(figure, os.path.join(out_dir, "grid_{}.png".format(safe_filename(key))))


def plot_grid_heat(keys, points, out_dir):
    rows_key, cols_key = keys
    rows = axis_values([values[rows_key] for _, values in points])
    cols = axis_values([values[cols_key] for _, values in points])
    bases = []  # in the order of the points: the comparison table's
    for group, _ in points:
        if group.base not in bases:
            bases.append(group.base)
    tables = []
    for base in bases:
        mean = np.full((len(rows), len(cols)), np.nan)
        std = np.zeros((len(rows), len(cols)))
        count = np.zeros((len(rows), len(cols)), dtype=int)
        cells = {}  # (i, j): the runs of the cell
        for group, values in points:
            if group.base != base or group.mean is None:
                continue
            i, j = rows.index(values[rows_key]), cols.index(values[cols_key])
            if (i, j) in cells:
                note("{}: a second row at the grid point of {}, left out of the heat map".format(
                    group.name, base))
                continue
            cells[(i, j)] = group.measured
            mean[i, j], std[i, j], count[i, j] = group.mean, group.std, group.count
        runs = [r for cell in cells.values() for r in cell]
        tables.append((base, mean, std, count, basis(runs, list(cells.values()), separator="\n")
                       if runs else ""))
    finite = np.concatenate([t[1][np.isfinite(t[1])] for t in tables])
    if finite.size == 0:
        note("grid over {} and {}: no completed run, no heat map".format(rows_key, cols_key))
        return None
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1:
        low, high = low - 0.5, high + 0.5
    figure, axes = plt.subplots(1, len(tables), squeeze=False,
                                figsize=(1.2 + (1.4 + 1.1 * len(cols)) * len(tables),
                                         1.8 + 0.8 * len(rows)))
    figure.subplots_adjust(wspace=0.3, top=0.75)
    for index, (axis, (base, mean, std, count, stands_on)) in enumerate(zip(axes[0], tables)):
        cmap = plt.get_cmap("viridis").copy()
        cmap.set_bad("lightgray")
        image = axis.imshow(np.ma.masked_invalid(mean), cmap=cmap, vmin=low, vmax=high,
                            aspect="auto")
        for i in range(len(rows)):
            for j in range(len(cols)):
                if count[i, j] == 0:
                    axis.text(j, i, "no run", ha="center", va="center", fontsize=8)
                    continue
                text = "{:.1f}%".format(mean[i, j])
                if count[i, j] > 1:
                    text += "\n±{:.1f} (n={})".format(std[i, j], count[i, j])
                shade = (mean[i, j] - low) / (high - low)
                axis.text(j, i, text, ha="center", va="center", fontsize=8,
                          color="black" if shade > 0.6 else "white")
        axis.set_xticks(range(len(cols)))
        axis.set_xticklabels([grid_label(c) for c in cols])
        axis.set_yticks(range(len(rows)))
        axis.set_yticklabels([grid_label(r) for r in rows])
        axis.set_xlabel(cols_key)
        if index == 0:
            axis.set_ylabel(rows_key)
        axis.set_title("{}\n{}".format(base, stands_on) if stands_on else base, fontsize=9)
    colorbar = figure.colorbar(image, ax=list(axes[0]), shrink=0.9)
    percent_axis(colorbar.ax)
    colorbar.set_label("Test accuracy (mean over seeds)")
    figure.suptitle("Test accuracy over the grid {} x {}".format(rows_key, cols_key), fontsize=11,
                    y=0.97)
    return save_figure(figure, os.path.join(out_dir, "grid_{}_{}.png".format(
        safe_filename(rows_key), safe_filename(cols_key))), bbox_inches="tight")


def plot_grid(groups, out_dir):
    keys, points = collect_grid(groups)
    if not keys:
        return None
    # Every point needs every key (runs of sweeps over different keys cannot share one plot).
    points = [p for p in points if all(k in p[1] for k in keys)]
    if len(keys) == 1:
        return plot_grid_line(keys[0], points, out_dir)
    if len(keys) == 2:
        return plot_grid_heat(keys, points, out_dir)
    note("grid over {} keys ({}): no grid plot (one key: lines, two: heat map)".format(
        len(keys), ", ".join(keys)))
    return None


def main():
    parser = argparse.ArgumentParser(
        description="Plot cifar-exp run folders (learning curves, test accuracy, confusion "
                    "matrices, per-class accuracy) as PNG files.")
    parser.add_argument("paths", nargs="+", metavar="RUN_DIR_OR_PARENT",
                        help="a run folder (with metrics.csv) or a folder of run folders")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the PNG files")
    parser.add_argument("--cifar-exp", metavar="PATH",
                        help="the cifar-exp binary that lists the runs and the table "
                             "(default: $CIFAR_EXP_BIN, else build/cifar-exp, else cifar-exp on "
                             "PATH)")
    # For tests: the texts of each figure written (titles, tick labels as drawn, legends), JSON.
    parser.add_argument("--describe", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global DESCRIPTIONS
    if args.describe:
        DESCRIPTIONS = {}

    runs, groups = read_table(args.paths, args.cifar_exp)  # groups: the table's rows, in order
    if not runs:
        sys.exit("plot_runs.py: no run folder with metrics.csv found in: " + " ".join(args.paths))
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as error:
        sys.exit("plot_runs.py: cannot create {}: {}".format(args.out, error))

    written = []
    for group in groups:
        name = group.name
        check_consistent(name, group.runs)
        description = describe(group.runs)
        written.append(plot_curves(name, group.runs, args.out, description))
        if any(r.summary for r in group.runs):
            written.append(plot_confusion(name, group.runs, args.out, description))
        else:
            note("{}: no completed run, so no confusion matrix and no test accuracy bar".format(name))
    written.append(plot_test_accuracy(groups, args.out))
    written.append(plot_per_class(groups, args.out))
    written.append(plot_grid(groups, args.out))

    written = [path for path in written if path]
    complete = sum(1 for r in runs if r.complete)
    print("{} run{} ({} complete) in {} configuration{}; wrote:".format(
        len(runs), "" if len(runs) == 1 else "s", complete, len(groups),
        "" if len(groups) == 1 else "s"))
    for path in written:
        print("  " + path)
    if args.describe:
        try:
            with open(args.describe, "w") as f:
                json.dump({"order": [group.name for group in groups], "figures": DESCRIPTIONS}, f,
                          indent=1, ensure_ascii=False)
        except OSError as error:
            sys.exit("plot_runs.py: cannot write {}: {}".format(args.describe, error))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""summarize.py: bench/compare.sh's summary of the JSON reports its runs left in a folder.

    summarize.py [--format table|markdown] --rounds R --threads T --cores N DIR CONFIG...

DIR holds sides.tsv (a line per side: kind (cpp or python), label (empty for cpp: cifar-exp's
sides are labelled by the libtorch they report), spec (PATH[:generic][:direct] or
PYTHON[:variant]...),
tab-separated) and one report per config, side and round, c<I>.s<S>.r<R>.json (I counts the
CONFIGs from 1, S the sides from 0, R the rounds from 1): `cifar-exp bench --format json` for a
cpp side, `torch_reference.py --format json` for a python side. --threads and --cores (nproc)
are what compare.sh used and saw; the CPU model comes from bench_common.cpu_model().

--format table (default): a header naming every side (what ran and its glibc allocator setting:
cifar-exp's own, configure_allocator, or the report's "allocator", the variables a Python side
started with), then per config each phase's mean_ms (median over rounds) with one column per
side, the throughputs (training / evaluation / backbone features images/s), the convolutions
each side ran (its reports' "convolution": direct or which Winograd), torch.compile times, and
per cifar-exp side "fastest Python: LABEL N img/s; SIDE / fastest Python = R.RRx" (training
images/s). Warnings (a config, threads, precision, warm-up, ... that differs between sides; a
Python variant that did not run as asked; backbone weights that were not the config's) come
with the table on stdout. --format markdown: one Markdown table for BENCHMARKS.md, a row per
config, a column per side, training images/s and the ratio to the fastest Python side (and the
convolutions in each cell where the row's sides differ in them), the sides described below it;
warnings then go to stderr.

Standard library only. Exit status 0, or 1 with "compare.sh: error: ..." for a report that is
missing, not JSON, lacks keys or comes from the wrong tool.
"""
import argparse
import json
import os
import statistics
import sys

from bench_common import (ALLOCATOR_ENV, PHASE_ORDER, ROOT, cpu_model, describe_allocator,
                          describe_convolution)

REQUIRED = ["tool", "config", "model", "augmentation", "batch_size", "eval_batch_size", "threads",
            "device", "precision", "torch_version", "iterations", "warmup", "data", "phases",
            "train_images_per_second", "eval_images_per_second"]
REQUIRED_PYTHON = ["memory_format", "compile"]
TOOLS = {"cpp": "cifar-exp", "python": "torch-python"}
# Keys every side's reports of a config should agree on (else a warning).
SAME = ("config", "model", "augmentation", "batch_size", "eval_batch_size", "threads", "device",
        "precision", "iterations", "warmup", "eval_warmup", "data")
THROUGHPUTS = (("train_images_per_second", "train images/s"),
               ("eval_images_per_second", "eval images/s"),
               ("features_images_per_second", "features images/s"))
MODELS = {"small_cnn": "small CNN", "vgg16_transfer": "frozen VGG16"}


def error(message):
    """The one line compare.sh prints for a report it cannot use; exit 1."""
    sys.exit(f"compare.sh: error: {message}")


# ----------------------------------------------------------------------------------------------
# Reading: the sides and their reports.

def load_report(folder, tag, kind):
    """The report <tag>.json of a side of `kind` (cpp | python), checked for the keys used."""
    path = os.path.join(folder, tag + ".json")
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        error(f"{path}: not a JSON report ({e})")
    if not isinstance(report, dict):
        error(f"{path}: not a JSON object")
    missing = [k for k in REQUIRED + (REQUIRED_PYTHON if kind == "python" else [])
               if k not in report]
    if missing:
        error(f"{path}: missing keys {', '.join(missing)}")
    if report["tool"] != TOOLS[kind]:
        error(f"{path}: expected tool {TOOLS[kind]!r}, got {report['tool']!r}")
    return report


def read_sides(folder):
    """sides.tsv as a list of {"kind", "label", "spec"}."""
    with open(os.path.join(folder, "sides.tsv")) as f:
        sides = []
        for line in f.read().splitlines():
            kind, label, spec = line.split("\t")
            sides.append({"kind": kind, "label": label, "spec": spec})
    return sides


def load_runs(folder, configs, sides, rounds):
    """config -> side index -> that side's reports over the rounds."""
    return {config: [[load_report(folder, f"c{i}.s{s}.r{r}", side["kind"])
                      for r in range(1, rounds + 1)]
                     for s, side in enumerate(sides)]
            for i, config in enumerate(configs, 1)}


def short_path(path, root=ROOT):
    """path relative to the checkout where it is inside it, else as it is."""
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def side_allocator(side, r0):
    """The side's glibc allocator setting in words: cifar-exp sets its own (configure_allocator);
    a Python side's report says which variables it started with."""
    if side["kind"] == "cpp":
        return f"allocator: {describe_allocator(ALLOCATOR_ENV, True)} (configure_allocator)"
    if "allocator" not in r0:
        return "allocator: not reported"
    setting = r0["allocator"]
    return f"allocator: {describe_allocator(setting)}" + (" (environment)" if setting else "")


def label_sides(sides, runs):
    """Adds each side's "torch", its "what" (one line on what ran, its allocator setting last)
    and, for cifar-exp sides, its "label" (the libtorch it reports, "generic" for libtorch's own
    kernels, "direct" for model.convolution=direct, and its path where two builds have the same
    libtorch), from the first config's first round."""
    first = next(iter(runs.values()))
    for s, side in enumerate(sides):
        r0 = first[s][0]
        side["torch"] = r0["torch_version"]
        if side["kind"] == "cpp":
            path, *variants = side["spec"].split(":")
            generic = r0.get("kernels") == "generic"
            side["label"] = (f"cifar-exp {r0['torch_version']}" + (" generic" if generic else "")
                             + (" direct" if "direct" in variants else ""))
            side["what"] = (f"{short_path(path)}, libtorch {r0['torch_version']}, "
                            f"{r0.get('kernels', 'generic')} kernels"
                            + (", model.convolution=direct" if "direct" in variants else ""))
        else:
            python = side["spec"].split(":")[0]
            side["what"] = (f"{short_path(python)}, torch {r0['torch_version']}, "
                            f"{r0['memory_format']}"
                            + (", torch.compile" if r0["compile"] else ""))
        side["what"] += "; " + side_allocator(side, r0)
    labels = [side["label"] for side in sides]
    for side in sides:  # two builds with the same libtorch: tell them apart by path
        if side["kind"] == "cpp" and labels.count(side["label"]) > 1:
            side["label"] += f" ({short_path(side['spec'])})"


# ----------------------------------------------------------------------------------------------
# Arithmetic and formatting.

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(head, rows):
    """An aligned text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]

    def line(cells):
        return "  ".join(str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i])
                         for i, cell in enumerate(cells))

    print(line(head))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def describe(r):
    """What a config trains, in words: "small CNN + augmentation", ..."""
    what = MODELS.get(r["model"], r["model"])
    if r["augmentation"]:
        what += " + augmentation"
    if "features_images_per_second" in r:
        what += "; head steps on cached features"
    return what


def convolutions(per_side):
    """Each side's convolutions for a config, in words (its reports' "convolution")."""
    return [" / ".join(sorted({describe_convolution(r.get("convolution")) for r in reports}))
            for reports in per_side]


def throughput(per_side, key):
    """Each side's median over rounds of a report key (None where no report has it)."""
    return [median([r.get(key) for r in reports]) for reports in per_side]


class Summary:
    """The sides and runs of one comparison, and the text compare.sh prints of them."""

    def __init__(self, sides, runs, rounds, threads, cores, cpu, markdown):
        self.sides, self.runs = sides, runs
        self.rounds, self.threads, self.cores, self.cpu = rounds, threads, cores, cpu
        self.markdown = markdown
        # Warnings go with the table, or to stderr when stdout is a Markdown table.
        self.warn_out = sys.stderr if markdown else sys.stdout
        self.labels = [side["label"] for side in sides]
        self.cpp_sides = [s for s, side in enumerate(sides) if side["kind"] == "cpp"]
        self.py_sides = [s for s, side in enumerate(sides) if side["kind"] == "python"]

    def warnings_for(self, config, per_side):
        """What differs between the sides' reports of a config, a Python variant that did not run
        as asked, and backbone weights that were not the config's."""
        sides, out = self.sides, []
        everyone = [r for reports in per_side for r in reports]
        for key in SAME:  # .get: eval_warmup is missing from older reports
            if len({json.dumps(r.get(key)) for r in everyone}) > 1:
                values = "; ".join(
                    f"{sides[s]['label']} "
                    f"{', '.join(sorted({json.dumps(r.get(key)) for r in reports}))}"
                    for s, reports in enumerate(per_side))
                out.append(f"{key} differs: {values}")
        for s in self.py_sides:  # the variant asked for is the one that ran
            spec = sides[s]["spec"].split(":")[1:]
            want_format = "contiguous" if "contiguous" in spec else "channels_last"
            want_compile = "compile" in spec
            for r in per_side[s]:
                if r["memory_format"] != want_format or bool(r["compile"]) != want_compile:
                    out.append(f"{sides[s]['label']}: ran memory_format {r['memory_format']}, "
                               f"compile {r['compile']}; asked {want_format}, "
                               f"compile {want_compile}")
                    break
        for s, reports in enumerate(per_side):
            for note in sorted({r["weights"] for r in reports if "weights" in r}):
                out.append(f"{sides[s]['label']} backbone weights: {note}")
        return [f"{config}: {w}" if self.markdown else w for w in out]

    def fastest_python(self, train):
        """(images/s, label) of the Python side that trains fastest; (None, None) without one."""
        candidates = [(train[s], self.sides[s]["label"]) for s in self.py_sides
                      if train[s] is not None]
        return max(candidates) if candidates else (None, None)

    def print_warnings(self, warnings):
        for w in warnings:
            print(f"WARNING: {w}", file=self.warn_out)

    # --format table

    def print_header(self):
        print(f"compare: {self.threads} threads, {self.rounds} round"
              f"{'s' if self.rounds != 1 else ''} (median of each side's per-run mean; "
              f"side order rotated each round); machine: {self.cores} cores (nproc), {self.cpu}")
        for side in self.sides:
            print(f"  {side['label']}: {side['what']}")

    def phases(self, per_side):
        """The phases any report of the config has: PHASE_ORDER's first, then any other sorted."""
        seen = {p for reports in per_side for r in reports for p in r["phases"]}
        return [p for p in PHASE_ORDER if p in seen] + sorted(seen - set(PHASE_ORDER))

    def print_config(self, config, per_side):
        r0 = per_side[0][0]
        print()
        print(f"{r0['config']} ({config}): {describe(r0)}, batch {r0['batch_size']}, "
              f"eval batch {r0['eval_batch_size']}, {r0['device']}, {r0['precision']}, "
              f"{r0['iterations']} steps after {r0['warmup']} warm-up")
        data = sorted({r["data"] for reports in per_side for r in reports})
        print(f"data: {'/'.join(data)}")
        self.print_warnings(self.warnings_for(config, per_side))
        rows = [[phase] + [
            fmt(median([r["phases"].get(phase, {}).get("mean_ms") for r in reports]), ".3f")
            for reports in per_side] for phase in self.phases(per_side)]
        print()
        print_table(["phase (mean ms)"] + self.labels, rows)
        print()
        rows = []
        for key, label in THROUGHPUTS:
            values = throughput(per_side, key)
            if all(v is None for v in values):
                continue
            rows.append([label] + [fmt(v, ".1f") for v in values])
        rows.append(["convolutions"] + convolutions(per_side))
        print_table(["throughput"] + self.labels, rows)
        for s in self.py_sides:
            seconds = median([r.get("compile_seconds") for r in per_side[s]])
            if seconds is not None:
                print(f"{self.sides[s]['label']}: torch.compile took {seconds:.1f} s per run "
                      "(untimed)")
        train = throughput(per_side, "train_images_per_second")
        best, best_label = self.fastest_python(train)
        if best is not None:
            for s in self.cpp_sides:
                if train[s] is not None:
                    print(f"fastest Python: {best_label} {best:.0f} img/s; "
                          f"{self.sides[s]['label']} / fastest Python = {train[s] / best:.2f}x")

    # --format markdown

    def print_markdown_header(self):
        c0 = next(iter(self.runs.values()))[0][0]
        print(f"Training images/s, `bench/compare.sh --rounds {self.rounds} "
              f"--threads {self.threads} --iterations {c0['iterations']} --warmup {c0['warmup']}` "
              f"on {self.cores} cores ({self.cpu}), {c0['device']}, {c0['precision']}: median over "
              "rounds of each run's mean step; in brackets the ratio to the fastest Python side "
              "(> 1: faster than it).")
        print()
        print("| config | " + " | ".join(self.labels) + " |")
        print("|---|" + "---:|" * len(self.sides))

    def print_markdown_row(self, config, per_side):
        r0 = per_side[0][0]
        train = throughput(per_side, "train_images_per_second")
        best, _ = self.fastest_python(train)
        algorithms = convolutions(per_side)
        label_algorithm = len(set(algorithms)) > 1  # the sides' convolutions differ: say which
        cells = []
        for v, algorithm in zip(train, algorithms):
            cell = fmt(v, ",.0f")
            if v is not None and best:
                cell += f" ({v / best:.2f}x)"
            if label_algorithm:
                cell += f", {algorithm}"
            cells.append(cell)
        print(f"| {r0['config']} ({describe(r0)}) | " + " | ".join(cells) + " |")
        self.print_warnings(self.warnings_for(config, per_side))

    def print_markdown_footer(self):
        print()
        print("Sides: " + "; ".join(f"{side['label']} = {side['what']}" for side in self.sides)
              + ".")

    def print(self):
        if self.markdown:
            self.print_markdown_header()
            for config, per_side in self.runs.items():
                self.print_markdown_row(config, per_side)
            self.print_markdown_footer()
        else:
            self.print_header()
            for config, per_side in self.runs.items():
                self.print_config(config, per_side)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="summarize.py",
                                 description="bench/compare.sh's summary of its runs' reports.")
    ap.add_argument("--format", choices=["table", "markdown"], default="table")
    ap.add_argument("--rounds", type=int, required=True, help="rounds per config and side")
    ap.add_argument("--threads", required=True, help="the thread count every side was given")
    ap.add_argument("--cores", required=True, help="the machine's cores (nproc)")
    ap.add_argument("folder", metavar="DIR", help="sides.tsv and the reports c<I>.s<S>.r<R>.json")
    ap.add_argument("configs", metavar="CONFIG", nargs="+", help="the configs, in run order")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sides = read_sides(args.folder)
    runs = load_runs(args.folder, args.configs, sides, args.rounds)
    label_sides(sides, runs)
    Summary(sides, runs, args.rounds, args.threads, args.cores, cpu_model(),
            args.format == "markdown").print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""bench_common.py: what the bench/ tools share (standard library only, so it imports under any of
their Pythons), each fact once:

  - PHASE_ORDER: the phases of `cifar-exp bench` in the order they happen, as src/benchmark.cpp's
    kPhaseOrder (its JSON report holds the phases as an object with sorted keys, so the order
    cannot be read from it; bench/bench_test.py checks this list against kPhaseOrder). The
    phase table (phase_table), torch_reference.py, keras_reference.py and summarize.py (the
    tables of compare.sh) use it.
  - cpu_model() and cpu_flags(): /proc/cpuinfo's "model name" and "flags", read by one function.
  - the cifar-exp binary (cifar_exp_binaries, find_cifar_exp): the one environment variable is
    CIFAR_EXP_BIN (the name scripts/sweep.sh reads). CIFAR_EXP, the name bench/ read before, is
    still accepted when CIFAR_EXP_BIN is not set, with a note on stderr: deprecated, to be
    removed. Without either: this checkout's build/cifar-exp (compare.sh also
    build-pypi/cifar-exp) where executable, else cifar-exp on PATH.
  - one-line messages, the usage-error parser and the entry point of the tools; the CIFAR-10
    binary records; phase statistics.

Run as a script it answers compare.sh (bash) with the same lookup:

    bench_common.py cifar-exp [--all-builds] [--tool NAME]

prints the binaries to use when none is given, one a line (nothing when there is none).
"""
import argparse
import os
import shutil
import statistics
import sys

# The checkout (bench/..): where build/cifar-exp is looked for.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# src/benchmark.cpp kPhaseOrder: the phases in the order they happen, for tables.
PHASE_ORDER = ["gather", "augment", "forward", "backward", "optimizer", "metrics", "train_step",
               "features", "eval"]

BINARY_ENV = "CIFAR_EXP_BIN"  # the cifar-exp binary
DEPRECATED_BINARY_ENV = "CIFAR_EXP"  # accepted when BINARY_ENV is not set; deprecated
BUILDS = ("build", "build-pypi")  # this checkout's build folders (scripts/build.sh)

RECORD_BYTES = 3073  # 1 label byte + 3,072 CHW pixel bytes
NUM_CLASSES = 10


def fail(tool, message, code=2):
    print(f"{tool}: error: {message}", file=sys.stderr)
    sys.exit(code)


def note(tool, message):
    print(f"{tool}: {message}", file=sys.stderr, flush=True)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the tool (its prog), exit 2."""

    def error(self, message):
        fail(self.prog, f"{message} (see --help)")


def split_names(train):
    return [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]


def record_count(path):
    """Records in a batch file; ValueError when missing or not whole records (as src/data.cpp)."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: file not found")
    size = os.path.getsize(path)
    if size == 0 or size % RECORD_BYTES:
        raise ValueError(f"{path}: size {size} is not a whole number of 3,073-byte records")
    return size // RECORD_BYTES


def check_data_files(root):
    if not os.path.isdir(root):
        raise ValueError(f"{root}: CIFAR-10 data folder not found")
    for train in (True, False):
        for name in split_names(train):
            record_count(os.path.join(root, name))


def read_records(root, train, limit):
    """The split's first `limit` records (all when 0/None): (a writable bytearray of
    count x RECORD_BYTES bytes, count). Every file's size is checked first; a label above 9 is a
    ValueError."""
    names = split_names(train)
    sizes = [record_count(os.path.join(root, name)) for name in names]
    wanted = min(limit, sum(sizes)) if limit else sum(sizes)
    data = bytearray()
    for name, count in zip(names, sizes):
        take = min(count, wanted - len(data) // RECORD_BYTES)
        if take <= 0:
            break
        path = os.path.join(root, name)
        with open(path, "rb") as f:
            chunk = f.read(take * RECORD_BYTES)
        if len(chunk) != take * RECORD_BYTES:
            raise ValueError(f"{path}: short read")
        data += chunk
    if max(data[0::RECORD_BYTES]) >= NUM_CLASSES:
        raise ValueError(f"{root}: a record has a label above 9")
    return data, wanted


def phase_stats(values):
    ordered = sorted(values)
    return {"mean_ms": statistics.fmean(ordered),
            "std_ms": statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
            "median_ms": statistics.median(ordered),
            "min_ms": ordered[0],
            "count": len(ordered)}


def phase_table(phases, order=PHASE_ORDER):
    """The phase table's lines (as cifar-exp bench prints it), phases in `order`."""
    lines = [f"{'phase':<12}{'mean ms':>10}{'std ms':>10}{'median ms':>11}{'min ms':>10}{'n':>7}"]
    for name in order:
        if name in phases:
            p = phases[name]
            lines.append(f"{name:<12}{p['mean_ms']:>10.3f}{p['std_ms']:>10.3f}"
                         f"{p['median_ms']:>11.3f}{p['min_ms']:>10.3f}{p['count']:>7}")
    return lines


def cpuinfo_field(name, path="/proc/cpuinfo"):
    """The value of the first "name : value" line of /proc/cpuinfo; None when there is none."""
    try:
        with open(path) as f:
            for line in f:
                key, colon, value = line.partition(":")
                if colon and key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_model(path="/proc/cpuinfo"):
    """The CPU's model name, "unknown" where /proc/cpuinfo does not say."""
    return cpuinfo_field("model name", path) or "unknown"


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU's feature flags (avx512_bf16, amx_bf16, ...) as a set; empty where unknown."""
    return set((cpuinfo_field("flags", path) or "").split())


def env_cifar_exp(tool, environ=None):
    """$CIFAR_EXP_BIN, else the deprecated $CIFAR_EXP (with a note on stderr naming `tool`), else
    None; an empty value counts as not set."""
    environ = os.environ if environ is None else environ
    if environ.get(BINARY_ENV):
        return environ[BINARY_ENV]
    if environ.get(DEPRECATED_BINARY_ENV):
        note(tool, f"${DEPRECATED_BINARY_ENV} is deprecated for bench/; set ${BINARY_ENV} instead")
        return environ[DEPRECATED_BINARY_ENV]
    return None


def cifar_exp_binaries(tool, all_builds=False, root=ROOT, environ=None):
    """The cifar-exp binaries to use when none is given on the command line: [$CIFAR_EXP_BIN]
    (else [$CIFAR_EXP], deprecated) when set, as given; else root's build/cifar-exp (and with
    all_builds build-pypi/cifar-exp) where executable; else [cifar-exp on PATH]; else []."""
    given = env_cifar_exp(tool, environ)
    if given:
        return [given]
    builds = [os.path.join(root, build, "cifar-exp")
              for build in (BUILDS if all_builds else BUILDS[:1])]
    found = [path for path in builds if os.path.isfile(path) and os.access(path, os.X_OK)]
    if found:
        return found
    on_path = shutil.which("cifar-exp")
    return [on_path] if on_path else []


def find_cifar_exp(tool, given=None, root=ROOT, environ=None):
    """The cifar-exp binary: `given` (--cifar-exp PATH), else the first of cifar_exp_binaries();
    None when there is none."""
    if given:
        return given
    found = cifar_exp_binaries(tool, False, root, environ)
    return found[0] if found else None


def run_tool(tool, main):
    """sys.exit(main()), with Ctrl-C as one line and exit 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(f"{tool}: interrupted", file=sys.stderr)
        sys.exit(130)


def main(argv=None):
    ap = OneLineParser(prog="bench_common.py", description="The facts bench/ shares, for bash.")
    commands = ap.add_subparsers(dest="command", required=True)
    lookup = commands.add_parser("cifar-exp", help="the cifar-exp binaries to use when none is "
                                                   "given, one a line")
    lookup.add_argument("--all-builds", action="store_true",
                        help="every executable build folder (build/, build-pypi/), not the first")
    lookup.add_argument("--tool", default="bench_common.py", help="the name notes are given")
    args = ap.parse_args(argv)
    for path in cifar_exp_binaries(args.tool, args.all_builds):
        print(path)
    return 0


if __name__ == "__main__":
    run_tool("bench_common.py", main)

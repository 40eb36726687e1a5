"""bench_common.py: what the bench/ tools share (standard library only, so it imports under any of
their Pythons), each fact once:

  - PHASE_ORDER: the phases of `cifar-exp bench` in the order they happen, as src/experiment/benchmark.cpp's
    kPhaseOrder (its JSON report holds the phases as an object with sorted keys, so the order
    cannot be read from it; bench/bench_test.py checks this list against kPhaseOrder). The
    phase table (phase_table), torch_reference.py, keras_reference.py and summarize.py (the
    tables of compare.sh) use it.
  - cpu_model() and cpu_flags(): /proc/cpuinfo's "model name" and "flags", read by one function.
  - the cifar-exp binary (cifar_exp_binaries, find_cifar_exp): scripts/cifar_exp_binary.py's
    lookup, the one plot_runs.py uses. The one environment variable is CIFAR_EXP_BIN (the name
    scripts/sweep.sh reads). CIFAR_EXP, the name bench/ read before, is still accepted when
    CIFAR_EXP_BIN is not set, with a note on stderr: deprecated, to be removed. Without either:
    this checkout's build/cifar-exp (compare.sh also build-pypi/cifar-exp) where executable,
    else cifar-exp on PATH.
  - what the binary says of a config (config_keys): every key of its schema, resolved, with its
    default and whether it applies (`cifar-exp --print-config --keys`), so that the references
    restate none of cifar-exp's defaults or rules.
  - EVAL_WARMUP: the untimed evaluation and backbone-feature calls before the timed ones, as
    benchmark.cpp's kEvalWarmup (checked by bench_test.py), so that every side warms up as often.
  - ALLOCATOR_ENV: cifar-exp's glibc allocator setting (src/experiment/run_context.cpp's
    configure_allocator: mallopt M_MMAP_THRESHOLD and M_TRIM_THRESHOLD at 256 MiB, checked by
    bench_test.py) as the environment variables that give any process the same
    (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_); allocator_setting() reads which of them a
    process runs with, describe_allocator() says it in words.
  - CONVOLUTIONS: the words for each side's "convolution" (bench's JSON), so every table names
    the algorithm (direct or Winograd) beside the driver.
  - one-line messages, the usage-error parser, the entry point of the tools and the references'
    main() (reference_main); the CIFAR-10 binary records; phase statistics.

Run as a script it answers compare.sh (bash) with the same lookup:

    bench_common.py cifar-exp [--all-builds] [--tool NAME]

prints the binaries to use when none is given, one a line (nothing when there is none), and

    bench_common.py allocator-env

prints ALLOCATOR_ENV as NAME=VALUE lines (compare.sh passes them to the Python sides).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

# The checkout (bench/..): where build/cifar-exp is looked for.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import cifar_exp_binary  # noqa: E402  (scripts/: installed beside plot_runs.py, which uses it too)
from cifar_exp_binary import BINARY_ENV, DEPRECATED_BINARY_ENV  # noqa: E402

# src/experiment/benchmark.cpp kPhaseOrder: the phases in the order they happen, for tables.
PHASE_ORDER = ["gather", "augment", "forward", "backward", "optimizer", "metrics", "train_step",
               "features", "eval"]

# src/experiment/benchmark.cpp kEvalWarmup: untimed evaluation (and backbone-feature) calls
# before the timed ones, where there is any training warm-up (--warmup > 0).
EVAL_WARMUP = 2

# src/experiment/run_context.cpp configure_allocator(): mallopt(M_MMAP_THRESHOLD, 256 << 20) and
# mallopt(M_TRIM_THRESHOLD, 256 << 20), which glibc also reads from these environment variables
# at a process's start (mallopt(3)). Values as strings, as an environment holds them.
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20),
                 "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}

# A report's "convolution" (cifar-exp bench: libtorch, onednn_winograd, winograd_avx2,
# winograd_avx512, and for the small CNN own_avx512 / own_avx2, or its three layers' joined by
# "+" where they differ; the Python references: libtorch, tensorflow) in words.
CONVOLUTIONS = {"libtorch": "direct (libtorch)", "direct": "direct (libtorch)",
                "onednn_winograd": "Winograd (oneDNN)", "winograd": "Winograd (oneDNN)",
                "winograd_avx2": "Winograd (ours, AVX2)",
                "winograd_avx512": "Winograd (ours, AVX-512)", "tensorflow": "TensorFlow's",
                "own_avx512": "direct (ours, AVX-512)", "own_avx2": "direct (ours, AVX2)"}

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
    """Records in a batch file; ValueError when missing or not whole records (as src/data/data.cpp)."""
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


def allocator_setting(environ=None):
    """The glibc allocator variables of ALLOCATOR_ENV set in `environ` (default os.environ), as
    {name: value}; {} is glibc's defaults."""
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in ALLOCATOR_ENV if environ.get(name)}


def describe_allocator(setting, cifar_exp_own=False):
    """A report's "allocator" ({name: value}) in words: cifar-exp's setting ("mmap/trim thresholds
    256 MiB", and where it is not cifar-exp's own (cifar_exp_own) ", as cifar-exp"), glibc's
    defaults, or the variables as they are."""
    if setting == ALLOCATOR_ENV:
        mib = sorted({int(value) >> 20 for value in setting.values()})
        return (f"glibc malloc, mmap/trim thresholds {'/'.join(map(str, mib))} MiB"
                + ("" if cifar_exp_own else ", as cifar-exp"))
    if not setting:
        return "glibc malloc defaults"
    return "glibc malloc, " + " ".join(f"{name}={value}" for name, value in sorted(setting.items()))


def describe_convolution(convolution):
    """A report's "convolution" in words (CONVOLUTIONS; "?" where the report does not say)."""
    if convolution is None:
        return "?"
    return CONVOLUTIONS.get(convolution, convolution)


def env_cifar_exp(tool, environ=None):
    """$CIFAR_EXP_BIN, else the deprecated $CIFAR_EXP (with a note on stderr naming `tool`), else
    None; an empty value counts as not set."""
    given, source = cifar_exp_binary.environment_binary(environ)
    if source == "$" + DEPRECATED_BINARY_ENV:
        note(tool, f"${DEPRECATED_BINARY_ENV} is deprecated for bench/; set ${BINARY_ENV} instead")
    return given


def cifar_exp_binaries(tool, all_builds=False, root=ROOT, environ=None):
    """The cifar-exp binaries to use when none is given on the command line: [$CIFAR_EXP_BIN]
    (else [$CIFAR_EXP], deprecated) when set, as given; else cifar_exp_binary's default_binaries:
    root's build/cifar-exp (and with all_builds build-pypi/cifar-exp) where executable, else
    [cifar-exp on PATH], else []."""
    given = env_cifar_exp(tool, environ)
    if given:
        return [given]
    return cifar_exp_binary.default_binaries(all_builds, root)


def find_cifar_exp(tool, given=None, root=ROOT, environ=None):
    """The cifar-exp binary: `given` (--cifar-exp PATH), else the first of cifar_exp_binaries();
    None when there is none."""
    if given:
        return given
    found = cifar_exp_binaries(tool, False, root, environ)
    return found[0] if found else None


def resolving_cifar_exp(tool, given):
    """The cifar-exp that resolves the references' configs: --cifar-exp PATH (`given`), else the
    lookup ($CIFAR_EXP_BIN, else the deprecated $CIFAR_EXP, else build/cifar-exp of this
    checkout, else cifar-exp on PATH); fail() when it is not an executable."""
    path = find_cifar_exp(tool, given)
    if not path or not cifar_exp_binary.is_executable(path):
        fail(tool, f"{path or 'cifar-exp'}: no cifar-exp to resolve the config (build it with "
             "scripts/build.sh, or give --cifar-exp PATH or $CIFAR_EXP_BIN)")
    return path


def config_keys(tool, binary, config, settings=()):
    """Every key of the config schema as `BINARY --config CONFIG [--set KEY=VALUE]...
    --print-config --keys` lists it: {key: {"value", "default", "applies", "why_not"}}, "value"
    being the resolved value where the key applies, else the default it stands for; and what
    the program makes of them ("derived": {"augmentation.any_geometric": bool,
    "model.preprocess": the one "auto" stands for, VGG16 only}). A config or
    setting cifar-exp refuses: fail() with its error line."""
    command = [binary, "--config", config]
    for setting in settings:
        command += ["--set", setting]
    command += ["--print-config", "--keys"]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, check=False)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"exit status {result.returncode}"]
        fail(tool, lines[-1].replace("cifar-exp: error: ", "", 1))
    try:
        listed = json.loads(result.stdout)
        keys = {entry["key"]: entry for entry in listed["keys"]}
        return keys, listed["derived"]
    except (ValueError, KeyError, TypeError) as e:
        fail(tool, f"{binary} --print-config --keys: not a list of keys ({e!r})")


def reference_main(parse_args, run, format_table, argv=None):
    """The references' main(): parse the options, run, print the report (--format json: as JSON,
    else format_table's text); 0."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = run(args)
    if args.format == "json":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write(format_table(report))
    sys.stdout.flush()
    return 0


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
    commands.add_parser("allocator-env", help="cifar-exp's allocator setting as NAME=VALUE lines")
    args = ap.parse_args(argv)
    if args.command == "allocator-env":
        for name, value in ALLOCATOR_ENV.items():
            print(f"{name}={value}")
        return 0
    for path in cifar_exp_binaries(args.tool, args.all_builds):
        print(path)
    return 0


if __name__ == "__main__":
    run_tool("bench_common.py", main)

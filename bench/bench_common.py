"""bench_common.py: what the Python reference benchmarks share (standard library only, so it
imports under any of their Pythons): one-line messages, the CIFAR-10 binary records, phase
statistics and their table, the CPU model, and the entry point."""
import argparse
import os
import statistics
import sys

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


def phase_table(phases, order):
    """The phase table's lines (as cifar-exp bench prints it), phases in `order`."""
    lines = [f"{'phase':<12}{'mean ms':>10}{'std ms':>10}{'median ms':>11}{'min ms':>10}{'n':>7}"]
    for name in order:
        if name in phases:
            p = phases[name]
            lines.append(f"{name:<12}{p['mean_ms']:>10.3f}{p['std_ms']:>10.3f}"
                         f"{p['median_ms']:>11.3f}{p['min_ms']:>10.3f}{p['count']:>7}")
    return lines


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def run_tool(tool, main):
    """sys.exit(main()), with Ctrl-C as one line and exit 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(f"{tool}: interrupted", file=sys.stderr)
        sys.exit(130)

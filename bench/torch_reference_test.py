#!/usr/bin/python3
"""torch_reference_test.py: CTest torch_reference_smoke. Runs bench/torch_reference.py for a few
steps on each notebook configuration (configs/no_aug_no_tl, aug_no_tl, no_aug_tl, aug_tl) on
the test data of make_test_data, and checks that it prints a well-formed report: the JSON keys
compare.sh reads (summarize.REQUIRED), the run as asked (config, steps, warm-up, cifar-exp's
evaluation warm-up count), positive throughputs, the backbone features timed where a frozen
VGG16 trains on them, the allocator setting it ran with (one run with bench_common.ALLOCATOR_ENV
in its environment, the others without), and the text table of the same report.

    /usr/bin/python3 bench/torch_reference_test.py CIFAR_EXP MAKE_TEST_DATA

Exit status 0, 1 on a failed check, 77 (skipped) where this Python has no torch.
"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree from ctest

import bench_common  # noqa: E402
import summarize  # noqa: E402

ITERATIONS, WARMUP = 2, 1


def check(condition, message):
    if not condition:
        print(f"torch_reference_test.py: FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def run_reference(cifar_exp, data, name, environ):
    command = [sys.executable, os.path.join(HERE, "torch_reference.py"),
               "--config", os.path.join(bench_common.ROOT, "configs", name + ".json"),
               "--cifar-exp", cifar_exp, "--data-dir", data, "--threads", "2",
               "--iterations", str(ITERATIONS), "--warmup", str(WARMUP), "--format", "json"]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=environ, check=False)
    check(result.returncode == 0, f"{' '.join(command)}: exit {result.returncode}\n{result.stderr}")
    try:
        return json.loads(result.stdout)
    except ValueError as e:
        check(False, f"{name}: not JSON ({e}): {result.stdout[:500]}")


def check_report(name, r, allocator, format_table):
    missing = [k for k in summarize.REQUIRED + summarize.REQUIRED_PYTHON if k not in r]
    check(not missing, f"{name}: missing keys {missing}")
    check(r["tool"] == "torch-python" and r["config"] == name, f"{name}: tool/config {r}")
    check((r["iterations"], r["warmup"]) == (ITERATIONS, WARMUP), f"{name}: steps {r}")
    check(r["eval_warmup"] == bench_common.EVAL_WARMUP, f"{name}: eval_warmup {r['eval_warmup']}")
    check(r["data"] == "real" and r["threads"] == 2, f"{name}: data/threads {r}")
    check(r["convolution"] == "libtorch", f"{name}: convolution {r['convolution']}")
    check(r["allocator"] == allocator, f"{name}: allocator {r['allocator']}, expected {allocator}")
    for key in ("train_images_per_second", "eval_images_per_second"):
        check(r[key] > 0, f"{name}: {key} {r[key]}")
    frozen_cached = name == "no_aug_tl"  # the head trains on backbone features computed once
    check(("features" in r["phases"]) == frozen_cached, f"{name}: phases {sorted(r['phases'])}")
    check(r["phases"]["train_step"]["count"] == ITERATIONS, f"{name}: {r['phases']['train_step']}")
    table = format_table(r)
    check(f"torch-python reference: {name} (" in table and "train_step" in table
          and "training: " in table and "allocator: " in table, f"{name}: table\n{table}")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if importlib.util.find_spec("torch") is None:
        print(f"torch_reference_test.py: SKIP: {sys.executable} has no torch "
              "(apt-get install python3-torch)")
        return 77
    import torch_reference  # imports torch
    cifar_exp, make_test_data = argv
    environ = {k: v for k, v in os.environ.items() if k not in bench_common.ALLOCATOR_ENV}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        subprocess.run([make_test_data, data, "256", "128"], check=True,
                       stdout=subprocess.DEVNULL)
        notebook_configs = subprocess.run(  # the binary's list, not a copy of it
            [cifar_exp, "--print-default", "notebook_configs"], stdout=subprocess.PIPE,
            universal_newlines=True, check=True).stdout.split()
        check(len(notebook_configs) == 4, f"notebook_configs: {notebook_configs}")
        for i, name in enumerate(notebook_configs):
            allocator = dict(bench_common.ALLOCATOR_ENV) if i == 0 else {}
            r = run_reference(cifar_exp, data, name, dict(environ, **allocator))
            check_report(name, r, allocator, torch_reference.format_table)
            print(f"{name}: {r['train_images_per_second']:.0f} training images/s, well-formed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

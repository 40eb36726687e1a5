#!/usr/bin/python3
"""bench_test.py: unit tests of bench/'s shared facts and of compare.sh's summary (standard
library only: no torch, no cifar-exp run).

    /usr/bin/python3 bench/bench_test.py [-v]

  - bench_common.PHASE_ORDER is src/experiment/benchmark.cpp's kPhaseOrder (the one list Python keeps of it);
  - bench_common.EVAL_WARMUP is benchmark.cpp's kEvalWarmup, ALLOCATOR_ENV the thresholds of
    src/experiment/run_context.cpp's configure_allocator; allocator_setting() reads them from an
    environment and `bench_common.py allocator-env` prints them;
  - cpu_model() / cpu_flags() read a /proc/cpuinfo;
  - the cifar-exp lookup: $CIFAR_EXP_BIN before the deprecated $CIFAR_EXP, then the checkout's
    builds, then PATH;
  - summarize.py on a folder of made-up reports (write_reports): its table and Markdown rows and
    columns, warnings, allocator settings, convolution labels (a frozen VGG16 on Winograd and a
    ":direct" side), and the error for a report that lacks keys.
"""
import contextlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree from ctest

import bench_common  # noqa: E402
import summarize  # noqa: E402

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu vme avx512f avx512_bf16 amx_bf16
processor\t: 1
model name\t: something else
"""


def report(tool, config="smoke", phases=("gather", "forward", "train_step", "eval"), ms=10.0,
           **extra):
    """A report as cifar-exp bench / torch_reference.py --format json write it (the keys used)."""
    r = {"tool": tool, "config": config, "model": "small_cnn", "augmentation": False,
         "batch_size": 64, "eval_batch_size": 1000, "threads": 2, "device": "cpu",
         "precision": "fp32", "torch_version": "1.13.0", "iterations": 3, "warmup": 1,
         "eval_warmup": bench_common.EVAL_WARMUP, "data": "real", "cpu": "x",
         "convolution": "libtorch",
         "phases": {p: {"mean_ms": ms + i, "std_ms": 0.0, "median_ms": ms + i, "min_ms": ms + i,
                        "count": 3} for i, p in enumerate(sorted(phases))},
         "train_images_per_second": 6400.0 / ms, "eval_images_per_second": 1000.0 / ms}
    if tool == "cifar-exp":
        r.update(kernels="fused", convolution="libtorch")
    else:
        r.update(memory_format="channels_last", compile=False,
                 allocator=dict(bench_common.ALLOCATOR_ENV))
    r.update(extra)
    return r


def write_reports(folder, sides, reports):
    """sides: [(kind, label, spec)]; reports[config index][side][round] -> report."""
    with open(os.path.join(folder, "sides.tsv"), "w") as f:
        for side in sides:
            f.write("\t".join(side) + "\n")
    for i, per_side in enumerate(reports, 1):
        for s, rounds in enumerate(per_side):
            for r, rep in enumerate(rounds, 1):
                with open(os.path.join(folder, f"c{i}.s{s}.r{r}.json"), "w") as f:
                    json.dump(rep, f)


def example(folder):
    """Two configs, four sides (a build, the same build generic, two Pythons), two rounds; the
    second config's Python compile side reports compile_seconds and a phase cifar-exp lacks."""
    sides = [("cpp", "", "/opt/a/cifar-exp"), ("cpp", "", "/opt/a/cifar-exp:generic"),
             ("python", "torch-debian", "/usr/bin/python3"),
             ("python", "torch-compile", "/venv/bin/python:compile")]
    aug = ("gather", "augment", "forward", "train_step", "eval")
    reports = [
        [[report("cifar-exp", ms=10.0 + r) for r in range(2)],
         [report("cifar-exp", kernels="generic", ms=20.0 + r) for r in range(2)],
         [report("torch-python", ms=12.0 + r) for r in range(2)],
         [report("torch-python", compile=True, compile_seconds=30.0 + r, ms=8.0 + r, allocator={})
          for r in range(2)]],
        [[report("cifar-exp", "smoke_aug", aug, augmentation=True, ms=10.0) for _ in range(2)],
         [report("cifar-exp", "smoke_aug", aug, augmentation=True, kernels="generic", ms=11.0)
          for _ in range(2)],
         [report("torch-python", "smoke_aug", aug + ("zzz_extra",), augmentation=True,
                 threads=1, ms=40.0) for _ in range(2)],
         [report("torch-python", "smoke_aug", aug, augmentation=True, compile=True,
                 compile_seconds=5.0, ms=30.0, allocator={}) for _ in range(2)]]]
    write_reports(folder, sides, reports)
    return ["configs/smoke.json", "configs/smoke_aug.json"]


def run_summary(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = summarize.main(argv)
    return code, out.getvalue(), err.getvalue()


def column(lines, head):
    """The first cells of the rows of the table whose head line is `head`."""
    rows = lines[lines.index(head) + 2:]
    return [line.split()[0] for line in rows[:rows.index("") if "" in rows else None]]


class PhaseOrder(unittest.TestCase):
    def test_matches_benchmark_cpp(self):
        with open(os.path.join(bench_common.ROOT, "src", "experiment", "benchmark.cpp")) as f:
            source = f.read()
        match = re.search(r"kPhaseOrder\s*=\s*\{([^}]*)\}", source)
        self.assertIsNotNone(match, "src/experiment/benchmark.cpp: no kPhaseOrder")
        self.assertEqual(re.findall(r'"([^"]+)"', match.group(1)), bench_common.PHASE_ORDER)

    def test_phase_table_follows_it(self):
        stats = bench_common.phase_stats([1.0, 2.0])
        lines = bench_common.phase_table({"eval": stats, "gather": stats})
        self.assertEqual([line.split()[0] for line in lines[1:]], ["gather", "eval"])


def cpp_source(*path):
    with open(os.path.join(bench_common.ROOT, "src", *path)) as f:
        return f.read()


class SharedWithCpp(unittest.TestCase):
    def test_eval_warmup_is_kEvalWarmup(self):
        match = re.search(r"kEvalWarmup\s*=\s*(\d+)\s*;", cpp_source("experiment", "benchmark.cpp"))
        self.assertIsNotNone(match, "src/experiment/benchmark.cpp: no kEvalWarmup")
        self.assertEqual(int(match.group(1)), bench_common.EVAL_WARMUP)

    def test_allocator_is_configure_allocator(self):
        source = cpp_source("experiment", "run_context.cpp")
        body = re.search(r"void configure_allocator\(\) \{(.*?)\n\}", source, re.S)
        self.assertIsNotNone(body, "src/experiment/run_context.cpp: no configure_allocator")
        values = {f"MALLOC_{name}_": str(int(base) << int(shift)) for name, base, shift
                  in re.findall(r"mallopt\(M_(\w+), (\d+) << (\d+)\)", body.group(1))}
        self.assertEqual(values, bench_common.ALLOCATOR_ENV)

    def test_allocator_setting(self):
        self.assertEqual(bench_common.allocator_setting({"PATH": "/bin"}), {})
        both = dict(bench_common.ALLOCATOR_ENV, PATH="/bin")
        self.assertEqual(bench_common.allocator_setting(both), bench_common.ALLOCATOR_ENV)
        self.assertEqual(bench_common.describe_allocator(bench_common.ALLOCATOR_ENV),
                         "glibc malloc, mmap/trim thresholds 256 MiB, as cifar-exp")
        self.assertEqual(bench_common.describe_allocator({}), "glibc malloc defaults")

    def test_allocator_env_command(self):
        out = subprocess.run([sys.executable, os.path.join(HERE, "bench_common.py"),
                              "allocator-env"], stdout=subprocess.PIPE, check=True,
                             universal_newlines=True).stdout
        self.assertEqual(out.splitlines(), [f"{k}={v}"
                                            for k, v in bench_common.ALLOCATOR_ENV.items()])


class CpuInfo(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp()
        with os.fdopen(fd, "w") as f:
            f.write(CPUINFO)

    def tearDown(self):
        os.unlink(self.path)

    def test_model_and_flags(self):
        self.assertEqual(bench_common.cpu_model(self.path), "Intel(R) Xeon(R) Platinum 8480+")
        self.assertIn("amx_bf16", bench_common.cpu_flags(self.path))
        self.assertNotIn("avx512_bf1", bench_common.cpu_flags(self.path))

    def test_missing(self):
        self.assertEqual(bench_common.cpu_model(self.path + ".none"), "unknown")
        self.assertEqual(bench_common.cpu_flags(self.path + ".none"), set())


class Lookup(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def build(self, folder):
        path = os.path.join(self.root, folder, "cifar-exp")
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
        return path

    def lookup(self, environ, all_builds=False):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            found = bench_common.cifar_exp_binaries("t", all_builds, self.root, environ)
        return found, err.getvalue()

    def test_variable_first(self):
        self.build("build")
        self.assertEqual(self.lookup({"CIFAR_EXP_BIN": "/a", "CIFAR_EXP": "/b"}), (["/a"], ""))

    def test_deprecated_variable(self):
        found, err = self.lookup({"CIFAR_EXP": "/b", "CIFAR_EXP_BIN": ""})
        self.assertEqual(found, ["/b"])
        self.assertIn("deprecated", err)
        self.assertIn("CIFAR_EXP_BIN", err)

    def test_builds(self):
        first = self.build("build")
        second = self.build("build-pypi")
        self.assertEqual(self.lookup({})[0], [first])
        self.assertEqual(self.lookup({}, all_builds=True)[0], [first, second])
        self.assertEqual(bench_common.find_cifar_exp("t", None, self.root, {}), first)
        self.assertEqual(bench_common.find_cifar_exp("t", "/given", self.root, {}), "/given")

    def test_path_last(self):
        bin_dir = os.path.join(self.root, "bin")
        on_path = self.build("bin")
        old = os.environ["PATH"]
        os.environ["PATH"] = bin_dir
        try:
            self.assertEqual(self.lookup({}, all_builds=True)[0], [on_path])
            os.environ["PATH"] = os.path.join(self.root, "nowhere")
            self.assertEqual(self.lookup({}, all_builds=True)[0], [])
        finally:
            os.environ["PATH"] = old


class Summary(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.configs = example(self.tmp.name)
        self.args = ["--rounds", "2", "--threads", "2", "--cores", "2", self.tmp.name]

    def tearDown(self):
        self.tmp.cleanup()

    def test_table(self):
        code, out, err = run_summary(self.args + self.configs)
        self.assertEqual((code, err), (0, ""))
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("compare: 2 threads, 2 rounds (median"), lines[0])
        own = "; allocator: glibc malloc, mmap/trim thresholds 256 MiB (configure_allocator)"
        self.assertEqual(lines[1], "  cifar-exp 1.13.0: /opt/a/cifar-exp, libtorch 1.13.0, "
                                   "fused kernels" + own)
        self.assertEqual(lines[2], "  cifar-exp 1.13.0 generic: /opt/a/cifar-exp, libtorch "
                                   "1.13.0, generic kernels" + own)
        self.assertEqual(lines[3], "  torch-debian: /usr/bin/python3, torch 1.13.0, channels_last; "
                                   "allocator: glibc malloc, mmap/trim thresholds 256 MiB, as "
                                   "cifar-exp (environment)")
        self.assertEqual(lines[4], "  torch-compile: /venv/bin/python, torch 1.13.0, "
                                   "channels_last, torch.compile; allocator: glibc malloc "
                                   "defaults")
        row = next(line for line in lines if line.startswith("convolutions"))
        self.assertEqual(re.split(r"\s{2,}", row), ["convolutions"] + ["direct (libtorch)"] * 4)
        heads = [line.split("  ")[0] for line in lines if line.startswith(("phase", "throughput"))]
        self.assertEqual(heads, ["phase (mean ms)", "throughput"] * 2)
        head = next(line for line in lines if line.startswith("phase"))
        self.assertEqual(head.split(), ["phase", "(mean", "ms)", "cifar-exp", "1.13.0",
                                        "cifar-exp", "1.13.0", "generic", "torch-debian",
                                        "torch-compile"])
        self.assertEqual(column(lines, head), ["gather", "forward", "train_step", "eval"])
        # Medians over the rounds (gather, the third phase sorted: 12 and 13 ms, 12.5).
        gather = next(line for line in lines if line.startswith("gather"))
        self.assertEqual(gather.split()[1:], ["12.500", "22.500", "14.500", "10.500"])
        self.assertIn("torch-compile: torch.compile took 30.5 s per run (untimed)", lines)
        self.assertIn("fastest Python: torch-compile 756 img/s; cifar-exp 1.13.0 / fastest "
                      "Python = 0.81x", lines)
        # The second config: augment in its place, the phase only one side has last, a warning.
        aug = lines[lines.index(next(line for line in lines if line.startswith("smoke_aug"))):]
        head = next(line for line in aug if line.startswith("phase"))
        self.assertEqual(column(aug, head), ["gather", "augment", "forward", "train_step", "eval",
                                  "zzz_extra"])
        self.assertIn("WARNING: threads differs: cifar-exp 1.13.0 2; cifar-exp 1.13.0 generic 2; "
                      "torch-debian 1; torch-compile 2", lines)

    def test_markdown(self):
        code, out, err = run_summary(["--format", "markdown"] + self.args + self.configs)
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("Training images/s, `bench/compare.sh --rounds 2 "
                                            "--threads 2 --iterations 3 --warmup 1` on 2 cores"))
        self.assertEqual(lines[2], "| config | cifar-exp 1.13.0 | cifar-exp 1.13.0 generic | "
                                   "torch-debian | torch-compile |")
        self.assertEqual(lines[3], "|---|---:|---:|---:|---:|")
        self.assertEqual(lines[4], "| smoke (small CNN) | 611 (0.81x) | 312 (0.41x) | "
                                   "513 (0.68x) | 756 (1.00x) |")
        self.assertTrue(lines[5].startswith("| smoke_aug (small CNN + augmentation) |"))
        self.assertTrue(lines[-1].startswith("Sides: cifar-exp 1.13.0 = /opt/a/cifar-exp"))
        self.assertIn("WARNING: configs/smoke_aug.json: threads differs", err)

    def test_two_builds_same_libtorch(self):
        write_reports(self.tmp.name, [("cpp", "", "/a/cifar-exp"), ("cpp", "", "/b/cifar-exp")],
                      [[[report("cifar-exp")], [report("cifar-exp")]]])
        code, out, _ = run_summary(["--rounds", "1", "--threads", "2", "--cores", "2",
                                    self.tmp.name, "c.json"])
        self.assertEqual(code, 0)
        self.assertIn("  cifar-exp 1.13.0 (/a/cifar-exp): /a/cifar-exp, libtorch 1.13.0, fused "
                      "kernels; allocator: glibc malloc, mmap/trim thresholds 256 MiB "
                      "(configure_allocator)", out.splitlines())
        self.assertNotIn("fastest Python", out)

    def test_convolutions_and_direct_side(self):
        vgg = {"model": "vgg16_transfer", "config": "smoke_tl"}
        write_reports(self.tmp.name, [("cpp", "", "/a/cifar-exp"), ("cpp", "", "/a/cifar-exp:direct"),
                                      ("python", "torch-debian", "/usr/bin/python3")],
                      [[[report("cifar-exp", convolution="winograd_avx2", ms=10.0, **vgg)],
                        [report("cifar-exp", ms=20.0, **vgg)],
                        [report("torch-python", ms=25.0, eval_warmup=1, **vgg)]]])
        args = ["--rounds", "1", "--threads", "2", "--cores", "2", self.tmp.name, "c.json"]
        code, out, _ = run_summary(args)
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertTrue(lines[2].startswith("  cifar-exp 1.13.0 direct: /a/cifar-exp, libtorch "
                                            "1.13.0, fused kernels, model.convolution=direct;"),
                        lines[2])
        row = next(line for line in lines if line.startswith("convolutions"))
        self.assertEqual(re.split(r"\s{2,}", row), ["convolutions", "Winograd (ours, AVX2)",
                                                     "direct (libtorch)", "direct (libtorch)"])
        self.assertIn("WARNING: eval_warmup differs: cifar-exp 1.13.0 2; cifar-exp 1.13.0 direct "
                      "2; torch-debian 1", lines)
        code, out, _ = run_summary(["--format", "markdown"] + args)
        self.assertEqual(out.splitlines()[4],
                         "| smoke_tl (frozen VGG16) | 640 (2.50x), Winograd (ours, AVX2) | "
                         "320 (1.25x), direct (libtorch) | 256 (1.00x), direct (libtorch) |")

    def test_missing_keys(self):
        path = os.path.join(self.tmp.name, "c1.s2.r1.json")
        with open(path, "w") as f:
            json.dump({"tool": "torch-python"}, f)
        with self.assertRaises(SystemExit) as caught:
            run_summary(self.args + self.configs)
        self.assertTrue(str(caught.exception.code).startswith(
            f"compare.sh: error: {path}: missing keys config, model"))


if __name__ == "__main__":
    unittest.main()

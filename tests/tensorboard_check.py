"""The TensorBoard log, read with TensorBoard's own loader (EventAccumulator, EventMultiplexer)
and the HParams plugin's reader: a 2-point grid sweep, a run killed and resumed, a run stopped
(Ctrl-C) and resumed, and a run that diverges. Every per-epoch scalar must equal metrics.jsonl's
value (as the float32 TensorBoard stores), every step appear once, the hparams match
config.json, the images decode, the runs be named <run folder>/{train,validation,test} with the
seed in the folder's name (no other level, the same after resumes), and each HParams session end
as the run did: Success, Running (stopped; resume goes on), Failure (diverged).

    .venv-tensorboard/bin/python tests/tensorboard_check.py CIFAR_EXP MAKE_TEST_DATA

Needs TensorBoard and Pillow (scripts/install_deps.sh with CIFAR_EXP_TEST_DEPS=1 puts them in
.venv-tensorboard; CTest skips this test when that is missing).
"""
import io
import json
import math
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import api_pb2

BIN, MAKE_DATA = sys.argv[1], sys.argv[2]
EPOCH_TAGS = {  # train/ tag -> metrics.jsonl column
    "epoch_loss": "train_loss",
    "epoch_accuracy": "train_accuracy",
    "epoch_learning_rate": "learning_rate",
    "epoch_seconds": "seconds",
    "epoch_images_per_second": "images_per_second",
}
VALIDATION_TAGS = {"epoch_loss": "val_loss", "epoch_accuracy": "val_accuracy"}
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def float32(value):
    return struct.unpack("f", struct.pack("f", value))[0]


def load(path):
    accumulator = EventAccumulator(path, size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator, tag):
    return [(e.step, e.value) for e in accumulator.Scalars(tag)]


def session_status(root):
    """The HParams session's end status as the HParams plugin reads it (None: no end)."""
    contents = load(root).PluginTagToContent("hparams")
    if hparams_metadata.SESSION_END_INFO_TAG not in contents:
        return None
    return hparams_metadata.parse_session_end_info_plugin_data(
        contents[hparams_metadata.SESSION_END_INFO_TAG]).status


def check_run_names(logdir, seeds):
    """`tensorboard --logdir logdir`'s runs: each run folder, named with its seed, and its
    train/validation/test, nothing else."""
    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    names = sorted(multiplexer.Runs())
    folders = sorted(d for d in os.listdir(logdir) if os.path.isfile(os.path.join(logdir, d, "summary.json")))
    want = sorted([f for f in folders] + [f"{f}/{sub}" for f in folders
                                          for sub in ("train", "validation", "test")])
    check(names == want, f"TensorBoard runs under {logdir}: {names} != {want}")
    for folder, seed in zip(folders, seeds):
        check(f"-seed{seed}-" in folder, f"{folder}: the seed {seed} is not in the run's name")
    print(f"{logdir}: TensorBoard runs {names}")


def check_run(run, interval, batch_size, hparams):
    name = os.path.basename(run)
    rows = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    summary = json.load(open(os.path.join(run, "summary.json")))
    config = json.load(open(os.path.join(run, "config.json")))
    epochs = [row["epoch"] for row in rows]
    check(epochs == list(range(1, len(rows) + 1)), f"{name}: metrics.jsonl epochs {epochs}")
    logs = run  # train/, validation/, test/ and the session's events are the run folder's own
    check(not os.path.exists(os.path.join(run, "tensorboard")), f"{name}: a tensorboard/ level")

    train = load(os.path.join(logs, "train"))
    for tag, column in EPOCH_TAGS.items():
        got = scalars(train, tag)
        want = [(row["epoch"], float32(row[column])) for row in rows]
        check(got == want, f"{name}: train/{tag} {got} != metrics.jsonl {want}")
    validation = load(os.path.join(logs, "validation"))
    for tag, column in VALIDATION_TAGS.items():
        got = scalars(validation, tag)
        want = [(row["epoch"], float32(row[column])) for row in rows]
        check(got == want, f"{name}: validation/{tag} {got} != metrics.jsonl {want}")
    # The running figures every `interval` batches of every epoch, each step once.
    batches = math.ceil(summary["train_images"] / batch_size)
    want_steps = [(e - 1) * batches + b for e in epochs for b in range(interval, batches + 1, interval)]
    for tag in ("batch_loss", "batch_accuracy"):
        steps = [step for step, _ in scalars(train, tag)]
        check(steps == want_steps, f"{name}: train/{tag} steps {steps} != {want_steps}")
        check(all(0 <= v for _, v in scalars(train, tag)), f"{name}: train/{tag} negative")

    test = load(os.path.join(logs, "test"))
    last = len(rows)
    check(scalars(test, "epoch_loss") == [(last, float32(summary["test_loss"]))],
          f"{name}: test/epoch_loss {scalars(test, 'epoch_loss')} vs {summary['test_loss']}")
    check(scalars(test, "epoch_accuracy") == [(last, float32(summary["test_accuracy"]))],
          f"{name}: test/epoch_accuracy {scalars(test, 'epoch_accuracy')}")
    images = [("test", test, "confusion_matrix", (582, 402))]
    if config["augmentation"]["enabled"]:
        images.append(("train", train, "augmentation_preview", None))
    for sub, accumulator, tag, size in images:
        events = accumulator.Images(tag)
        check(len(events) == 1, f"{name}: {sub}/{tag}: {len(events)} images")
        for event in events:
            picture = Image.open(io.BytesIO(event.encoded_image_string))
            picture.load()  # decodes every row
            check(picture.size == (event.width, event.height) and picture.mode == "RGB",
                  f"{name}: {sub}/{tag}: {picture.size} {picture.mode}")
            check(size is None or picture.size == size, f"{name}: {sub}/{tag}: size {picture.size}")

    root = load(logs)
    contents = root.PluginTagToContent("hparams")
    start = hparams_metadata.parse_session_start_info_plugin_data(
        contents[hparams_metadata.SESSION_START_INFO_TAG])
    got = {key: json.loads(json.dumps(value)) for key, value in
           ((k, getattr(v, v.WhichOneof("kind"))) for k, v in start.hparams.items())}
    check(got == hparams, f"{name}: hparams {got} != {hparams}")
    end = hparams_metadata.parse_session_end_info_plugin_data(
        contents[hparams_metadata.SESSION_END_INFO_TAG])
    check(end.status == api_pb2.STATUS_SUCCESS, f"{name}: session end status {end.status}")
    # The pages of the run's start (a resumed run's provenance is its last session's).
    for tag, expected in (("config", config), ("provenance", summary["provenance"])):
        texts = root.Tensors(tag)
        check(len(texts) == 1, f"{name}: text {tag}: {len(texts)} events")
        text = texts[0].tensor_proto.string_val[0].decode() if texts else ""
        page = json.loads(text.strip("`\n").removeprefix("json\n"))
        if tag == "provenance" and summary.get("resumed"):
            expected = {"cifar_exp_version": expected["cifar_exp_version"]}
            page = {"cifar_exp_version": page.get("cifar_exp_version")}
        check(page == expected, f"{name}: text {tag} is not the run's {tag}")
    print(f"{name}: {len(rows)} epochs, {len(want_steps)} batch points, hparams {hparams}: checked")


def run(args, **kwargs):
    result = subprocess.run([BIN] + args, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(f"tensorboard_check: cifar-exp {' '.join(args)} exited {result.returncode}:\n"
                 f"{result.stderr}")
    return result


def check_sweep(tmp, data, config):
    """A 2-point grid: each run a session whose hparams are the configuration, seed and the
    grid's key. Returns the sweep folder."""
    sweep = os.path.join(tmp, "sweep")
    run(["sweep", "--configs", config, "--grid", "training.learning_rate=0.001,0.002",
         "--data-dir", data, "--output-dir", sweep])
    runs = sorted(os.path.join(sweep, d) for d in os.listdir(sweep) if d.startswith("tb+"))
    check(len(runs) == 2, f"sweep runs: {runs}")
    for r in runs:
        rate = json.load(open(os.path.join(r, "config.json")))["training"]["learning_rate"]
        # A sweep's seeds are 1..N.
        check_run(r, 7, 32, {"config": "tb", "seed": 1, "training.learning_rate": rate})
    return sweep


def check_killed(tmp, data, config):
    """Killed at a random moment after its first checkpoint, resumed, killed, resumed: the log
    has each step once and none missing. Returns (kills, the run's arguments, its output
    folder)."""
    out = os.path.join(tmp, "killed")
    args = ["--config", config, "--data-dir", data, "--output-dir", out, "--epochs", "8",
            "--set", "output.tensorboard_batch_interval=3"]
    kills = 0
    process = subprocess.Popen([BIN] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = None
    while kills < 2:
        deadline = time.time() + 60
        while time.time() < deadline and process.poll() is None:
            folders = [os.path.join(out, d) for d in os.listdir(out)] if os.path.isdir(out) else []
            folder = next((f for f in folders if os.path.exists(f + "/checkpoint.pt")), folder)
            if folder:
                break
            time.sleep(0.01)
        time.sleep(0.2 + 0.3 * kills)
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        process = subprocess.Popen([BIN, "resume", folder], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
    check(process.wait() == 0, "the resumed run failed")
    check(kills >= 1, "the run finished before it could be killed")
    # --epochs is a hyperparameter; output settings are not.
    check_run(folder, 3, 32, {"config": "tb", "seed": 4, "training.epochs": 8})
    return kills, args, out


def check_stopped(tmp, args):
    """Stopped by Ctrl-C after a checkpoint: the session ends as Running (resume goes on);
    resumed to the end: Success, which TensorBoard shows (it keeps a tag's first value, so the
    earlier end must be gone)."""
    out = os.path.join(tmp, "stopped")
    process = subprocess.Popen([BIN] + args[:4] + ["--output-dir", out, "--epochs", "30"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    folder = None
    while time.time() < deadline and process.poll() is None and not folder:
        folders = [os.path.join(out, d) for d in os.listdir(out)] if os.path.isdir(out) else []
        folder = next((f for f in folders if os.path.exists(f + "/checkpoint.pt")), None)
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    check(process.wait() == 130, "a stopped run should exit 130")
    check(folder and session_status(folder) == api_pb2.STATUS_RUNNING,
          f"stopped run: session status {folder and session_status(folder)}, not Running")
    if folder:
        run(["resume", folder])
        check(session_status(folder) == api_pb2.STATUS_SUCCESS,
              f"resumed run: session status {session_status(folder)}, not Success")
        check_run_names(out, [4])


def check_diverged(tmp, data):
    """Diverged (SGD, momentum 0.999999, rate 10, one batch an epoch): Failure."""
    diverging = os.path.join(tmp, "diverging.json")
    with open(diverging, "w") as f:
        json.dump({"name": "nan", "training": {"epochs": 8, "batch_size": 1600, "seed": 1,
                                               "device": "cpu", "threads": 1,
                                               "optimizer": "sgd", "momentum": 0.999999,
                                               "nesterov": True, "learning_rate": 10}}, f)
    out = os.path.join(tmp, "diverged")
    result = subprocess.run([BIN, "--config", diverging, "--data-dir", data, "--output-dir", out],
                            capture_output=True, text=True)
    check(result.returncode == 6, f"the diverging run exited {result.returncode}: {result.stderr}")
    folders = [os.path.join(out, d) for d in os.listdir(out) if d.startswith("nan-")]
    check(len(folders) == 1 and session_status(folders[0]) == api_pb2.STATUS_FAILURE,
          f"diverged run: folders {folders}, session status "
          f"{folders and session_status(folders[0])}, not Failure")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        subprocess.run([MAKE_DATA, data, "1600", "256"], check=True, capture_output=True)
        config = os.path.join(tmp, "tb.json")
        with open(config, "w") as f:
            json.dump({"name": "tb", "augmentation": {"enabled": True, "horizontal_flip": True},
                       "training": {"epochs": 3, "batch_size": 32, "threads": 1,
                                    "device": "cpu", "seed": 4},
                       "output": {"tensorboard_batch_interval": 7}}, f)
        sweep = check_sweep(tmp, data, config)
        kills, args, killed = check_killed(tmp, data, config)
        check_run_names(sweep, [1, 1])
        check_run_names(killed, [4])
        check_stopped(tmp, args)
        check_diverged(tmp, data)
    if failures:
        print("\n".join("FAIL " + f for f in failures))
        sys.exit(1)
    print(f"tensorboard_check: passed ({kills} kills)")


if __name__ == "__main__":
    main()

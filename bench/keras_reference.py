#!/usr/bin/env python3
"""keras_reference.py: the notebook's own stack (TensorFlow / Keras) training the notebook's models,
as a speed reference for cifar-exp. Never a project dependency: it runs from a venv of its own,

    python3 -m venv .venv-keras
    .venv-keras/bin/pip install tensorflow-cpu scipy

(tensorflow-cpu 2.21 with Keras 3 when this was written; scipy does ImageDataGenerator's
rotations and shifts; .venv-keras/ is git-ignored). Any TensorFlow 2.x with tf.keras also runs it.

Usage:

    .venv-keras/bin/python bench/keras_reference.py --config FILE [--data-dir DIR] [--threads N]
        [--steps N] [--warmup N] [--loop fit|batch] [--train-limit N] [--eval-repeats N]
        [--format table|json]

It reads the config JSON itself (configs/*.json or a resolved config; a key that is not there
takes cifar-exp's default) and the CIFAR-10 binary files of --data-dir (default: the config's
data.dir, else data/cifar-10-batches-bin; generated data when they are not there, said in the
output), scaled to 0-1 float32 NHWC as the notebook does. Models, as the notebook builds them:

  - small_cnn: Conv2D 32 3x3 relu, MaxPooling2D 2, Conv2D 64 3x3 relu, MaxPooling2D 2,
    Conv2D 64 3x3 relu, Flatten, Dense 64 relu, Dense 10 (logits);
  - vgg16_transfer: VGG16(weights=None, include_top=False, input_shape=(S, S, 3)) frozen (the
    last model.trainable_blocks blocks trainable), Flatten, Dense(model.hidden_units) relu,
    Dropout(model.dropout), Dense 10; the config's Keras .h5 weights file is loaded when it is
    there (random weights cost the same); S = model.input_size (a Resizing layer when not 32).
    The notebook's inputs are 0-1 (no VGG preprocessing).

Adam (training.learning_rate, beta1, beta2, epsilon), sparse categorical cross-entropy on logits,
accuracy metric, batch training.batch_size. With augmentation.enabled the batches come from
ImageDataGenerator(rotation_range, width_shift_range, height_shift_range, shear_range,
zoom_range, horizontal_flip, vertical_flip, fill_mode, cval).flow(...) as in the notebook
(random_crop and cutout are cifar-exp extensions Keras does not have: ignored, with a warning);
otherwise from a tf.data pipeline over the arrays (shuffled index batches gathered from the
array and prefetched, what Keras' fit does with NumPy arrays).

--loop fit (default): one model.fit(steps_per_epoch = warmup + steps) call, a callback noting
the end of every step; the timed steps are the `steps` after the `warmup` first ones (which
absorb the tf.function tracing). train_images_per_second = steps x batch / (end of the last step
- end of the last warm-up step): steady-state training with its input pipeline, without
evaluation. --loop batch: model.train_on_batch per step, the batch drawn by hand from the same
source, each step timed on its own. Then, unless --eval-repeats 0, model.evaluate over one eval
batch (training.eval_batch_size test images; 1 untimed call, then N timed) gives
eval_images_per_second.

For a frozen VGG16 without augmentation Keras runs the backbone in every step, as the notebook
does; cifar-exp instead computes the features once and trains the head on them (its bench then
times head steps and `features`), so the two training figures measure different work.

Output: --format table (default) or --format json (tool "keras", tf_version, keras_version,
train_images_per_second, eval_images_per_second, phases train_step and eval in the shape of
cifar-exp bench). Progress and warnings go to stderr. Exit status 0, or 2 with one line on
stderr for a bad option or config.
"""
import json
import os
import sys
import time

import bench_common
from bench_common import (NUM_CLASSES, RECORD_BYTES, OneLineParser, cpu_model, phase_stats,
                          phase_table, read_records, run_tool)

TOOL = "keras_reference.py"


def fail(message, code=2):
    bench_common.fail(TOOL, message, code)


def note(message):
    bench_common.note(TOOL, message)


# ----------------------------------------------------------------------------------------------
# Config: read as it is, cifar-exp's defaults for what it does not say.

DEFAULTS = {
    "model.type": "small_cnn", "model.weights": "", "model.weights_format": "keras_h5",
    "model.input_size": 32, "model.hidden_units": 256, "model.dropout": 0.5,
    "model.trainable_blocks": 0,
    "augmentation.enabled": False, "augmentation.rotation_range": 0.0,
    "augmentation.width_shift_range": 0.0, "augmentation.height_shift_range": 0.0,
    "augmentation.shear_range": 0.0, "augmentation.zoom_range": [1.0, 1.0],
    "augmentation.horizontal_flip": False, "augmentation.vertical_flip": False,
    "augmentation.fill_mode": "nearest", "augmentation.cval": 0.0,
    "augmentation.random_crop": None, "augmentation.cutout": 0,
    "training.batch_size": 64, "training.eval_batch_size": 1000,
    "training.learning_rate": 0.001, "training.beta1": 0.9, "training.beta2": 0.999,
    "training.epsilon": 1e-7, "training.seed": 42, "training.threads": 0,
    "data.dir": "data/cifar-10-batches-bin", "data.train_limit": None, "data.test_limit": None,
}


class Config:
    def __init__(self, path):
        try:
            with open(path, encoding="utf-8") as f:
                self.doc = json.load(f)
        except OSError as e:
            fail(f"{path}: cannot read: {e.strerror}")
        except ValueError as e:
            fail(f"{path}: invalid JSON: {e}")
        if not isinstance(self.doc, dict):
            fail(f"{path}: not a JSON object")
        self.path = path
        self.name = self.doc.get("name") or os.path.splitext(os.path.basename(path))[0]

    def get(self, dotted):
        node = self.doc
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return DEFAULTS[dotted]
            node = node[part]
        return DEFAULTS[dotted] if node is None and DEFAULTS[dotted] is not None else node


def positive_int(cfg, key):
    value = cfg.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        fail(f"{cfg.path}: {key}: must be a positive integer, got {json.dumps(value)}")
    return value


# ----------------------------------------------------------------------------------------------
# Data: CIFAR-10 binary records (1 label byte + 3,072 CHW pixel bytes).

def read_split(np, root, train, limit):
    """(images N x 32 x 32 x 3 float32 in 0-1, labels int64), the first `limit` records."""
    data, count = read_records(root, train, limit)
    raw = np.frombuffer(data, dtype=np.uint8).reshape(count, RECORD_BYTES)
    images = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images.astype(np.float32) / np.float32(255.0), raw[:, 0].astype(np.int64)


def load_data(np, root, train_limit, eval_count, seed):
    try:
        x_train, y_train = read_split(np, root, True, train_limit)
        x_test, y_test = read_split(np, root, False, eval_count)
        return x_train, y_train, x_test, y_test, "real"
    except (OSError, ValueError) as e:
        note(f"{e}; timing on generated data")
        rng = np.random.default_rng(seed)
        n = train_limit or 50000
        x_train = rng.random((n, 32, 32, 3), dtype=np.float32)
        y_train = rng.integers(0, NUM_CLASSES, n).astype(np.int64)
        x_test = rng.random((eval_count, 32, 32, 3), dtype=np.float32)
        y_test = rng.integers(0, NUM_CLASSES, eval_count).astype(np.int64)
        return x_train, y_train, x_test, y_test, "generated"


# ----------------------------------------------------------------------------------------------
# Models, as the notebook builds them.

def small_cnn(keras):
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(NUM_CLASSES),
    ], name="small_cnn")


def vgg16_transfer(keras, cfg):
    """Returns (model, weights note)."""
    size = positive_int(cfg, "model.input_size")
    weights, weights_note = None, "random"
    path, kind = cfg.get("model.weights"), cfg.get("model.weights_format")
    if path and path != "random":
        if not os.path.isfile(path):
            note(f"{path} not found: timing with random backbone weights (same cost)")
            weights_note = f"random ({path} not found; same cost)"
        elif kind != "keras_h5":
            note(f"{path}: {kind} weights are not read by Keras; random backbone weights (same cost)")
            weights_note = f"random ({path} is {kind}; same cost)"
        else:
            weights, weights_note = path, path
    try:
        base = keras.applications.VGG16(weights=weights, include_top=False,
                                        input_shape=(size, size, 3))
    except Exception as e:  # noqa: BLE001: timing does not need the real weights
        note(f"{path}: not loaded ({type(e).__name__}: {e}); random backbone weights (same cost)")
        weights_note = f"random ({path} not loaded; same cost)"
        base = keras.applications.VGG16(weights=None, include_top=False,
                                        input_shape=(size, size, 3))
    trainable_blocks = cfg.get("model.trainable_blocks")
    if not isinstance(trainable_blocks, int) or not 0 <= trainable_blocks <= 5:
        fail(f"{cfg.path}: model.trainable_blocks: must be 0-5, got {json.dumps(trainable_blocks)}")
    first_trainable = 6 - trainable_blocks
    base.trainable = trainable_blocks > 0
    for layer in base.layers:  # block1_conv1 ... block5_pool
        if layer.name.startswith("block"):
            layer.trainable = int(layer.name[5]) >= first_trainable
    layers = keras.layers
    stack = [keras.Input(shape=(32, 32, 3))]
    if size != 32:
        stack.append(layers.Resizing(size, size))
    stack += [base, layers.Flatten(),
              layers.Dense(cfg.get("model.hidden_units"), activation="relu"),
              layers.Dropout(cfg.get("model.dropout")),
              layers.Dense(NUM_CLASSES)]
    return keras.Sequential(stack, name="vgg16_transfer"), weights_note


# ----------------------------------------------------------------------------------------------
# Input pipelines.

def image_data_generator(tf, keras):
    for where in (lambda: tf.keras.preprocessing.image.ImageDataGenerator,
                  lambda: keras.preprocessing.image.ImageDataGenerator,
                  lambda: __import__("keras.src.legacy.preprocessing.image",
                                     fromlist=["ImageDataGenerator"]).ImageDataGenerator):
        try:
            return where()
        except (AttributeError, ImportError):
            continue
    fail("this Keras has no ImageDataGenerator (tf.keras.preprocessing.image)")


def augmentation_args(cfg):
    a = "augmentation."
    args = {
        "rotation_range": cfg.get(a + "rotation_range"),
        "width_shift_range": cfg.get(a + "width_shift_range"),
        "height_shift_range": cfg.get(a + "height_shift_range"),
        "shear_range": cfg.get(a + "shear_range"),
        "zoom_range": cfg.get(a + "zoom_range"),
        "horizontal_flip": bool(cfg.get(a + "horizontal_flip")),
        "vertical_flip": bool(cfg.get(a + "vertical_flip")),
        "fill_mode": cfg.get(a + "fill_mode"),
        "cval": cfg.get(a + "cval"),
    }
    if isinstance(args["zoom_range"], list):
        args["zoom_range"] = [float(v) for v in args["zoom_range"]]
        if args["zoom_range"] == [1.0, 1.0]:
            args["zoom_range"] = 0.0  # Keras' "no zoom"
    for key in ("random_crop", "cutout"):
        if cfg.get(a + key):
            note(f"augmentation.{key}: not an ImageDataGenerator transform; ignored by Keras")
    return args


def array_dataset(tf, x, y, batch_size, seed):
    """Shuffled index batches gathered from the arrays, repeated and prefetched (Keras' fit on
    NumPy arrays does the same, one epoch at a time)."""
    xs, ys = tf.constant(x), tf.constant(y)
    n = x.shape[0]
    return (tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True)
            .repeat().batch(batch_size, drop_remainder=n >= batch_size)
            .map(lambda i: (tf.gather(xs, i), tf.gather(ys, i)))
            .prefetch(tf.data.AUTOTUNE))


# ----------------------------------------------------------------------------------------------

def parse_args(argv):
    ap = OneLineParser(prog=TOOL, description="Train a cifar-exp config's model with "
                       "TensorFlow/Keras, as the notebook did, and time the training steps.")
    ap.add_argument("-c", "--config", required=True, help="experiment config (JSON)")
    ap.add_argument("--data-dir", help="CIFAR-10 binary folder (default: the config's data.dir)")
    ap.add_argument("--threads", type=int,
                    help="intra- and inter-op threads (default: training.threads; 0 = all cores)")
    ap.add_argument("--steps", "--iterations", dest="steps", type=int, default=50,
                    help="timed training steps (default 50)")
    ap.add_argument("--warmup", type=int, default=5,
                    help="untimed steps first, tracing included (default 5)")
    ap.add_argument("--loop", choices=["fit", "batch"], default="fit",
                    help="fit: one model.fit call (default); batch: model.train_on_batch per step")
    ap.add_argument("--train-limit", type=int,
                    help="training images loaded (default: data.train_limit, else all 50,000)")
    ap.add_argument("--eval-repeats", type=int, default=2,
                    help="timed model.evaluate calls over one eval batch (default 2; 0: none)")
    ap.add_argument("--format", choices=["table", "json"], default="table")
    args = ap.parse_args(argv)
    if args.steps < 1:
        fail(f"--steps: must be a positive integer, got {args.steps}")
    if args.warmup < 0:
        fail(f"--warmup: must be 0 or more, got {args.warmup}")
    if args.threads is not None and args.threads < 0:
        fail(f"--threads: must be 0 or more, got {args.threads}")
    if args.train_limit is not None and args.train_limit < 0:
        fail(f"--train-limit: must be 0 or more, got {args.train_limit}")
    if args.eval_repeats < 0:
        fail(f"--eval-repeats: must be 0 or more, got {args.eval_repeats}")
    return args


def run(args):
    cfg = Config(args.config)
    model_type = cfg.get("model.type")
    if model_type not in ("small_cnn", "vgg16_transfer"):
        fail(f"{cfg.path}: model.type: must be small_cnn or vgg16_transfer, got {model_type!r}")
    batch_size = positive_int(cfg, "training.batch_size")
    eval_batch_size = positive_int(cfg, "training.eval_batch_size")
    seed = cfg.get("training.seed")
    requested = cfg.get("training.threads") if args.threads is None else args.threads
    threads = requested if requested and requested > 0 else max(1, os.cpu_count() or 1)
    augmented = bool(cfg.get("augmentation.enabled"))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    try:
        import numpy as np
        import tensorflow as tf
    except ImportError as e:
        fail(f"{e} (python3 -m venv .venv-keras && .venv-keras/bin/pip install tensorflow-cpu "
             "scipy; then run it with .venv-keras/bin/python)")
    # Before any op runs: afterwards TensorFlow refuses to change them.
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    keras = tf.keras
    keras.utils.set_random_seed(seed)

    limit = cfg.get("data.train_limit") if args.train_limit is None else args.train_limit
    root = args.data_dir or cfg.get("data.dir")
    x_train, y_train, x_test, y_test, data_kind = load_data(np, root, limit or 0,
                                                            eval_batch_size, seed)
    eval_count = min(eval_batch_size, x_test.shape[0])

    weights_note = None
    if model_type == "small_cnn":
        model = small_cnn(keras)
    else:
        model, weights_note = vgg16_transfer(keras, cfg)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=cfg.get("training.learning_rate"),
                                        beta_1=cfg.get("training.beta1"),
                                        beta_2=cfg.get("training.beta2"),
                                        epsilon=cfg.get("training.epsilon")),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"])

    total = args.warmup + args.steps
    if augmented:
        generator = image_data_generator(tf, keras)(**augmentation_args(cfg))
        flow = generator.flow(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed)
        if len(flow) >= total:
            source, pipeline = flow, "ImageDataGenerator.flow"
        else:  # fewer batches than steps: the flow's own endless iteration
            source = (batch for batch in flow)
            pipeline = "ImageDataGenerator.flow (as a generator: fewer batches than steps)"
    else:
        source = array_dataset(tf, x_train, y_train, batch_size, seed)
        pipeline = "tf.data (shuffled index batches gathered from the arrays, prefetched)"

    note(f"{cfg.name}: {args.warmup} warm-up and {args.steps} timed steps of batch {batch_size} "
         f"({model_type}{', augmentation' if augmented else ''}, {threads} threads, "
         f"TensorFlow {tf.__version__}, --loop {args.loop})")
    ends = []
    started = time.perf_counter()
    if args.loop == "fit":
        class StepEnds(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if logs and "loss" in logs:
                    float(logs["loss"])  # the loss on the host, as the progress bar reads it
                ends.append(time.perf_counter())

        model.fit(source, epochs=1, steps_per_epoch=total, shuffle=False, verbose=0,
                  callbacks=[StepEnds()])
    else:
        batches = iter(flow if augmented else source)
        for _ in range(total):
            x, y = next(batches)
            model.train_on_batch(x, y)
            ends.append(time.perf_counter())
    if len(ends) != total:
        fail(f"training stopped after {len(ends)} of {total} steps (the input ran out of data?)", 1)
    marks = [started] + ends
    step_ms = [1000 * (marks[i + 1] - marks[i]) for i in range(args.warmup, total)]
    steady = marks[total] - marks[args.warmup]
    phases = {"train_step": phase_stats(step_ms)}

    eval_ips = None
    if args.eval_repeats:
        x_eval, y_eval = x_test[:eval_count], y_test[:eval_count]
        times = []
        for i in range(1 + args.eval_repeats):
            start = time.perf_counter()
            model.evaluate(x_eval, y_eval, batch_size=eval_batch_size, verbose=0)
            if i:
                times.append(1000 * (time.perf_counter() - start))
        phases["eval"] = phase_stats(times)
        eval_ips = eval_count / (phases["eval"]["mean_ms"] / 1000.0)

    report = {
        "tool": "keras",
        "config": cfg.name,
        "model": model_type,
        "augmentation": augmented,
        "batch_size": batch_size,
        "eval_batch_size": int(eval_count),
        "threads": threads,
        "device": "cpu" if not tf.config.list_physical_devices("GPU") else "gpu",
        "tf_version": tf.__version__,
        "keras_version": getattr(keras, "__version__", None) or getattr(
            sys.modules.get("keras"), "__version__", "unknown"),
        "loop": args.loop,
        "pipeline": pipeline,
        "iterations": args.steps,
        "warmup": args.warmup,
        "train_images": int(x_train.shape[0]),
        "data": data_kind,
        "phases": phases,
        "train_images_per_second": args.steps * batch_size / steady,
        "eval_images_per_second": eval_ips,
        "warmup_seconds": marks[args.warmup] - started,
        "cpu": cpu_model(),
    }
    if model_type == "vgg16_transfer" and not augmented and cfg.get("model.trainable_blocks") == 0:
        report["note"] = ("Keras runs the frozen backbone in every step (as the notebook); "
                          "cifar-exp trains the head on features computed once")
    if weights_note and weights_note != "random":
        report["weights"] = weights_note
    return report


def format_table(r):
    lines = [
        f"keras reference: {r['config']} ({r['model']}, "
        f"{'augmentation' if r['augmentation'] else 'no augmentation'}), {r['device']}, "
        f"{r['threads']} threads, TensorFlow {r['tf_version']}, Keras {r['keras_version']}, "
        f"{r['data']} data ({r['train_images']} training images)",
        f"CPU: {r['cpu']}",
        f"batch {r['batch_size']}, {r['warmup']} warm-up ({r['warmup_seconds']:.1f} s) + "
        f"{r['iterations']} timed steps, --loop {r['loop']}; input: {r['pipeline']}",
    ]
    if "weights" in r:
        lines.append(f"weights: {r['weights']}")
    if "note" in r:
        lines.append(f"note: {r['note']}")
    lines.append("")
    lines += phase_table(r["phases"])  # train_step, then eval where timed
    tail = f"\ntraining: {r['train_images_per_second']:.0f} images/s (steady state, input included)"
    if r["eval_images_per_second"] is not None:
        tail += (f", evaluation: {r['eval_images_per_second']:.0f} images/s "
                 f"(batch {r['eval_batch_size']})")
    lines.append(tail)
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = run(args)
    if args.format == "json":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        sys.stdout.write(format_table(report))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    run_tool(TOOL, main)

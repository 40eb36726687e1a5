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
        [--format table|json] [--cifar-exp PATH]

It reads the config as cifar-exp resolves it (`cifar-exp --config FILE --print-config --keys`:
each key's value, or the default it stands for where it does not apply; the binary: --cifar-exp
PATH, else bench_common's lookup) and the CIFAR-10 binary files of --data-dir (default: the
config's data.dir, which cifar-exp resolves; generated data when they are not there, said in the
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
batch (training.eval_batch_size test images; bench_common.EVAL_WARMUP untimed calls, as
cifar-exp bench and torch_reference.py make (none with --warmup 0), then N timed) gives
eval_images_per_second.

The glibc allocator: cifar-exp keeps blocks up to 256 MiB in the heap (configure_allocator);
to give this process the same, start it with bench_common's variables,

    env $(bench/bench_common.py allocator-env) .venv-keras/bin/python bench/keras_reference.py ...

The report's "allocator" says which of them it ran with ({}: glibc's defaults).

For a frozen VGG16 without augmentation Keras runs the backbone in every step, as the notebook
does; cifar-exp instead computes the features once and trains the head on them (its bench then
times head steps and `features`), so the two training figures measure different work.

Output: --format table (default) or --format json (tool "keras", tf_version, keras_version,
train_images_per_second, eval_images_per_second, phases train_step and eval in the shape of
cifar-exp bench). Progress and warnings go to stderr. Exit status 0, or 2 with one line on
stderr for a bad option or config.
"""
import os
import sys
import time

import bench_common
from bench_common import (EVAL_WARMUP, NUM_CLASSES, RECORD_BYTES, OneLineParser,
                          allocator_setting, config_keys, cpu_model, describe_allocator,
                          phase_stats, phase_table, read_records, reference_main,
                          resolving_cifar_exp, run_tool)

TOOL = "keras_reference.py"


def fail(message, code=2):
    bench_common.fail(TOOL, message, code)


def note(message):
    bench_common.note(TOOL, message)


# ----------------------------------------------------------------------------------------------
# Config: as cifar-exp resolves it; nothing here restates its defaults or rules.

class Config:
    """get(key): the key's value as cifar-exp resolves the config (bench_common.config_keys),
    the default it stands for where it does not apply."""

    def __init__(self, path, binary):
        self.path = path
        self.keys, _ = config_keys(TOOL, binary, path)
        self.name = self.get("name")

    def get(self, dotted):
        return self.keys[dotted]["value"]


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
    size = cfg.get("model.input_size")
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
    ap.add_argument("--cifar-exp", metavar="PATH",
                    help="cifar-exp binary that resolves the config (default: $CIFAR_EXP_BIN, "
                         "else the deprecated $CIFAR_EXP, else build/cifar-exp, else cifar-exp on "
                         "PATH)")
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


def import_tensorflow(threads, seed):
    """(numpy, tensorflow, keras), TensorFlow's threads set and the seeds set; exit 2 with how
    to install them when they are missing."""
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
    return np, tf, keras


def compiled_model(keras, cfg, model_type):
    """The config's model compiled with Adam and sparse cross-entropy on logits: (model, the
    backbone weights' note; None for the small CNN)."""
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
    return model, weights_note


def training_source(tf, keras, cfg, x_train, y_train, batch_size, seed, total):
    """Where the steps draw their batches: (what fit reads, what --loop batch iterates, the
    pipeline's description)."""
    if cfg.get("augmentation.enabled"):
        generator = image_data_generator(tf, keras)(**augmentation_args(cfg))
        flow = generator.flow(x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed)
        if len(flow) >= total:
            return flow, flow, "ImageDataGenerator.flow"
        # Fewer batches than steps: the flow's own endless iteration.
        return ((batch for batch in flow), flow,
                "ImageDataGenerator.flow (as a generator: fewer batches than steps)")
    source = array_dataset(tf, x_train, y_train, batch_size, seed)
    return source, source, "tf.data (shuffled index batches gathered from the arrays, prefetched)"


def train_steps(keras, model, source, batches, loop, total):
    """`total` training steps (--loop fit: one model.fit call; batch: train_on_batch per step):
    the start and the end of every step, perf_counter seconds."""
    ends = []
    started = time.perf_counter()
    if loop == "fit":
        class StepEnds(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if logs and "loss" in logs:
                    float(logs["loss"])  # the loss on the host, as the progress bar reads it
                ends.append(time.perf_counter())

        model.fit(source, epochs=1, steps_per_epoch=total, shuffle=False, verbose=0,
                  callbacks=[StepEnds()])
    else:
        batches = iter(batches)
        for _ in range(total):
            x, y = next(batches)
            model.train_on_batch(x, y)
            ends.append(time.perf_counter())
    if len(ends) != total:
        fail(f"training stopped after {len(ends)} of {total} steps (the input ran out of data?)", 1)
    return [started] + ends


def time_evaluation(model, x_eval, y_eval, eval_batch_size, repeats, warmup):
    """model.evaluate over one eval batch: `warmup` untimed calls, then `repeats` timed ones."""
    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        model.evaluate(x_eval, y_eval, batch_size=eval_batch_size, verbose=0)
        if i >= warmup:
            times.append(1000 * (time.perf_counter() - start))
    return phase_stats(times)


def eval_warmup(args):
    """Untimed model.evaluate calls: cifar-exp bench's count, none without a warm-up."""
    return EVAL_WARMUP if args.warmup > 0 else 0


def keras_report(cfg, args, tf, keras, settings, timings):
    """The JSON report: settings (model type, augmented, batch, eval count, threads, pipeline,
    training images, data kind, weights note), timings (marks of the steps, phases, eval
    images/s)."""
    s, (marks, phases, eval_ips) = settings, timings
    report = {
        "tool": "keras",
        "config": cfg.name,
        "model": s["model_type"],
        "augmentation": s["augmented"],
        "batch_size": s["batch_size"],
        "eval_batch_size": int(s["eval_count"]),
        "threads": s["threads"],
        "device": "cpu" if not tf.config.list_physical_devices("GPU") else "gpu",
        "tf_version": tf.__version__,
        "keras_version": getattr(keras, "__version__", None) or getattr(
            sys.modules.get("keras"), "__version__", "unknown"),
        "loop": args.loop,
        "pipeline": s["pipeline"],
        "iterations": args.steps,
        "warmup": args.warmup,
        "eval_warmup": eval_warmup(args),
        "train_images": s["train_images"],
        "convolution": "tensorflow",
        "allocator": allocator_setting(),
        "data": s["data_kind"],
        "phases": phases,
        "train_images_per_second": (args.steps * s["batch_size"]
                                    / (marks[-1] - marks[args.warmup])),
        "eval_images_per_second": eval_ips,
        "warmup_seconds": marks[args.warmup] - marks[0],
        "cpu": cpu_model(),
    }
    if (s["model_type"] == "vgg16_transfer" and not s["augmented"]
            and cfg.get("model.trainable_blocks") == 0):
        report["note"] = ("Keras runs the frozen backbone in every step (as the notebook); "
                          "cifar-exp trains the head on features computed once")
    if s["weights_note"] and s["weights_note"] != "random":
        report["weights"] = s["weights_note"]
    return report


def run(args):
    cfg = Config(args.config, resolving_cifar_exp(TOOL, args.cifar_exp))
    model_type = cfg.get("model.type")
    if model_type not in ("small_cnn", "vgg16_transfer"):
        fail(f"{cfg.path}: model.type: must be small_cnn or vgg16_transfer, got {model_type!r}")
    batch_size = cfg.get("training.batch_size")
    eval_batch_size = cfg.get("training.eval_batch_size")
    seed = cfg.get("training.seed")
    requested = cfg.get("training.threads") if args.threads is None else args.threads
    threads = requested if requested and requested > 0 else max(1, os.cpu_count() or 1)
    augmented = bool(cfg.get("augmentation.enabled"))
    np, tf, keras = import_tensorflow(threads, seed)

    limit = cfg.get("data.train_limit") if args.train_limit is None else args.train_limit
    root = args.data_dir or cfg.get("data.dir")
    x_train, y_train, x_test, y_test, data_kind = load_data(np, root, limit or 0,
                                                            eval_batch_size, seed)
    eval_count = min(eval_batch_size, x_test.shape[0])
    model, weights_note = compiled_model(keras, cfg, model_type)
    total = args.warmup + args.steps
    source, batches, pipeline = training_source(tf, keras, cfg, x_train, y_train, batch_size,
                                                seed, total)
    note(f"{cfg.name}: {args.warmup} warm-up and {args.steps} timed steps of batch {batch_size} "
         f"({model_type}{', augmentation' if augmented else ''}, {threads} threads, "
         f"TensorFlow {tf.__version__}, --loop {args.loop})")
    marks = train_steps(keras, model, source, batches, args.loop, total)
    step_ms = [1000 * (marks[i + 1] - marks[i]) for i in range(args.warmup, total)]
    phases = {"train_step": phase_stats(step_ms)}
    eval_ips = None
    if args.eval_repeats:
        phases["eval"] = time_evaluation(model, x_test[:eval_count], y_test[:eval_count],
                                         eval_batch_size, args.eval_repeats, eval_warmup(args))
        eval_ips = eval_count / (phases["eval"]["mean_ms"] / 1000.0)
    settings = {"model_type": model_type, "augmented": augmented, "batch_size": batch_size,
                "eval_count": eval_count, "threads": threads, "pipeline": pipeline,
                "train_images": int(x_train.shape[0]), "data_kind": data_kind,
                "weights_note": weights_note}
    return keras_report(cfg, args, tf, keras, settings, (marks, phases, eval_ips))


def format_table(r):
    lines = [
        f"keras reference: {r['config']} ({r['model']}, "
        f"{'augmentation' if r['augmentation'] else 'no augmentation'}), {r['device']}, "
        f"{r['threads']} threads, TensorFlow {r['tf_version']}, Keras {r['keras_version']}, "
        f"{r['data']} data ({r['train_images']} training images)",
        f"CPU: {r['cpu']}",
        f"batch {r['batch_size']}, {r['warmup']} warm-up ({r['warmup_seconds']:.1f} s) + "
        f"{r['iterations']} timed steps, --loop {r['loop']}; input: {r['pipeline']}",
        f"allocator: {describe_allocator(r['allocator'])}",
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


if __name__ == "__main__":
    run_tool(TOOL, lambda: reference_main(parse_args, run, format_table))

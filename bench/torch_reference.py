#!/usr/bin/python3
"""The same work as `cifar-exp bench`, driven from Python PyTorch: the reference it is measured
against (bench/compare.sh runs both).

Needs Debian's /usr/bin/python3 with python3-torch, python3-torchvision and python3-numpy
(apt-get install python3-torch python3-torchvision python3-numpy): the same libtorch 1.13 that
cifar-exp links, so the comparison measures the driver (Python vs C++), not the kernels.

    bench/torch_reference.py --config configs/no_aug_no_tl.json [--iterations 50] [--warmup 5]
        [--format table|json] [--threads N] [--data-dir DIR] [--precision fp32|bf16]
        [--device cpu|cuda]

Per training step it times, like cifar-exp: gather (index_select of a shuffled batch from the
whole split held as one uint8 tensor, then float / 255), augment (Keras-style random affine as
one batched affine_grid + grid_sample, and flips), forward (model and loss), backward, optimizer
(Adam step), metrics (running loss and accuracy, and reading the loss as the divergence check
does), the whole step; then one evaluation batch. A frozen VGG16 without augmentation trains
its head on backbone features, as cifar-exp does (phase `features` = backbone on one eval batch).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
except ImportError as e:  # pragma: no cover
    sys.exit(f"torch_reference.py: error: {e} (needs /usr/bin/python3 with python3-torch, "
             "python3-torchvision, python3-numpy)")

RECORD = 3073
PHASES = ["gather", "augment", "forward", "backward", "optimizer", "metrics", "train_step",
          "features", "eval"]


def fail(message):
    print(f"torch_reference.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def read_split(root, train, limit=None):
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    chunks = [np.fromfile(os.path.join(root, n), dtype=np.uint8).reshape(-1, RECORD) for n in names]
    raw = np.concatenate(chunks)[:limit]
    images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))
    return images, labels


class SmallCnn(nn.Module):
    """The notebook's Keras CNN as src/models.cpp builds it (channels-last, like cifar-exp)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.dense1 = nn.Linear(64 * 4 * 4, 64)
        self.dense2 = nn.Linear(64, 10)

    def forward(self, x):
        x = x.contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x))
        return self.dense2(F.relu(self.dense1(x.flatten(1))))


class DenseHead(nn.Module):
    def __init__(self, features, hidden, dropout):
        super().__init__()
        self.hidden = nn.Linear(features, hidden)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.output(self.dropout(F.relu(self.hidden(x.flatten(1)))))


class Vgg16Transfer(nn.Module):
    def __init__(self, model_cfg):
        super().__init__()
        self.backbone = torchvision.models.vgg16().features  # 13 convs and 5 pools, as ours
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.size = model_cfg.get("input_size", 32)
        fmt = model_cfg.get("weights_format", "keras_h5")
        pre = model_cfg.get("preprocess", "auto")
        self.preprocess_kind = ("caffe" if fmt == "keras_h5" else "imagenet") if pre == "auto" else pre
        side = self.size // 32
        self.head = DenseHead(512 * side * side, model_cfg.get("hidden_units", 256),
                              model_cfg.get("dropout", 0.5))

    def preprocess(self, x):
        if self.preprocess_kind == "caffe":
            mean = torch.tensor([103.939, 116.779, 123.68], device=x.device).view(1, 3, 1, 1)
            x = x.flip(1).mul(255.0).sub(mean)
        elif self.preprocess_kind == "imagenet":
            mean = torch.tensor([0.485, 0.456, 0.406], device=x.device).view(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225], device=x.device).view(1, 3, 1, 1)
            x = x.sub(mean).div(std)
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x

    def features(self, x):
        with torch.no_grad():
            return self.backbone(self.preprocess(x)).flatten(1)

    def forward(self, x):
        return self.head(self.features(x))


class Augmenter:
    """Keras ImageDataGenerator's random affine (rotation, shifts, shear, zoom) and flips, as
    one batched affine_grid + grid_sample on the batch's device."""

    def __init__(self, cfg, seed):
        self.cfg = cfg
        self.gen = torch.Generator().manual_seed(seed ^ 0x9E3779B97F4A7C15 & (2**63 - 1))

    def uniform(self, n, low, high):
        return torch.empty(n, dtype=torch.float64).uniform_(low, high, generator=self.gen)

    def __call__(self, x):
        c = self.cfg
        n, _, h, w = x.shape
        theta = self.uniform(n, -c.get("rotation_range", 0), c.get("rotation_range", 0)) * math.pi / 180
        ws, hs = c.get("width_shift_range", 0), c.get("height_shift_range", 0)
        tx = self.uniform(n, -ws, ws) * (w if ws < 1 else 1)
        ty = self.uniform(n, -hs, hs) * (h if hs < 1 else 1)
        shear = self.uniform(n, -c.get("shear_range", 0), c.get("shear_range", 0)) * math.pi / 180
        z = c.get("zoom_range", 0)
        lo, hi = (1 - z, 1 + z) if not isinstance(z, list) else z
        zx, zy = self.uniform(n, lo, hi), self.uniform(n, lo, hi)
        # Output-to-input map in normalised coordinates (grid_sample's [-1, 1]).
        a = torch.zeros(n, 2, 3, dtype=torch.float64)
        a[:, 0, 0] = torch.cos(theta) * zx
        a[:, 0, 1] = -torch.sin(theta + shear) * zy
        a[:, 1, 0] = torch.sin(theta) * zx
        a[:, 1, 1] = torch.cos(theta + shear) * zy
        a[:, 0, 2] = 2 * tx / w
        a[:, 1, 2] = 2 * ty / h
        grid = F.affine_grid(a.to(x.dtype).to(x.device), list(x.shape), align_corners=False)
        padding = {"nearest": "border", "reflect": "reflection"}.get(c.get("fill_mode", "nearest"), "zeros")
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)
        if c.get("horizontal_flip"):
            flip = (torch.rand(n, generator=self.gen) < 0.5).to(x.device).view(n, 1, 1, 1)
            x = torch.where(flip, x.flip(3), x)
        if c.get("vertical_flip"):
            flip = (torch.rand(n, generator=self.gen) < 0.5).to(x.device).view(n, 1, 1, 1)
            x = torch.where(flip, x.flip(2), x)
        return x


def stats(values):
    return {"mean_ms": statistics.fmean(values), "std_ms": statistics.stdev(values) if len(values) > 1 else 0.0,
            "median_ms": statistics.median(values), "min_ms": min(values), "count": len(values)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--format", choices=["table", "json"], default="table")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--data-dir")
    ap.add_argument("--precision", choices=["fp32", "bf16"])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()
    if args.iterations < 1:
        fail(f"--iterations: must be a positive integer, got {args.iterations}")
    try:
        with open(args.config) as f:
            cfg = json.load(f)
    except OSError as e:
        fail(f"{args.config}: cannot open file: {e.strerror}")
    except json.JSONDecodeError as e:
        fail(f"{args.config}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}")
    model_cfg, aug, t = cfg.get("model") or {}, cfg.get("augmentation") or {}, cfg.get("training") or {}
    batch, eval_batch = t.get("batch_size", 64), t.get("eval_batch_size", 1000)
    seed = t.get("seed", 42)
    precision = args.precision or t.get("precision", "fp32")
    threads = args.threads if args.threads is not None else t.get("threads", 0)
    threads = threads or os.cpu_count()
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(seed)
    steps = args.warmup + args.iterations

    root = args.data_dir or os.environ.get("CIFAR10_DIR") or (cfg.get("data") or {}).get("dir") \
        or "data/cifar-10-batches-bin"
    try:
        train_x, train_y = read_split(root, True, (cfg.get("data") or {}).get("train_limit"))
        test_x, test_y = read_split(root, False, eval_batch)
        data = "real"
    except (OSError, ValueError):
        print(f"torch_reference.py: no CIFAR-10 in {root}; timing on generated data", file=sys.stderr)
        n = max(batch * steps, 1024)
        train_x, train_y = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 10, (n,))
        test_x, test_y = torch.randint(0, 256, (eval_batch, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 10, (eval_batch,))
        data = "generated"
    train_x, train_y, test_x, test_y = (v.to(device) for v in (train_x, train_y, test_x, test_y))

    kind = model_cfg.get("type", "small_cnn")
    model = (SmallCnn() if kind == "small_cnn" else Vgg16Transfer(model_cfg)).to(device)
    if kind == "small_cnn":
        model = model.to(memory_format=torch.channels_last)
    timings = {p: [] for p in PHASES}
    eval_steps, eval_warmup = max(2, args.iterations // 10), 1 if args.warmup > 0 else 0
    trained, train_inputs, eval_inputs = model, train_x, test_x
    cached = kind == "vgg16_transfer" and not aug.get("enabled") and model_cfg.get("trainable_blocks", 0) == 0
    if cached:
        model.eval()
        for i in range(eval_warmup + eval_steps):
            start = time.perf_counter()
            eval_inputs = model.features(test_x.float().div(255))
            sync()
            if i >= eval_warmup:
                timings["features"].append(1000 * (time.perf_counter() - start))
        rows = min(train_x.shape[0], batch * steps)
        reps = -(-rows // eval_inputs.shape[0])
        train_inputs = eval_inputs.repeat(reps, 1)[:rows].contiguous()
        train_y = train_y[:rows]
        trained = model.head

    params = [p for p in trained.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=t.get("learning_rate", 1e-3),
                                 betas=(t.get("beta1", 0.9), t.get("beta2", 0.999)), eps=t.get("epsilon", 1e-7))
    augmenter = Augmenter(aug, seed) if aug.get("enabled") else None
    trained.train()
    n = train_inputs.shape[0]
    order, position = torch.randperm(n).to(device), 0
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for i in range(steps):
        if position + batch > n:
            order, position = torch.randperm(n).to(device), 0
        t0 = time.perf_counter()
        idx = order[position:position + batch]
        position += batch
        x = train_inputs.index_select(0, idx)
        if x.dtype == torch.uint8:
            x = x.float().div_(255)
        y = train_y.index_select(0, idx)
        sync()
        t1 = time.perf_counter()
        if augmenter:
            x = augmenter(x)
        sync()
        t2 = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = trained(x)
        loss = F.cross_entropy(logits.float(), y)
        sync()
        t3 = time.perf_counter()
        loss.backward()
        sync()
        t4 = time.perf_counter()
        optimizer.step()
        sync()
        t5 = time.perf_counter()
        with torch.no_grad():
            loss_sum += loss.detach() * x.shape[0]
            correct += logits.argmax(1).eq(y).sum()
        if device.type == "cpu":
            loss.item()
        sync()
        t6 = time.perf_counter()
        if i < args.warmup:
            continue
        for name, a, b in (("gather", t0, t1), ("augment", t1, t2), ("forward", t2, t3),
                           ("backward", t3, t4), ("optimizer", t4, t5), ("metrics", t5, t6),
                           ("train_step", t0, t6)):
            if name != "augment" or augmenter:
                timings[name].append(1000 * (b - a))

    trained.eval()
    eval_x = eval_inputs[:eval_batch]
    for i in range(eval_warmup + eval_steps):
        start = time.perf_counter()
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            x = eval_x.float().div(255) if eval_x.dtype == torch.uint8 else eval_x
            logits = trained(x).float()
            F.cross_entropy(logits, test_y[:eval_batch], reduction="sum").item()
            torch.bincount(test_y[:eval_batch] * 10 + logits.argmax(1), minlength=100)
        sync()
        if i >= eval_warmup:
            timings["eval"].append(1000 * (time.perf_counter() - start))

    phases = {k: stats(v) for k, v in timings.items() if v}
    report = {
        "tool": "torch-python", "config": cfg.get("name", ""), "model": kind,
        "augmentation": bool(aug.get("enabled")), "batch_size": batch,
        "eval_batch_size": int(eval_x.shape[0]), "threads": torch.get_num_threads(),
        "device": str(device), "precision": precision, "torch_version": torch.__version__,
        "iterations": args.iterations, "warmup": args.warmup, "data": data, "phases": phases,
        "train_images_per_second": batch / (phases["train_step"]["mean_ms"] / 1000),
        "eval_images_per_second": int(eval_x.shape[0]) / (phases["eval"]["mean_ms"] / 1000),
    }
    if cached:
        report["features_images_per_second"] = int(test_x.shape[0]) / (phases["features"]["mean_ms"] / 1000)
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return
    print(f"torch-python reference: {report['config']} ({kind}, "
          f"{'augmentation' if report['augmentation'] else 'no augmentation'}), {device}, "
          f"{report['threads']} threads, {precision}, torch {torch.__version__}, {data} data")
    print(f"batch {batch}, {args.warmup} warm-up + {args.iterations} timed steps; eval batch {report['eval_batch_size']}\n")
    print(f"{'phase':<12}{'mean ms':>10}{'std ms':>10}{'median ms':>11}{'min ms':>10}{'n':>7}")
    for name in PHASES:
        if name in phases:
            p = phases[name]
            print(f"{name:<12}{p['mean_ms']:>10.3f}{p['std_ms']:>10.3f}{p['median_ms']:>11.3f}{p['min_ms']:>10.3f}{p['count']:>7}")
    line = f"\ntraining: {report['train_images_per_second']:.0f} images/s, evaluation: {report['eval_images_per_second']:.0f} images/s"
    if cached:
        line += f", backbone features: {report['features_images_per_second']:.0f} images/s"
    print(line)


if __name__ == "__main__":
    main()

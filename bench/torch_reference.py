#!/usr/bin/python3
"""torch_reference.py: the work of `cifar-exp bench`, driven from Python PyTorch.

Needs a Python with torch >= 1.13 and nothing else (no numpy, no torchvision):

  - Debian's /usr/bin/python3 with python3-torch (1.13): `sudo apt-get install -y python3-torch`.
    It uses the same shared libtorch 1.13 (libtorch1.13) that build/cifar-exp links, so comparing
    the two measures the driver (Python vs C++) and not the kernels.
  - the project's .venv with PyPI torch (2.x; `.venv/bin/pip install torch==2.15.0`, what
    build-pypi/cifar-exp is built against): PyTorch 2.x from Python, and --compile.

Usage (the options of `cifar-exp bench`):

    bench/torch_reference.py (--config FILE [--set KEY=VALUE]... | --config-json RESOLVED)
        [--iterations N] [--warmup N] [--format table|json] [--threads N] [--data-dir DIR]
        [--precision fp32|bf16] [--device auto|cpu|cuda|cuda:N] [--cifar-exp PATH]
        [--memory-format channels_last|contiguous] [--compile]

It runs the config as cifar-exp resolves it: --config FILE (configs/*.json) is resolved by
`cifar-exp --config FILE [--set KEY=VALUE]... --print-config --keys` (every key, resolved, or the
default it stands for where it does not apply; the binary: --cifar-exp PATH, else $CIFAR_EXP_BIN,
else the deprecated $CIFAR_EXP, else build/cifar-exp, else cifar-exp on PATH: bench_common's
lookup); --config-json takes a resolved config (`--print-config`'s output saved, or a run
folder's config.json), which cifar-exp resolves to itself. --threads, --data-dir, --precision
and --device then override the resolved values, as for `cifar-exp bench`.

It then does, step for step, what src/experiment/benchmark.cpp does: the whole split held as one uint8
N x 3 x 32 x 32 tensor on the device; per training step
`gather` (index_select of a shuffled batch, to float / 255), `augment` (only with
augmentation.enabled: Keras ImageDataGenerator rotation/shift/shear/zoom as one batched
affine_grid + grid_sample, then flips, random crop, cutout, as src/data/augmentation.cpp), `forward`
(optimizer.zero_grad(), model forward under the config's precision, cross-entropy loss: the C++
runner zeroes the gradients inside this phase), `backward`, `optimizer` (Adam step with the
config's lr, betas and epsilon), `metrics` (the running loss and accuracy on the device and the
loss read back for the divergence check, as fit() does), `train_step` (the whole step, wall);
then `eval` (cifar_exp::evaluate over one eval batch, no grad). For a frozen VGG16 without
augmentation the runner trains the head on backbone features computed once: then `features`
(the backbone over one eval batch, fp32, no grad) is timed and the head trains on an N x 512 float
feature tensor (gather = index_select of features).

On CUDA it sets what cifar-exp's configure_device() sets (TF32 in matrix products and cuDNN only
with training.tf32, cuDNN benchmark on; reported as cuda_flags), and since each phase above waits
for the GPU ("synchronised per phase"), train_images_per_second comes from --iterations further
steps timed between two synchronisations only (train_throughput), as cifar-exp bench does.

--memory-format channels_last (default) keeps convolution weights and their inputs channels-last:
the small CNN and the VGG16 backbone (weights and preprocessed input; the head gets the flattened
features, which for 32x32 inputs are 512 x 1 x 1 either way), as cifar-exp runs both
(SmallCnnImpl always; Vgg16BackboneImpl with model.kernels "auto" (the default), "own" or
"fused", NCHW with "generic"); contiguous runs plain NCHW everywhere.

What this reference does not do that cifar-exp does (src/models/models.cpp, src/models/kernels/):
the layers here are PyTorch's own, out of place (F.relu then F.max_pool2d; nn.ReLU(inplace=False)
in the backbone), as cifar-exp's model.kernels "generic". With "fused" cifar-exp runs each
ReLU + 2x2 max pool as one kernel (kernels.h: the small CNN's first two, each VGG16 block end)
and, in a frozen backbone (no gradient), its other ReLUs in place; with "auto" (the default) it
also runs the small CNN's convolutions, on a CPU in fp32, through its own kernels (small_conv.h:
convolution + bias + ReLU + pool as one operation, forward and backward), where libtorch's
conv2d runs here. Its frozen VGG16
backbone on the CPU in fp32 convolves by model.convolution: "auto" (the default) takes Winograd
(oneDNN's on AVX-512 with oneDNN, else our AVX2 kernels, winograd.h), with ReLUs and pools fused
into it; this reference convolves directly (PyTorch's convolutions, oneDNN's direct kernels on
the CPU), as cifar-exp with model.convolution "direct". The report says "convolution":
"libtorch", the word cifar-exp bench uses for direct; bench/compare.sh labels every side's
convolutions and can run a cifar-exp side with model.convolution=direct (PATH:direct).

The timing follows benchmark.cpp: --warmup untimed training steps, then bench_common.EVAL_WARMUP
(benchmark.cpp's kEvalWarmup) untimed evaluation and backbone-feature calls before the timed ones
(none without a warm-up); the report's eval_warmup says how many. "allocator" says which glibc
allocator variables the process started with (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_;
{} for glibc's defaults): cifar-exp sets the same thresholds from inside (configure_allocator),
and compare.sh gives them to every Python side unless --python-allocator default.
--compile (torch >= 2 only; exit 2 on torch 1.x) wraps the trained module (and, for the cached
path, the backbone) with torch.compile: one extra untimed step (and eval call) before the warm-up
absorbs the compilation, whose wall time is reported as compile_seconds; recompilations after it
fall into the warm-up steps. The report's memory_format and compile say which variant ran.

Output: --format table (default) an aligned table; --format json one JSON object on stdout (the
shape bench/compare.sh reads, as cifar-exp's). Progress and warnings go to stderr.
Exit status: 0, or 2 with one line on stderr for a bad option or config.
"""
import contextlib
import copy
import math
import os
import sys
import time
import warnings

import bench_common

TOOL = "torch_reference.py"


from bench_common import (EVAL_WARMUP, NUM_CLASSES, PHASE_ORDER, RECORD_BYTES, OneLineParser,
                          allocator_setting, check_data_files, config_keys, cpu_flags, cpu_model,
                          describe_allocator, phase_stats, phase_table, read_records,
                          reference_main, resolving_cifar_exp, run_tool)


def fail(message, code=2):
    bench_common.fail(TOOL, message, code)


def note(message):
    bench_common.note(TOOL, message)


try:
    # PyPI torch without numpy warns at import that it cannot initialise NumPy; none is needed.
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    fail(f"{e} (run it with /usr/bin/python3 and Debian's python3-torch installed, or with a "
         "Python that has torch >= 1.13)")

# ----------------------------------------------------------------------------------------------
# Config: every key as cifar-exp resolves it (`cifar-exp --config FILE --print-config --keys`):
# defaults filled in, values checked, and where a key does not apply the default it stands for.
# Nothing here parses, completes or checks an experiment config; Config only names the values
# this benchmark uses.

def resolved_keys(args):
    """The config's keys as cifar-exp resolves them (bench_common.config_keys): --config FILE
    with its --set settings, or --config-json FILE (a resolved config resolves to itself).
    Returns (keys, what the program derives from them, where they came from)."""
    binary = resolving_cifar_exp(TOOL, args.cifar_exp)
    config = args.config_json or args.config
    keys, derived = config_keys(TOOL, binary, config, args.set)
    return keys, derived, f"{config} (resolved by {binary})"


class Config:
    """The values of a resolved config this benchmark uses, as attributes."""

    A, T = "augmentation.", "training."
    PATHS = {  # attribute: its key
        "name": "name", "model_type": "model.type", "train_limit": "data.train_limit",
        "data_dir": "data.dir", "aug_enabled": A + "enabled",
        "rotation_range": A + "rotation_range",
        "width_shift_range": A + "width_shift_range",
        "height_shift_range": A + "height_shift_range",
        "horizontal_flip": A + "horizontal_flip", "vertical_flip": A + "vertical_flip",
        "zoom_range": A + "zoom_range", "shear_range": A + "shear_range",
        "fill_mode": A + "fill_mode", "cval": A + "cval", "crop": A + "random_crop",
        "cutout": A + "cutout",
        "batch_size": T + "batch_size", "eval_batch_size": T + "eval_batch_size",
        "learning_rate": T + "learning_rate", "beta1": T + "beta1", "beta2": T + "beta2",
        "epsilon": T + "epsilon", "seed": T + "seed", "device": T + "device",
        "threads": T + "threads", "precision": T + "precision", "tf32": T + "tf32"}
    VGG16_PATHS = {key: "model." + key for key in (
        "weights", "weights_format", "preprocess", "input_size", "hidden_units", "dropout",
        "trainable_blocks")}

    def __init__(self, keys, derived, source):
        self.source, self.keys, self.derived = source, keys, derived
        paths = dict(self.PATHS)
        if self.at("model.type") == "vgg16_transfer":
            paths.update(self.VGG16_PATHS)
        for attribute, path in paths.items():
            setattr(self, attribute, self.at(path))
        if self.model_type == "vgg16_transfer":
            self.preprocess = derived["model.preprocess"]  # what "auto" stands for
        self.zoom_lower, self.zoom_upper = self.zoom_range  # [lower, upper] once resolved
        self.random_crop = (self.crop["padding"], self.crop["size"]) if self.crop else None

    def at(self, dotted):
        """The key's value (its default where it does not apply)."""
        if dotted not in self.keys:
            fail(f"{self.source}: {dotted}: not a key `cifar-exp --print-config --keys` lists "
                 "(a cifar-exp older than this script?)")
        return self.keys[dotted]["value"]

    def any_geometric(self):
        return self.derived["augmentation.any_geometric"]


# ----------------------------------------------------------------------------------------------
# Data: CIFAR-10 binary records (1 label byte + 3,072 CHW pixel bytes), as src/data/data.cpp reads them.

def read_split(root, train, limit):
    """The split's first `limit` records (all when 0/None) as uint8 images N x 3 x 32 x 32 and
    int64 labels, through torch.frombuffer (no numpy)."""
    data, count = read_records(root, train, limit)
    raw = torch.frombuffer(data, dtype=torch.uint8).view(count, RECORD_BYTES)
    return raw[:, 1:].contiguous().view(-1, 3, 32, 32), raw[:, 0].to(torch.int64)


# ----------------------------------------------------------------------------------------------
# Models: src/models/models.cpp, layer for layer. Keras initialisation (Glorot-uniform, zero biases) as
# the C++ models use; it does not change the cost.

def keras_init(module):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "bias" in name:
                p.zero_()
            else:
                nn.init.xavier_uniform_(p)


def convolutions_channels_last(module):
    """Every 4-d parameter (the convolution weights) of module made channels-last, in place."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)


class SmallCnn(nn.Module):
    """Conv 3x3 32, pool, Conv 3x3 64, pool, Conv 3x3 64, Dense 64, Dense 10; valid padding.
    Channels-last convolution weights and inputs, as SmallCnnImpl (unless channels_last=False:
    plain NCHW). ReLU then max pool as two libtorch layers (SmallCnnImpl's max_pool2_relu fuses
    them unless model.kernels is "generic")."""

    def __init__(self, channels_last=True):
        super().__init__()
        self.channels_last = channels_last
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.dense1 = nn.Linear(64 * 4 * 4, 64)
        self.dense2 = nn.Linear(64, 10)
        keras_init(self)
        if channels_last:
            convolutions_channels_last(self)

    def forward(self, x):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x))
        x = F.relu(self.dense1(x.flatten(1)))
        return self.dense2(x)


VGG16_CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
               512, 512, 512, "M"]


def vgg16_backbone():
    """torchvision's VGG16 `features` (configuration "D": 13 convs 3x3 pad 1, each followed by a
    ReLU, 5 max pools 2x2), built here as a plain nn.Sequential in torchvision's index layout
    (features.{i}.weight), without torchvision and without the 123 M-parameter classifier. The
    ReLUs are out-of-place and the pools libtorch's, as Vgg16BackboneImpl with model.kernels
    "generic"; with "fused" or "auto" (its default) cifar-exp fuses each block end's ReLU and pool and, when
    frozen, runs the other ReLUs in place (the module docstring says more)."""
    layers, channels = [], 3
    for v in VGG16_CFG_D:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            channels = v
    features = nn.Sequential(*layers)
    keras_init(features)
    return features


def load_backbone_weights(features, cfg):
    """Loads a torchvision-format weights file (scripts/export_torchvision_vgg16.py) when the
    config names one. A Keras .h5 file is not read here (no h5py needed): the backbone stays
    random, which costs the same (said in the output, as cifar-exp does for a missing file)."""
    if cfg.weights in ("", "random"):
        return "random"
    if not os.path.isfile(cfg.weights):
        note(f"{cfg.weights} not found: timing with random backbone weights (same cost)")
        return f"random ({cfg.weights} not found; same cost)"
    if cfg.weights_format != "torchvision":
        note(f"{cfg.weights}: Keras weights are not read by the Python reference; timing with "
             "random backbone weights (same cost)")
        return f"random ({cfg.weights} not read by the Python reference; same cost)"
    try:
        state = torch.load(cfg.weights, map_location="cpu")
        with torch.no_grad():
            for i, m in enumerate(features):
                if isinstance(m, nn.Conv2d):
                    m.weight.copy_(state[f"features.{i}.weight"])
                    m.bias.copy_(state[f"features.{i}.bias"])
        return cfg.weights
    except Exception as e:  # noqa: BLE001: timing does not need the real weights
        note(f"{cfg.weights}: not loaded ({type(e).__name__}: {e}); timing with random "
             "backbone weights (same cost)")
        return f"random ({cfg.weights} not loaded; same cost)"


class DenseHead(nn.Module):
    """Flatten, Dense hidden ReLU, Dropout, Dense 10 (DenseHeadImpl)."""

    def __init__(self, in_features, hidden_units, dropout):
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden_units)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_units, 10)
        keras_init(self)

    def forward(self, features):
        return self.output(self.dropout(F.relu(self.hidden(features.flatten(1)))))


class Vgg16Transfer(nn.Module):
    """Vgg16TransferImpl: preprocessing (caffe | imagenet | unit) and resize inside forward, the
    backbone frozen (requires_grad False, run under no_grad) unless trainable_blocks > 0. With
    channels_last the backbone's weights and its (preprocessed) input are channels-last."""

    def __init__(self, cfg, channels_last=True):
        super().__init__()
        self.channels_last = channels_last
        self.preprocessing = cfg.preprocess
        self.input_size = cfg.input_size
        self.trainable_blocks = cfg.trainable_blocks
        self.backbone = vgg16_backbone()
        self.cast_backbone = None  # cast_frozen_backbone()
        if channels_last:
            convolutions_channels_last(self.backbone)
        side = self.input_size // 32
        self.head = DenseHead(512 * side * side, cfg.hidden_units, cfg.dropout)
        # freeze(): blocks >= 6 - trainable_blocks stay trainable.
        block, first_trainable = 1, 6 - self.trainable_blocks
        for m in self.backbone:
            if isinstance(m, nn.Conv2d):
                for p in m.parameters():
                    p.requires_grad_(block >= first_trainable)
            elif isinstance(m, nn.MaxPool2d):
                block += 1

    def backbone_frozen(self):
        return self.trainable_blocks == 0

    def preprocess(self, x):
        if self.preprocessing == "caffe":
            # Keras vgg16.preprocess_input: RGB -> BGR, 0-255, minus the BGR ImageNet means.
            mean = torch.tensor([103.939, 116.779, 123.68], dtype=x.dtype, device=x.device)
            x = x.flip(1).mul(255.0).sub(mean.view(1, 3, 1, 1))
        elif self.preprocessing == "imagenet":
            mean = torch.tensor([0.485, 0.456, 0.406], dtype=x.dtype, device=x.device)
            std = torch.tensor([0.229, 0.224, 0.225], dtype=x.dtype, device=x.device)
            x = x.sub(mean.view(1, 3, 1, 1)).div(std.view(1, 3, 1, 1))
        if x.shape[2] != self.input_size or x.shape[3] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def features(self, images):
        if self.backbone_frozen():
            with torch.no_grad():
                x = self.preprocess(images)
                if self.cast_backbone is not None and autocast_enabled(x.device):
                    x = x.to(torch.bfloat16)
                    return self.cast_backbone(x).flatten(1)
                return self.backbone(x).flatten(1)
        return self.backbone(self.preprocess(images)).flatten(1)

    def cast_frozen_backbone(self):
        """Vgg16BackboneImpl::cast_weights: a bf16 copy of the frozen backbone, made once, for
        forward passes under bf16 autocast (autocast alone would cast its 14.7 M frozen weights
        every batch, since they do not require grad)."""
        self.cast_backbone = copy.deepcopy(self.backbone).to(torch.bfloat16)

    def forward(self, images):
        return self.head(self.features(images))


def compute_features(model, images, batch_size, precision, backbone=None):
    """feature_cache.cpp compute_features() under RunContext::training_inputs' autocast: the
    backbone in the run's precision (bf16: the cast copy, as Vgg16Transfer.features), no grad,
    in eval batches, float32 out (backbone: model.backbone's torch.compile wrapper, if any)."""
    with torch.no_grad(), autocast(images.device, precision):
        parts = []
        for start in range(0, images.shape[0], batch_size):
            x = images[start:start + batch_size].float().div_(255.0)
            if backbone is None:
                parts.append(model.features(x).float())
            else:
                parts.append(backbone(model.preprocess(x)).flatten(1).float())
        return torch.cat(parts, 0)


# ----------------------------------------------------------------------------------------------
# Augmentation: src/data/augmentation.cpp (Keras ImageDataGenerator semantics), same random draws from
# a generator of its own seeded with seed ^ 0x9E3779B97F4A7C15, same order of draws.

class Augmenter:
    def __init__(self, cfg, seed):
        self.cfg = cfg
        self.gen = torch.Generator().manual_seed((seed ^ 0x9E3779B97F4A7C15) & (2**64 - 1))

    def uniform(self, n, low, high):
        t = torch.empty(n, dtype=torch.float64)
        if low == high:
            return t.fill_(low)
        return t.uniform_(low, high, generator=self.gen)

    def draw(self, n, height, width):
        # Every parameter is drawn whether or not it is enabled (Augmenter::draw).
        c = self.cfg
        p = {"theta": self.uniform(n, -c.rotation_range, c.rotation_range)}
        cols = c.width_shift_range * width if c.width_shift_range < 1 else c.width_shift_range
        rows = c.height_shift_range * height if c.height_shift_range < 1 else c.height_shift_range
        p["tx"] = self.uniform(n, -cols, cols)
        p["ty"] = self.uniform(n, -rows, rows)
        p["shear"] = self.uniform(n, -c.shear_range, c.shear_range)
        p["zx"] = self.uniform(n, c.zoom_lower, c.zoom_upper)
        p["zy"] = self.uniform(n, c.zoom_lower, c.zoom_upper)
        p["flip_h"] = self.uniform(n, 0, 1).lt(0.5).logical_and(torch.tensor(c.horizontal_flip))
        p["flip_v"] = self.uniform(n, 0, 1).lt(0.5).logical_and(torch.tensor(c.vertical_flip))
        return p

    def __call__(self, batch):
        n = batch.shape[0]
        p = self.draw(n, batch.shape[2], batch.shape[3])
        if self.cfg.any_geometric():
            x = apply_affine(batch, p, self.cfg.fill_mode, self.cfg.cval / 255.0)
        else:
            x = apply_flips(batch, p)
        if self.cfg.random_crop:
            x = self.random_crop(x)
        if self.cfg.cutout > 0:
            x = self.cutout(x)
        return x

    def random_crop(self, batch):
        n, channels, height, width = batch.shape
        pad, size = self.cfg.random_crop
        padded = F.pad(batch, (pad, pad, pad, pad))
        hp, wp = height + 2 * pad, width + 2 * pad
        device = batch.device
        top = torch.randint(0, hp - size + 1, (n,), generator=self.gen).to(device)
        left = torch.randint(0, wp - size + 1, (n,), generator=self.gen).to(device)
        rng = torch.arange(size, dtype=torch.int64, device=device)
        index = ((top.view(n, 1, 1) + rng.view(1, size, 1)) * wp
                 + (left.view(n, 1, 1) + rng.view(1, 1, size)))
        index = index.view(n, 1, size * size).expand(n, channels, size * size)
        crop = padded.reshape(n, channels, hp * wp).gather(2, index).view(n, channels, size, size)
        if size != height or size != width:
            crop = F.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False)
        return crop

    def cutout(self, batch):
        n, _, height, width = batch.shape
        k = self.cfg.cutout
        device = batch.device
        cy = torch.randint(0, height, (n,), generator=self.gen).to(device).view(n, 1, 1, 1)
        cx = torch.randint(0, width, (n,), generator=self.gen).to(device).view(n, 1, 1, 1)
        r = torch.arange(height, dtype=torch.int64, device=device).view(1, 1, height, 1)
        c = torch.arange(width, dtype=torch.int64, device=device).view(1, 1, 1, width)
        top, left = cy - k // 2, cx - k // 2
        mask = r.ge(top).logical_and(r.lt(top + k)).logical_and(c.ge(left)).logical_and(c.lt(left + k))
        return batch.masked_fill(mask, 0.0)


def apply_flips(images, p):
    n = images.shape[0]
    if p["flip_h"].any().item():
        images = torch.where(p["flip_h"].to(images.device).view(n, 1, 1, 1), images.flip(3), images)
    if p["flip_v"].any().item():
        images = torch.where(p["flip_v"].to(images.device).view(n, 1, 1, 1), images.flip(2), images)
    return images


def apply_affine(images, p, fill_mode, cval):
    n, channels, height, width = images.shape
    device = images.device
    neutral = (p["theta"].eq(0) & p["tx"].eq(0) & p["ty"].eq(0) & p["shear"].eq(0)
               & p["zx"].eq(1) & p["zy"].eq(1)).all().item()
    if neutral:  # like Keras: untouched when no image of the batch has a geometric transform
        return apply_flips(images, p)
    t = p["theta"] * (math.pi / 180.0)
    s = p["shear"] * (math.pi / 180.0)
    ct, st = t.cos(), t.sin()
    zx, zy, tx, ty = p["zx"], p["zy"], p["tx"], p["ty"]
    # Keras' output-to-input map about the image centre, in pixels (see augmentation.cpp):
    #   col_in = cc + ct*zx*u - sin(t+s)*zy*v + (ct*tx - st*ty)
    #   row_in = rc + st*zx*u + cos(t+s)*zy*v + (st*tx + ct*ty)
    # with u = col - cc, v = row - rc, cc = H/2 - 0.5, rc = W/2 - 0.5 (Keras' centring).
    if fill_mode in ("nearest", "reflect") and height > 1 and width > 1:
        # The same map as one affine_grid matrix in grid_sample's normalised coordinates:
        # nearest = border padding with corner alignment (half-extent (size-1)/2), reflect =
        # reflection padding without it (half-extent size/2), as the C++ code normalises. The
        # d terms carry Keras' swapped centring (zero for square images).
        nearest = fill_mode == "nearest"
        sw = (width - 1) / 2.0 if nearest else width / 2.0
        sh = (height - 1) / 2.0 if nearest else height / 2.0
        dw = (width - 1) / 2.0 - (height / 2.0 - 0.5)
        dh = (height - 1) / 2.0 - (width / 2.0 - 0.5)
        a, b = ct * zx, -(t + s).sin() * zy
        c, d = st * zx, (t + s).cos() * zy
        theta = torch.empty(n, 2, 3, dtype=torch.float64)
        theta[:, 0, 0] = a
        theta[:, 0, 1] = b * (sh / sw)
        theta[:, 0, 2] = (ct * tx - st * ty + a * dw + b * dh - dw) / sw
        theta[:, 1, 0] = c * (sw / sh)
        theta[:, 1, 1] = d
        theta[:, 1, 2] = (st * tx + ct * ty + c * dw + d * dh - dh) / sh
        theta = theta.to(device=device, dtype=images.dtype)
        grid = F.affine_grid(theta, [n, channels, height, width], align_corners=nearest)
        out = F.grid_sample(images, grid, mode="bilinear",
                            padding_mode="border" if nearest else "reflection",
                            align_corners=nearest)
        return apply_flips(out, p)
    # constant and wrap: scipy's own border rules, gathered by hand as the C++ code does.
    f64 = dict(dtype=torch.float64, device=device)
    per = lambda v: v.to(**f64).view(n, 1, 1)  # noqa: E731
    t, s, ct, st = per(t), per(s), per(ct), per(st)
    zx, zy, tx, ty = per(zx), per(zy), per(tx), per(ty)
    cc, rc = height / 2.0 - 0.5, width / 2.0 - 0.5
    u = torch.arange(width, **f64).view(1, 1, width) - cc
    v = torch.arange(height, **f64).view(1, height, 1) - rc
    col_in = cc + ct * zx * u - (t + s).sin() * zy * v + (ct * tx - st * ty)
    row_in = rc + st * zx * u + (t + s).cos() * zy * v + (st * tx + ct * ty)
    rows = _sample_axis(row_in, height, fill_mode)
    cols = _sample_axis(col_in, width, fill_mode)
    flat = images.reshape(n, channels, height * width)

    def gather(r, c):
        index = (r * width + c).view(n, 1, height * width).expand(n, channels, height * width)
        return flat.gather(2, index)

    wr = rows["weight"].to(images.dtype).view(n, 1, height * width)
    wc = cols["weight"].to(images.dtype).view(n, 1, height * width)
    top = gather(rows["i0"], cols["i0"]) * (1 - wc) + gather(rows["i0"], cols["i1"]) * wc
    bottom = gather(rows["i1"], cols["i0"]) * (1 - wc) + gather(rows["i1"], cols["i1"]) * wc
    out = top * (1 - wr) + bottom * wr
    if fill_mode == "constant":
        outside = rows["outside"].logical_or(cols["outside"]).view(n, 1, height * width)
        out = out.masked_fill(outside, cval)
    return apply_flips(out.view(n, channels, height, width), p)


def _sample_axis(x, n, mode):
    s = {}
    if n == 1:
        s["i0"] = s["i1"] = torch.zeros_like(x, dtype=torch.int64)
        s["weight"] = torch.zeros_like(x)
        if mode == "constant":
            s["outside"] = x.ne(0.0)
        return s
    last = float(n - 1)
    if mode == "constant":
        s["outside"] = x.lt(0.0).logical_or(x.gt(last))
        x = x.clamp(0.0, last)
    elif mode == "wrap":
        x = torch.where(x.lt(0.0), x + last * (torch.trunc(-x / last) + 1.0), x)
        x = torch.where(x.gt(last), x - last * torch.trunc(x / last), x)
    floor = x.floor()
    s["weight"] = x - floor
    i0 = floor.to(torch.int64)
    i1 = i0 + 1
    if mode == "reflect":
        def reflect(i):
            m = torch.remainder(i, 2 * n)
            return torch.where(m.ge(n), 2 * n - 1 - m, m)
        i0, i1 = reflect(i0), reflect(i1)
    else:
        i0, i1 = i0.clamp(0, n - 1), i1.clamp(0, n - 1)
    s["i0"], s["i1"] = i0, i1
    return s


# ----------------------------------------------------------------------------------------------
# Training step and evaluation, as src/experiment/benchmark.cpp and src/training/fit.cpp run them.

def autocast_enabled(device):
    """autocast_dtype(): whether autocast is on for the device type (torch 1.13 and 2.x)."""
    try:
        return torch.is_autocast_enabled(device.type)  # torch >= 2.4
    except TypeError:
        if device.type == "cuda":
            return torch.is_autocast_enabled()
        return torch.is_autocast_cpu_enabled()


def autocast(device, precision):
    """AutocastScope: bf16 autocast around forward passes; nothing at all for fp32."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def evaluate(model, images, labels, batch_size, precision):
    """cifar_exp::evaluate(): loss (fp64 sum), confusion counts, read back to the host."""
    with torch.no_grad():
        was_training = model.training
        model.eval()
        device = images.device
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        pairs = torch.zeros(NUM_CLASSES * NUM_CLASSES, dtype=torch.int64, device=device)
        n = images.shape[0]
        ones = torch.ones(min(batch_size, n), dtype=torch.int64, device=device)
        for start in range(0, n, batch_size):
            x = images[start:start + batch_size]
            if x.dtype == torch.uint8:
                x = x.to(torch.float32).div_(255.0)
            y = labels[start:start + batch_size]
            with autocast(device, precision):
                logits = model(x).to(torch.float32)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").to(torch.float64)
            # Accumulated on the device (bincount reads its input's range back every batch).
            pairs.index_add_(0, y * NUM_CLASSES + logits.argmax(1), ones[:y.shape[0]])
        model.train(was_training)
        confusion = pairs.view(NUM_CLASSES, NUM_CLASSES).cpu()
        correct = float(confusion.diagonal().sum().item())
        loss = loss_sum.item() / n if n else 0.0
        return loss, (correct / n if n else 0.0)


def resolve_device(spec):
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cuda" or (spec.startswith("cuda:") and spec[5:].isdigit()):
        if not torch.cuda.is_available():
            fail(f"--device: \"{spec}\" requested but CUDA is not available to this torch; use cpu")
        index = int(spec[5:]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            fail(f"--device: \"{spec}\" requested but only {torch.cuda.device_count()} CUDA device(s) exist")
        return torch.device("cuda", index)
    fail(f"--device: must be auto, cpu, cuda or cuda:N, got \"{spec}\"")


def configure_cuda(tf32):
    """configure_device() (src/data/device.cpp): TF32 in matrix products and convolutions only with
    training.tf32 (PyTorch's own default allows it in cuDNN convolutions), cuDNN autotuning on.
    Returns the flags as torch then reports them."""
    with warnings.catch_warnings():  # newer torch suggests its fp32_precision API instead
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = True
        return {"matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
                "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
                "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)}


def describe_cuda_flags(flags):
    on = {True: "on", False: "off"}
    return (f"cuDNN benchmark {on[flags['cudnn_benchmark']]}, TF32 matmul "
            f"{on[flags['matmul_allow_tf32']]}, TF32 cuDNN {on[flags['cudnn_allow_tf32']]}")


def cpu_has_native_bf16():
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def torch_has_compile():
    try:
        major = int(torch.__version__.split(".", 1)[0])
    except ValueError:
        major = 0
    return major >= 2 and hasattr(torch, "compile")


def parse_args(argv):
    ap = OneLineParser(prog="torch_reference.py",
                       description="Time the phases of a training step and evaluation for a "
                                   "cifar-exp config in Python PyTorch (the twin of cifar-exp bench).")
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("-c", "--config",
                        help="experiment config (JSON), resolved by cifar-exp --print-config "
                             "--keys")
    source.add_argument("--config-json", metavar="FILE",
                        help="a resolved config (cifar-exp --print-config's output, or a run "
                             "folder's config.json), which cifar-exp resolves to itself")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="with --config: set a config key, as cifar-exp --set (repeatable)")
    ap.add_argument("--cifar-exp", metavar="PATH",
                    help="cifar-exp binary that resolves the config (default: "
                         "$CIFAR_EXP_BIN, else the deprecated $CIFAR_EXP, else build/cifar-exp, "
                         "else cifar-exp on PATH)")
    ap.add_argument("--iterations", type=int, default=50, help="timed training steps (default 50)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    ap.add_argument("--format", choices=["table", "json"], default="table")
    ap.add_argument("--threads", type=int, help="CPU threads (default: training.threads; 0 = all cores)")
    ap.add_argument("--data-dir", help="CIFAR-10 binary folder (default: the resolved config's "
                                       "data.dir)")
    ap.add_argument("--precision", help="fp32 | bf16 (default: training.precision)")
    ap.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: training.device)")
    ap.add_argument("--memory-format", choices=["channels_last", "contiguous"],
                    default="channels_last",
                    help="channels_last (default): convolution weights and inputs channels-last "
                         "(small CNN and VGG16 backbone); contiguous: plain NCHW everywhere")
    ap.add_argument("--compile", action="store_true",
                    help="wrap the model with torch.compile (torch >= 2); an extra untimed step "
                         "absorbs the compilation (compile_seconds in the report)")
    args = ap.parse_args(argv)
    if args.compile and not torch_has_compile():
        fail(f"--compile: needs torch >= 2 with torch.compile; this is torch {torch.__version__}")
    if args.set and args.config_json:
        fail("--set: only with --config (a resolved config is used as it is)")
    if args.iterations < 1:
        fail(f"--iterations: must be a positive integer, got {args.iterations}")
    if args.warmup < 0:
        fail(f"--warmup: must be 0 or more, got {args.warmup}")
    if args.threads is not None and args.threads < 0:
        fail(f"--threads (training.threads): must be 0 or more, got {args.threads}")
    if args.precision is not None and args.precision not in ("fp32", "bf16"):
        fail(f"--precision: must be fp32 or bf16, got \"{args.precision}\"")
    return args


# ----------------------------------------------------------------------------------------------
# The benchmark, in the steps of run_benchmark() (src/experiment/benchmark.cpp): the config, threads and
# device (configure: bench_config() and make_run_context()), the data and the model
# (load_data, build_model: make_run_context()), what the timed steps train (bench_inputs: the
# backbone features, timed, where the head trains on them), the training steps (time_training:
# warm_up, time_steps, and on CUDA throughput_window), the evaluation (time_evaluation) and the
# report (bench_report).

clock = time.perf_counter

# The phases of one training step, in order: those before train_step (the whole step, wall).
STEP_PHASES = PHASE_ORDER[:PHASE_ORDER.index("train_step")]


class Bench:
    """What the steps share (RunContext, BenchOptions and Timings of benchmark.cpp): the options,
    the config and what configure() resolved; load_data, build_model and the timed steps add the
    data, the model, timings and compile_seconds."""

    def __init__(self, args, cfg, precision, device, threads, cuda_flags):
        self.args, self.cfg = args, cfg
        self.precision, self.device, self.threads, self.cuda_flags = (precision, device, threads,
                                                                      cuda_flags)
        self.sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        self.steps = args.warmup + args.iterations
        self.eval_steps = max(2, args.iterations // 10)
        self.eval_warmup = EVAL_WARMUP if args.warmup > 0 else 0  # as cifar-exp bench
        # --compile: one extra untimed training step and eval call before the warm-up, whose wall
        # time (the compilation, mostly) is compile_seconds.
        self.compile_steps = 1 if args.compile else 0
        self.compile_seconds = 0.0
        # Static shapes: the batch and the eval batch each specialise.
        self.compile_kw = {"dynamic": False}
        self.timings = {}  # phase: its times in ms, one per timed step or call

    def record(self, phase, seconds):
        self.timings.setdefault(phase, []).append(1000 * seconds)


def configure(args):
    """bench_config() and make_run_context()'s threads and device: the resolved config with the
    command line's overrides, the threads (configure_threads(); one inter-op thread) and the
    device (configure_device()'s CUDA flags)."""
    cfg = Config(*resolved_keys(args))
    precision = args.precision or cfg.precision
    device = resolve_device(args.device or cfg.device)
    requested = cfg.threads if args.threads is None else args.threads
    threads = requested if requested > 0 else max(1, os.cpu_count() or 1)  # configure_threads()
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already started
        pass
    cuda_flags = None
    if device.type == "cuda":
        cuda_flags = configure_cuda(cfg.tf32)
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        note("this CPU has no bfloat16 instructions (avx512_bf16/amx_bf16): bf16 is emulated")
    return Bench(args, cfg, precision, device, threads, cuda_flags)


def load_data(bench):
    """make_run_context()'s data, after seeding (as the C++ side: generated data draws from the
    global generator): the training split (data.train_limit rows) and one eval batch of the test
    split as uint8 images and int64 labels on the device; generated ones of the same shapes
    where the files are not there (data_kind)."""
    cfg, args = bench.cfg, bench.args
    torch.manual_seed(cfg.seed)
    root = args.data_dir or cfg.data_dir
    try:
        check_data_files(root)
        train_images, train_labels = read_split(root, True, cfg.train_limit)
        test_images, test_labels = read_split(root, False, cfg.eval_batch_size)
        bench.data_kind = "real"
    except (OSError, ValueError) as e:
        note(f"{e}; timing on generated data")
        bench.data_kind = "generated"
        n = max(cfg.batch_size * bench.steps, 1024)
        train_images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
        train_labels = torch.randint(0, NUM_CLASSES, (n,), dtype=torch.int64)
        test_images = torch.randint(0, 256, (cfg.eval_batch_size, 3, 32, 32), dtype=torch.uint8)
        test_labels = torch.randint(0, NUM_CLASSES, (cfg.eval_batch_size,), dtype=torch.int64)
    device = bench.device
    bench.train_images, bench.train_labels = train_images.to(device), train_labels.to(device)
    bench.test_images, bench.test_labels = test_images.to(device), test_labels.to(device)


def build_model(bench):
    """make_run_context()'s model on the device (the backbone's weights loaded where the config
    names torchvision ones: weights_note), a frozen backbone's bf16 copy made once for bf16."""
    cfg = bench.cfg
    weights_note = None
    channels_last = bench.args.memory_format == "channels_last"
    if cfg.model_type == "small_cnn":
        model = SmallCnn(channels_last)
    else:
        model = Vgg16Transfer(cfg, channels_last)
        weights_note = load_backbone_weights(model.backbone, cfg)
    model.to(bench.device)
    if bench.precision == "bf16" and cfg.model_type == "vgg16_transfer" and model.backbone_frozen():
        model.cast_frozen_backbone()
    bench.model, bench.weights_note = model, weights_note


class BenchInputs:
    """What the timed steps train (BenchInputs of benchmark.cpp): `trained` (the whole model, or
    the head where it trains on cached features; torch.compile's wrapper with --compile), its
    parameters that train, its training inputs and labels, the eval batch's inputs; `cached`:
    whether the inputs are backbone features."""

    def __init__(self, trained, train, train_labels, eval_inputs, cached):
        self.trained, self.train, self.train_labels, self.eval = (trained, train, train_labels,
                                                                  eval_inputs)
        self.cached = cached
        self.trainable = None


def bench_inputs(bench):
    """bench_inputs(): the model on images, or, for a frozen VGG16 without augmentation, its head
    on backbone features computed once (that backbone pass timed as phase "features", over one
    eval batch; the features copied over the rows the steps visit)."""
    cfg, args, model = bench.cfg, bench.args, bench.model
    cached = (cfg.model_type == "vgg16_transfer" and model.backbone_frozen()
              and not cfg.aug_enabled)
    inputs = BenchInputs(model, bench.train_images, bench.train_labels, bench.test_images, cached)
    if cached:
        model.eval()
        backbone_fn = None
        if args.compile:
            backbone_fn = torch.compile(model.backbone, **bench.compile_kw)
        for i in range(bench.compile_steps + bench.eval_warmup + bench.eval_steps):
            start = clock()
            inputs.eval = compute_features(model, bench.test_images, cfg.eval_batch_size,
                                           bench.precision, backbone_fn)
            bench.sync()
            if i < bench.compile_steps:
                bench.compile_seconds += clock() - start
            elif i >= bench.compile_steps + bench.eval_warmup:
                bench.record("features", clock() - start)
        # Features for the rows the timed steps visit (the values do not change the cost).
        rows = min(bench.train_images.shape[0],
                   cfg.batch_size * (bench.compile_steps + bench.steps))
        features = torch.empty(rows, inputs.eval.shape[1], dtype=inputs.eval.dtype,
                               device=bench.device)
        for start in range(0, rows, inputs.eval.shape[0]):
            count = min(inputs.eval.shape[0], rows - start)
            features[start:start + count].copy_(inputs.eval[:count])
        inputs.train = features
        inputs.train_labels = bench.train_labels[:rows]
        inputs.trained = model.head
    inputs.trainable = [p for p in inputs.trained.parameters() if p.requires_grad]
    if args.compile:
        inputs.trained = torch.compile(inputs.trained, **bench.compile_kw)
    return inputs


class TrainStep:
    """fit()'s train_step() (src/training/fit.cpp) on shuffled whole batches (EpochIterator): Adam with
    the config's lr, betas and epsilon, the augmenter (with augmentation.enabled), the running
    loss and accuracy on the device. Calling it runs one step, barrier() between phases (sync, or
    nothing), and returns the clock at the start and after each of STEP_PHASES."""

    def __init__(self, bench, inputs):
        cfg, device = bench.cfg, bench.device
        self.bench, self.inputs = bench, inputs
        self.optimizer = torch.optim.Adam(inputs.trainable, lr=cfg.learning_rate,
                                          betas=(cfg.beta1, cfg.beta2), eps=cfg.epsilon)
        self.augmenter = Augmenter(cfg, cfg.seed) if cfg.aug_enabled else None
        inputs.trained.train()
        self.n = inputs.train.shape[0]
        self.order = torch.randperm(self.n, dtype=torch.int64).to(device)
        self.position = 0
        self.loss_sum = torch.zeros((), dtype=torch.float32, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)

    def __call__(self, barrier):
        batch_size, device, inputs = self.bench.cfg.batch_size, self.bench.device, self.inputs
        if self.position + batch_size > self.n:
            self.order = torch.randperm(self.n, dtype=torch.int64).to(device)
            self.position = 0
        count = min(batch_size, self.n)
        t0 = clock()
        indices = self.order[self.position:self.position + count]
        self.position += count
        x = inputs.train.index_select(0, indices)
        if x.dtype == torch.uint8:  # gather_inputs() / to_float_batch()
            x = x.to(torch.float32).div_(255.0)
        y = inputs.train_labels.index_select(0, indices)
        barrier()
        t1 = clock()
        if self.augmenter is not None:
            x = self.augmenter(x)
        barrier()
        t2 = clock()
        self.optimizer.zero_grad()
        with autocast(device, self.bench.precision):
            logits = inputs.trained(x)
        loss = F.cross_entropy(logits.to(torch.float32), y)
        barrier()
        t3 = clock()
        loss.backward()
        barrier()
        t4 = clock()
        self.optimizer.step()
        barrier()
        t5 = clock()
        with torch.no_grad():
            self.loss_sum.add_(loss.detach() * float(count))
            self.correct.add_(logits.argmax(1).eq(y).sum())
        if device.type == "cpu":
            loss.item()  # fit()'s divergence check
        barrier()
        t6 = clock()
        return (t0, t1, t2, t3, t4, t5, t6)


def warm_up(bench, step):
    """The untimed steps: with --compile first the compilation step (its wall time added to
    compile_seconds), then --warmup steps."""
    for i in range(bench.compile_steps + bench.args.warmup):
        marks = step(bench.sync)
        if i < bench.compile_steps:
            bench.compile_seconds += marks[-1] - marks[0]


def time_steps(bench, step):
    """The --iterations timed steps, each phase synchronised (augment only with an augmenter),
    and the whole step as train_step."""
    for _ in range(bench.args.iterations):
        marks = step(bench.sync)
        for k, name in enumerate(STEP_PHASES):
            if name == "augment" and step.augmenter is None:
                continue
            bench.record(name, marks[k + 1] - marks[k])
        bench.record("train_step", marks[-1] - marks[0])


def throughput_window(bench, step):
    """On CUDA the phases above each wait for the GPU: the throughput comes from `iterations`
    further steps timed between two synchronisations only, as cifar-exp bench does. Returns
    (steps, ms), or None on the CPU (nothing queued there: the timed steps are back to back)."""
    if bench.device.type != "cuda":
        return None
    bench.sync()
    start = clock()
    for _ in range(bench.args.iterations):
        step(lambda: None)
    bench.sync()
    return (bench.args.iterations, 1000 * (clock() - start))


def time_training(bench, inputs):
    """time_training(): the warm-up, the timed steps phase by phase, and on CUDA the throughput
    window, which it returns (None on the CPU)."""
    cfg, args = bench.cfg, bench.args
    step = TrainStep(bench, inputs)
    cuda_flags = bench.cuda_flags
    note(f"timing {args.warmup} warm-up and {args.iterations} training steps of batch "
         f"{cfg.batch_size} ({cfg.name}, {bench.threads} threads, {bench.device}, "
         f"{bench.precision}, {args.memory_format}{', torch.compile' if args.compile else ''}"
         f"{', ' + describe_cuda_flags(cuda_flags) if cuda_flags else ''})")
    warm_up(bench, step)
    time_steps(bench, step)
    return throughput_window(bench, step)


def time_evaluation(bench, inputs):
    """time_evaluation(): cifar_exp::evaluate over one eval batch (the head on features for the
    cached path), after the compile call and the eval warm-up. Returns the batch's size."""
    cfg = bench.cfg
    eval_count = min(cfg.eval_batch_size, bench.test_labels.shape[0])
    eval_labels = bench.test_labels[:eval_count]
    eval_batch = inputs.eval[:eval_count]
    for i in range(bench.compile_steps + bench.eval_warmup + bench.eval_steps):
        start = clock()
        evaluate(inputs.trained, eval_batch, eval_labels, cfg.eval_batch_size, bench.precision)
        bench.sync()
        if i < bench.compile_steps:
            bench.compile_seconds += clock() - start
        elif i >= bench.compile_steps + bench.eval_warmup:
            bench.record("eval", clock() - start)
    return eval_count


def bench_report(bench, inputs, window, eval_count):
    """bench_report(): the phase statistics, the throughputs and what ran, as the JSON report
    (the shape bench/compare.sh reads, as cifar-exp's)."""
    cfg, args = bench.cfg, bench.args
    phases = {name: phase_stats(bench.timings[name]) for name in PHASE_ORDER
              if name in bench.timings}
    step_ms = window[1] / window[0] if window else phases["train_step"]["mean_ms"]
    report = {
        "tool": "torch-python",
        "config": cfg.name,
        "model": cfg.model_type,
        "augmentation": cfg.aug_enabled,
        "batch_size": cfg.batch_size,
        "eval_batch_size": int(eval_count),
        "threads": torch.get_num_threads(),
        "device": str(bench.device),
        "precision": bench.precision,
        "torch_version": torch.__version__,
        "memory_format": args.memory_format,
        "compile": bool(args.compile),
        "iterations": args.iterations,
        "warmup": args.warmup,
        "eval_warmup": bench.eval_warmup,
        "data": bench.data_kind,
        # PyTorch's own convolutions (direct), as cifar-exp bench's "libtorch".
        "convolution": "libtorch",
        # The glibc allocator variables this process started with ({}: glibc's defaults).
        "allocator": allocator_setting(),
        "phases": phases,
        "train_images_per_second": cfg.batch_size / (step_ms / 1000.0),
        "eval_images_per_second": eval_count / (phases["eval"]["mean_ms"] / 1000.0),
        "cpu": cpu_model(),
    }
    if bench.cuda_flags:
        report["cuda_flags"] = bench.cuda_flags
    if window:
        report["phase_timing"] = "synchronised per phase"
        report["train_throughput"] = {"steps": window[0], "total_ms": window[1], "step_ms": step_ms,
                                      "timing": "consecutive steps between two synchronisations"}
    if args.compile:
        report["compile_seconds"] = bench.compile_seconds
    if inputs.cached:
        report["features_images_per_second"] = (
            bench.test_images.shape[0] / (phases["features"]["mean_ms"] / 1000.0))
        report["note"] = ("frozen backbone without augmentation: the head trains on features "
                          "computed once (phase features = backbone over one eval batch)")
    weights_note = bench.weights_note
    if weights_note and weights_note != "random" and weights_note != cfg.weights:
        report["weights"] = weights_note
    return report


def run(args):
    """The benchmark of the parsed options, as the JSON report (run_benchmark())."""
    bench = configure(args)
    load_data(bench)
    build_model(bench)
    inputs = bench_inputs(bench)
    window = time_training(bench, inputs)
    eval_count = time_evaluation(bench, inputs)
    return bench_report(bench, inputs, window, eval_count)


def format_table(r):
    lines = [
        f"torch-python reference: {r['config']} ({r['model']}, "
        f"{'augmentation' if r['augmentation'] else 'no augmentation'}), {r['device']}, "
        f"{r['threads']} threads, {r['precision']}, torch {r['torch_version']}, {r['data']} data",
        f"memory format {r['memory_format']}, "
        + (f"torch.compile (compilation {r['compile_seconds']:.1f} s, untimed)" if r["compile"]
           else "eager (no torch.compile)"),
        f"CPU: {r['cpu']}",
        f"batch {r['batch_size']}, {r['warmup']} warm-up + {r['iterations']} timed steps; "
        f"eval batch {r['eval_batch_size']} ({r['eval_warmup']} untimed calls first)",
        f"allocator: {describe_allocator(r['allocator'])}; convolutions: direct (libtorch)",
    ]
    if "weights" in r:
        lines.append(f"weights: {r['weights']}")
    if "cuda_flags" in r:
        lines.append(f"CUDA: {describe_cuda_flags(r['cuda_flags'])}")
    if "train_throughput" in r:
        lines.append(f"phases synchronised per phase (each waits for the GPU); training images/s "
                     f"from {r['train_throughput']['steps']} more consecutive steps between two "
                     "synchronisations")
    lines.append("")
    lines += phase_table(r["phases"])
    tail = (f"\ntraining: {r['train_images_per_second']:.0f} images/s, "
            f"evaluation: {r['eval_images_per_second']:.0f} images/s")
    if "features_images_per_second" in r:
        tail += f", backbone features: {r['features_images_per_second']:.0f} images/s"
    lines.append(tail)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run_tool(TOOL, lambda: reference_main(parse_args, run, format_table))

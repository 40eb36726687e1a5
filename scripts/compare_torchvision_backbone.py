#!/usr/bin/env python3
"""Checks cifar-exp's VGG16 backbone against torchvision's vgg16().features on the same weights.

Needs Python 3 with PyTorch, torchvision and numpy, e.g. Debian's
  apt-get install python3-torch python3-torchvision python3-numpy   (then run with /usr/bin/python3)
and a built cifar-exp. Works offline: the weights are torchvision's random initialisation,
exported with scripts/export_torchvision_vgg16.py --no-pretrained.

  /usr/bin/python3 scripts/compare_torchvision_backbone.py --data-dir DIR [--count 200]

It runs `cifar-exp extract-features` on the first COUNT test images (ImageNet preprocessing, as
torchvision weights expect), runs torchvision's features on the same images, and prints the
maximum absolute difference of the un-normalised outputs. Exit status 1 when it is 1e-3 or more.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="CIFAR-10 binary folder")
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "cifar-exp"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "vgg16_features.pth")
        subprocess.run([sys.executable, os.path.join(HERE, "export_torchvision_vgg16.py"), weights,
                        "--no-pretrained"], check=True)
        config = os.path.join(tmp, "tv.json")
        with open(config, "w") as f:
            json.dump({"name": "tv_check", "model": {"type": "vgg16_transfer", "weights": weights,
                                                     "weights_format": "torchvision",
                                                     "preprocess": "imagenet"},
                       "training": {"device": "cpu"}}, f)
        out = os.path.join(tmp, "features.npy")
        subprocess.run([args.binary, "extract-features", "--config", config, "--data-dir",
                        args.data_dir, "--split", "test", "--limit", str(args.count), "--out", out],
                       check=True)
        ours = np.load(out)

        raw = np.fromfile(os.path.join(args.data_dir, "test_batch.bin"), dtype=np.uint8)
        records = raw.reshape(-1, 3073)[: args.count]
        images = torch.from_numpy(records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        model = torchvision.models.vgg16()
        state = torch.load(weights)
        model.features.load_state_dict({k[len("features."):]: v for k, v in state.items()})
        model.eval()
        with torch.no_grad():
            theirs = model.features((images - mean) / std).flatten(1).numpy()

    diff = float(np.abs(ours - theirs).max())
    print(f"images: {len(ours)}, features: {ours.shape[1]}, output range "
          f"[{theirs.min():.4g}, {theirs.max():.4g}], max abs difference: {diff:.3g}")
    return 0 if diff < args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())

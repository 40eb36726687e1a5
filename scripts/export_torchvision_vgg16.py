#!/usr/bin/env python3
"""Exports the VGG16 backbone of torchvision for cifar-exp (model.weights_format "torchvision").

Needs Python 3 with PyTorch and torchvision, e.g. Debian's python3-torch and python3-torchvision
(apt-get install python3-torch python3-torchvision, then run with /usr/bin/python3), or any pip
install of torch >= 1.6 with torchvision.

Usage:
  export_torchvision_vgg16.py OUT [--no-pretrained] [--seed N]

Writes the 26 `features.*` tensors of torchvision.models.vgg16 (13 convs: features.0, 2, 5, 7,
10, 12, 14, 17, 19, 21, 24, 26, 28, each .weight out x in x 3 x 3 and .bias, float32) to OUT:
  - ImageNet-pretrained weights by default (torchvision downloads them once to its cache; needs
    internet the first time);
  - random initialisation with --no-pretrained (works offline; for tests and timing).

File format: a plain Python dict {"features.0.weight": tensor, ...} of detached, contiguous CPU
tensors, saved with torch.save in its default zip format. That is the one format libtorch's
torch::pickle_load (used by cifar-exp, libtorch 1.13 and 2.x) reads: it cannot read the legacy
format (_use_new_zipfile_serialization=False), an OrderedDict (what state_dict() returns) or
nn.Parameter values, so the script converts to exactly this.
"""
import argparse
import sys

import torch
import torchvision

# torchvision vgg16().features indices of the 13 convolutions (the others are ReLU / MaxPool).
CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def build_vgg16(pretrained):
    try:  # torchvision >= 0.13
        weights = torchvision.models.VGG16_Weights.IMAGENET1K_V1 if pretrained else None
        return torchvision.models.vgg16(weights=weights)
    except AttributeError:  # older torchvision
        return torchvision.models.vgg16(pretrained=pretrained)


def main():
    parser = argparse.ArgumentParser(
        description="Export torchvision's VGG16 conv backbone as a plain dict for cifar-exp.")
    parser.add_argument("out", help="output file, e.g. weights/vgg16_torchvision_features.pt")
    parser.add_argument("--no-pretrained", action="store_true",
                        help="random initialisation instead of ImageNet weights (offline)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --no-pretrained")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    try:
        model = build_vgg16(pretrained=not args.no_pretrained)
    except Exception as e:  # download failures and the like
        sys.exit("export_torchvision_vgg16: cannot build vgg16 (%s); without internet use "
                 "--no-pretrained" % e)

    tensors = {}
    for index in CONV_INDICES:
        conv = model.features[index]
        assert isinstance(conv, torch.nn.Conv2d), (index, conv)
        tensors["features.%d.weight" % index] = conv.weight.detach().float().cpu().contiguous()
        tensors["features.%d.bias" % index] = conv.bias.detach().float().cpu().contiguous()
    # Exactly the conv tensors of the state dict, under their state_dict names.
    state = model.state_dict()
    assert set(k for k in state if k.startswith("features.")) == set(tensors), sorted(state)

    torch.save(dict(tensors), args.out)  # default (zip) format: see the docstring
    count = sum(t.numel() for t in tensors.values())
    print("export_torchvision_vgg16: wrote %d tensors (%d parameters, %s) to %s"
          % (len(tensors), count, "random init" if args.no_pretrained else "ImageNet", args.out))


if __name__ == "__main__":
    main()

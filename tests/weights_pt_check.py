"""weights.pt in plain PyTorch: a run's portable weights load with torch.load(weights_only=True)
into the equivalent PyTorch modules (as docs/install-evaluate-predict.md documents them) and
give the logits cifar-exp gives for the same images.

    weights_pt_check.py CIFAR_EXP RUN_DIR IMAGE.png...

Needs torch (Debian's python3-torch or the project's .venv) and PIL (python3-pil); exits 77
(what CTest counts as skipped) when they are missing.
"""
import json
import subprocess
import sys

try:
    import numpy as np
    import torch
    from PIL import Image
    from torch import nn
except ImportError as e:  # noqa: F841
    print(f"weights_pt_check: skipped: needs torch, numpy and PIL ({e})")
    sys.exit(77)


class SmallCnn(nn.Module):
    """The notebook's small CNN, as cifar-exp's small_cnn (weights.pt names)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.dense1 = nn.Linear(64 * 4 * 4, 64)
        self.dense2 = nn.Linear(64, 10)

    def forward(self, x):  # x: N x 3 x 32 x 32 RGB in [0, 1]
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.conv3(x))
        return self.dense2(torch.relu(self.dense1(x.flatten(1))))


class Vgg16Transfer(nn.Module):
    """cifar-exp's vgg16_transfer at input_size 32 with "caffe" preprocessing."""

    BLOCKS = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]

    def __init__(self, hidden_units=256):
        super().__init__()
        self.backbone = nn.Module()
        channels = 3
        for b, widths in enumerate(self.BLOCKS, 1):
            for c, width in enumerate(widths, 1):
                setattr(self.backbone, f"block{b}_conv{c}", nn.Conv2d(channels, width, 3, padding=1))
                channels = width
        self.head = nn.Module()
        self.head.hidden = nn.Linear(512, hidden_units)
        self.head.output = nn.Linear(hidden_units, 10)

    def forward(self, x):
        mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
        x = x.flip(1) * 255.0 - mean  # RGB -> BGR, 0-255, minus the ImageNet means
        for b, widths in enumerate(self.BLOCKS, 1):
            for c in range(1, len(widths) + 1):
                x = torch.relu(getattr(self.backbone, f"block{b}_conv{c}")(x))
            x = torch.max_pool2d(x, 2)
        return self.head.output(torch.relu(self.head.hidden(x.flatten(1))))


def main():
    binary, run_dir, images = sys.argv[1], sys.argv[2], sys.argv[3:]
    config = json.load(open(f"{run_dir}/config.json"))
    model_type = config["model"]["type"]
    model = SmallCnn() if model_type == "small_cnn" else Vgg16Transfer(config["model"]["hidden_units"])
    state = torch.load(f"{run_dir}/weights.pt", weights_only=True)
    model.load_state_dict(state)  # strict: every name and shape must match
    model.eval()
    out = subprocess.run([binary, "predict", run_dir, *images, "--format", "json", "--top", "1"],
                         check=True, capture_output=True, text=True).stdout
    expected = torch.tensor([r["logits"] for r in json.loads(out)])
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in images])
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        logits = model(x)
    difference = (logits - expected).abs().max().item()
    print(f"weights_pt_check: {model_type}: {len(state)} tensors, {len(images)} images, "
          f"max |logit difference| {difference:.2e}")
    if difference > 1e-4:
        print("weights_pt_check: FAIL: logits differ by more than 1e-4")
        sys.exit(1)


if __name__ == "__main__":
    main()

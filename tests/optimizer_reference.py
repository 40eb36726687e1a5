"""Each optimizer cifar-exp offers (training.optimizer and its keys) against PyTorch's own
torch.optim, step for step: the same parameters and 50 steps of the same gradients through
cifar-exp's make_optimizer (the optimizer_steps tool) and through torch.optim with the settings
README documents for the config; every parameter must agree within 1e-6.

    optimizer_reference.py OPTIMIZER_STEPS

Needs torch for /usr/bin/python3 (Debian's python3-torch); without it prints "SKIP: ..." and
exits 77 (the CTest's SKIP_RETURN_CODE).
"""
import json
import subprocess
import sys

try:
    import torch
except ImportError as e:
    print(f"SKIP: needs torch (Debian: apt-get install python3-torch): {e}")
    sys.exit(77)

STEPS = 50
TOLERANCE = 1e-6
SHAPES = [(16, 8), (8,), (4, 3, 3, 3)]

# (config keys, the torch.optim optimizer those keys stand for).
CASES = [
    ({"optimizer": "adam"},
     lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)),
    ({"optimizer": "adam", "learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-8},
     lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-8)),
    ({"optimizer": "adamw"},
     lambda p: torch.optim.AdamW(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.01)),
    ({"optimizer": "adamw", "learning_rate": 0.01, "weight_decay": 0.1},
     lambda p: torch.optim.AdamW(p, lr=0.01, eps=1e-7, weight_decay=0.1)),
    ({"optimizer": "sgd", "learning_rate": 0.1},
     lambda p: torch.optim.SGD(p, lr=0.1)),
    ({"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9},
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    ({"optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True,
      "weight_decay": 5e-4},
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)),
    ({"optimizer": "rmsprop"},
     lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-7)),
    ({"optimizer": "rmsprop", "learning_rate": 0.01, "rho": 0.95, "momentum": 0.5,
      "epsilon": 1e-6},
     lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.95, eps=1e-6, momentum=0.5)),
]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: optimizer_reference.py OPTIMIZER_STEPS")
    tool = sys.argv[1]
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(s, generator=generator) for s in SHAPES]
    grads = [[torch.randn(s, generator=generator) * 0.1 for s in SHAPES] for _ in range(STEPS)]
    problems = []
    for keys, make in CASES:
        params = [p.clone().requires_grad_(True) for p in start]
        optimizer = make(params)
        for step in grads:
            for p, g in zip(params, step):
                p.grad = g.clone()
            optimizer.step()
        spec = {"training": keys,
                "params": [p.flatten().tolist() for p in start],
                "grads": [[g.flatten().tolist() for g in step] for step in grads]}
        out = subprocess.run([tool], input=json.dumps(spec), capture_output=True, text=True)
        if out.returncode != 0:
            problems.append(f"{keys}: optimizer_steps exited {out.returncode}: {out.stderr.strip()}")
            continue
        ours = json.loads(out.stdout)["params"]
        worst = max(float((torch.tensor(o) - p.detach().flatten()).abs().max())
                    for o, p in zip(ours, params))
        moved = min(float((p.detach() - s).abs().max()) for p, s in zip(params, start))
        print(f"{json.dumps(keys)}: max |cifar-exp - torch.optim| = {worst:.2e} after {STEPS} "
              f"steps (parameters moved by up to {moved:.3f})")
        if not worst <= TOLERANCE:
            problems.append(f"{keys}: differs from torch.optim by {worst:.2e} > {TOLERANCE}")
        if moved < 1e-3:
            problems.append(f"{keys}: the parameters hardly moved ({moved:.2e}): not a test")
    for problem in problems:
        print("FAIL: " + problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

"""Each optimizer and learning-rate schedule cifar-exp offers (training.optimizer,
training.lr_schedule and their keys) against PyTorch's own torch.optim and
torch.optim.lr_scheduler, step for step: the same parameters and 50 steps (10 epochs of 5) of the
same gradients through cifar-exp's make_optimizer and scheduled_rate (the optimizer_steps tool)
and through PyTorch with the settings docs/configuration.md documents for the config; every
step's rate must agree within 1e-9 (relative) and every parameter within 1e-6 at the end.

    optimizer_reference.py OPTIMIZER_STEPS

Needs torch for /usr/bin/python3 (Debian's python3-torch); without it prints "SKIP: ..." and
exits 77 (the CTest's SKIP_RETURN_CODE).
"""
import json
import math
import subprocess
import sys

try:
    import torch
except ImportError as e:
    print(f"SKIP: needs torch (Debian: apt-get install python3-torch): {e}")
    sys.exit(77)

STEPS = 50
STEPS_PER_EPOCH = 5
TOLERANCE = 1e-6
SHAPES = [(16, 8), (8,), (4, 3, 3, 3)]

# (config keys, the torch.optim optimizer those keys stand for[, the scheduler, and whether it
# steps after each "batch" or each "epoch"]).
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
    ({"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "epochs": 10,
      "lr_schedule": "step", "lr_step_epochs": 3, "lr_gamma": 0.5},
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), "epoch"),
    ({"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "epochs": 10,
      "lr_schedule": "cosine", "lr_min": 0.001},
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS, eta_min=0.001),
     "batch"),
    ({"optimizer": "adamw", "learning_rate": 0.01, "epochs": 10, "lr_schedule": "cosine",
      "lr_warmup_epochs": 2},
     lambda p: torch.optim.AdamW(p, lr=0.01, eps=1e-7, weight_decay=0.01),
     lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: warmup_cosine(t, 2 * STEPS_PER_EPOCH)),
     "batch"),
    ({"optimizer": "adam", "learning_rate": 0.01, "epochs": 10, "lr_schedule": "onecycle",
      "lr_pct_start": 0.25},
     lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-7),
     lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.01, total_steps=STEPS,
                                                   pct_start=0.25, cycle_momentum=False),
     "batch"),
]


def warmup_cosine(t, warmup):
    """docs/configuration.md's cosine with linear warm-up (lr_min 0), as a factor of the base
    rate."""
    if t < warmup:
        return (t + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (t - warmup) / (STEPS - warmup)))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: optimizer_reference.py OPTIMIZER_STEPS")
    tool = sys.argv[1]
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(s, generator=generator) for s in SHAPES]
    grads = [[torch.randn(s, generator=generator) * 0.1 for s in SHAPES] for _ in range(STEPS)]
    problems = []
    for keys, make, *schedule in CASES:
        params = [p.clone().requires_grad_(True) for p in start]
        optimizer = make(params)
        scheduler = schedule[0](optimizer) if schedule else None
        rates = []
        for i, step in enumerate(grads):
            rates.append(optimizer.param_groups[0]["lr"])
            for p, g in zip(params, step):
                p.grad = g.clone()
            optimizer.step()
            if scheduler and (schedule[1] == "batch" or (i + 1) % STEPS_PER_EPOCH == 0):
                scheduler.step()
        spec = {"training": keys, "steps_per_epoch": STEPS_PER_EPOCH,
                "params": [p.flatten().tolist() for p in start],
                "grads": [[g.flatten().tolist() for g in step] for step in grads]}
        out = subprocess.run([tool], input=json.dumps(spec), capture_output=True, text=True)
        if out.returncode != 0:
            problems.append(f"{keys}: optimizer_steps exited {out.returncode}: {out.stderr.strip()}")
            continue
        result = json.loads(out.stdout)
        ours = result["params"]
        rate_error = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(result["rates"], rates))
        if not rate_error <= 1e-9:
            problems.append(f"{keys}: rates differ from PyTorch's by up to {rate_error:.2e} "
                            f"(ours {result['rates'][:12]}..., PyTorch's {rates[:12]}...)")
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

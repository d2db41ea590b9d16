"""Does the CAM head stay alive? Train briefly on the CPU and print, every 25 steps, the mean
loss, the fraction of the head's conv1/conv2 channels that fire anywhere in the batch, and the
logits' spread across images (TRAINING_NOTES.md §11: AdamW at 1e-3 kills the head).

    python benchmarks/head_probe.py --data .data/nih --lr 1e-3 --steps 200
    python benchmarks/head_probe.py --data .data/nih --lr 2e-4 --steps 200 --set model.overrides.fpm=true
"""

from __future__ import annotations

import argparse

import torch

from sr_core.data.normalization import IMAGENET_MEAN, IMAGENET_STD
from sr_core.models import create_model
from sr_core.train.config import load_config
from sr_core.train.data import build_train_loader
from sr_core.train.optim import build_optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="NIH-layout folder")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config("nih-nano", [f"optim.lr={args.lr}", "data.input_size=64", "data.workers=0",
                                   "train.batch_size=32", "model.overrides.fpm=false", *args.set])
    loader, sampler, _ = build_train_loader(cfg, args.data, IMAGENET_MEAN, IMAGENET_STD, 0, 1, False)
    torch.manual_seed(0)
    model = create_model(cfg.model.name, num_classes=8, **cfg.model.overrides)
    optimizer = build_optimizer(model, cfg.optim)
    acts = {}
    for name in ("conv1", "conv2"):
        getattr(model.cam, name).register_forward_hook(lambda m, i, o, name=name: acts.__setitem__(name, o.detach()))
    step, losses, epoch = 0, [], 0
    while step < args.steps:
        sampler.set_epoch(epoch)
        epoch += 1
        for images, labels in loader:
            out = model(images, labels)
            optimizer.zero_grad()
            out["losses"]["total"].backward()
            optimizer.step()
            losses.append(out["losses"]["total"].item())
            step += 1
            if step % 25 == 0:
                alive = {k: (v > 0).float().amax(dim=(0, 2, 3)).mean().item() for k, v in acts.items()}
                spread = out["logits"].detach().std(0).mean().item()
                print(f"lr {args.lr:g} step {step}: loss {sum(losses[-25:]) / 25:.4f}, alive conv1 "
                      f"{alive['conv1']:.3f} conv2 {alive['conv2']:.3f}, logit std across images {spread:.4f}",
                      flush=True)
            if step >= args.steps:
                break


if __name__ == "__main__":
    main()

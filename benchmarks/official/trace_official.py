#!/usr/bin/env python3
"""Trace the official PyTorch models into TorchScript for the side-by-side benchmark.

Usage (Debian python3-torch, run outside the repository's code; the official code is imported, not copied):

    /usr/bin/python3 benchmarks/official/trace_official.py OFFICIAL_ROOT OUT_DIR \
        [--models restormer nafnet mprnet darcot-small darcot] [--sizes 128 256] [--seed 0]

OFFICIAL_ROOT holds one checkout (or `git archive`) of each official repository, found by name:
a folder whose name ends in `Restormer` (swz30/Restormer), `NAFNet` (megvii-research/NAFNet),
`MPRNet` (swz30/MPRNet) and `DA-RCOT` (xl-tang3/DA-RCOT). Override one with --repo NAME=PATH.

For each model the script
  * builds the official network with the benchmark configuration (official constructor arguments),
  * gives it deterministic weights (default init plus seeded noise on every tensor, so LayerNorm weights,
    NAFNet's zero-initialised beta/gamma and attention temperatures all matter),
  * saves them as `<model>/weights.pth` = torch.save({container_key: state_dict}) -- the official checkpoint
    container that the C# loaders read, so both sides run the SAME weights,
  * traces the forward at every size with torch.jit.trace (eval, no_grad) and torch.jit.save()s it as
    `<model>/traced_<size>.pt`,
  * saves `<model>/io_<size>.pth` = {"input": x, "output": y} for one fixed input (y: the official output
    image; MPRNet: the final stage, DA-RCOT: the restored image),
  * writes `manifest.json` (our factory arch name, config JSON, container key, sizes).
"""

import argparse
import importlib
import importlib.util
import json
import os
import sys
import time
import types

import torch

# name -> (repo suffix, file inside the repo, class, official config, container key, our factory arch)
MODELS = {
    "restormer": ("Restormer", "basicsr/models/archs/restormer_arch.py", "Restormer", {}, "params", "restormer"),
    "nafnet": ("NAFNet", "basicsr/models/archs/NAFNet_arch.py", "NAFNet",
               {"width": 32, "enc_blk_nums": [1, 1, 1, 28], "middle_blk_num": 1, "dec_blk_nums": [1, 1, 1, 1]},
               "params", "nafnet"),
    "mprnet": ("MPRNet", "Deblurring/MPRNet.py", "MPRNet", {}, "state_dict", "mprnet"),
    # the parity case darcot_mrcnet_small, and the default MRCNet as DA-RCOT uses it (decoder=True)
    "darcot-small": ("DA-RCOT", "model_res.py", "MRCNet",
                     {"dim": 48, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1, "decoder": True},
                     "Tnet", "darcot"),
    "darcot": ("DA-RCOT", "model_res.py", "MRCNet", {"decoder": True}, "Tnet", "darcot"),
}


def find_repo(root, suffix, overrides):
    if suffix in overrides:
        return overrides[suffix]
    hits = sorted(d for d in os.listdir(root) if d.endswith(suffix) and os.path.isdir(os.path.join(root, d)))
    if not hits:
        sys.exit(f"no folder ending in '{suffix}' under {root}; pass --repo {suffix}=PATH")
    return os.path.join(root, hits[0])


def stub_module(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules.setdefault(name, module)
    return sys.modules[name]


def load_class(repo, rel_file, cls):
    path = os.path.join(repo, rel_file)
    if rel_file.startswith("basicsr/"):
        # NAFNet's arch file imports its siblings as basicsr.models.archs.*; the package __init__ files pull in the
        # whole training framework (cv2, lmdb, ...). Register bare packages pointing at the folders instead, and the
        # one helper arch_util takes from basicsr.utils.
        import logging
        # Restormer and NAFNet both have a basicsr package: forget the previous repository's.
        for loaded in [m for m in sys.modules if m == "basicsr" or m.startswith("basicsr.")]:
            del sys.modules[loaded]
        for pkg in ("basicsr", "basicsr.models", "basicsr.models.archs"):
            stub_module(pkg, __path__=[os.path.join(repo, *pkg.split("."))])
        stub_module("basicsr.utils", get_root_logger=lambda *a, **k: logging.getLogger("basicsr"))
        module = importlib.import_module(rel_file[:-3].replace("/", "."))
        for loaded in [m for m in sys.modules if m.startswith("basicsr.models.archs.")]:
            inline_autograd_functions(sys.modules[loaded])
    else:
        # DA-RCOT imports torchvision only for a save_image that the forward pass does not call.
        stub_module("torchvision")
        stub_module("torchvision.utils", save_image=lambda *a, **k: None)
        spec = importlib.util.spec_from_file_location("official_" + cls.lower(), path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return getattr(module, cls)


def inline_autograd_functions(module):
    """torch.jit.trace cannot export a Python autograd.Function (NAFNet's LayerNorm2d calls LayerNormFunction.apply).
    For inference only the forward matters: make apply() run the official forward directly on plain tensors, so the
    tracer records exactly its operations."""
    class Ctx:
        def save_for_backward(self, *tensors):
            pass
    for value in list(vars(module).values()):
        if isinstance(value, type) and issubclass(value, torch.autograd.Function) and value is not torch.autograd.Function:
            value.apply = staticmethod(lambda *a, _f=value.forward: _f(Ctx(), *a))


def perturb_(model, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            scale = 0.1 * float(t.std()) if t.numel() > 1 and float(t.std()) > 0 else 0.1
            t.add_(torch.randn(t.shape, generator=gen) * scale)


def first(y):
    return y[0] if isinstance(y, (tuple, list)) else y


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("official_root")
    ap.add_argument("out_dir")
    ap.add_argument("--models", nargs="+", default=["restormer", "nafnet", "mprnet", "darcot-small"],
                    choices=sorted(MODELS))
    ap.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repo", action="append", default=[], help="SUFFIX=PATH, e.g. Restormer=/src/Restormer")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    overrides = dict(kv.split("=", 1) for kv in args.repo)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    manifest_path = os.path.join(args.out_dir, "manifest.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {"models": {}}
    manifest["torch_version"] = torch.__version__

    for name in args.models:
        suffix, rel_file, cls, config, key, arch = MODELS[name]
        repo = find_repo(args.official_root, suffix, overrides)
        torch.manual_seed(args.seed)
        model = load_class(repo, rel_file, cls)(**config).eval()
        perturb_(model, args.seed + 1)
        folder = os.path.join(args.out_dir, name)
        os.makedirs(folder, exist_ok=True)
        torch.save({key: model.state_dict()}, os.path.join(folder, "weights.pth"))
        params = sum(p.numel() for p in model.parameters())
        for size in args.sizes:
            gen = torch.Generator().manual_seed(args.seed + size)
            x = torch.rand(1, 3, size, size, generator=gen)
            start = time.time()
            with torch.no_grad():
                traced = torch.jit.trace(model, x, check_trace=False)
                y = first(model(x))
                y_traced = first(traced(x))
            torch.jit.save(traced, os.path.join(folder, f"traced_{size}.pt"))
            torch.save({"input": x, "output": y.contiguous()}, os.path.join(folder, f"io_{size}.pth"))
            print(f"{name} {size}: params {params:,}, traced in {time.time() - start:.1f} s, "
                  f"max|traced - eager| = {float((y - y_traced).abs().max()):.3e}", flush=True)
        manifest["models"][name] = {
            "arch": arch, "config": config, "container_key": key, "official_class": cls,
            "official_file": rel_file, "params": params,
            "sizes": sorted(set(manifest["models"].get(name, {}).get("sizes", [])) | set(args.sizes)),
        }
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=2)


if __name__ == "__main__":
    main()

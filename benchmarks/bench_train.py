#!/usr/bin/env python
"""Training on the CPU (issues 6 (b) and 33): float32 against bfloat16 autocast, images/s at 64 and 128 px and the AUROC pair.

    python benchmarks/bench_train.py                  # throughput at 64 and 128 px, then the AUROC pair on NIH 1,000 real (64 px)
    python benchmarks/bench_train.py --no-auroc       # throughput only (about a minute)
    python benchmarks/bench_train.py --seed-style     # issue 6 (b): xraylib's pipeline against the seed articles' (224 px)

Throughput: `xray_learner` (resnet18, from scratch) on `xray_dataloaders` (../shared/data/nih-real-200 replicated to
--n items), bs 32, training batches only (validation skipped), `--batches` per round; float32 and bfloat16
(`xraylib.training.cpu.CPUBFloat16`: forward and loss under `torch.autocast('cpu', bfloat16)`, float32 weights) alternate
round by round so that load from other users of the machine hits both; images/s are medians over rounds, with the
load average. The torch thread count follows the load (`train_threads('auto')`) unless --threads gives one.
AUROC pair: `train` on ../shared/data/nih-real-1000-64px (the CPU preset: resnet18, 64 px, 6 epochs, patient-wise
split, seed 42) with `bf16=False` and `bf16=True`, each mean validation AUROC with its patient-bootstrap 95% CI; and
how far the bfloat16 model's probabilities move when *predicting* under bfloat16 autocast instead of float32 (the
validation images, before calibration). Nothing is written to the repo.

The seed-style comparison (issue 6 (b)), with `--seed-style`: xraylib's pipeline (uint8 memory-map cache,
`XrayAugment` batch tfms) against the seed articles' (fastai `DataBlock(ImageBlock, MultiCategoryBlock)` from the full
1024 px PNGs, `Resize(224)` item tfm, `aug_transforms()` batch tfms, fastai's default workers + `vision_learner`),
same arch, items, batch size and output size, alternating rounds.
"""
import argparse, os, sys, json, time, shutil, tempfile, warnings, statistics
from pathlib import Path
import pandas as pd
warnings.filterwarnings('ignore')


def make_timer(n_batches):
    "A fastai callback timing the training phase of one epoch, stopping after `n_batches` (0: the whole epoch)."
    from fastai.callback.core import Callback, CancelTrainException, CancelValidException
    from fastai.torch_core import find_bs
    class TrainTimer(Callback):
        order = 100
        def before_train(self): self.items, self.t0 = 0, time.perf_counter()
        def after_batch(self):
            if not self.training: return
            self.items += find_bs(self.yb)
            if n_batches and self.iter + 1 >= n_batches: raise CancelTrainException
        def after_train(self): self.secs = time.perf_counter() - self.t0
        def before_validate(self): raise CancelValidException
    return TrainTimer()


def seed_learner(df, bs, size, arch):
    "The seed articles' pipeline and learner: full PNGs, Resize item tfm, aug_transforms, RGB ImageBlock, vision_learner."
    from fastai.vision.all import (DataBlock, ImageBlock, MultiCategoryBlock, ColReader, RandomSplitter, Resize,
                                   aug_transforms, vision_learner)
    from xraylib.inference.modelfile import get_arch
    d = pd.DataFrame({'path': df['path'], 'Finding Labels': df['labels'].map('|'.join)})
    db = DataBlock(blocks=(ImageBlock, MultiCategoryBlock), get_x=ColReader('path'),
                   get_y=ColReader('Finding Labels', label_delim='|'), splitter=RandomSplitter(0.2, seed=42),
                   item_tfms=Resize(size), batch_tfms=aug_transforms())
    return vision_learner(db.dataloaders(d, bs=bs, device='cpu'), get_arch(arch), pretrained=False)


def train_rate(learn, n_batches):
    "Images/s of the training phase of one epoch (up to `n_batches` batches), data loading included."
    t = make_timer(n_batches)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=t)
    return t.items / t.secs, t.items


def seed_main(a):
    "Issue 6 (b): xraylib's default pipeline against the seed articles', alternating rounds."
    import torch
    from xraylib.core import set_seed
    from xraylib.data.block import xray_dataloaders
    from xraylib.training.learner import xray_learner
    df = replicated(a.n)
    tmp = Path(tempfile.mkdtemp(prefix='xraylib-bench-train-'))
    try:
        print(f'machine: {os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()}, torch {torch.__version__}; '
              f'{a.n} items ({df.path.nunique()} distinct real 1024 px NIH PNGs), bs={a.bs}, size={a.size}, {a.arch} pretrained=False; '
              f'load average {os.getloadavg()[0]:.2f}')
        set_seed(42)
        t = time.perf_counter()
        dls = xray_dataloaders(df, size=a.size, bs=a.bs, cache_dir=tmp/'cache', device='cpu', quiet=True)
        print(f'xraylib: first cache build of {df.path.nunique()} distinct images: {time.perf_counter() - t:.1f}s (one-off)')
        ours = xray_learner(dls, a.arch, pretrained=False, path=tmp)
        set_seed(42)
        seed = seed_learner(df, a.bs, a.size, a.arch)
        what = f'{a.batches} batches' if a.batches else 'whole epoch'
        print(f'training items: xraylib {len(dls.train_ds)}, seed-style {len(seed.dls.train_ds)}; timing {what} per round')
        rates = {'xraylib': [], 'seed': []}
        for r in range(a.rounds):
            for name, learn in (('xraylib', ours), ('seed', seed)):
                rate, n = train_rate(learn, a.batches)
                rates[name].append(rate)
                print(f'  round {r+1} {name:8s}: {rate:6.1f} img/s ({n} images); load average {os.getloadavg()[0]:.2f}')
        o, s = statistics.median(rates['xraylib']), statistics.median(rates['seed'])
        print(f'(b) training, {what} of one epoch on the CPU: xraylib default {o:.1f} img/s vs seed-style {s:.1f} img/s '
              f'(medians of {a.rounds} alternating rounds)  ->  ratio {o/s:.2f}x; load average {os.getloadavg()[0]:.2f}')
    finally: shutil.rmtree(tmp, ignore_errors=True)



def replicated(n):
    "nih-real-200's rows replicated to `n` items."
    from xraylib.core import shared_data
    from xraylib.data.block import load_labels
    src = shared_data('nih-real-200')
    if src is None: sys.exit('needs ../shared/data/nih-real-200 (see ../shared/README.md)')
    base = load_labels(src)
    return pd.concat([base] * -(-n // len(base)), ignore_index=True).iloc[:n].reset_index(drop=True)


def throughput(a, df, tmp):
    "float32 against bfloat16 images/s at each size, alternating rounds; returns {size: (fp32, bf16)}."
    import torch
    from xraylib.core import set_seed
    from xraylib.data.block import xray_dataloaders
    from xraylib.training.learner import xray_learner
    from xraylib.training.cpu import CPUBFloat16
    res = {}
    for size in a.sizes:
        set_seed(42)
        dls = xray_dataloaders(df, size=size, bs=a.bs, cache_dir=tmp/'cache', device='cpu', quiet=True)
        learn = xray_learner(dls, a.arch, pretrained=False, path=tmp, download=False)
        bf = CPUBFloat16()
        rates = {'float32': [], 'bfloat16': []}
        train_rate(learn, 2)  # warm up
        for r in range(a.rounds):
            for name in rates:
                if name == 'bfloat16': learn.add_cb(bf)
                rate, n = train_rate(learn, a.batches)
                if name == 'bfloat16': learn.remove_cb(bf)
                rates[name].append(rate)
                print(f'  {size} px round {r+1} {name:8s}: {rate:6.1f} img/s ({n} images); load average {os.getloadavg()[0]:.2f}', flush=True)
        res[size] = f, b = statistics.median(rates['float32']), statistics.median(rates['bfloat16'])
        print(f'{size} px: float32 {f:.1f} img/s, bfloat16 {b:.1f} img/s (medians of {a.rounds} alternating rounds of {a.batches} '
              f'batches of {a.bs})  ->  bfloat16/float32 {b/f:.2f}x; load average {os.getloadavg()[0]:.2f}', flush=True)
    return res


def prediction_drift(out, data):
    "Max and 99th-percentile |p_bf16 - p_fp32| of the model in `out` over the validation images of `data` (raw probabilities)."
    import numpy as np, torch
    from xraylib.inference.modelfile import load_model, model_probs
    from xraylib.data.block import xray_dataloaders
    model, meta = load_model(out)
    t = meta['training']
    dls = xray_dataloaders(data, size=t['size'], bs=64, valid_pct=t['valid_pct'], seed=t['seed'], split=t['split'], device='cpu', quiet=True)
    p32 = model_probs(model, dls.valid)
    with torch.autocast('cpu', dtype=torch.bfloat16): p16 = model_probs(model, dls.valid)
    d = (p16.float() - p32.float()).abs().flatten().numpy()
    return float(d.max()), float(np.quantile(d, 0.99)), len(dls.valid_ds)


def auroc_pair(a, tmp):
    "`train` on NIH 1,000 real 64 px images with float32 and with bfloat16: mean validation AUROC with CIs, seconds."
    import torch
    from xraylib.core import shared_data
    from xraylib.training.learner import train
    data = shared_data('nih-real-1000-64px')
    if data is None: print('AUROC pair skipped: no ../shared/data/nih-real-1000-64px'); return
    res = {}
    for bf16 in (False, True):
        name = 'bfloat16' if bf16 else 'float32'
        r = train(data=str(data), split='patient', bf16=bf16, threads=torch.get_num_threads(), out=str(tmp/name), quiet=True, download=False, pretrained=False)
        m = json.loads((tmp/name/'metrics.json').read_text())
        lo, hi = m['mean_auroc_ci']
        res[name] = (m['mean_auroc'], lo, hi)
        print(f"NIH 1,000 real, 64 px, patient-wise, seed 42, {name}: mean validation AUROC {m['mean_auroc']:.3f} (95% CI {lo:.3f}-{hi:.3f}), "
              f"{r['n_train']} train / {r['n_valid']} valid images, {r['fit_seconds']:.0f} s fit, {r['seconds']:.0f} s in all; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
    (f, flo, fhi), (b, blo, bhi) = res['float32'], res['bfloat16']
    print(f'bfloat16 - float32: {b - f:+.3f} mean AUROC; the bfloat16 CI is {bhi - blo:.3f} wide, float32\'s {fhi - flo:.3f}: '
          f"{'within' if abs(b - f) <= bhi - blo else 'NOT within'} the CI width")
    mx, q99, n = prediction_drift(tmp/'bfloat16', data)
    print(f'predicting with the bfloat16-trained model under bfloat16 autocast instead of float32, {n} validation images x 14 labels: '
          f'|probability difference| max {mx:.4f}, 99th percentile {q99:.4f} ({"within" if mx <= 1e-2 else "over"} 1e-2)')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=1000, help='items (nih-real-200 replicated)')
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--sizes', type=lambda s: [int(x) for x in s.split(',')], default=[64, 128], help='image sizes, comma-separated')
    ap.add_argument('--size', type=int, default=224, help='--seed-style only')
    ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--batches', type=int, default=6, help='training batches timed per round (0: the whole epoch)')
    ap.add_argument('--rounds', type=int, default=3, help='rounds per side, alternating')
    ap.add_argument('--threads', default='auto', help="torch threads: a count, or 'auto' (`train_threads('auto')`: the cores the load average leaves free)")
    ap.add_argument('--no-auroc', action='store_true', help='throughput only')
    ap.add_argument('--seed-style', action='store_true', help="issue 6 (b): xraylib's pipeline against the seed's instead")
    a = ap.parse_args()
    import torch
    from xraylib.training.cpu import train_threads, torch_threads, cpu_bf16
    if a.seed_style: return seed_main(a)
    tmp = Path(tempfile.mkdtemp(prefix='xraylib-bench-train-'))
    try:
        with torch_threads(train_threads(a.threads)):
            print(f'machine: {os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()} (--threads {a.threads}), '
                  f'torch {torch.__version__}; native bfloat16: {cpu_bf16()}; {a.arch} from scratch, bs {a.bs}; load average {os.getloadavg()[0]:.2f}', flush=True)
            throughput(a, replicated(a.n), tmp)
            if not a.no_auroc: auroc_pair(a, tmp)
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__': main()

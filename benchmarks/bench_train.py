#!/usr/bin/env python
"""Training throughput benchmark (issue 6 (b)): one CPU training epoch, xraylib's default pipeline against the seed's.

    python benchmarks/bench_train.py                       # 1,000 items, bs=32, 224 px, 6 batches x 2 rounds per side
    python benchmarks/bench_train.py --batches 0 --rounds 1  # whole epochs (slow on 2 cores: many minutes)

xraylib: `xray_dataloaders` (uint8 memory-map cache, `XrayAugment` batch tfms, its defaults) + `xray_learner`.
seed-style: fastai `DataBlock(ImageBlock, MultiCategoryBlock)` from the full 1024 px PNGs, `Resize(224)` item tfm,
`aug_transforms()` batch tfms, fastai's default workers + `vision_learner`. Same arch (resnet18, pretrained=False,
offline), same items (../shared/data/nih-real-200 replicated to --n), batch size and output size; training
batches only (validation is skipped). The sides alternate round by round (xraylib, seed, xraylib, seed, ...) so
load from other users of the machine hits both; images/s are medians over rounds, with the load average.
The first cache build is timed separately (a one-off cost per dataset and size). Nothing is written to the repo.
"""
import argparse, os, sys, time, shutil, tempfile, warnings, statistics
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
    from xraylib.modelfile import get_arch
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=1000, help='items (nih-real-200 replicated)')
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--batches', type=int, default=6, help='training batches timed per round (0: the whole epoch)')
    ap.add_argument('--rounds', type=int, default=2, help='rounds per side, alternating')
    a = ap.parse_args()
    import torch
    from xraylib.core import shared_data, set_seed
    from xraylib.data import load_labels, xray_dataloaders
    from xraylib.learner import xray_learner
    src = shared_data('nih-real-200')
    if src is None: sys.exit('needs ../shared/data/nih-real-200 (see ../shared/README.md)')
    base = load_labels(src)
    df = pd.concat([base] * -(-a.n // len(base)), ignore_index=True).iloc[:a.n].reset_index(drop=True)
    tmp = Path(tempfile.mkdtemp(prefix='xraylib-bench-train-'))
    try:
        print(f'machine: {os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()}, torch {torch.__version__}; '
              f'{a.n} items ({df.path.nunique()} distinct real 1024 px NIH PNGs), bs={a.bs}, size={a.size}, {a.arch} pretrained=False; '
              f'load average {os.getloadavg()[0]:.2f}')
        set_seed(42)
        t = time.perf_counter()
        dls = xray_dataloaders(df, size=a.size, bs=a.bs, cache_dir=tmp/'cache', device='cpu', progress=False)
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


if __name__ == '__main__': main()

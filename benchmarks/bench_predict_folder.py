#!/usr/bin/env python
"""Batch predict throughput (issue 17 item 3): `Predictor.predict_batch` (what `xraylib predict FOLDER --csv` runs) against
fastai's `learn.get_preds(dl=learn.dls.test_dl(files))`, same model, same files, images/s and the ratio.

    python benchmarks/bench_predict_folder.py                  # resnet18, 64 px (the CPU preset), the 200 real NIH PNGs, 3 rounds
    python benchmarks/bench_predict_folder.py --size 224 --rounds 2
    python benchmarks/bench_predict_folder.py --n 100 --bs 32

Builds an untrained `xray_learner` (pretrained=False, offline) on ../shared/data/nih-real-200 (its cache in a temp
folder), `save_model`s it and loads `Predictor.from_file`. Each round times, alternating which goes first, both
sides on the same list of 1024 px NIH PNG files (decoding included on both sides), and prints the images/s of each,
the ratio (median over rounds) and the load average; asserts both give the same probabilities (max abs diff <= 1e-5).
Nothing is written to the repo.
"""
import argparse, os, sys, time, shutil, tempfile, warnings, statistics
from pathlib import Path
import numpy as np
warnings.filterwarnings('ignore')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--n', type=int, default=200, help='images (at most the 200 of nih-real-200)')
    ap.add_argument('--bs', type=int, default=64, help='batch size of both sides')
    ap.add_argument('--rounds', type=int, default=3, help='timed rounds of each side (alternating)')
    a = ap.parse_args()
    import torch
    from xraylib.inference.predict import Predictor
    from _real_model import real_model
    tmp = Path(tempfile.mkdtemp(prefix='xraylib-bench-folder-'))
    try:
        src, dls, learn, _ = real_model(a.arch, a.size, a.bs, tmp)
        pred = Predictor.from_file(tmp/'model')
        files = sorted((src/'images').glob('*.png'))[:a.n]
        print(f'machine: {os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()}, torch {torch.__version__}; '
              f'load average {os.getloadavg()[0]:.2f}')
        print(f'model: untrained {a.arch} xray_learner at {a.size}px (save_model -> Predictor.from_file, engine '
              f'{type(pred.infer_model).__name__}); {len(files)} NIH PNGs of 1024 px, bs {a.bs}')
        ours = lambda: pred.predict_batch(files, bs=a.bs, quiet=True).iloc[:, 1:].to_numpy()
        def fastai():
            with learn.no_bar(): return learn.get_preds(dl=learn.dls.test_dl(files, bs=a.bs))[0].numpy()
        diff = float(np.abs(ours() - fastai()).max())  # also the warm-up of both
        tp, tf = [], []
        for r in range(a.rounds):
            for acc, f in (((tp, ours), (tf, fastai)) if r % 2 == 0 else ((tf, fastai), (tp, ours))):
                t = time.perf_counter(); f(); acc.append(time.perf_counter() - t)
            print(f'  round {r+1}: predict_batch {len(files)/tp[-1]:.1f} images/s, get_preds {len(files)/tf[-1]:.1f} images/s; '
                  f'load average {os.getloadavg()[0]:.2f}')
        mp, mf = statistics.median(tp), statistics.median(tf)
        print(f'batch predict: predict_batch {len(files)/mp:.1f} images/s vs learn.get_preds(test_dl) {len(files)/mf:.1f} '
              f'images/s (medians of {a.rounds})  ->  ratio {mf/mp:.2f}x; max |p diff| {diff:.1e}; load average {os.getloadavg()[0]:.2f}')
        assert diff <= 1e-5, f'probabilities differ by {diff}'
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__': main()

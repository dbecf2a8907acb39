#!/usr/bin/env python
"""Dataset readers (issue 24): how long `read_chexpert` takes on CheXpert's real 223,414-row training label file under
each uncertainty policy, against a bare `pandas.read_csv` of the same file in the same run; `read_folder` on the real
Kermany set (5,840 images); and how long the phantom folder set and CheXpert phantom take to write.

    python benchmarks/bench_readers.py              # 3 rounds, phantoms of 300 images at 64 px
    python benchmarks/bench_readers.py --rounds 5 --n 400

Reads ../shared/data in place (`check_images=False` for CheXpert: its images are not there). Each round times the
pandas baseline and the reader alternately; the figures are medians over the rounds, with the load average. The
phantoms are written into a temporary folder (nothing is written to the repo).
"""
import argparse, os, shutil, statistics, tempfile, time, warnings
from pathlib import Path
import pandas as pd
warnings.filterwarnings('ignore')


def timed(f):
    t = time.perf_counter(); out = f(); return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rounds', type=int, default=3, help='timed rounds of each reader')
    ap.add_argument('--n', type=int, default=300, help='images of each phantom')
    ap.add_argument('--size', type=int, default=64, help='phantom image size (px)')
    a = ap.parse_args()
    from xraylib.core import shared_data
    from xraylib.data.readers import read_chexpert, read_folder
    from xraylib.datasets.phantom import make_phantom_folder_set, make_phantom_chexpert
    print(f'machine: {os.cpu_count()} CPU(s); load average {os.getloadavg()[0]:.2f}; pandas {pd.__version__}')
    if (cx := shared_data('chexpert-labels', 'chexpert_train.csv.gz')) is not None:
        for pol in ('ignore', 'ones', 'zeros'):
            base, ours = [], []
            for r in range(a.rounds):
                first, second = (lambda: pd.read_csv(cx)), (lambda: read_chexpert(cx, uncertain=pol, views='all', check_images=False))
                if r % 2: base.append(timed(first)[0]); ours.append(timed(second)[0])
                else: ours.append(timed(second)[0]); base.append(timed(first)[0])
            b, o = statistics.median(base), statistics.median(ours)
            print(f'read_chexpert uncertain={pol!r} (223,414 rows): {o:.2f} s; pd.read_csv alone {b:.2f} s; ratio {o/b:.2f}x '
                  f'(load {os.getloadavg()[0]:.2f})')
    else: print('chexpert: ../shared/data/chexpert-labels absent, skipped')
    if (k := shared_data('kermany-pneumonia-224', 'chest_xray')) is not None:
        ts = [timed(lambda: read_folder(k))[0] for _ in range(a.rounds)]
        print(f'read_folder Kermany (5,840 images): {statistics.median(ts):.2f} s (load {os.getloadavg()[0]:.2f})')
    else: print('kermany: ../shared/data/kermany-pneumonia-224 absent, skipped')
    tmp = Path(tempfile.mkdtemp(prefix='xraylib-bench-readers-'))
    try:
        t1, _ = timed(lambda: make_phantom_folder_set(tmp/'fs', n=a.n, size=a.size, seed=0))
        t2, _ = timed(lambda: make_phantom_folder_set(tmp/'fs', n=a.n, size=a.size, seed=0))
        t3, _ = timed(lambda: make_phantom_chexpert(tmp/'cx', n=a.n, size=a.size, seed=0))
        print(f'make_phantom_folder_set n={a.n} {a.size}px: {t1:.2f} s (reused: {t2*1000:.0f} ms); '
              f'make_phantom_chexpert n={a.n} {a.size}px: {t3:.2f} s (load {os.getloadavg()[0]:.2f})')
    finally: shutil.rmtree(tmp)


if __name__ == '__main__': main()

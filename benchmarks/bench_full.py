#!/usr/bin/env python
"""The full ChestX-ray14 workload at scale (issue 18): real 1024 px PNGs cached at 224 px, one training epoch.

    python benchmarks/bench_full.py                    # 10,000 rows
    python benchmarks/bench_full.py --n 2000
    python benchmarks/bench_full.py --n 112120         # the whole data set: long (about 50 min for the cache alone at
                                                       # the ~40 img/s of the 2-core dev machine; the bar shows the ETA)

Builds a dataset in Kaggle's `nih-chest-xrays/data` layout in a temporary folder: `Data_Entry_2017.csv` with
N rows of the real metadata (spread over all 12 folders, real file names), `images_0XX/images/<name>` as
symbolic links to the 200 real NIH PNGs of ../shared/data/nih-real-200 (cycled), and stand-in
`train_val_list.txt`/`test_list.txt` (patient-wise; the real lists are not in shared/). Then prints:
- the cache build rate at --size px with all cores (all N images) and with one (the first --one-n),
- the loader rate of one training epoch (`xray_dataloaders`, cached, augmentation on the CPU, --bs), and of its CPU
  side alone (cached rows read and collated, the batch transforms left to where batches go: the GPU's ceiling),
- the peak anonymous memory (RssAnon, sampled every 20 ms) of this process and of the build workers,
- the load average, and the estimated time for the 112,120 images on Colab's 2 cores.
Each link is cached as an image of its own (the cache does not follow links), so N rows are N decodes.
Nothing is written to the repository.
"""
import argparse, os, sys, time, shutil, tempfile, threading, warnings
from pathlib import Path
import numpy as np, pandas as pd
warnings.filterwarnings('ignore')

FULL_N = 112_120
FIRST = [0, 4999] + [4999 + 10000*k for k in range(1, 11)]  # index of each folder's first image in the real data


def make_layout(root:Path, n:int, real:list)->Path:
    "N rows of the real metadata, spread over the 12 folders, each image a link to a real PNG; stand-in official lists."
    from xraylib.core import shared_data
    meta = pd.read_csv(shared_data('nih-metadata', 'Data_Entry_2017_v2020.csv.gz'), dtype=str, keep_default_na=False)
    idx = np.unique(np.linspace(0, len(meta) - 1, n).round().astype(int))
    d = meta.iloc[idx].reset_index(drop=True)
    folder = np.searchsorted(FIRST, idx, side='right')
    for k in range(1, 13): (root/f'images_{k:03d}'/'images').mkdir(parents=True, exist_ok=True)
    for i, (name, k) in enumerate(zip(d['Image Index'], folder)):
        os.symlink(real[i % len(real)], root/f'images_{k:03d}'/'images'/name)
    d.to_csv(root/'Data_Entry_2017.csv', index=False)
    test = d['Patient ID'].astype(int) % 5 == 0  # about a fifth of the patients (the real test list: 22.8% of the images)
    (root/'train_val_list.txt').write_text('\n'.join(d['Image Index'][~test]) + '\n')
    (root/'test_list.txt').write_text('\n'.join(d['Image Index'][test]) + '\n')
    return root


class PeakAnon:
    "Peak RssAnon (bytes) of this process and, separately, of the largest child, sampled in a thread."
    def __init__(self, every=0.02): self.every, self.me, self.child, self._stop = every, 0, 0, threading.Event()
    @staticmethod
    def anon(pid='self'):
        try:
            for l in open(f'/proc/{pid}/status'):
                if l.startswith('RssAnon:'): return int(l.split()[1]) * 1024
        except OSError: pass
        return 0
    def _run(self):
        import psutil
        me = psutil.Process()
        while not self._stop.is_set():
            self.me = max(self.me, self.anon())
            try: self.child = max([self.child] + [self.anon(c.pid) for c in me.children(recursive=True)])
            except psutil.Error: pass
            time.sleep(self.every)
    def __enter__(self): self.t = threading.Thread(target=self._run, daemon=True); self.t.start(); return self
    def __exit__(self, *a): self._stop.set(); self.t.join()


def hms(s): return f'{int(s//3600)}h{int(s%3600//60):02d}m' if s >= 3600 else f'{s/60:.1f} min'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=10_000, help='rows (112120: the whole data set)')
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--one-n', type=int, default=300, help='images cached with one worker, for the one-core rate')
    ap.add_argument('--num-workers', type=int, default=None, help='cache build processes (default: all cores)')
    ap.add_argument('--ceiling-batches', type=int, default=300, help='batches read for the CPU-side loader rate')
    ap.add_argument('--dir', default=None, help='work folder (default: a temporary one, deleted at the end)')
    a = ap.parse_args()
    from xraylib.core import shared_data
    src = shared_data('nih-real-200', 'images')
    if src is None or shared_data('nih-metadata', 'Data_Entry_2017_v2020.csv.gz') is None:
        sys.exit('needs ../shared/data/nih-real-200 and nih-metadata (see ../shared/README.md)')
    tmp = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix='xraylib-bench-full-'))
    tmp.mkdir(parents=True, exist_ok=True)
    try: run(a, sorted(str(p) for p in src.glob('*.png')), tmp)
    finally:
        if not a.dir: shutil.rmtree(tmp, ignore_errors=True)


def run(a, real, tmp):
    import torch
    from xraylib.data.block import load_labels, xray_dataloaders
    from xraylib.data.cache import build_cache, default_workers
    cores = a.num_workers or default_workers()
    print(f'machine: {os.cpu_count()} CPU(s), {default_workers()} usable, build workers {cores}, torch {torch.__version__} '
          f'({torch.get_num_threads()} threads); load average {os.getloadavg()[0]:.1f} at start')
    t = time.perf_counter(); root = make_layout(tmp/'nih-full', a.n, real)
    df = load_labels(root); paths = df['path'].tolist()
    print(f'layout: {len(df):,} rows in 12 folders (links to {len(real)} real 1024 px PNGs), {time.perf_counter()-t:.1f}s '
          f'to make and read')

    build_cache(paths[:4], a.size, tmp/'warm', num_workers=1, quiet=True)  # imports, decoder compiled
    t, l0 = time.perf_counter(), os.getloadavg()[0]
    with PeakAnon() as pk:
        build_cache(paths, a.size, tmp/'cache', num_workers=cores, quiet=False)
    tb, l1 = time.perf_counter() - t, os.getloadavg()[0]
    rate_all = len(paths) / tb
    print(f'\ncache build, {cores} workers: {len(paths):,} images at {a.size}px in {hms(tb)} = {rate_all:.0f} img/s '
          f'(load average {l0:.1f} -> {l1:.1f}); peak RssAnon: main {pk.me/2**30:.2f} GiB, a worker {pk.child/2**30:.2f} GiB')

    one = paths[:a.one_n]
    t = time.perf_counter(); build_cache(one, a.size, tmp/'cache1', num_workers=1, quiet=True)
    rate_one = len(one) / (time.perf_counter() - t)
    print(f'cache build, 1 worker: {len(one):,} images = {rate_one:.0f} img/s (load average {os.getloadavg()[0]:.1f})')

    with PeakAnon() as pk:
        t = time.perf_counter()
        dls = xray_dataloaders(df, size=a.size, bs=a.bs, split='patient', cache_dir=tmp/'cache', device='cpu', quiet=True)
        t_dls = time.perf_counter() - t
        n, t = 0, time.perf_counter()
        for xb, yb in dls.train: n += len(xb)
        t_ep = time.perf_counter() - t
    print(f'loader: DataLoaders (cache reused) in {t_dls:.1f}s; one training epoch of {n:,} images (bs {a.bs}, augmentation '
          f'on the CPU) in {t_ep:.1f}s = {n/t_ep:,.0f} img/s; peak RssAnon {pk.me/2**30:.2f} GiB (load average '
          f'{os.getloadavg()[0]:.1f})')

    # On a GPU the batch transforms (augmentation, normalisation) run there: the CPU only reads cached rows and collates
    from fastai.data.core import Pipeline  # fastcore or fasttransform, whichever this fastai uses
    dl = dls.train; dl.after_batch, k, n2 = Pipeline([]), 0, 0
    t = time.perf_counter()
    for xb, yb in dl:
        n2 += len(xb); k += 1
        if k == a.ceiling_batches: break
    t_cpu = time.perf_counter() - t
    print(f'loader, CPU side only (batch transforms where the batches go, as on a GPU): {n2:,} images in {t_cpu:.1f}s = '
          f'{n2/t_cpu:,.0f} img/s (load average {os.getloadavg()[0]:.1f})')

    eff = min(1.0, rate_all / (cores * rate_one)) if cores > 1 else 1.0
    ideal, measured = FULL_N / (2 * rate_one), FULL_N / (2 * rate_one * eff)
    print(f'estimate, all {FULL_N:,} images on Colab\'s 2 cores (a core as fast as one here): {hms(ideal)} with ideal '
          f'scaling, {hms(measured)} with the parallel efficiency measured here ({eff:.0%}); the cache is '
          f'{FULL_N*a.size**2/1e9:.1f} GB at {a.size}px')


if __name__ == '__main__': main()

#!/usr/bin/env python
"""Loader throughput and cache build benchmarks (issue 6 (a) and (d)); prints ratios measured in one run.

    python benchmarks/bench_loader.py                 # n=1000 items, bs=64, 224 px, build on 400 images
    python benchmarks/bench_loader.py --n 2000 --build-n 1000

(a) images/s of one training epoch of xraylib's default loader (`xray_dataloaders`: uint8 memory-map cache,
    CXR batch augmentation) against a seed-style fastai pipeline (ImageBlock, Resize(224) item tfm from the
    full 1024 px PNGs, aug_transforms batch tfms, fastai's default workers), same items, bs and output size.
(d) cache build time with all cores (2 workers here) against one.
Also: per-item read cost of the two cache formats considered (memmap row vs a 224 px PNG).
Uses ../shared/data/nih-real-200 (200 real NIH PNGs) replicated to --n items; nothing is written to the repo.
"""
import argparse, os, io, sys, time, shutil, tempfile, warnings
from pathlib import Path
import numpy as np, pandas as pd
warnings.filterwarnings('ignore')


def epoch_rate(dl, max_items=None):
    "Images/s of iterating `dl` once (from creating the iterator, so worker start-up is included)."
    n, t = 0, time.perf_counter()
    for xb, yb in dl:
        n += len(xb)
        if max_items and n >= max_items: break
    return n / (time.perf_counter() - t), n


def seed_dls(df, bs, size):
    "The seed articles' pipeline: full PNGs, Resize item tfm, fastai's aug_transforms, RGB ImageBlock."
    from fastai.vision.all import DataBlock, ImageBlock, MultiCategoryBlock, ColReader, RandomSplitter, Resize, aug_transforms
    d = pd.DataFrame({'path': df['path'], 'Finding Labels': df['labels'].map('|'.join)})
    db = DataBlock(blocks=(ImageBlock, MultiCategoryBlock), get_x=ColReader('path'),
                   get_y=ColReader('Finding Labels', label_delim='|'), splitter=RandomSplitter(0.2, seed=42),
                   item_tfms=Resize(size), batch_tfms=aug_transforms())
    return db.dataloaders(d, bs=bs, device='cpu')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=1000, help='items (nih-real-200 replicated)')
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--seed-items', type=int, default=320, help='items timed for the (slow) seed pipeline')
    ap.add_argument('--build-n', type=int, default=400, help='distinct images (symlinks) for the build benchmark')
    ap.add_argument('--build-rounds', type=int, default=2, help='rounds of (1, all, all, 1) cache builds')
    ap.add_argument('--skip-build', action='store_true')
    ap.add_argument('--only-build', action='store_true')
    a = ap.parse_args()
    import torch
    from xraylib.core import shared_data, LABELS
    from xraylib.data.block import load_labels, xray_dataloaders
    from xraylib.data.cache import build_cache, read_cached, default_workers
    src = shared_data('nih-real-200')
    if src is None: sys.exit('needs ../shared/data/nih-real-200 (see ../shared/README.md)')
    base = load_labels(src)
    df = pd.concat([base] * -(-a.n // len(base)), ignore_index=True).iloc[:a.n].reset_index(drop=True)
    tmp = Path(tempfile.mkdtemp(prefix='xraylib-bench-'))
    try: run(a, base, df, tmp)
    finally: shutil.rmtree(tmp, ignore_errors=True)


def run(a, base, df, tmp):
    import torch
    from xraylib.data.block import xray_dataloaders
    from xraylib.data.cache import build_cache, read_cached, default_workers
    cores = default_workers()
    print(f'machine: {os.cpu_count()} CPU(s), {cores} usable, torch threads {torch.get_num_threads()}, '
          f'torch {torch.__version__}; {a.n} items ({df.path.nunique()} distinct real 1024 px NIH PNGs), bs={a.bs}, size={a.size}')

    if a.only_build: return build_bench(a, base, tmp, cores)
    # (a) loader throughput, one run
    t = time.perf_counter()
    dls = xray_dataloaders(df, size=a.size, bs=a.bs, cache_dir=tmp/'cache', device='cpu', quiet=True)
    t_first = time.perf_counter() - t
    print(f'xraylib: DataLoaders incl. first cache build of {df.path.nunique()} images: {t_first:.1f}s')
    ours, n_ours = epoch_rate(dls.train)
    seed = seed_dls(df, a.bs, a.size)
    theirs, n_seed = epoch_rate(seed.train, a.seed_items)
    ours2, _ = epoch_rate(dls.train)  # again, after the seed run, to even out load from others
    ours = (ours + ours2) / 2
    xb, _ = dls.one_batch(); xs, _ = seed.one_batch()
    print(f'(a) loader, one training epoch: xraylib default {ours:,.0f} img/s ({n_ours} items, batch {tuple(xb.shape)}) '
          f'vs seed-style {theirs:,.1f} img/s ({n_seed} items, batch {tuple(xs.shape)})  ->  ratio {ours/theirs:.1f}x')

    # cache formats: memmap row vs 224 px PNG decode
    from PIL import Image
    file, rows = build_cache(base['path'].tolist(), a.size, tmp/'cache', quiet=True)
    pngs = []
    for r in rows[:200]:
        b = io.BytesIO(); Image.fromarray(read_cached(file, int(r), a.size)).save(b, format='PNG'); pngs.append(b.getvalue())
    t = time.perf_counter()
    for _ in range(5):
        for r in rows[:200]: read_cached(file, int(r), a.size)
    t_mm = (time.perf_counter() - t) / (5 * len(rows[:200]))
    t = time.perf_counter()
    for _ in range(5):
        for b in pngs: np.asarray(Image.open(io.BytesIO(b)).convert('L'))
    t_png = (time.perf_counter() - t) / (5 * len(pngs))
    print(f'cache format, per image at {a.size}px: memmap row {t_mm*1e6:.0f} us ({a.size*a.size/1e3:.0f} kB) vs PNG decode '
          f'{t_png*1e6:.0f} us ({np.mean([len(b) for b in pngs])/1e3:.0f} kB)  ->  memmap {t_png/t_mm:.0f}x faster per read')

    if not a.skip_build: build_bench(a, base, tmp, cores)


def cpu_s():
    "CPU seconds used by this process and its finished children."
    import resource
    return sum(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime
               for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def _burn(n):
    s = 0
    for i in range(n): s += i * i
    return s


def headroom(cores, n=3_000_000):
    "Speed-up of trivially parallel pure-Python work on `cores` processes vs 1, now: what the machine offers."
    from concurrent.futures import ProcessPoolExecutor
    t = time.perf_counter(); [_burn(n) for _ in range(cores)]; t1 = time.perf_counter() - t
    with ProcessPoolExecutor(cores) as ex:
        list(ex.map(_burn, [1] * cores))  # start the workers
        t = time.perf_counter(); list(ex.map(_burn, [n] * cores)); tn = time.perf_counter() - t
    return t1 / tn


def busy_s():
    "CPU seconds all CPUs of the machine spent busy so far (from /proc/stat; None where absent)."
    try: v = [int(x) for x in open('/proc/stat').readline().split()[1:]]
    except OSError: return None
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf('SC_CLK_TCK')  # all but idle and iowait


def build_bench(a, base, tmp, cores):
    "(d) cache build: all cores vs one, on distinct files (symlinks to the real PNGs); rounds 1,n,n,1 repeated."
    from xraylib.data.cache import build_cache
    links = tmp/'links'; links.mkdir()
    paths = []
    for i in range(a.build_n):
        p = links/f'{i:05d}_{Path(base.path[i % len(base)]).name}'; p.symlink_to(base.path[i % len(base)]); paths.append(str(p))
    build_cache(paths[:8], a.size, tmp/'warm', num_workers=1, quiet=True)  # imports and file cache warm
    times, cpu, others, loads = {1: [], cores: []}, {1: [], cores: []}, {1: [], cores: []}, []
    hs = [headroom(cores)]
    for k, w in enumerate([1, cores, cores, 1] * a.build_rounds):
        loads.append(os.getloadavg()[0])
        c, b, t = cpu_s(), busy_s(), time.perf_counter(); build_cache(paths, a.size, tmp/f'build{k}', num_workers=w, quiet=True)
        dt = time.perf_counter() - t; times[w].append(dt); cpu[w].append(cpu_s() - c)
        if b is not None: others[w].append(max(0., busy_s() - b - cpu[w][-1]) / dt)
        shutil.rmtree(tmp/f'build{k}', ignore_errors=True)
        if k % 4 == 3: hs.append(headroom(cores))
    t1, tn = np.median(times[1]), np.median(times[cores])
    print(f'(d) cache build of {a.build_n} images at {a.size}px: 1 worker {t1:.1f}s ({a.build_n/t1:.0f} img/s), '
          f'{cores} workers {tn:.1f}s ({a.build_n/tn:.0f} img/s)  ->  speed-up {t1/tn:.2f}x '
          f'(medians of {len(times[1])} runs each, order 1,{cores},{cores},1 x {a.build_rounds})')
    print(f'    CPU time per image: 1 worker {np.median(cpu[1])/a.build_n*1e3:.1f} ms, {cores} workers '
          f'{np.median(cpu[cores])/a.build_n*1e3:.1f} ms; cores used by the build: 1 worker '
          f'{np.median(cpu[1])/t1:.2f}, {cores} workers {np.median(cpu[cores])/tn:.2f} (of {os.cpu_count()})')
    if others[1]:
        print(f'    other processes used {np.median(others[1]):.2f} / {np.median(others[cores]):.2f} cores during the '
              f'1-worker / {cores}-worker builds; load average {min(loads):.1f}-{max(loads):.1f} (now {os.getloadavg()[0]:.1f})')
    h = float(np.median(hs))
    print(f'    control: trivially parallel CPU work gets {h:.2f}x on {cores} processes now (median of {len(hs)}; ideal {cores}x); '
          f'cache build reaches {t1/tn/h:.0%} of that')


if __name__ == '__main__': main()

#!/usr/bin/env python
"""Single-image predict latency (issue 6 (c)): `Predictor` against fastai's `learn.predict`, same model and image.

    python benchmarks/bench_predict.py                 # resnet18, 224 px, 60 interleaved repetitions
    python benchmarks/bench_predict.py --size 64       # the CPU preset that `xraylib train` writes
    python benchmarks/bench_predict.py --reps 200 --arch resnet34
    python benchmarks/bench_predict.py --size 224 --breakdown   # also: where the time goes, stage by stage

Builds an untrained `xray_learner` (pretrained=False, offline) on ../shared/data/nih-real-200 (the cache is built
in a temp folder), `save_model`s it, loads `Predictor.from_file` from those files and times, interleaved call by
call, `Predictor.predict(img)` and `learn.predict(img)` on the same real 1024 px NIH PNG (from its path, so both
include decoding it; then again from an already decoded PIL image). Prints medians and the ratio, and asserts
the two give the same probabilities (max abs diff <= 1e-5). With --breakdown it then times each stage on its own
(medians of back-to-back calls, not interleaved: compare the shares, not the totals, with the ratio above).
Nothing is written to the repo.
"""
import argparse, os, sys, time, shutil, tempfile, warnings, statistics
from pathlib import Path
import numpy as np
warnings.filterwarnings('ignore')


def timed(f, *args):
    t = time.perf_counter(); out = f(*args); return time.perf_counter() - t, out


def median_ms(f, n, warmup=5):
    for _ in range(warmup): f()
    return statistics.median(timed(f)[0] for _ in range(n)) * 1e3


def breakdown(pred, learn, img, n):
    "Print the median time of each stage of `Predictor.predict` and `learn.predict` on `img`, back to back."
    import torch
    from PIL import Image
    from xraylib.imaging.load import load_image
    from xraylib.imaging.png import decode_gray_png
    from xraylib.inference.predict import preprocess_image, inference_model
    b, im = Path(img).read_bytes(), load_image(img)
    x = pred.preprocess(im)
    folded = inference_model(pred.model, pred.spec['n_in']); xc = x.contiguous(memory_format=torch.channels_last)
    def pil_decode():
        with Image.open(img) as i: i.load()
    rows = [('decode the PNG: PIL', pil_decode),
            ('decode the PNG: xraylib, 1 thread', lambda: decode_gray_png(b)),
            ('decode the PNG: xraylib, 2 threads (what Predictor uses)', lambda: decode_gray_png(b, threads=2)),
            ('preprocess a decoded image (bilinear squish, normalisation)', lambda: preprocess_image(im, pred.spec)),
            (f'forward pass: {type(pred.infer_model).__name__} (Predictor)', lambda: pred.forward(x)),
            ('forward pass: folded channels-last PyTorch', lambda: folded(xc)),
            ('forward pass: the model as given (eager PyTorch)', lambda: pred.model(x)),
            ('Predictor.predict from a decoded image', lambda: pred.predict(im)),
            ('Predictor.predict from the path', lambda: pred.predict(img)),
            ('learn.predict from a decoded image', lambda: learn.predict(im)),
            ('learn.predict from the path', lambda: learn.predict(img))]
    print(f'where the time goes (medians of {n} back-to-back calls each):')
    with torch.inference_mode():
        for name, f in rows: print(f'  {name:62s} {median_ms(f, n):6.1f} ms')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--arch', default='resnet18')
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--reps', type=int, default=60, help='timed calls of each side (interleaved)')
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--breakdown', action='store_true', help='then time each stage on its own')
    a = ap.parse_args()
    import torch
    from xraylib.imaging.load import load_image
    from xraylib.inference.predict import Predictor
    from _real_model import real_model
    tmp = Path(tempfile.mkdtemp(prefix='xraylib-bench-predict-'))
    try:
        src, dls, learn, _ = real_model(a.arch, a.size, 16, tmp)
        pred = Predictor.from_file(tmp/'model')
        img = str(dls.items_df['path'].iloc[0])
        print(f'machine: {os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()}, torch {torch.__version__}; '
              f'load average {os.getloadavg()[0]:.2f}')
        print(f'model: untrained {a.arch} xray_learner at {a.size}px (save_model -> Predictor.from_file); '
              f'image: {Path(img).name} ({load_image(img).size[0]} px)')
        vocab = list(learn.dls.vocab)
        learn_predict = lambda x: learn.predict(x)
        ctx = learn.no_bar(); ctx.__enter__()  # no progress bar for learn.predict (its cheapest form)
        for kind, x in (('path', img), ('PIL image', load_image(img))):
            for _ in range(a.warmup): pred.predict(x); learn_predict(x)
            tp, tl = [], []
            for i in range(a.reps):  # interleave (and alternate which goes first) so load changes hit both sides
                order = ((tp, pred.predict), (tl, learn_predict)) if i % 2 == 0 else ((tl, learn_predict), (tp, pred.predict))
                for acc, f in order:
                    t, out = timed(f, x); acc.append(t)
            p_ours = pred.predict(x).set_index('label').probability.reindex(vocab).to_numpy()
            p_fastai = learn_predict(x)[2].numpy()
            diff = float(np.abs(p_ours - p_fastai).max())
            mp, ml = statistics.median(tp), statistics.median(tl)
            print(f'(c) predict latency from a {kind}: Predictor {mp*1e3:.1f} ms vs learn.predict {ml*1e3:.1f} ms '
                  f'(medians of {a.reps}, interleaved)  ->  ratio {mp/ml:.2f}x; max |p diff| {diff:.1e}; '
                  f'load average {os.getloadavg()[0]:.2f}')
            assert diff <= 1e-5, f'probabilities differ by {diff}'
        if a.breakdown: breakdown(pred, learn, img, max(20, a.reps // 2))
    finally: shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__': main()

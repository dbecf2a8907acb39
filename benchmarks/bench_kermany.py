#!/usr/bin/env python
"""Kermany pneumonia benchmark (issue 25, Deliver 2): train on the shared Kermany set's train/ folder, evaluate its test/ folder once.

    python benchmarks/bench_kermany.py                          # the CPU preset: resnet18, 64 px, 6 epochs, from scratch
    python benchmarks/bench_kermany.py --size 96 --epochs 8     # other settings

`xraylib train` holds test/ out (`--split auto` -> official) and splits train/ patient-wise for validation. The thresholds
are chosen on the *validation* predictions (F1 and Youden's J rules), never on test, then applied to the test predictions:
printed are test AUROC with its patient-bootstrap 95% CI, and accuracy, sensitivity and specificity at each validation
threshold, beside what the same rule would pick on test (for reference only), and the wall time. Real patients (children
aged 1-5, Guangzhou); nothing is written to the repo (runs go to a temporary folder unless --out).
"""
import argparse, json, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
warnings.filterwarnings('ignore')
REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent/'shared'/'data'/'kermany-pneumonia-224'/'chest_xray'


def rates(y, p, t):
    "Accuracy, sensitivity and specificity of `p > t`."
    pr = p > t
    return dict(accuracy=float((pr == y).mean()), sensitivity=float(pr[y].mean()), specificity=float((~pr[~y]).mean()))


def main(a):
    from xraylib.learner import train
    from xraylib.thresholds import EvalData, per_label_thresholds
    if not DATA.is_dir(): print(f'skipped: {DATA} is absent (see ../shared/README.md)'); return 0
    out = Path(a.out or tempfile.mkdtemp(prefix='bench_kermany_'))
    t0 = time.time()
    res = train(data=str(DATA), arch=a.arch, size=a.size, epochs=a.epochs, bs=a.bs, out=str(out), quiet=True, pretrained='no', download=False)
    wall = time.time() - t0
    v, te = pd.read_csv(out/'valid_preds.csv'), pd.read_csv(out/'test'/'test_preds.csv')
    lab = next(c[5:] for c in v.columns if c.startswith('prob_'))
    m = json.loads((out/'test'/'metrics.json').read_text())
    yv, pv, yt, pt = v[lab].to_numpy(bool), v[f'prob_{lab}'].to_numpy(), te[lab].to_numpy(bool), te[f'prob_{lab}'].to_numpy()
    print(f'Kermany {lab}: {a.arch}, {a.size} px, {a.epochs} epochs, from scratch; {res["n_train"]} train / {res["n_valid"]} valid (patient-wise) / {len(te)} test images')
    print(f'validation AUROC {res["mean_auroc"]:.3f}; test AUROC {m["mean_auroc"]:.3f} (95% CI {m["mean_auroc_ci"][0]:.3f}-{m["mean_auroc_ci"][1]:.3f}, '
          f'{m["bootstrap"]["n_boot"]} resamples of {m["bootstrap"]["n_units"]} patients)')
    for method in ('f1', 'youden'):
        tv = float(per_label_thresholds(EvalData(pv[:, None], yv[:, None].astype(float), [lab]), method=method).threshold[0])
        tt = float(per_label_thresholds(EvalData(pt[:, None], yt[:, None].astype(float), [lab]), method=method).threshold[0])
        r, rt = rates(yt, pt, tv), rates(yt, pt, tt)
        print(f'{method:>6} threshold chosen on validation {tv:.3f}: test accuracy {r["accuracy"]:.3f}, sensitivity {r["sensitivity"]:.3f}, '
              f'specificity {r["specificity"]:.3f}   (chosen on test, for reference only: {tt:.3f} -> accuracy {rt["accuracy"]:.3f})')
    print(f'wall time {wall:.0f} s (train, validation and test evaluation); out: {out}')
    return 0


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='resnet18'); p.add_argument('--size', type=int, default=64)
    p.add_argument('--epochs', type=int, default=6); p.add_argument('--bs', type=int, default=None)
    p.add_argument('--out', default=None)
    sys.exit(main(p.parse_args()))

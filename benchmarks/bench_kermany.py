#!/usr/bin/env python
"""Kermany pneumonia benchmark (issues 25 and 33): `xraylib train` on the shared Kermany set, its test/ folder evaluated once.

    python benchmarks/bench_kermany.py                                 # `xraylib train --data .../chest_xray` as a new user runs it
    python benchmarks/bench_kermany.py --size 64 --max-gamma 0         # any `xraylib train` option (the same names)
    python benchmarks/bench_kermany.py --from-run runs/kermany         # the figures of a finished run folder, no training

Training is `train` itself (its preset, split, bfloat16, augmentation and threads; every `xraylib train` option is
accepted here under the same name): test/ held out (the official split), validation a patient-wise 20% of train/,
probabilities recalibrated on validation (monotone: the AUROC is unchanged). Printed: validation and test AUROC with
their patient-bootstrap 95% CIs (from the run's own evaluation), and accuracy, sensitivity and specificity on test at
the model's own threshold (`model.json`: chosen on *validation* by F1) with patient-bootstrap 95% CIs, then at
other thresholds chosen on validation (Youden's J, fixed validation sensitivities), never on test; the median
scores of the normal images of validation and of test's two series (`IM-` and `NORMAL2-IM`, the framing shift of
issue 33) and test's highest-scoring normals; `train`'s wall time and the load average. Real patients (children aged
1-5, Guangzhou); nothing is written to the repo (runs go to a temporary folder unless --out).
"""
import json, os, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
warnings.filterwarnings('ignore')
REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent/'shared'/'data'/'kermany-pneumonia-224'/'chest_xray'


def rates(y, p, t, w=None):
    "Accuracy, sensitivity and specificity of `p > t` against `y`, each row weighted by `w` (bootstrap counts)."
    w = np.ones(len(y)) if w is None else w
    pr = p > t
    return dict(accuracy=float(w[pr == y].sum() / w.sum()), sensitivity=float(w[pr & y].sum() / w[y].sum()),
                specificity=float(w[~pr & ~y].sum() / w[~y].sum()))


def rates_ci(y, p, t, patients, n_boot, seed):
    "`rates` with patient-bootstrap 95% percentile CIs: {name: (value, lo, hi)}."
    from xraylib.stats import bootstrap_weights, percentile_ci
    keys = ['accuracy', 'sensitivity', 'specificity']
    b = np.array([[rates(y, p, t, w)[k] for k in keys] for ws in bootstrap_weights(len(y), n_boot, seed, patients) for w in ws])
    lo, hi = percentile_ci(b)
    r = rates(y, p, t)
    return {k: (r[k], lo[i], hi[i]) for i, k in enumerate(keys)}


def threshold(p, y, lab, method, target=0.9):
    "The threshold `per_label_thresholds` picks on the scores `p` and targets `y` of one label."
    from xraylib.evaluation.thresholds import EvalData, per_label_thresholds
    return float(per_label_thresholds(EvalData(p[:, None], y[:, None].astype(float), [lab]), method=method, target=target).threshold[0])


def loadavg(): return '{:.2f} {:.2f} {:.2f}'.format(*os.getloadavg())


def fmt(r): return ', '.join(f'{k} {v:.3f} ({lo:.3f}-{hi:.3f})' for k, (v, lo, hi) in r.items())


def report(out, sens, n_boot, seed):
    "Print the figures of the finished run in `out`."
    meta, vm, tm = (json.loads((out/f).read_text()) for f in ('model.json', 'metrics.json', 'test/metrics.json'))
    lab = meta['vocab'][0]
    v, te = pd.read_csv(out/'valid_preds.csv'), pd.read_csv(out/'test'/'test_preds.csv')
    yv, pv, yt, pt = v[lab].to_numpy(bool), v[f'prob_{lab}'].to_numpy(), te[lab].to_numpy(bool), te[f'prob_{lab}'].to_numpy()
    s = meta['training']
    aug = ', '.join(f'{k} {s.get(k)}' for k in ('flip', 'min_zoom', 'max_zoom', 'max_brightness', 'max_contrast', 'max_gamma'))
    print(f"Kermany {lab}: {s['arch']}, {s['size']} px, {s['epochs']} epochs, lr {s['lr']:g}, bs {s['bs']}, {aug}; bfloat16 {s.get('bf16')} "
          f"({s.get('bf16_why')}), torch threads {s.get('torch_threads')}; pretrained {s['pretrained']}; "
          f"{meta['data']['n_train'] if 'data' in meta else '?'} train / {len(v)} valid (patient-wise) / {len(te)} test images")
    ci = lambda m: f"{m['mean_auroc']:.3f} (95% CI {m['mean_auroc_ci'][0]:.3f}-{m['mean_auroc_ci'][1]:.3f})"
    print(f"validation AUROC {ci(vm)}; test AUROC {ci(tm)} ({tm.get('bootstrap', {}).get('n_boot')} resamples of "
          f"{tm.get('bootstrap', {}).get('n_units')} patients)")
    t0 = float(meta['thresholds'][lab])
    print(f"the model's own threshold {t0:.4f} ({meta.get('threshold_method')}, chosen on validation): test "
          f"{fmt(rates_ci(yt, pt, t0, te['Patient ID'].to_numpy(), n_boot, seed))}")
    for name, method, target in [('youden', 'youden', None)] + [(f'sens{t:g}', 'sensitivity', t) for t in sens]:
        tv = threshold(pv, yv, lab, method, target if target is not None else 0.9)
        r = rates(yt, pt, tv)
        print(f'{name:>9} threshold chosen on validation {tv:.4f}: test accuracy {r["accuracy"]:.3f}, sensitivity {r["sensitivity"]:.3f}, '
              f'specificity {r["specificity"]:.3f}')
    n2 = te['Image Index'].str.split('/').str[-1].str.startswith('NORMAL2-IM').to_numpy()
    print(f'median {lab} score of the normal images: validation {np.median(pv[~yv]):.3f}; test `IM-` {np.median(pt[~yt & ~n2]):.3f} '
          f'({(~yt & ~n2).sum()}), test `NORMAL2-IM` {np.median(pt[~yt & n2]):.3f} ({(~yt & n2).sum()}); of the {lab} images: '
          f'validation {np.median(pv[yv]):.3f}, test {np.median(pt[yt]):.3f}')
    top = te[~yt].sort_values(f'prob_{lab}', ascending=False).head(6)
    print('highest-scoring test normals: ' + ', '.join(f"{r['Image Index']} {r[f'prob_{lab}']:.3f}" for _, r in top.iterrows()))
    print(f"train's wall time {vm.get('seconds', float('nan')):.0f} s; out: {out}")


def main():
    from xraylib.cli import cli_parser
    from xraylib.training.learner import train
    p = cli_parser(train, 'bench_kermany.py')
    p.description = __doc__.split('\n')[0]
    p.set_defaults(data=str(DATA), out=None)
    p.add_argument('--from-run', default=None, help='report on this finished run folder instead of training')
    p.add_argument('--sens', type=lambda s: [float(x) for x in s.split(',') if x], default=[0.95, 0.98],
                   help='validation sensitivities for the fixed-sensitivity threshold rules, comma-separated')
    a = vars(p.parse_args())
    frm, sens = a.pop('from_run'), a.pop('sens')
    if frm is None and not Path(a['data']).is_dir(): print(f"skipped: {a['data']} is absent (see ../shared/README.md)"); return 0
    out = Path(frm or a['out'] or tempfile.mkdtemp(prefix='bench_kermany_')); a['out'] = str(out)
    la0, t0 = loadavg(), time.time()
    if frm is None: train(**a)
    report(out, sens, a['n_boot'], a['seed'])
    if frm is None: print(f'bench wall time {time.time() - t0:.0f} s; load average {la0} at the start, {loadavg()} at the end')
    return 0


if __name__ == '__main__': sys.exit(main())

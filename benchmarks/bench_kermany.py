#!/usr/bin/env python
"""Kermany pneumonia benchmark (issue 25, Deliver 2): train on the shared Kermany set's train/ folder, evaluate its test/ folder once.

    python benchmarks/bench_kermany.py                          # the CPU preset: resnet18, 64 px, 6 epochs, lr 3e-3, bs 32, from scratch
    python benchmarks/bench_kermany.py --size 128               # other settings (see --help)
    python benchmarks/bench_kermany.py --max_lighting 0.5 --max_zoom 1.25 --mixup 0.4

The split is `xraylib train`'s: test/ held out (the official split), validation a patient-wise 20% of train/ (seed 42).
The learner is built here (`xray_dataloaders` + `xray_learner` + `fit_one_cycle`, keeping the best epoch by validation
AUROC, as `xraylib train` does) so that augmentation, mixup, label smoothing, weight decay and dropout can be set; the
probabilities are not recalibrated (a monotone recalibration leaves the AUROC as it is, and moves the rates at a
validation-chosen threshold only through test images scored between the two validation scores it lies midway between). Each threshold rule (F1, Youden's J, a fixed validation sensitivity) is applied to the
*validation* predictions, never to test, and the threshold it picks is then applied to the test predictions: printed
are test AUROC with its patient-bootstrap 95% CI, and accuracy, sensitivity and specificity at each validation
threshold, beside what F1 would pick on test (for reference only), the median scores of validation's and test's
normal images, the load average at the start and end, and the wall time. Real patients (children aged 1-5,
Guangzhou); nothing is written to the repo (runs go to a temporary folder unless --out).
"""
import argparse, os, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
warnings.filterwarnings('ignore')
REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent/'shared'/'data'/'kermany-pneumonia-224'/'chest_xray'


def rates(y, p, t):
    "Accuracy, sensitivity and specificity of `p > t`."
    pr = p > t
    return dict(accuracy=float((pr == y).mean()), sensitivity=float(pr[y].mean()), specificity=float((~pr[~y]).mean()))


def threshold(p, y, lab, method, target=0.9):
    "The threshold `per_label_thresholds` picks on the scores `p` and targets `y` of one label."
    from xraylib.thresholds import EvalData, per_label_thresholds
    return float(per_label_thresholds(EvalData(p[:, None], y[:, None].astype(float), [lab]), method=method, target=target).threshold[0])


def loadavg(): return '{:.2f} {:.2f} {:.2f}'.format(*os.getloadavg())


def build_learner(a, out):
    "The DataLoaders (official split, patient-wise validation) and learner of the run, with its augmentation and regularisation."
    from fastai.vision.all import set_seed, MixUp, Callback
    from xraylib.data import dataset_frame, xray_dataloaders, xray_aug_transforms
    from xraylib.learner import xray_learner, StopOnNonFiniteLoss
    from xraylib.checkpoint import BestModelCallback

    class SmoothTargets(Callback):
        "Label smoothing for the sigmoid: training targets y -> y (1 - eps) + eps / 2."
        order = MixUp.order + 1
        def __init__(self, eps): self.eps = eps
        def before_batch(self):
            if self.training: self.learn.yb = tuple(y * (1 - self.eps) + self.eps / 2 for y in self.yb)

    frame = dataset_frame(DATA)
    set_seed(a.seed)
    aug = xray_aug_transforms(flip=a.flip, max_rotate=a.max_rotate, max_zoom=a.max_zoom, max_shift=a.max_shift,
                              max_lighting=a.max_lighting, p=a.aug_p)
    dls = xray_dataloaders(frame, size=a.size, bs=a.bs, seed=a.seed, split='official', aug=False, batch_tfms=aug,
                           num_workers=0, progress=False)
    set_seed(a.seed)
    cbs = [BestModelCallback(verbose=False), StopOnNonFiniteLoss()]
    if a.mixup: cbs.append(MixUp(a.mixup))
    if a.label_smoothing: cbs.append(SmoothTargets(a.label_smoothing))
    kw = dict(wd=a.wd) if a.wd is not None else {}
    if a.ps is not None: kw['ps'] = a.ps
    learn = xray_learner(dls, a.arch, pretrained='no', download=False, pos_weight=not a.no_pos_weight, path=out, cbs=cbs, **kw)
    return frame, learn


def predict(learn, frame, size):
    "Validation and test (test/, held out) predictions: `(validation frame, test frame, label)`."
    from xraylib.data import official_test_items, cached_frame
    from xraylib.learner import valid_predictions
    with learn.no_bar(): _, _, v = valid_predictions(learn)
    tdf = cached_frame(official_test_items(frame), size, progress=False)
    with learn.no_bar(): _, _, te = valid_predictions(learn, learn.dls.test_dl(tdf, rm_type_tfms=0, with_labels=True))
    return v, te, list(learn.dls.vocab)[0]


def evaluate(df, lab, out, n_boot, seed):
    "AUROC with its patient-bootstrap CI (`write_evaluation` into `out`)."
    from xraylib.evaluate import write_evaluation
    m = write_evaluation(df[[f'prob_{lab}']].to_numpy(), df[[lab]].to_numpy(float), [lab], out, patient_ids=df['Patient ID'].tolist(),
                         image_ids=df['Image Index'].tolist(), n_boot=n_boot, seed=seed)
    return m['mean_auroc'], m.get('mean_auroc_ci'), m.get('bootstrap', {})


def EpochLine(t0):
    "A callback printing one line per epoch: elapsed time, validation AUROC and the load average (the log is off)."
    from fastai.callback.core import Callback
    class _EpochLine(Callback):
        order = 60  # after the Recorder
        def after_epoch(self):
            m = dict(zip(self.recorder.metric_names[1:], self.recorder.log[1:]))
            print(f"  epoch {self.epoch}: {time.time() - t0:.0f} s, validation AUROC {float(m.get('mean_auroc', float('nan'))):.4f}, load {loadavg()}", flush=True)
    return _EpochLine()


def main(a):
    if not DATA.is_dir(): print(f'skipped: {DATA} is absent (see ../shared/README.md)'); return 0
    out = Path(a.out or tempfile.mkdtemp(prefix='bench_kermany_')); out.mkdir(parents=True, exist_ok=True)
    if a.threads: import torch; torch.set_num_threads(a.threads)
    la0, t0 = loadavg(), time.time()
    frame, learn = build_learner(a, out)
    if a.load:  # a finished run's best weights (its `models/best.safetensors`): no training
        from safetensors.torch import load_file
        learn.model.load_state_dict(load_file(a.load))
    else:
        learn.add_cb(EpochLine(t0))
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(a.epochs, a.lr)
        learn.remove_cb(learn.cbs.filter(lambda c: type(c).__name__ == '_EpochLine')[0])  # get_preds calls after_epoch too
    t_fit = time.time() - t0
    v, te, lab = predict(learn, frame, a.size)
    v.to_csv(out/'valid_preds.csv', index=False); te.to_csv(out/'test_preds.csv', index=False)
    va, vci, _ = evaluate(v, lab, out/'valid', a.n_boot, a.seed)
    ta, tci, tb = evaluate(te, lab, out/'test', a.n_boot, a.seed)
    wall = time.time() - t0
    yv, pv, yt, pt = v[lab].to_numpy(bool), v[f'prob_{lab}'].to_numpy(), te[lab].to_numpy(bool), te[f'prob_{lab}'].to_numpy()
    aug = (f'aug rotate {a.max_rotate} zoom {a.max_zoom} shift {a.max_shift} lighting {a.max_lighting} p {a.aug_p}'
           f'{" flip" if a.flip else ""}{f", mixup {a.mixup}" if a.mixup else ""}{f", label smoothing {a.label_smoothing}" if a.label_smoothing else ""}'
           f'{f", wd {a.wd}" if a.wd is not None else ""}{f", ps {a.ps}" if a.ps is not None else ""}{", no pos_weight" if a.no_pos_weight else ""}')
    print(f'Kermany {lab}: {a.arch}, {a.size} px, {a.epochs} epochs, lr {a.lr:g}, bs {a.bs}, {aug}, from scratch; '
          f'{len(learn.dls.train_ds)} train / {len(v)} valid (patient-wise) / {len(te)} test images')
    print(f'validation AUROC {va:.3f} (95% CI {vci[0]:.3f}-{vci[1]:.3f}); test AUROC {ta:.3f} (95% CI {tci[0]:.3f}-{tci[1]:.3f}, '
          f'{tb.get("n_boot")} resamples of {tb.get("n_units")} patients)')
    print(f'median {lab} score of the normal images: validation {np.median(pv[~yv]):.3f}, test {np.median(pt[~yt]):.3f}; '
          f'of the {lab} images: validation {np.median(pv[yv]):.3f}, test {np.median(pt[yt]):.3f}')
    rules = [('f1', 'f1', None), ('youden', 'youden', None)] + [(f'sens{t:g}', 'sensitivity', t) for t in a.sens]
    for name, method, target in rules:
        tv = threshold(pv, yv, lab, method, target if target is not None else 0.9)
        r, rv = rates(yt, pt, tv), rates(yv, pv, tv)
        print(f'{name:>9} threshold chosen on validation {tv:.4f}: test accuracy {r["accuracy"]:.3f}, sensitivity {r["sensitivity"]:.3f}, '
              f'specificity {r["specificity"]:.3f}; normals above it: validation {1 - rv["specificity"]:.3f}, test {1 - r["specificity"]:.3f}')
    tt = threshold(pt, yt, lab, 'f1'); rt = rates(yt, pt, tt)
    print(f'for reference only, the F1 threshold chosen on test {tt:.4f}: accuracy {rt["accuracy"]:.3f}, sensitivity {rt["sensitivity"]:.3f}, '
          f'specificity {rt["specificity"]:.3f}')
    print(f'wall time {wall:.0f} s ({t_fit:.0f} s {"loading" if a.load else "training"}); load average {la0} at the start, {loadavg()} at the end; out: {out}')
    return 0


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--arch', default='resnet18', help='torchvision architecture, from scratch')
    p.add_argument('--size', type=int, default=64, help='image size (squished to size x size)')
    p.add_argument('--epochs', type=int, default=6); p.add_argument('--lr', type=float, default=3e-3, help='one-cycle peak learning rate')
    p.add_argument('--bs', type=int, default=32, help='batch size')
    g = p.add_argument_group('augmentation (xray_aug_transforms; the defaults are the library\'s)')
    g.add_argument('--max_rotate', type=float, default=7., help='degrees'); g.add_argument('--max_zoom', type=float, default=1.1)
    g.add_argument('--max_shift', type=float, default=0.05); g.add_argument('--max_lighting', type=float, default=0.2, help='brightness and contrast')
    g.add_argument('--aug_p', type=float, default=0.75, help='probability of each of the geometric and lighting changes')
    g.add_argument('--flip', action='store_true', help='random horizontal flips')
    g = p.add_argument_group('regularisation')
    g.add_argument('--mixup', type=float, default=0., help="fastai MixUp's alpha (0: off)")
    g.add_argument('--label_smoothing', type=float, default=0., help='training targets y -> y(1-eps)+eps/2 (0: off)')
    g.add_argument('--wd', type=float, default=None, help="weight decay (default: fastai's)")
    g.add_argument('--ps', type=float, default=None, help="dropout of the head (default: fastai's)")
    g.add_argument('--no_pos_weight', action='store_true', help='no positive-class weight (default: neg/pos of the training labels)')
    p.add_argument('--sens', type=lambda s: [float(x) for x in s.split(',') if x], default=[0.95, 0.98],
                   help='validation sensitivities for the fixed-sensitivity threshold rules, comma-separated')
    p.add_argument('--seed', type=int, default=42, help='seed of the split, shuffling and initialisation')
    p.add_argument('--n_boot', type=int, default=1000, help='bootstrap resamples of patients for the CIs')
    p.add_argument('--threads', type=int, default=None, help="torch CPU threads (default: torch's; 1 was faster than 2 on 2 shared, loaded cores)")
    p.add_argument('--load', default=None, help="evaluate these weights (a run's models/best.safetensors, same settings) instead of training")
    p.add_argument('--out', default=None, help='output folder (default: a temporary one)')
    sys.exit(main(p.parse_args()))

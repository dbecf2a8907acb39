"Tests of xraylib.thresholds: the sweep equals fastai's accuracy_multi, per-label thresholds do what they say."
import json, math
import numpy as np
import pandas as pd
import pytest
import torch
from fastai.metrics import accuracy_multi
from sklearn.metrics import f1_score, recall_score, roc_curve
from xraylib.core import PATHOLOGIES
from xraylib.thresholds import (FASTBOOK_THRESHS, threshold_sweep, best_threshold, per_label_thresholds,
                                thresholds_dict, thresholds_array, plot_threshold_sweep)


def _synth(n=600, L=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random((n, L)) < np.linspace(0.02, 0.3, L)
    p = 1 / (1 + np.exp(-(rng.standard_normal((n, L)) + 1.5 * y - 2)))
    return p.astype(np.float32), y


def _chexnet(shared):
    pr = pd.read_csv(shared('chexnet-test-preds', 'test_preds.csv'))
    lab = pd.read_csv(shared('nih-metadata', 'Data_Entry_2017_v2020.csv.gz'), usecols=['Image Index', 'Finding Labels'])
    fl = lab.set_index('Image Index').loc[pr['Image Index'], 'Finding Labels'].str.split('|')
    t = np.stack([fl.apply(lambda s: l in s).to_numpy() for l in PATHOLOGIES], 1)
    return pr[[f'prob_{l}' for l in PATHOLOGIES]].to_numpy(np.float32), t


def test_default_thresholds_are_fastbooks():
    assert np.array_equal(FASTBOOK_THRESHS, torch.linspace(0.05, 0.95, 29).numpy())


@pytest.mark.parametrize('as_torch', [False, True])
def test_sweep_equals_accuracy_multi(as_torch):
    p, y = _synth()
    P, Y = torch.tensor(p), torch.tensor(y.astype(np.float32))
    sw = threshold_sweep(P if as_torch else p, Y if as_torch else y)
    assert len(sw) == 29
    for x, a in zip(torch.linspace(0.05, 0.95, 29), sw.accuracy_multi):
        assert a == accuracy_multi(P, Y, thresh=x, sigmoid=False).item()  # exact, not approximately
    base = accuracy_multi(P, Y, thresh=1.0, sigmoid=False).item()
    assert sw.attrs['all_negative'] == base and (sw.all_negative == base).all()
    i = int(np.argmax(sw.accuracy_multi)); assert sw.best[i] and sw.best.sum() == 1
    assert best_threshold(sw) == sw.threshold[i] == best_threshold(p, y)


def test_sweep_custom_thresholds_and_float64():
    p, y = _synth(seed=3)
    p64 = p.astype(np.float64) + 1e-9
    ts = [0.1, 0.2, 0.5, 0.73]
    sw = threshold_sweep(p64, y, ts)
    for t, a in zip(ts, sw.accuracy_multi):
        assert a == accuracy_multi(torch.tensor(p64), torch.tensor(y), thresh=t, sigmoid=False).item()
    with pytest.raises(ValueError, match='differ in shape'): threshold_sweep(p, y[:10])


def test_sweep_real_chexnet_equals_accuracy_multi(shared):
    p, y = _chexnet(shared)
    sw = threshold_sweep(p, y)
    P, Y = torch.tensor(p), torch.tensor(y)
    for x, a in zip(torch.linspace(0.05, 0.95, 29), sw.accuracy_multi):
        assert a == accuracy_multi(P, Y, thresh=x, sigmoid=False).item()
    # the point of the notebook: predicting nothing is almost as "accurate" as the best threshold
    assert 0.94 < sw.attrs['all_negative'] < 0.95
    assert sw.attrs['best_accuracy'] - sw.attrs['all_negative'] < 0.01


def test_per_label_f1_is_max_and_matches_sklearn():
    p, y = _synth(seed=1)
    th = per_label_thresholds(p, y, list('ABCD'), 'f1')
    assert list(th.columns[:3]) == ['label', 'method', 'threshold']
    for k in range(4):
        ts = np.r_[np.unique(p[:, k]), -1.0]
        pred = p[:, k][None] > ts[:, None]  # brute force: every cut
        tp, fp = (pred & y[:, k]).sum(1), (pred & ~y[:, k]).sum(1)
        best = (2 * tp / (tp + fp + y[:, k].sum())).max()
        assert th.f1[k] == pytest.approx(best, abs=1e-12)
        assert f1_score(y[:, k], p[:, k] > th.threshold[k]) == pytest.approx(th.f1[k], abs=1e-12)
        assert f1_score(y[:, k], p[:, k] >= th.threshold[k]) == pytest.approx(th.f1[k], abs=1e-12)  # midpoints: > and >= agree


def test_per_label_youden_is_max_j():
    p, y = _synth(seed=2)
    th = per_label_thresholds(p, y, list('ABCD'), 'youden')
    for k in range(4):
        fpr, tpr, _ = roc_curve(y[:, k], p[:, k])
        assert th.youden_j[k] == pytest.approx((tpr - fpr).max(), abs=1e-12)
        pred = p[:, k] > th.threshold[k]
        j = recall_score(y[:, k], pred) + recall_score(~y[:, k], ~pred) - 1
        assert j == pytest.approx(th.youden_j[k], abs=1e-12)


@pytest.mark.parametrize('target', [0.8, 0.9, 0.95])
def test_per_label_sensitivity_reaches_target(target):
    p, y = _synth(seed=4)
    th = per_label_thresholds(p, y, list('ABCD'), 'sensitivity', target=target)
    for k in range(4):
        r = recall_score(y[:, k], p[:, k] > th.threshold[k])
        assert r >= target and r == pytest.approx(th.recall[k])
        # the highest such threshold: the next positive score above it would fall below the target
        higher = np.sort(p[y[:, k], k][p[y[:, k], k] > th.threshold[k]])
        assert recall_score(y[:, k], p[:, k] > higher[0]) < target


def test_no_positive_label_gives_nan_and_note():
    p, y = _synth(seed=5)
    y[:, 1] = False; y[:, 2] = True
    for m in ('f1', 'youden', 'sensitivity'):
        th = per_label_thresholds(p, y, list('ABCD'), m)
        assert math.isnan(th.threshold[1]) and 'no positives' in th.note[1]
        assert math.isnan(th.threshold[2]) and 'no negatives' in th.note[2]
        assert not math.isnan(th.threshold[0])
    d = thresholds_dict(th)
    assert json.loads(json.dumps(d, allow_nan=False)) == d and d['B'] is None
    assert thresholds_array(d, ['B', 'A'], default=0.5)[0] == 0.5
    with pytest.raises(ValueError, match='method must be one of'): per_label_thresholds(p, y, list('ABCD'), 'acc')
    with pytest.raises(ValueError, match='3 labels given for 4'): per_label_thresholds(p, y, list('ABC'))


def test_plot_threshold_sweep_writes_png(tmp_path):
    p, y = _synth()
    fig = plot_threshold_sweep(threshold_sweep(p, y), fname=tmp_path/'s.png')
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith('threshold') and ax.get_ylabel() == 'accuracy_multi'
    assert any('predict nothing' in t.get_text() for t in ax.get_legend().get_texts())
    assert (tmp_path/'s.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

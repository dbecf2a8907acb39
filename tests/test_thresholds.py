"Real-data checks of xraylib.evaluation.thresholds (50_evaluation.thresholds checks the rest on synthetic data): on the CheXNet test predictions the sweep equals fastai's accuracy_multi, and predicting nothing is almost as 'accurate' as the best threshold."
import numpy as np
import pandas as pd
import torch
from fastai.metrics import accuracy_multi
from xraylib.core import PATHOLOGIES, parse_finding_labels
from xraylib.evaluation.thresholds import threshold_sweep, per_label_thresholds


def _chexnet(shared):
    pr = pd.read_csv(shared('chexnet-test-preds', 'test_preds.csv'))
    lab = pd.read_csv(shared('nih-metadata', 'Data_Entry_2017_v2020.csv.gz'), usecols=['Image Index', 'Finding Labels'])
    t = parse_finding_labels(lab.set_index('Image Index').loc[pr['Image Index'], 'Finding Labels'])[PATHOLOGIES]
    return pr[[f'prob_{l}' for l in PATHOLOGIES]].to_numpy(np.float32), t.to_numpy().astype(bool)


def test_sweep_real_chexnet_equals_accuracy_multi(shared):
    p, y = _chexnet(shared)
    sw = threshold_sweep(p, y)
    P, Y = torch.tensor(p), torch.tensor(y)
    for x, a in zip(torch.linspace(0.05, 0.95, 29), sw.accuracy_multi):
        assert a == accuracy_multi(P, Y, thresh=x, sigmoid=False).item()  # exact, not approximately
    # the point of the notebook: predicting nothing is almost as "accurate" as the best threshold
    assert 0.94 < sw.attrs['all_negative'] < 0.95
    assert sw.attrs['best_accuracy'] - sw.attrs['all_negative'] < 0.01
    th = per_label_thresholds(p, y, PATHOLOGIES, 'f1')
    assert th.threshold.notna().all() and (th.f1 > 0).all()  # every label has positives and negatives here

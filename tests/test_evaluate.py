"Real-data checks of xraylib.evaluate (06_evaluate checks the rest): `python -m xraylib.evaluate` in a subprocess on the CheXNet test predictions reproduces the published AUROCs, and its sweep equals fastai's accuracy_multi."
import json, subprocess, sys, time
import numpy as np
import pandas as pd
import pytest
from xraylib.evaluate import read_predictions

PNG = b'\x89PNG\r\n\x1a\n'
FILES = {'metrics.json', 'auroc.csv', 'thresholds.csv', 'confusion.csv', 'sweep.csv', 'report.md',
         'sweep.png', 'roc.png', 'pr.png', 'rates.png', 'confusion.png', 'prevalence.png'}


@pytest.fixture(scope='module')
def chexnet_run(tmp_path_factory):
    "Run `python -m xraylib.evaluate` once on the real predictions (1,000 patient resamples); skip without the data."
    from conftest import SHARED
    preds, labels = SHARED/'chexnet-test-preds'/'test_preds.csv', SHARED/'nih-metadata'/'Data_Entry_2017_v2020.csv.gz'
    if not preds.exists() or not labels.exists(): pytest.skip(f'real data not available: {preds.parent} (see ../shared/README.md)')
    out = tmp_path_factory.mktemp('chexnet')/'ev'
    t0 = time.time()
    r = subprocess.run([sys.executable, '-m', 'xraylib.evaluate', '--preds', str(preds), '--labels', str(labels),
                        '--out', str(out), '--n_boot', '1000'], capture_output=True, text=True, timeout=300)
    return r, out, time.time() - t0, SHARED


def test_cli_reproduces_chexnet_aurocs(chexnet_run):
    r, out, secs, shared = chexnet_run
    assert r.returncode == 0, r.stderr[-2000:]
    assert {o.name for o in out.iterdir()} == FILES
    ref = pd.read_csv(shared/'chexnet-test-preds'/'aucs.csv').set_index('label').auc
    got = pd.read_csv(out/'auroc.csv').set_index('label')
    assert np.abs(got.auroc[ref.index] - ref).max() <= 1e-6
    m = json.loads((out/'metrics.json').read_text())
    for l, a in ref.items(): assert abs(m['auroc'][l]['auroc'] - a) <= 1e-6
    assert abs(m['mean_auroc'] - ref.mean()) <= 1e-6
    assert m['bootstrap']['n_boot'] == 1000 and m['bootstrap']['unit'] == 'patient'
    assert 0.94 < m['all_negative_accuracy'] < m['best_accuracy_multi'] < 0.95
    assert 'Hernia' in r.stdout and 'mean AUROC 0.838' in r.stdout and str(out) in r.stdout
    for f in FILES:
        if f.endswith('.png'): assert (out/f).read_bytes()[:8] == PNG
    print(f'xraylib.evaluate on 22,433 x 14 with 1,000 patient resamples: {secs:.1f} s (whole command)')


def test_cli_sweep_equals_accuracy_multi(chexnet_run):
    import torch
    from fastai.metrics import accuracy_multi
    r, out, _, shared = chexnet_run
    ed = read_predictions(shared/'chexnet-test-preds'/'test_preds.csv', shared/'nih-metadata'/'Data_Entry_2017_v2020.csv.gz')
    sw = pd.read_csv(out/'sweep.csv')
    P, Y = torch.tensor(ed.preds.astype(np.float32)), torch.tensor(ed.targs)
    for x, a in zip(torch.linspace(0.05, 0.95, 29), sw.accuracy_multi):
        assert a == accuracy_multi(P, Y, thresh=x, sigmoid=False).item()

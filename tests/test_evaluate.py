"Real-data checks of xraylib.evaluation.evaluate (56_evaluation.evaluate checks the rest): `python -m xraylib.evaluation.evaluate --by sex,age,view` in a subprocess on the CheXNet test predictions reproduces the published AUROCs, its sweep equals fastai's accuracy_multi, and every value of subgroups.csv and calibration.csv equals a direct scikit-learn/NumPy computation on the same subset."
import json, os, subprocess, sys, time
import numpy as np
import pandas as pd
import pytest
from xraylib.evaluation.evaluate import read_predictions

PNG = b'\x89PNG\r\n\x1a\n'
FILES = {'metrics.json', 'auroc.csv', 'thresholds.csv', 'confusion.csv', 'sweep.csv', 'calibration.csv', 'subgroups.csv', 'report.md',
         'sweep.png', 'roc.png', 'pr.png', 'rates.png', 'confusion.png', 'prevalence.png', 'calibration.png', 'subgroups.png'}


@pytest.fixture(scope='module')
def chexnet_run(tmp_path_factory):
    "Run `python -m xraylib.evaluation.evaluate --by sex,age,view` once on the real predictions (1,000 patient resamples); skip without the data."
    from conftest import SHARED
    preds, labels = SHARED/'chexnet-test-preds'/'test_preds.csv', SHARED/'nih-metadata'/'Data_Entry_2017_v2020.csv.gz'
    if not preds.exists() or not labels.exists(): pytest.skip(f'real data not available: {preds.parent} (see ../shared/README.md)')
    out = tmp_path_factory.mktemp('chexnet')/'ev'
    t0 = time.time()
    r = subprocess.run([sys.executable, '-m', 'xraylib.evaluation.evaluate', '--preds', str(preds), '--labels', str(labels),
                        '--out', str(out), '--n_boot', '1000', '--by', 'sex,age,view'], capture_output=True, text=True, timeout=300)
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
    assert 'Hernia' in r.stdout and 'mean AUROC 0.8383 over the 14 findings' in r.stdout and str(out) in r.stdout
    assert m['auroc_no_finding'] is None and 'No Finding is never averaged in' in (out/'report.md').read_text()
    for f in FILES:
        if f.endswith('.png'): assert (out/f).read_bytes()[:8] == PNG
    print(f'xraylib.evaluation.evaluate --by sex,age,view on 22,433 x 14 with 1,000 patient resamples: {secs:.1f} s (whole command; '
          f'load average {os.getloadavg()[0]:.1f})')


def test_cli_sweep_equals_accuracy_multi(chexnet_run):
    import torch
    from fastai.metrics import accuracy_multi
    r, out, _, shared = chexnet_run
    ed = read_predictions(shared/'chexnet-test-preds'/'test_preds.csv', shared/'nih-metadata'/'Data_Entry_2017_v2020.csv.gz')
    sw = pd.read_csv(out/'sweep.csv')
    P, Y = torch.tensor(ed.preds.astype(np.float32)), torch.tensor(ed.targs)
    for x, a in zip(torch.linspace(0.05, 0.95, 29), sw.accuracy_multi):
        assert a == accuracy_multi(P, Y, thresh=x, sigmoid=False).item()


@pytest.fixture(scope='module')
def chexnet_direct(chexnet_run):
    "Predictions, targets, patient ids and each image's sex / age band / view, read with pandas alone (no xraylib)."
    _, out, _, shared = chexnet_run
    pr = pd.read_csv(shared/'chexnet-test-preds'/'test_preds.csv')
    lab = pd.read_csv(shared/'nih-metadata'/'Data_Entry_2017_v2020.csv.gz').set_index('Image Index').loc[pr['Image Index']]
    labels = [c[5:] for c in pr.columns if c.startswith('prob_')]
    P = pr[[f'prob_{l}' for l in labels]].to_numpy()
    Y = np.array([[l in f.split('|') for l in labels] for f in lab['Finding Labels']])
    age = lab['Patient Age'].to_numpy()
    band = np.select([age < 20, age < 40, age < 60, age < 80, age <= 120], ['0-19', '20-39', '40-59', '60-79', '80+'], None)
    groups = dict(sex=lab['Patient Gender'].to_numpy(), age=band, view=lab['View Position'].to_numpy())
    return out, labels, P, Y, lab['Patient ID'].to_numpy(), groups


def test_subgroups_equal_direct_computation(chexnet_direct):
    from sklearn.metrics import roc_auc_score
    out, labels, P, Y, pid, groups = chexnet_direct
    st = pd.read_csv(out/'subgroups.csv')
    assert st.columns[:10].tolist() == ['attribute', 'group', 'n_images', 'n_patients', 'label', 'auroc', 'auroc_lo', 'auroc_hi', 'tpr', 'fpr']
    th = pd.read_csv(out/'thresholds.csv').set_index('label').threshold
    assert set(st.attribute) == {'sex', 'age', 'view'} and len(st) == (2 + 5 + 2) * (len(labels) + 1)
    for (a, g), rows in st.groupby(['attribute', 'group']):
        m = groups[a] == g
        assert (rows.n_images == m.sum()).all() and (rows.n_patients == len(np.unique(pid[m]))).all()
        au, tp, fp = [], [], []
        for k, l in enumerate(labels):
            y, p = Y[m, k], P[m, k]
            au.append(roc_auc_score(y, p) if 0 < y.sum() < len(y) else np.nan)
            pred = p > th[l]
            tp.append(pred[y].mean() if y.any() else np.nan); fp.append(pred[~y].mean() if (~y).any() else np.nan)
        both = ~np.isnan(au)  # the mean row: the pathologies with both classes in the group
        want = pd.DataFrame(dict(auroc=au + [np.mean(np.array(au)[both])], tpr=tp + [np.mean(np.array(tp)[both])],
                                 fpr=fp + [np.mean(np.array(fp)[both])]))
        got = rows.set_index('label').loc[labels + ['mean'], ['auroc', 'tpr', 'fpr']].reset_index(drop=True)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-6, equal_nan=True)
    ok = st.auroc.notna()
    assert (st.auroc_lo[ok] <= st.auroc[ok] + 1e-12).all() and (st.auroc[ok] <= st.auroc_hi[ok] + 1e-12).all()
    ap, pa = (st.query(f"attribute == 'view' and group == '{g}' and label == 'mean'").auroc.item() for g in ('AP', 'PA'))
    assert ap < pa  # CheXNet is worse on bedside (AP) images


def test_subgroup_intervals_reproducible(chexnet_direct):
    from xraylib.evaluation.evaluate import read_predictions
    from xraylib.evaluation.subgroups import subgroup_table
    out, labels, P, Y, pid, groups = chexnet_direct
    from conftest import SHARED
    ed = read_predictions(SHARED/'chexnet-test-preds'/'test_preds.csv', SHARED/'nih-metadata'/'Data_Entry_2017_v2020.csv.gz')
    th = pd.read_csv(out/'thresholds.csv')
    again = subgroup_table(ed.preds, ed.targs, ed.labels, ed.metadata, 'view', th, ed.patient_ids, n_boot=1000, seed=42)
    st = pd.read_csv(out/'subgroups.csv').query("attribute == 'view'").reset_index(drop=True)
    np.testing.assert_allclose(again[['auroc_lo', 'auroc_hi']].to_numpy(), st[['auroc_lo', 'auroc_hi']].to_numpy(), atol=1e-9, equal_nan=True)


def test_calibration_equals_direct_computation(chexnet_direct):
    from sklearn.metrics import brier_score_loss
    from xraylib.evaluation.calibration import calibration_table
    out, labels, P, Y, pid, groups = chexnet_direct
    ct = pd.read_csv(out/'calibration.csv')
    assert ct.columns[:5].tolist() == ['label', 'ece', 'ece_lo', 'ece_hi', 'brier'] and ct.label.tolist() == labels + ['mean']
    ece, brier = [], []
    for k in range(len(labels)):
        p, y = P[:, k], Y[:, k]; b = np.minimum(np.floor(p * 10), 9)
        ece.append(sum(abs(y[b == i].mean() - p[b == i].mean()) * (b == i).mean() for i in range(10) if (b == i).any()))
        brier.append(brier_score_loss(y, p))
    np.testing.assert_allclose(ct.ece, ece + [np.mean(ece)], atol=1e-6)
    np.testing.assert_allclose(ct.brier, brier + [np.mean(brier)], atol=1e-6)
    assert (ct.ece_lo <= ct.ece).all() and (ct.ece <= ct.ece_hi).all()
    again = calibration_table(P, Y, labels, pid, n_boot=1000, seed=42)
    np.testing.assert_allclose(again[['ece_lo', 'ece_hi']].to_numpy(), ct[['ece_lo', 'ece_hi']].to_numpy(), atol=1e-9)

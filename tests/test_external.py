"External validation on real data: the CheXNet test predictions (a model trained on NIH's text-mined labels) scored by `xraylib evaluate` against the Google 2019 radiologist labels (other label names, a target made of two model labels), checked against scikit-learn on the same rows."
import json, subprocess
import numpy as np, pandas as pd, pytest
from sklearn.metrics import roc_auc_score


@pytest.fixture(scope='module')
def g19(tmp_path_factory):
    "`xraylib evaluate --preds CheXNet --labels google2019 --format google2019 --map ...` once; the inputs joined by pandas on the same rows."
    from conftest import shared_path
    preds, labels = shared_path('chexnet-test-preds', 'test_preds.csv'), shared_path('nih-metadata', 'google2019_nih-chest-xray-labels.csv.gz')
    out = tmp_path_factory.mktemp('g19')/'ev'
    r = subprocess.run(['xraylib', 'evaluate', '--preds', str(preds), '--labels', str(labels), '--out', str(out), '--n-boot', '200',
                        '--format', 'google2019', '--map', 'Nodule or mass=Nodule|Mass'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    j = pd.read_csv(preds).merge(pd.read_csv(labels), on='Image Index')  # the same rows, joined independently
    return out, r.stdout, j


def test_expert_label_aurocs_match_sklearn(g19):
    out, stdout, j = g19
    m = json.loads((out/'metrics.json').read_text())
    assert len(j) == 935 and m['n_images'] == 935 and sorted(m['labels']) == ['Nodule or mass', 'Pneumothorax']
    want = {'Pneumothorax': roc_auc_score(j['Pneumothorax'] == 'YES', j['prob_Pneumothorax']),
            'Nodule or mass': roc_auc_score(j['Nodule or mass'] == 'YES', np.maximum(j['prob_Nodule'], j['prob_Mass']))}
    for lab, auc in want.items():
        a = m['auroc'][lab]
        assert a['auroc'] == pytest.approx(auc, abs=1e-9) and a['auroc_ci'][0] < auc < a['auroc_ci'][1]
        assert a['n_pos'] + a['n_neg'] == 935


def test_text_mined_labels_reported_beside(g19):
    out, stdout, j = g19
    m = json.loads((out/'text_mined'/'metrics.json').read_text())
    f = j['Finding Labels'].str.split('|')
    has = lambda *ls: f.map(lambda v: any(l in v for l in ls))
    want = {'Pneumothorax': roc_auc_score(has('Pneumothorax'), j['prob_Pneumothorax']),
            'Nodule or mass': roc_auc_score(has('Nodule', 'Mass'), np.maximum(j['prob_Nodule'], j['prob_Mass']))}
    for lab, auc in want.items(): assert m['auroc'][lab]['auroc'] == pytest.approx(auc, abs=1e-9)
    assert '935 of 22,433 predicted images matched' in stdout and 'NIH text-mined' in stdout
    assert (out/'external.md').read_text().count('| Pneumothorax |') == 2  # the pairs table and the two references side by side


def test_labels_not_comparable_are_named(g19):
    out, stdout, j = g19
    line = next(l for l in stdout.splitlines() if l.startswith('Not comparable'))
    assert 'dataset labels Fracture, Airspace opacity' in line and 'Effusion' in line and 'Nodule,' not in line

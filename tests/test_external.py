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
    assert (out/'external.md').read_text().count('| Pneumothorax |') == 3  # the pairs table, the two references side by side, Google's two sets


def test_labels_not_comparable_are_named(g19):
    out, stdout, j = g19
    line = next(l for l in stdout.splitlines() if l.startswith('Not comparable'))
    assert 'dataset labels Fracture, Airspace opacity' in line and 'Effusion' in line and 'Nodule,' not in line


def test_kermany_folder_rows_matched_by_path_suffix(shared, tmp_path):
    "Predictions named below ROOT/test (as `xraylib predict ROOT/test --csv` names them) match the folder reader's ids below ROOT; bare names match too, since none recurs."
    from xraylib.evaluation.external import read_external
    from xraylib.evaluation.evaluate import auroc_table
    root = shared('kermany-pneumonia-224', 'chest_xray')
    files = sorted(p.relative_to(root/'test').as_posix() for p in (root/'test').rglob('*.jpeg'))
    y = np.array([f.startswith('PNEUMONIA/') for f in files], float)
    p = np.random.default_rng(0).random(len(files)) * 0.6 + 0.4 * y  # made-up scores: only the matching is under test
    pd.DataFrame({'Image Index': files, 'prob_Pneumonia': p}).to_csv(tmp_path/'p.csv', index=False)
    ed, s = read_external(tmp_path/'p.csv', root)
    assert (s['n_matched'], s['n_predicted'], s['n_dataset'], s['n_ambiguous']) == (624, 624, 5840, 0) and list(ed.labels) == ['PNEUMONIA']
    assert auroc_table(ed, n_boot=0).auroc[0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    pd.DataFrame({'Image Index': [f.split('/')[-1] for f in files], 'prob_Pneumonia': p}).to_csv(tmp_path/'bare.csv', index=False)
    _, s = read_external(tmp_path/'bare.csv', root)
    assert (s['n_matched'], s['n_ambiguous']) == (624, 0)  # no file name of test/ recurs in train/ here, so bare names are unambiguous too


def test_graded_at_thresholds_chosen_elsewhere(g19, tmp_path):
    "`--model`: Google's expert labels graded at thresholds chosen on NIH's other test images (not on the 935 scored), said in every file; without it, said optimistic."
    from conftest import shared_path
    out, stdout, j = g19
    preds, meta = shared_path('chexnet-test-preds', 'test_preds.csv'), shared_path('nih-metadata', 'Data_Entry_2017_v2020.csv.gz')
    p = pd.read_csv(preds); rest = p[~p['Image Index'].isin(j['Image Index'])]  # the official test images Google did not adjudicate
    rest.to_csv(tmp_path/'p.csv', index=False)
    pd.read_csv(meta)[lambda d: d['Image Index'].isin(rest['Image Index'])].to_csv(tmp_path/'l.csv', index=False)
    run = lambda *a: subprocess.run(['xraylib', 'evaluate', '--n-boot', '20', *a], capture_output=True, text=True, timeout=300)
    r = run('--preds', str(tmp_path/'p.csv'), '--labels', str(tmp_path/'l.csv'), '--out', str(tmp_path/'a'))
    assert r.returncode == 0, r.stderr
    r = run('--preds', str(preds), '--labels', str(shared_path('nih-metadata', 'google2019_nih-chest-xray-labels.csv.gz')), '--out', str(tmp_path/'b'),
            '--format', 'google2019', '--map', 'Nodule or mass=Nodule|Mass', '--model', str(tmp_path/'a'))
    assert r.returncode == 0, r.stderr
    a, b = (pd.read_csv(tmp_path/x/'thresholds.csv').set_index('label') for x in 'ab')
    assert b.threshold['Pneumothorax'] == a.threshold['Pneumothorax'] and len(rest) == 22433 - 935
    assert b.threshold['Nodule or mass'] == min(a.threshold['Nodule'], a.threshold['Mass'])  # a composite: called when any part passes its own
    cf = pd.read_csv(tmp_path/'b'/'confusion.csv').set_index('label').loc['Nodule or mass']
    called = (j['prob_Nodule'] > a.threshold['Nodule']) | (j['prob_Mass'] > a.threshold['Mass'])  # by hand, on the 935 rows
    pos, neg = j['Nodule or mass'] == 'YES', j['Nodule or mass'] == 'NO'
    assert (cf.TP, cf.FP, cf.FN, cf.TN) == ((called & pos).sum(), (called & neg).sum(), (~called & pos).sum(), (~called & neg).sum())
    assert cf.TP + cf.FP > 0
    on = f'the images scored in {tmp_path/"a"/"metrics.json"}'  # chosen on A's images, none of them scored here: said, not optimistic
    assert set(b.chosen_on) == {on} and f'thresholds (f1) chosen on {on}' in r.stdout and f'chosen on {on}, none of them among' in (tmp_path/'b'/'report.md').read_text()
    assert '## Thresholds chosen on these data: optimistic' in (tmp_path/'b'/'report.md').read_text()
    assert 'thresholds (f1) chosen on these data' in stdout and 'optimistic' in stdout  # the run without --model says so
    assert set(pd.read_csv(out/'thresholds.csv').chosen_on) == {'these data'}
    ext = (tmp_path/'b'/'external.md').read_text()  # Google's two sets apart; NIH's partition unknown here (no train_val_list.txt)
    assert {'set_test', 'set_val'} <= {d.name for d in (tmp_path/'b').iterdir()} and 'test: AUROC' in ext and "NIH's partition of these images is unknown" in ext

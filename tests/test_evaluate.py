"Tests of xraylib.evaluate: AUROC reproduction on real CheXNet predictions, bootstrap behaviour, reading CSVs, the CLI."
import json, math, subprocess, sys, time
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, average_precision_score
from xraylib.evaluate import (auroc_table, bootstrap_weights, _weighted_auc_ap, _sorted, confusion_at, read_predictions,
                              write_evaluation, evaluate_cli, plot_roc, plot_pr, plot_rates_vs_threshold, plot_confusion,
                              plot_prevalence)
from xraylib.thresholds import per_label_thresholds, threshold_sweep

PNG = b'\x89PNG\r\n\x1a\n'
FILES = {'metrics.json', 'auroc.csv', 'thresholds.csv', 'confusion.csv', 'sweep.csv', 'report.md',
         'sweep.png', 'roc.png', 'pr.png', 'rates.png', 'confusion.png', 'prevalence.png'}


def _synth(n=400, L=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random((n, L)) < np.linspace(0.1, 0.3, L)
    p = np.clip(0.2 * rng.standard_normal((n, L)) + 0.3 * y + 0.3, 0, 1)
    return p, y


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


def test_weighted_auc_ap_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.2
    p = np.round(rng.random(300) * 0.5 + 0.3 * y, 2)  # many ties
    w = np.concatenate([np.ones((1, 300), np.float32), next(bootstrap_weights(300, 4, seed=3))])
    auc, ap = _weighted_auc_ap(w, _sorted(p, y))
    for i in range(len(w)):
        assert auc[i] == pytest.approx(roc_auc_score(y, p, sample_weight=w[i]), abs=1e-12)
        assert ap[i] == pytest.approx(average_precision_score(y, p, sample_weight=w[i]), abs=1e-12)


def test_auroc_table_estimates_cis_and_determinism():
    p, y = _synth()
    tb = auroc_table(p, y, list('ABC'), n_boot=300, seed=1)
    assert list(tb.label) == ['A', 'B', 'C', 'mean']
    for k in range(3):
        assert tb.auroc[k] == roc_auc_score(y[:, k], p[:, k]) and tb.ap[k] == average_precision_score(y[:, k], p[:, k])
        assert tb.auroc_lo[k] < tb.auroc[k] < tb.auroc_hi[k] and tb.ap_lo[k] < tb.ap[k] < tb.ap_hi[k]
        assert tb.n_pos[k] == y[:, k].sum() and tb.prevalence[k] == y[:, k].mean()
    assert tb.auroc_lo[3] < tb.auroc[3] < tb.auroc_hi[3]
    pd.testing.assert_frame_equal(tb, auroc_table(p, y, list('ABC'), n_boot=300, seed=1))
    assert not tb.equals(auroc_table(p, y, list('ABC'), n_boot=300, seed=2))
    assert tb.attrs['unit'] == 'image'


def test_missing_labels_are_nan_not_half_or_error():
    p, y = _synth()
    y[:, 1] = False; y[:, 2] = True
    tb = auroc_table(p, y, list('ABC'), n_boot=50)
    for k, why in ((1, 'no positives'), (2, 'no negatives')):
        assert math.isnan(tb.auroc[k]) and math.isnan(tb.auroc_lo[k]) and why in tb.note[k]
    assert tb.auroc[3] == tb.auroc[0]  # the mean skips missing labels
    y[:, 0] = False
    assert math.isnan(auroc_table(p, y, list('ABC'), n_boot=20).auroc[3])


def test_patient_resampling_used_when_ids_given():
    g = np.repeat(np.arange(40), 5)
    w = np.concatenate(list(bootstrap_weights(200, 30, seed=0, groups=g)))
    assert (w.reshape(30, 40, 5) == w.reshape(30, 40, 5)[:, :, :1]).all()  # one count per patient
    assert (w.sum(1) % 5 == 0).all()
    wi = np.concatenate(list(bootstrap_weights(200, 30, seed=0)))
    assert (wi.sum(1) == 200).all() and not (wi.reshape(30, 40, 5) == wi.reshape(30, 40, 5)[:, :, :1]).all()
    # 5 identical images per patient: resampling images understates the uncertainty, patients do not
    rng = np.random.default_rng(0)
    y1 = rng.random(40) < 0.4; p1 = np.clip(0.3 * rng.standard_normal(40) + 0.3 * y1 + 0.35, 0, 1)
    p, y = np.repeat(p1, 5)[:, None], np.repeat(y1, 5)[:, None]
    tp = auroc_table(p, y, ['A'], patient_ids=g, n_boot=400)
    ti = auroc_table(p, y, ['A'], n_boot=400)
    assert tp.attrs['unit'] == 'patient' and tp.attrs['n_units'] == 40
    assert (tp.auroc_hi[0] - tp.auroc_lo[0]) > 1.5 * (ti.auroc_hi[0] - ti.auroc_lo[0])


def test_confusion_at_counts_and_thresholds():
    p, y = _synth()
    th = per_label_thresholds(p, y, list('ABC'))
    cf = confusion_at(p, y, list('ABC'), th)
    for k in range(3):
        pred = p[:, k] > th.threshold[k]
        assert cf.TP[k] == (pred & y[:, k]).sum() and cf.FP[k] == (pred & ~y[:, k]).sum()
        assert cf.FN[k] == (~pred & y[:, k]).sum() and cf.TN[k] == (~pred & ~y[:, k]).sum()
        assert cf.f1[k] == pytest.approx(th.f1[k], abs=1e-12)
    assert (confusion_at(p, y, list('ABC'), 0.5).threshold == 0.5).all()
    with pytest.raises(ValueError, match='no threshold for label'): confusion_at(p, y, list('ABC'), {'A': .5})


def test_plots_return_figures_with_titles(tmp_path):
    import matplotlib.pyplot as plt
    p, y = _synth(); y[:, 2] = False
    tb = auroc_table(p, y, list('ABC'), n_boot=20)
    th = per_label_thresholds(p, y, list('ABC'))
    figs = {'roc': plot_roc(p, y, list('ABC'), tb, fname=tmp_path/'roc.png'), 'pr': plot_pr(p, y, list('ABC'), tb, fname=tmp_path/'pr.png'),
            'rates': plot_rates_vs_threshold(p, y, list('ABC'), th, fname=tmp_path/'rates.png'),
            'confusion': plot_confusion(confusion_at(p, y, list('ABC'), th), fname=tmp_path/'confusion.png'),
            'prevalence': plot_prevalence(y, list('ABC'), fname=tmp_path/'prevalence.png')}
    for k, f in figs.items():
        assert (tmp_path/f'{k}.png').read_bytes()[:8] == PNG
        titles = ' '.join(a.get_title() + ' ' + ' '.join(t.get_text() for t in a.get_yticklabels()) for a in f.axes)
        assert f.axes[0].get_title() or f._suptitle is not None, k
        assert 'A' in titles and 'B' in titles, k
        plt.close(f)
    leg = figs['roc'].axes[0].get_legend().get_texts()[0].get_text()
    assert leg.startswith(f'AUROC {tb.auroc[0]:.3f}')


@pytest.fixture
def csvs(tmp_path):
    pd.DataFrame({'Image Index': ['00000001_000.png', '00000001_001.png', '00000002_000.png', '00000003_000.png'],
                  'Finding Labels': ['Effusion|Hernia', 'No Finding', 'Effusion', 'Mass'], 'Patient ID': [1, 1, 2, 3]}
                 ).to_csv(tmp_path/'labels.csv', index=False)
    return tmp_path


def test_read_predictions_joins_and_names_errors(csvs):
    pd.DataFrame({'Image Index': ['00000002_000.png', '00000001_000.png', '00000003_000.png'],
                  'Effusion': [.9, .8, .1], 'Mass': [.2, .1, .7]}).to_csv(csvs/'p.csv', index=False)
    ed = read_predictions(csvs/'p.csv', csvs/'labels.csv')
    assert ed.labels == ['Effusion', 'Mass'] and ed.targs.tolist() == [[1, 0], [1, 0], [0, 1]]
    assert ed.patient_ids.tolist() == [2, 1, 3] and ed.preds[0].tolist() == [.9, .2]
    pd.DataFrame({'Image Index': ['00000002_000.png'], 'prob_Efusion': [.9], 'prob_Mass': [.1], 'Score': [1]}).to_csv(csvs/'bad.csv', index=False)
    with pytest.raises(ValueError, match='not a known label: prob_Efusion'): read_predictions(csvs/'bad.csv', csvs/'labels.csv')
    pd.DataFrame({'Image Index': ['00000002_000.png'], 'Efusion': [.9], 'Cardio': [.1]}).to_csv(csvs/'bad2.csv', index=False)
    with pytest.raises(ValueError, match='Efusion, Cardio'): read_predictions(csvs/'bad2.csv', csvs/'labels.csv')
    with pytest.raises(ValueError, match='no prediction column for label.*Hernia'): read_predictions(csvs/'p.csv', csvs/'labels.csv', ['Hernia'])
    pd.DataFrame({'Image Index': ['00000002_000.png', 'x.png', 'y.png'], 'Mass': [.9, .1, .2]}).to_csv(csvs/'miss.csv', index=False)
    with pytest.raises(ValueError, match='2 of 3 predicted images are missing from the labels file'): read_predictions(csvs/'miss.csv', csvs/'labels.csv')


def test_write_evaluation_and_cli_write_all_files(csvs, tmp_path, capsys):
    rng = np.random.default_rng(0)
    ids = [f'{i // 3:08d}_{i % 3:03d}.png' for i in range(300)]
    y = rng.random((300, 2)) < [0.2, 0.3]
    p = np.clip(0.2 * rng.standard_normal((300, 2)) + 0.3 * y + 0.3, 0, 1)
    m = write_evaluation(p, y, ['Effusion', 'Mass'], tmp_path/'w', image_ids=ids, n_boot=50)
    assert {o.name for o in (tmp_path/'w').iterdir()} == FILES == set(m['files'])
    assert m['bootstrap']['unit'] == 'patient' and m['bootstrap']['n_units'] == 100  # patients from NIH image names
    assert json.loads((tmp_path/'w'/'metrics.json').read_text()) == m
    assert m['accuracy_multi_at_0_5'] == threshold_sweep(p.astype(np.float32), y, [0.5]).accuracy_multi[0]
    assert set(m['thresholds']) == {'Effusion', 'Mass'} and 'sweep.png' in (tmp_path/'w'/'report.md').read_text()
    # the CLI, its argv parsed as the `xraylib` dispatcher does (anno_parser), in-process to save a start-up
    pd.DataFrame({'Image Index': ids[:4], 'prob_Effusion': [.9, .1, .8, .3], 'prob_Mass': [.1, .2, .3, .9]}).to_csv(csvs/'p.csv', index=False)
    lab = pd.DataFrame({'Image Index': ids[:4], 'Finding Labels': ['Effusion', 'No Finding', 'Effusion|Mass', 'Mass'],
                        'Patient ID': [0, 0, 0, 1]})
    lab.to_csv(csvs/'l.csv.gz', index=False)
    from fastcore.script import anno_parser
    args = vars(anno_parser(evaluate_cli).parse_args(['--preds', str(csvs/'p.csv'), '--labels', str(csvs/'l.csv.gz'),
                                                      '--out', str(tmp_path/'c'), '--n_boot', '30', '--seed', '1']))
    args.pop('pdb', None); args.pop('xtra', None)
    assert evaluate_cli(**args) == 0
    out = capsys.readouterr().out
    assert {o.name for o in (tmp_path/'c').iterdir()} == FILES
    assert 'Effusion' in out and 'wrote 12 files' in out and '30 bootstrap resamples of 2 patients' in out
    assert evaluate_cli(preds=None, labels=None) == 2

"`xraylib.evaluation.compare` on the real CheXNet test predictions: DeLong's p against an independent O(m*n) implementation; `compare_cli` in-process, and its errors."
import numpy as np, pandas as pd, pytest
from scipy.stats import norm
from xraylib.evaluation.compare import compare_models, compare_cli, COMPARISON_COLUMNS as COLUMNS
from xraylib.core import PATHOLOGIES


def delong_slow(y, pa, pb, chunk=512):
    "DeLong's test from its definition: the structural components psi(x_i, y_j) for every positive-negative pair, in chunks."
    y = np.asarray(y).astype(bool)
    V10, V01, auc = [], [], []
    for s in (np.asarray(pa, np.float64), np.asarray(pb, np.float64)):
        x, z = s[y], s[~y]
        v10, v01 = np.empty(len(x)), np.zeros(len(z))
        for i in range(0, len(x), chunk):
            psi = (x[i:i+chunk, None] > z[None]) + 0.5 * (x[i:i+chunk, None] == z[None])
            v10[i:i+chunk] = psi.mean(1); v01 += psi.sum(0)
        V10.append(v10); V01.append(v01 / len(x)); auc.append(v10.mean())
    S = np.cov(np.stack(V10)) / len(V10[0]) + np.cov(np.stack(V01)) / len(V01[0])
    z = (auc[1] - auc[0]) / np.sqrt(S[0, 0] + S[1, 1] - 2 * S[0, 1])
    return auc[0], auc[1], 2 * norm.sf(abs(z))


@pytest.fixture(scope='module')
def chexnet(tmp_path_factory):
    "The CheXNet test predictions, a copy with Gaussian noise (sd 0.5) on the logits, and the NIH labels."
    from conftest import shared_path
    preds, labels = shared_path('chexnet-test-preds', 'test_preds.csv'), shared_path('nih-metadata', 'Data_Entry_2017_v2020.csv.gz')
    P = pd.read_csv(preds); c = [k for k in P.columns if k.startswith('prob_')]
    p = P[c].clip(1e-7, 1 - 1e-7)
    P[c] = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + np.random.default_rng(0).normal(0, 0.5, p.shape))))
    noisy = tmp_path_factory.mktemp('cmp')/'noisy.csv'; P.to_csv(noisy, index=False)
    return preds, noisy, labels


def test_delong_matches_definition(chexnet):
    preds, noisy, labels = chexnet
    df = compare_models(preds, noisy, labels, n_boot=20)
    A, B = pd.read_csv(preds).set_index('Image Index'), pd.read_csv(noisy).set_index('Image Index')
    lab = pd.read_csv(labels).set_index('Image Index').loc[A.index, 'Finding Labels'].str.split('|')
    for r in df.iloc[:-1].itertuples():
        y = lab.map(lambda ls: r.label in ls).to_numpy()
        aa, ab, p = delong_slow(y, A[f'prob_{r.label}'], B[f'prob_{r.label}'])
        np.testing.assert_allclose([r.auroc_a, r.auroc_b], [aa, ab], rtol=1e-9)
        np.testing.assert_allclose(r.p_delong, p, rtol=1e-5, atol=1e-300, err_msg=r.label)
    assert (df.diff_lo <= df['diff']).all() and (df['diff'] <= df.diff_hi).all()  # every difference has its CI


def test_compare_cli(chexnet, tmp_path, capsys):
    preds, noisy, labels = chexnet
    assert compare_cli(str(preds), str(noisy), labels=str(labels), out=str(tmp_path/'c'), n_boot=100) == 0
    df = pd.read_csv(tmp_path/'c'/'comparison.csv')
    assert list(df.columns) == COLUMNS and df.label.tolist() == PATHOLOGIES + ['mean']
    assert df.p_delong.iloc[-1] != df.p_delong.iloc[-1] and df.p_holm.iloc[-1] != df.p_holm.iloc[-1]  # mean: no p
    assert (df.p_holm.iloc[:-1] >= df.p_delong.iloc[:-1]).all() and df['diff'].iloc[-1] < 0 and df.diff_hi.iloc[-1] < 0
    assert (tmp_path/'c'/'comparison.png').stat().st_size > 10_000
    assert '6,187 patients' in (tmp_path/'c'/'comparison.md').read_text()
    assert 'mean AUROC B − A' in capsys.readouterr().out


def test_compare_cli_errors(chexnet, tmp_path, capsys):
    preds, noisy, labels = chexnet
    P = pd.read_csv(noisy)
    P.iloc[5:].to_csv(tmp_path/'fewer.csv', index=False)
    assert compare_cli(str(preds), str(tmp_path/'fewer.csv'), labels=str(labels), out=str(tmp_path/'x')) == 1
    err = capsys.readouterr().err
    assert 'different images: 5 only in' in err and P['Image Index'][0] in err
    P.drop(columns=['prob_Hernia']).to_csv(tmp_path/'nohernia.csv', index=False)
    assert compare_cli(str(preds), str(tmp_path/'nohernia.csv'), labels=str(labels), out=str(tmp_path/'x')) == 1
    assert 'different labels: 1 only in' in capsys.readouterr().err
    assert compare_cli(str(preds), str(noisy)) == 2 and '--labels is required' in capsys.readouterr().err
    assert not (tmp_path/'x').exists()

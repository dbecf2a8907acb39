"Real-data checks of xraylib.readers on ../shared (skipped with the reason when absent): Kermany's class and patient counts, CheXpert's per-policy label counts against a direct pandas count."
import warnings
import numpy as np, pandas as pd
import pytest
from xraylib.readers import read_folder, read_chexpert, detect_format, CHEXPERT_LABELS
from xraylib.vocab import Vocab, target_matrix, known_counts


def test_kermany_classes_and_patients(shared):
    root = shared('kermany-pneumonia-224', 'chest_xray')
    assert detect_format(root) == 'folder'
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # every file name gives a patient id: no warning
        df = read_folder(root)
    assert df.attrs['vocab'] == Vocab(['PNEUMONIA'], 'NORMAL') and df.attrs['patient_ids'] == 'file names (kermany)'
    counts = df.groupby(['split', df['labels'].str[0]]).size().to_dict()
    assert counts == {('train', 'NORMAL'): 1341, ('train', 'PNEUMONIA'): 3875, ('test', 'NORMAL'): 234, ('test', 'PNEUMONIA'): 390}
    assert df.groupby('split')['patient'].nunique().to_dict() == {'train': 2846, 'test': 427}
    assert (df['PNEUMONIA'] == (df['image'].str.split('/').str[1] == 'PNEUMONIA')).all()
    assert not set(df.loc[df.split == 'train', 'patient']) & set(df.loc[df.split == 'test', 'patient'])


@pytest.fixture(scope='module')
def chexpert():
    from conftest import shared_path
    f = shared_path('chexpert-labels', 'chexpert_train.csv.gz')
    return f, pd.read_csv(f)  # pandas' own reading: floats, NaN for blank


@pytest.mark.parametrize('uncertain,blank', [('ignore', 'negative'), ('ones', 'negative'), ('zeros', 'negative'), ('ignore', 'unknown')])
def test_chexpert_counts_match_pandas(chexpert, uncertain, blank):
    f, raw = chexpert
    assert len(raw) == 223_414 and detect_format(f) == 'chexpert'
    df = read_chexpert(f, uncertain=uncertain, blank=blank, views='all', check_images=False)
    assert df.attrs['vocab'].labels == CHEXPERT_LABELS and len(df) == len(raw)
    got = known_counts(target_matrix(df), CHEXPERT_LABELS).set_index('label')
    for l in CHEXPERT_LABELS:
        c = raw[l]
        pos, neg, unc, bl = (c == 1).sum(), (c == 0).sum(), (c == -1).sum(), c.isna().sum()
        pos, neg = pos + unc*(uncertain == 'ones'), neg + unc*(uncertain == 'zeros') + bl*(blank == 'negative')
        assert tuple(got.loc[l]) == (pos, neg, len(raw) - pos - neg), (l, uncertain, blank)
    if uncertain == 'ignore' and blank == 'negative':  # the README's figures
        assert tuple(got.loc['Atelectasis']) == (33_376, 1_328 + 154_971, 33_739)


def test_chexpert_frontal_and_metadata(chexpert):
    f, raw = chexpert
    df = read_chexpert(f, check_images=False)
    frontal = raw['Frontal/Lateral'] == 'Frontal'
    assert len(df) == frontal.sum() == 191_027 and df.attrs['n_dropped_by_views'] == 32_387
    assert df['patient'].nunique() == raw.loc[frontal, 'Path'].str.extract(r'(patient\d+)/')[0].nunique()
    assert df['sex'].value_counts().to_dict() == raw.loc[frontal, 'Sex'].map({'Female': 'F', 'Male': 'M'}).value_counts().to_dict()
    assert np.array_equal(df['age'].to_numpy(), raw.loc[frontal, 'Age'].to_numpy(float))
    assert df['view'].value_counts().to_dict() == raw.loc[frontal, 'AP/PA'].value_counts().to_dict()

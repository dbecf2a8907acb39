"Real-data checks of xraylib.data.readers on ../shared (skipped with the reason when absent): Kermany's class and patient counts, CheXpert's per-policy label counts against a direct pandas count."
import warnings
import numpy as np, pandas as pd
import pytest
from xraylib.data.readers import read_folder, read_chexpert, detect_format, CHEXPERT_LABELS
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


@pytest.mark.parametrize('uncertain,blank,views', [('ignore', 'negative', 'frontal'), ('ones', 'negative', 'all'),
                                                   ('zeros', 'negative', 'all'), ('ignore', 'unknown', 'all')])
def test_chexpert_counts_match_pandas(chexpert, uncertain, blank, views):
    "Per label: known positives, known negatives and unknown cells under each policy equal a direct pandas count."
    f, raw = chexpert
    assert len(raw) == 223_414 and detect_format(f) == 'chexpert'
    df = read_chexpert(f, uncertain=uncertain, blank=blank, views=views, check_images=False)
    if views == 'frontal':
        raw = raw[raw['Frontal/Lateral'] == 'Frontal'].reset_index(drop=True)
        assert len(raw) == 191_027 and df.attrs['n_dropped_by_views'] == 32_387
        _check_metadata(df, raw)
    assert df.attrs['vocab'].labels == CHEXPERT_LABELS and len(df) == len(raw)
    got = known_counts(target_matrix(df), CHEXPERT_LABELS).set_index('label')
    for l in CHEXPERT_LABELS:
        c = raw[l]
        pos, neg, unc, bl = (c == 1).sum(), (c == 0).sum(), (c == -1).sum(), c.isna().sum()
        pos, neg = pos + unc*(uncertain == 'ones'), neg + unc*(uncertain == 'zeros') + bl*(blank == 'negative')
        assert tuple(got.loc[l]) == (pos, neg, len(raw) - pos - neg), (l, uncertain, blank)
    if views == 'all' and uncertain == 'ignore':  # ../shared/README.md's figures: 33,376 positive, 1,328 negative, 33,739 uncertain, 154,971 blank
        assert tuple(got.loc['Atelectasis']) == (33_376, 1_328, 33_739 + 154_971)


def _check_metadata(df, raw):
    "Patients, sex, age and view of the frontal images as pandas reads them."
    assert df['patient'].nunique() == raw['Path'].str.extract(r'(patient\d+)/')[0].nunique()
    assert (df['followup'].to_numpy() == raw['Path'].str.extract(r'/study(\d+)/')[0].astype(int).to_numpy()).all()
    assert df['sex'].value_counts().to_dict() == raw['Sex'].map({'Female': 'F', 'Male': 'M'}).value_counts().to_dict()
    assert np.array_equal(df['age'].to_numpy(), raw['Age'].to_numpy(float))
    assert df['view'].value_counts().to_dict() == raw['AP/PA'].value_counts().to_dict()


def test_concat_of_two_folder_frames_keeps_its_vocabulary_or_raises(tmp_path):
    "`pd.concat` of two sites' class-folder frames drops `attrs`: training on it stops with the fix, never on NIH's labels."
    from xraylib.vocab import frame_vocab, concat_frames
    from xraylib.data.block import xray_dataloaders, label_counts
    for site, names in (('a', ('NORMAL2-IM-0001-0001', 'person1_virus_1')), ('b', ('NORMAL2-IM-0002-0001', 'person2_bacteria_2'))):
        for cls, name in zip(('NORMAL', 'PNEUMONIA'), names):
            (tmp_path/site/cls).mkdir(parents=True); (tmp_path/site/cls/f'{name}.jpeg').write_bytes(b'')
    a, b = read_folder(tmp_path/'a'), read_folder(tmp_path/'b')
    v = Vocab(['PNEUMONIA'], 'NORMAL')
    same = pd.concat([a, a])  # equal attrs: pandas keeps them, vocabulary and all
    assert frame_vocab(same) == v and len(same) == 4
    lost = pd.concat([a, b])  # different sources: pandas drops every attr
    for use in (frame_vocab, target_matrix, label_counts, lambda d: xray_dataloaders(d, size=32, bs=2)):
        with pytest.raises(ValueError, match='concat_frames'): use(lost)
    ab = concat_frames([a, b])
    assert frame_vocab(ab) == v and target_matrix(ab)[:, 0].tolist() == [0, 1, 0, 1]
    assert ab.attrs['source'] == f"{tmp_path/'a'} + {tmp_path/'b'}" and label_counts(ab).to_dict() == {'NORMAL': 2, 'PNEUMONIA': 2}

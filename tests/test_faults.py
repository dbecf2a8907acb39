"""Bad input and faults (issue 7): one test per case, each asserting the message (file or row named, fix hinted)
or the recovery.

Sections: images, safe writes, CSVs, predictions CSVs, download, model files, widget, training (kill/Ctrl-C and
--resume, NaN loss, a label without validation positives). Everything is built small in tmp_path."""
import errno, io, os, pickle, shutil, stat, struct, sys, warnings, zlib
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image

from xraylib.core import LABELS, atomic_write, atomic_path
from xraylib.imaging.load import ImageLoadError
from xraylib.imaging.load import load_image
from xraylib.imaging.png import MAX_PIXELS
from fakes import make_dicom_bomb, make_dicom_frames
from conftest import run_measured

HDR = 'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position\n'


def _png(a, **kw)->bytes:
    b = io.BytesIO(); Image.fromarray(a).save(b, format='PNG', **kw); return b.getvalue()

A8 = (np.arange(40*30) % 256).astype(np.uint8).reshape(30, 40)  # a non-square 40 x 30 test image


@pytest.fixture(scope='module')
def phantom(tmp_path_factory):
    "A 16-image phantom sample at 32 px (Kaggle layout: sample_labels.csv + images/)."
    from xraylib.datasets.phantom import make_phantom_sample
    return make_phantom_sample(tmp_path_factory.mktemp('ph')/'phantom', n=16, size=32, seed=0, num_workers=0)


# ---------------------------------------------------------------------------------------------------- images
def test_image_truncated_png(tmp_path):
    f = tmp_path/'trunc.png'; b = _png(A8); f.write_bytes(b[:len(b)//2])
    with pytest.raises(ImageLoadError, match=r'trunc\.png: corrupt or truncated image'): load_image(f)


def test_image_corrupt_png_data(tmp_path):
    b = bytearray(_png(A8)); i = b.index(b'IDAT') + 8; b[i:i+12] = b'\0' * 12  # garbage inside the compressed data
    f = tmp_path/'corrupt.png'; f.write_bytes(bytes(b))
    with pytest.raises(ImageLoadError, match=r'corrupt\.png: corrupt or truncated image'): load_image(f)


def test_image_zero_bytes(tmp_path):
    (tmp_path/'zero.png').write_bytes(b'')
    with pytest.raises(ImageLoadError, match=r'zero\.png: empty file \(0 bytes\)'): load_image(tmp_path/'zero.png')


def test_image_text_file_named_png(tmp_path):
    (tmp_path/'notes.png').write_text('patient notes, not an image\n')
    with pytest.raises(ImageLoadError, match=r'notes\.png: not an image file .*supported: PNG'): load_image(tmp_path/'notes.png')


def test_image_16bit_png_works(tmp_path):
    Image.fromarray(A8.astype(np.uint16) * 257).save(tmp_path/'x16.png')
    im = load_image(tmp_path/'x16.png')
    assert im.mode == 'L' and (np.asarray(im) == A8).all()


@pytest.mark.parametrize('mode', ['P', 'RGBA', 'LA', 'RGB'])
def test_image_palette_rgba_png_work(tmp_path, mode):
    src = Image.fromarray(A8)
    src = src.convert('RGB').convert(mode) if mode in ('RGBA', 'RGB') else src.convert(mode)
    src.save(tmp_path/f'x_{mode}.png')
    im = load_image(tmp_path/f'x_{mode}.png')
    assert im.mode == 'L' and im.size == (40, 30)
    assert np.abs(np.asarray(im).astype(int) - A8).max() <= 1


def _huge_png(w, h)->bytes:
    "A 45-byte PNG whose header claims w x h pixels (a decompression bomb's shape)."
    def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) + chunk(b'IEND', b'')


@pytest.mark.parametrize('w,h', [(12_000, 9_000), (40_000, 40_000)])
def test_image_huge_decompression_bomb_guard(tmp_path, w, h):
    f = tmp_path/'bomb.png'; f.write_bytes(_huge_png(w, h))
    with pytest.raises(ImageLoadError, match=r'bomb\.png: .*(over the limit of 100,000,000|decompression-bomb guard)'):
        load_image(f)
    assert w * h > MAX_PIXELS


def test_image_non_square_works(tmp_path):
    Image.fromarray(A8).save(tmp_path/'wide.png')
    assert load_image(tmp_path/'wide.png').size == (40, 30)


def test_image_dicom_without_pixel_data(tmp_path):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
    fm = FileMetaDataset(); fm.TransferSyntaxUID = ExplicitVRLittleEndian
    fm.MediaStorageSOPClassUID, fm.MediaStorageSOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds = Dataset(); ds.file_meta = fm; ds.Modality, ds.PatientID = 'DX', 'anon'  # a header, no PixelData
    ds.save_as(tmp_path/'header_only.dcm', enforce_file_format=True)
    with pytest.raises(ImageLoadError, match=r'header_only\.dcm: DICOM file has no pixel data'):
        load_image(tmp_path/'header_only.dcm')



def test_image_blank_refused_by_name(tmp_path):
    "Issue 34: a constant image holds no radiograph; it is refused naming the file and the value, not predicted."
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path/'black.png')
    with pytest.raises(ImageLoadError, match=r'black\.png: every pixel is 0: a blank image'): load_image(tmp_path/'black.png')


def test_image_dicom_bomb_refused_by_predict_within_5s_and_300mb(model_dir, tmp_path):
    "Issue 34: an 860 KB deflated DICOM of 30000 x 30000 zeros (900 MB inflated; it once ran 62 s to a 17.6 GB peak) is refused naming the file."
    ok, bomb = make_dicom_frames(tmp_path/'ok.dcm', 1), make_dicom_bomb(tmp_path/'bomb.dcm')
    assert bomb.stat().st_size < 1_000_000
    rc0, t0, mb0, out0 = run_measured('xraylib', 'predict', model_dir, ok)
    rc, t, mb, out = run_measured('xraylib', 'predict', model_dir, bomb)
    assert rc0 == 0 and rc == 1 and 'bomb.dcm: DICOM image is 30000x30000 pixels, over the limit' in out, (out0, out)
    assert t < t0 + 5 and mb < mb0 + 300, f'{t:.1f} s and {mb:.0f} MB for the bomb; {t0:.1f} s and {mb0:.0f} MB for an ordinary image'


def test_image_dicom_multiframe_decodes_only_the_first_frame(tmp_path):
    "Issue 34: a 16-frame 2048 x 2048 study costs its file's bytes and one frame, not 16 decoded frames (+384 MB before)."
    one, many = make_dicom_frames(tmp_path/'one.dcm', 1), make_dicom_frames(tmp_path/'many.dcm', 16)
    code = 'import sys, numpy as np; from xraylib.imaging.load import load_image; print(np.asarray(load_image(sys.argv[1])).std())'
    (rc1, _, mb1, out1), (rc, _, mb, out) = [run_measured(sys.executable, '-c', code, f) for f in (one, many)]
    assert rc1 == rc == 0 and out1 == out, (out1, out)  # the same first frame
    file_mb = many.stat().st_size / 2**20
    assert mb < mb1 + file_mb + 40, f'{mb:.0f} MB for 16 frames, {mb1:.0f} MB for one; the file is {file_mb:.0f} MB'


# ---------------------------------------------------------------------------------------------------- safe writes
def test_atomic_write_new_file_normal_permissions(tmp_path):
    um = os.umask(0o022); os.umask(um)
    with atomic_write(tmp_path/'a.csv') as f: f.write('x')
    with atomic_path(tmp_path/'b.csv') as t: t.write_text('y')
    with open(tmp_path/'c.csv', 'w') as f: f.write('z')  # what a plain open gives
    modes = {n: stat.S_IMODE((tmp_path/n).stat().st_mode) for n in ('a.csv', 'b.csv', 'c.csv')}
    assert modes == {'a.csv': 0o666 & ~um, 'b.csv': 0o666 & ~um, 'c.csv': 0o666 & ~um}


def test_atomic_write_keeps_mode_of_replaced_file(tmp_path):
    p = tmp_path/'m.json'; p.write_text('{}'); os.chmod(p, 0o640)
    with atomic_write(p) as f: f.write('{"a": 1}')
    assert stat.S_IMODE(p.stat().st_mode) == 0o640 and p.read_text() == '{"a": 1}'


def test_atomic_write_killed_leaves_old_file_and_no_temp(tmp_path):
    p = tmp_path/'out.csv'; p.write_text('old')
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(p) as t: t.write_text('half'); raise KeyboardInterrupt
    assert p.read_text() == 'old' and [o.name for o in tmp_path.iterdir()] == ['out.csv']


# ---------------------------------------------------------------------------------------------------- CSVs
from xraylib.data.block import load_labels, xray_dataloaders


def _csv(tmp_path, body, name='labels.csv', hdr=HDR)->Path:
    f = tmp_path/name; f.write_text(hdr + body); return f


def test_csv_missing_required_column(tmp_path):
    f = _csv(tmp_path, 'a.png,0,1\n', hdr='Image Index,Follow-up #,Patient ID\n')
    with pytest.raises(ValueError, match=r"labels\.csv: missing required column\(s\) \['Finding Labels'\]; found"): load_labels(f)


@pytest.mark.parametrize('text,msg', [('', 'empty label file'), ('\n\n', 'empty label file'), (HDR, 'label file has a header but no rows')])
def test_csv_empty_file(tmp_path, text, msg):
    f = tmp_path/'labels.csv'; f.write_text(text)
    with pytest.raises(ValueError, match=rf'labels\.csv: {msg}'): load_labels(f)


def test_csv_duplicate_image_rows(tmp_path):
    f = _csv(tmp_path, 'a.png,Mass,0,1,058Y,M,PA\nb.png,Mass,0,2,058Y,M,PA\na.png,Mass,0,1,058Y,M,PA\n')
    with pytest.raises(ValueError, match=r"labels\.csv: 1 image\(s\) listed more than once, e.g. \['a.png'\] \(CSV rows \[2, 4\]\)"):
        load_labels(f)


def test_csv_unknown_label_names_rows(tmp_path):
    f = _csv(tmp_path, 'a.png,Mass,0,1,058Y,M,PA\nb.png,Mass|Tumour,0,2,058Y,M,PA\n')
    with pytest.raises(ValueError, match=r"labels\.csv: unknown label\(s\) \['Tumour'\] in 1 row\(s\), e.g. CSV rows \[3\].*known labels"):
        load_labels(f)


def test_csv_stray_whitespace_stripped(tmp_path):
    f = _csv(tmp_path, ' a.png , Mass | Nodule ,0, 1 , 058Y ,M, PA \nb.png,No Finding ,1,2,006M,F,AP\n')
    (tmp_path/'images').mkdir(); (tmp_path/'images'/'a.png').write_bytes(_png(A8)); (tmp_path/'images'/'b.png').write_bytes(_png(A8))
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # both images are found: names were stripped
        df = load_labels(f)
    assert df.image.tolist() == ['a.png', 'b.png'] and df.labels.tolist() == [['Mass', 'Nodule'], ['No Finding']]
    assert df.patient.tolist() == [1, 2] and df.view.tolist() == ['PA', 'AP'] and df.age.tolist() == [58.0, 0.5]


@pytest.mark.parametrize('labels,msg', [
    ('', r'empty Finding Labels in CSV rows \[3\]; write .No Finding.'),
    ('  ', r'empty Finding Labels in CSV rows \[3\]'),
    ('Mass||Nodule', r'empty label between "\|" separators in CSV rows \[3\].*remove the extra'),
    ('Mass|', r'empty label between "\|" separators in CSV rows \[3\]')])
def test_csv_empty_label_strings(tmp_path, labels, msg):
    f = _csv(tmp_path, f'a.png,Mass,0,1,058Y,M,PA\nb.png,{labels},0,2,058Y,M,PA\n')
    with pytest.raises(ValueError, match=r'labels\.csv: ' + msg): load_labels(f)


def test_csv_no_finding_with_findings(tmp_path):
    f = _csv(tmp_path, 'a.png,Mass|No Finding,0,1,058Y,M,PA\n')
    with pytest.raises(ValueError, match=r"labels\.csv: 'No Finding' together with other labels in CSV rows \[2\]"): load_labels(f)


def test_csv_empty_image_name(tmp_path):
    f = _csv(tmp_path, 'a.png,Mass,0,1,058Y,M,PA\n ,Mass,0,2,058Y,M,PA\n')
    with pytest.raises(ValueError, match=r'labels\.csv: empty Image Index in CSV rows \[3\]'): load_labels(f)


def test_csv_ragged_rows(tmp_path):
    f = _csv(tmp_path, 'a.png,Mass,0,1,058Y,M,PA\nb.png,Mass,0,2,058Y,M,PA,extra,fields\n')
    with pytest.raises(ValueError, match=r'labels\.csv: malformed CSV .*line 3.*as many comma-separated fields'): load_labels(f)
    f = _csv(tmp_path, 'a.png,Mass,0,1,058Y,M,PA,x\n', name='all.csv')
    with pytest.raises(ValueError, match=r'all\.csv: every row has more fields than the header'): load_labels(f)


@pytest.mark.parametrize('sep,name', [(';', 'semicolons'), ('\t', 'tabs')])
def test_csv_wrong_delimiter(tmp_path, sep, name):
    f = tmp_path/'labels.csv'; f.write_text((HDR + 'a.png,Mass,0,1,058Y,M,PA\n').replace(',', sep))
    with pytest.raises(ValueError, match=rf'labels\.csv: missing required column.*separated by {name}, not commas \(wrong delimiter\)'):
        load_labels(f)


def test_csv_missing_images_reported_with_count(tmp_path):
    f = _csv(tmp_path, ''.join(f'x{i}.png,Mass,0,{i},058Y,M,PA\n' for i in range(5)))
    (tmp_path/'images').mkdir(); (tmp_path/'images'/'x0.png').write_bytes(_png(A8))
    with pytest.warns(UserWarning, match=r'4 of the 5 listed images are not on disk'): df = load_labels(f)
    assert df.attrs['missing'] == ['x1.png', 'x2.png', 'x3.png', 'x4.png'] and df.path.isna().sum() == 4


@pytest.mark.parametrize('cache', [True, False])
def test_csv_missing_images_skipped_never_crash_mid_epoch(phantom, tmp_path, cache):
    "A frame made while every image was there; one image is deleted afterwards: skipped with a count, every batch reads."
    d = tmp_path/'ds'; shutil.copytree(phantom, d)
    df = load_labels(d)
    gone = df.image[3]; (d/'images'/gone).unlink()
    with pytest.warns(UserWarning, match=rf"1 of 16 listed images are not on disk \(e.g. \['{gone}'\]\); skipping their rows"):
        dls = xray_dataloaders(df, size=32, bs=4, device='cpu', cache=cache, cache_dir=tmp_path/'cache', quiet=True, num_workers=0)
    assert dls.split_summary['skipped_missing'] == 1 and len(dls.train_ds) + len(dls.valid_ds) == 15
    assert gone not in set(dls.items_df.image)
    n = sum(len(yb) for dl in (dls.train, dls.valid) for _, yb in dl)  # a whole epoch and validation, no crash
    assert n >= len(dls.valid_ds) + len(dls.train_ds) - 3  # the train DL drops its last partial batch


def test_csv_missing_images_error_when_asked(phantom, tmp_path):
    d = tmp_path/'ds'; shutil.copytree(phantom, d)
    for f in sorted((d/'images').iterdir())[:2]: f.unlink()
    with pytest.raises(FileNotFoundError, match=r"sample_labels\.csv: 2 of 16 listed images are not on disk.*missing='skip'"):
        xray_dataloaders(d, size=32, missing='error', quiet=True)
    for f in (d/'images').iterdir(): f.unlink()
    with pytest.raises(FileNotFoundError, match=r'none of the 16 listed images is on disk'):
        xray_dataloaders(d, size=32, quiet=True)


def test_csv_unreadable_image_stops_before_training(phantom, tmp_path):
    d = tmp_path/'ds'; shutil.copytree(phantom, d)
    bad = sorted((d/'images').iterdir())[5]; bad.write_bytes(b'not a png at all')
    with pytest.raises(ImageLoadError, match=rf'{bad.name}: not an image file.*before any training: replace it'):
        xray_dataloaders(d, size=32, cache_dir=tmp_path/'cache', cache_workers=1, quiet=True)


# ---------------------------------------------------------------------------------------------------- predictions CSV
from xraylib.evaluation.evaluate import read_predictions, evaluate_cli


@pytest.fixture
def labels_csv(tmp_path)->Path:
    f = tmp_path/'labels.csv'
    f.write_text('Image Index,Finding Labels,Patient ID\na.png,Mass,1\nb.png,No Finding,2\nc.png,Effusion|Mass,3\n')
    return f


def _preds(tmp_path, cols:dict, name='preds.csv', **kw)->Path:
    f = tmp_path/name; pd.DataFrame({'Image Index': ['a.png', 'b.png', 'c.png'], **cols}).to_csv(f, index=False, **kw); return f


def test_predictions_columns_not_labels(tmp_path, labels_csv):
    f = _preds(tmp_path, {'prob_Mass': [.9, .1, .8], 'prob_Tumour': [.2, .3, .4]})
    with pytest.raises(ValueError, match=r'preds\.csv: prediction column\(s\) not a known label: prob_Tumour \(expected columns named by label'):
        read_predictions(f, labels_csv)


def test_predictions_missing_requested_label(tmp_path, labels_csv):
    f = _preds(tmp_path, {'prob_Mass': [.9, .1, .8]})
    with pytest.raises(ValueError, match=r'preds\.csv: no prediction column for label\(s\): Hernia \(it has prob_Mass\)'):
        read_predictions(f, labels_csv, labels=['Hernia'])


def test_predictions_labels_csv_lacks_label_columns(tmp_path):
    f = _preds(tmp_path, {'prob_Mass': [.9, .1, .8]})
    (tmp_path/'onehot.csv').write_text('Image Index,Effusion\na.png,0\nb.png,0\nc.png,1\n')
    with pytest.raises(ValueError, match=r'onehot\.csv: the labels CSV has neither a "Finding Labels" column .*missing: Mass'):
        read_predictions(f, tmp_path/'onehot.csv')


def test_predictions_images_not_in_labels(tmp_path, labels_csv):
    f = tmp_path/'preds.csv'; pd.DataFrame({'Image Index': ['a.png', 'z.png'], 'Mass': [.9, .1]}).to_csv(f, index=False)
    with pytest.raises(ValueError, match=r'1 of 2 predicted images are missing from the labels file .*labels\.csv \(e.g. z\.png\)'):
        read_predictions(f, labels_csv)


@pytest.mark.parametrize('vals,msg', [([.9, 'high', .3], r"missing or non-numeric probability, e.g. CSV row 3, column prob_Mass = 'high'"),
                                      ([.9, None, .3], r'missing or non-numeric probability, e.g. CSV row 3, column prob_Mass = empty'),
                                      ([.9, 3.2, .3], r'probability outside \[0, 1\] \(logits\? apply a sigmoid first\), e.g. CSV row 3, column prob_Mass = 3.2')])
def test_predictions_bad_probability_values(tmp_path, labels_csv, vals, msg):
    with pytest.raises(ValueError, match=r'preds\.csv: 1 row\(s\) with a ' + msg): read_predictions(_preds(tmp_path, {'prob_Mass': vals}), labels_csv)


@pytest.mark.parametrize('sep,name', [(';', 'semicolons'), ('\t', 'tabs')])
def test_predictions_wrong_delimiter(tmp_path, labels_csv, sep, name):
    f = _preds(tmp_path, {'prob_Mass': [.9, .1, .8]}, sep=sep)
    with pytest.raises(ValueError, match=rf'preds\.csv: predictions CSV has no "Image Index" column .*separated by {name}, not commas'):
        read_predictions(f, labels_csv)


def test_predictions_empty_and_absent_files(tmp_path, labels_csv):
    (tmp_path/'empty.csv').write_text('')
    with pytest.raises(ValueError, match=r'empty\.csv: empty predictions CSV'): read_predictions(tmp_path/'empty.csv', labels_csv)
    with pytest.raises(FileNotFoundError, match=r'nope\.csv: no such predictions file'): read_predictions(tmp_path/'nope.csv', labels_csv)


def test_evaluate_cli_bad_input_exit_1_writes_nothing(tmp_path, labels_csv, capsys):
    f = _preds(tmp_path, {'prob_Mass': [.9, .1, .8], 'prob_Tumour': [.2, .3, .4]})
    assert evaluate_cli(preds=str(f), labels=str(labels_csv), out=str(tmp_path/'ev')) == 1
    err = capsys.readouterr().err
    assert err.startswith('xraylib evaluate: ') and 'preds.csv: prediction column(s) not a known label: prob_Tumour' in err
    assert not (tmp_path/'ev').exists()


# ---------------------------------------------------------------------------------------------------- download
import requests
import xraylib.datasets.nih_sample as dlm
from xraylib.datasets.nih_sample import download_nih_sample
from xraylib.core import is_complete
from xraylib.datasets.fetch import DownloadError, KaggleCredentialsError
from fakes import make_kaggle_zip, FakeKaggleApi

N = 16  # rows in the phantom sample's CSV


@pytest.fixture(scope='module')
def kaggle_zip(phantom, tmp_path_factory):
    "The phantom sample packed like Kaggle's sample.zip (CSV at the top, every image twice)."
    return make_kaggle_zip(phantom, tmp_path_factory.mktemp('zip')/'sample.zip')


def _leftovers(dest:Path)->list:
    return sorted(p.name for p in dest.parent.iterdir() if p.name.startswith(f'.{dest.name}.'))


def _http(code:int)->requests.HTTPError:
    r = requests.Response(); r.status_code = code
    return requests.HTTPError(f'{code} Client Error', response=r)


def test_download_no_credentials(tmp_path, monkeypatch):
    for k in [k for k in os.environ if k.startswith('KAGGLE_')]: monkeypatch.delenv(k)
    monkeypatch.setenv('HOME', str(tmp_path/'home')); monkeypatch.delenv('XDG_CONFIG_HOME', raising=False)
    with pytest.raises(KaggleCredentialsError, match=r'(?s)No Kaggle credentials found.*KAGGLE_API_TOKEN.*kaggle\.json.*xraylib phantom') as e:
        download_nih_sample(tmp_path/'nih', n_rows=N)
    assert 'Traceback' not in str(e.value) and not (tmp_path/'nih').exists()


@pytest.mark.parametrize('where', ['download', 'authenticate'])
def test_download_rejected_credentials_403(tmp_path, kaggle_zip, where):
    api = FakeKaggleApi(kaggle_zip, error=_http(403)) if where == 'download' else FakeKaggleApi(kaggle_zip, auth_error=_http(403))
    with pytest.raises(KaggleCredentialsError, match=r"Kaggle rejected the credentials .*\(HTTP 401/403\).*accept the dataset's terms"):
        download_nih_sample(tmp_path/'nih', api=api, n_rows=N)
    assert not is_complete(tmp_path/'nih') and not (tmp_path/'nih').exists()


def test_download_network_fails_midway_then_rerun_restarts(tmp_path, kaggle_zip):
    dest = tmp_path/'nih'
    with pytest.raises(DownloadError, match=r'failed \(is the network up\?\).*Nothing was marked complete; rerun to resume or restart'):
        download_nih_sample(dest, api=FakeKaggleApi(kaggle_zip, fail_after=5000), n_rows=N)
    assert not is_complete(dest) and not dest.exists()
    assert (tmp_path/'.nih.download'/'sample.zip').stat().st_size == 5000  # the partial file, kept for a resume, not used
    assert is_complete(download_nih_sample(dest, api=FakeKaggleApi(kaggle_zip), n_rows=N))
    assert len(list((dest/'images').iterdir())) == N and _leftovers(dest) == []


class _ReturnsWithoutWriting(FakeKaggleApi):
    "A download call that returns normally but leaves the earlier partial archive as it was."
    def dataset_download_files(self, dataset, path=None, **kw): self.calls.append(dataset)


def test_download_partial_file_never_taken_as_complete(tmp_path, kaggle_zip):
    dest = tmp_path/'nih'
    with pytest.raises(DownloadError): download_nih_sample(dest, api=FakeKaggleApi(kaggle_zip, fail_after=20_000), n_rows=N)
    with pytest.raises(DownloadError, match=r'sample\.zip is truncated or corrupt .*it was deleted, rerun to download it again'):
        download_nih_sample(dest, api=_ReturnsWithoutWriting(kaggle_zip), n_rows=N)
    assert not is_complete(dest) and not dest.exists() and _leftovers(dest) == []
    assert is_complete(download_nih_sample(dest, api=FakeKaggleApi(kaggle_zip), n_rows=N))


def _enospc_after(monkeypatch, n_ok:int):
    "Make image extraction fail with ENOSPC after `n_ok` images (the archive download itself still works)."
    real, done = shutil.copyfileobj, []
    def copy(src, dst, *a):
        if str(getattr(dst, 'name', '')).endswith('.png'):
            if len(done) >= n_ok: raise OSError(errno.ENOSPC, 'No space left on device')
            done.append(1)
        return real(src, dst, *a)
    monkeypatch.setattr(dlm.shutil, 'copyfileobj', copy)


def test_download_disk_full_while_unzipping(tmp_path, kaggle_zip, monkeypatch):
    dest = tmp_path/'nih'
    with monkeypatch.context() as m:
        _enospc_after(m, 5)
        with pytest.raises(DownloadError, match=r'disk full while writing .*\.nih\.staging.*Free some space .* and rerun; nothing was marked complete'):
            download_nih_sample(dest, api=FakeKaggleApi(kaggle_zip), n_rows=N)
    assert not dest.exists() and not (tmp_path/'.nih.staging').exists()  # no half dataset anywhere
    assert is_complete(download_nih_sample(dest, api=FakeKaggleApi(kaggle_zip), n_rows=N))  # space freed: rerun works


def test_download_disk_full_keeps_previous_complete_copy(tmp_path, kaggle_zip, monkeypatch):
    dest = download_nih_sample(tmp_path/'nih', api=FakeKaggleApi(kaggle_zip), n_rows=N)
    before = (dest/'.complete.json').read_text()
    with monkeypatch.context() as m:
        _enospc_after(m, 3)
        with pytest.raises(DownloadError, match='disk full'):
            download_nih_sample(dest, api=FakeKaggleApi(kaggle_zip), n_rows=N, force=True)
    assert is_complete(dest) and (dest/'.complete.json').read_text() == before and len(list((dest/'images').iterdir())) == N


# ---------------------------------------------------------------------------------------------------- model files
import json
from xraylib.inference.modelfile import save_model, load_model, ModelFileError
from xraylib.inference.predict import Predictor, predict_cli


@pytest.fixture(scope='module')
def model_dir(phantom, tmp_path_factory):
    "A tiny resnet18 (32 px, untrained) saved by save_model: model.safetensors + model.json."
    from xraylib.training.learner import xray_learner
    tmp = tmp_path_factory.mktemp('model')
    dls = xray_dataloaders(phantom, size=32, bs=4, device='cpu', cache_dir=tmp/'cache', quiet=True)
    learn = xray_learner(dls, arch='resnet18', pretrained=False)
    save_model(learn, tmp/'good')
    return tmp/'good'


@pytest.fixture
def model_copy(model_dir, tmp_path)->Path:
    d = tmp_path/'model'; shutil.copytree(model_dir, d); return d


def test_model_good_files_load(model_dir):
    m, meta = load_model(model_dir)
    assert meta['vocab'] == LABELS and Predictor.from_file(model_dir).probs([A8]).shape == (1, 15)


def test_model_truncated_weights(model_copy):
    w = model_copy/'model.safetensors'; w.write_bytes(w.read_bytes()[:w.stat().st_size // 2])
    with pytest.raises(ModelFileError, match=r'model\.safetensors: SHA-256 does not match model\.json: the weights file is truncated'):
        load_model(model_copy)
    meta = json.loads((model_copy/'model.json').read_text()); meta.pop('weights_sha256')  # no checksum to compare
    (model_copy/'model.json').write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r'model\.safetensors: cannot read safetensors weights \(truncated or corrupt file\?\)'):
        load_model(model_copy)


def test_model_tampered_weights_sha_mismatch(model_copy):
    w = model_copy/'model.safetensors'; b = bytearray(w.read_bytes()); b[-100] ^= 0xFF; w.write_bytes(bytes(b))
    with pytest.raises(ModelFileError, match=r'SHA-256 does not match model\.json.*Copy the model files again or retrain'):
        Predictor.from_file(model_copy)


def test_model_metadata_labels_do_not_match_weights(model_copy):
    mf = model_copy/'model.json'; meta = json.loads(mf.read_text())
    meta['vocab'], meta['n_out'] = LABELS[:-1], 14
    mf.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r'model\.json: vocab has 14 labels but n_out is 14 and the weights have 15 outputs; '
                                             r'the metadata does not belong to these weights'):
        Predictor.from_file(model_copy)


@pytest.mark.parametrize('field,value', [('thresholds', '0.5'), ('thresholds', {'Mass': 'high'}),
                                         ('calibration', 'temperature')])
def test_model_metadata_edited_by_hand(model_copy, tmp_path, capsys, field, value):
    "A hand-edited model.json field: refused naming the field (before: 'could not convert string to float', or a crash)."
    mf = model_copy/'model.json'; meta = json.loads(mf.read_text()); meta[field] = value; mf.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=rf'model\.json: `{field}` is .*not what save_model writes'):
        Predictor.from_file(model_copy)
    Image.fromarray(A8).save(tmp_path/'x.png')
    assert predict_cli(model=str(model_copy), images=[str(tmp_path/'x.png')]) == 1
    assert f'`{field}` is ' in capsys.readouterr().err


def test_model_metadata_arch_does_not_match_weights(model_copy):
    mf = model_copy/'model.json'; meta = json.loads(mf.read_text()); meta['arch'] = 'resnet34'; mf.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r'model\.safetensors: weights do not fit a resnet34 with 15 outputs'):
        load_model(model_copy)


class _Evil:
    "Unpickling this creates the marker file: proof that a pickle was executed."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (Path(self.marker).touch, ())


def _pickle_cases(model_dir, d:Path)->dict:
    "Pickle-based files a user might hand over: a torch.save'd .pth, a learn.export-style .pkl, a pickle renamed to safetensors."
    import torch
    marker = d/'EXECUTED'
    torch.save({'model': _Evil(marker)}, d/'model.pth')
    with open(d/'export.pkl', 'wb') as f: pickle.dump(_Evil(marker), f)
    (d/'renamed').mkdir(); shutil.copy(model_dir/'model.json', d/'renamed'/'model.json')
    with open(d/'renamed'/'model.safetensors', 'wb') as f: pickle.dump(_Evil(marker), f)
    (d/'proto0').mkdir(); shutil.copy(model_dir/'model.json', d/'proto0'/'model.json')
    with open(d/'proto0'/'model.safetensors', 'wb') as f: pickle.dump(_Evil(marker), f, protocol=0)  # no \x80 header
    return dict(pth=d/'model.pth', pkl=d/'export.pkl', renamed=d/'renamed', renamed_file=d/'renamed'/'model.safetensors',
                proto0=d/'proto0'), marker


@pytest.mark.parametrize('case', ['pth', 'pkl', 'renamed', 'renamed_file', 'proto0'])
@pytest.mark.parametrize('loader', ['load_model', 'Predictor.from_file'])
def test_model_pickle_refused_never_executed(model_dir, tmp_path, case, loader):
    files, marker = _pickle_cases(model_dir, tmp_path)
    pickle.loads(pickle.dumps(_Evil(tmp_path/'control')))  # the control: unpickling really does run it
    assert (tmp_path/'control').exists()
    load = load_model if loader == 'load_model' else Predictor.from_file
    msg = (r'SHA-256 does not match' if case == 'proto0' else r'refusing to load a pickle-based file .*unpickling can run arbitrary code')
    with pytest.raises(ModelFileError, match=msg): load(files[case])
    assert not marker.exists(), 'the pickle was executed'


def test_model_pickle_refused_by_cli(model_dir, tmp_path, capsys):
    files, marker = _pickle_cases(model_dir, tmp_path)
    Image.fromarray(A8).save(tmp_path/'x.png')
    assert predict_cli(model=str(files['pth']), images=[str(tmp_path/'x.png')]) == 1
    assert 'refusing to load a pickle-based file' in capsys.readouterr().err and not marker.exists()


# ---------------------------------------------------------------------------------------------------- widget
from xraylib.serving.widgets import UploadWidget


def _up(*files): return tuple({'name': n, 'type': '', 'size': len(b), 'content': memoryview(b)} for n, b in files)


@pytest.fixture(scope='module')
def widget(model_dir):
    return UploadWidget(Predictor.from_file(model_dir), max_files=4, gradcam=False)  # Grad-CAM: tests/test_widgets.py


def test_widget_non_image_upload(widget):
    res = widget.handle_upload(_up(('report.pdf', b'%PDF-1.4 not an X-ray')))
    assert res == [dict(name='report.pdf', error=res[0]['error'])] and res[0]['error'].startswith('report.pdf: not an image file')
    assert 'report.pdf: not an image file' in widget.out.children[0].value and '1 of 1 file(s) could not be read' in widget.message.value


@pytest.mark.parametrize('value', [(), None, {}])
def test_widget_empty_upload(widget, value):
    assert widget.handle_upload(value) == []
    assert 'No file received: choose a chest X-ray image to upload.' in widget.message.value and widget.out.children == ()


def test_widget_zero_byte_file(widget):
    assert widget.handle_upload(_up(('empty.png', b'')))[0]['error'] == 'empty.png: empty file (0 bytes): nothing to read'


def test_widget_several_files_at_once(widget):
    good = _png(A8)
    res = widget.handle_upload(_up(('a.png', good), ('notes.txt', b'text'), ('b.png', _png(A8.T.copy())), ('c.png', good[:60])))
    assert [r['name'] for r in res] == ['a.png', 'notes.txt', 'b.png', 'c.png']
    assert ['error' in r for r in res] == [False, True, False, True]
    assert res[3]['error'].startswith('c.png: corrupt or truncated image')
    assert all(len(r['predictions']) == 15 for r in res if 'error' not in r)
    assert len(widget.out.children) == 4 and '2 of 4 file(s) could not be read' in widget.message.value


def test_widget_too_many_files_at_once(widget):
    assert widget.handle_upload(_up(*[(f'{i}.png', _png(A8)) for i in range(5)])) == []
    assert '5 files at once: upload at most 4 at a time.' in widget.message.value


def test_model_pickle_named_json_never_executed(tmp_path):
    "A pickle renamed model.json is not JSON: refused as unreadable text, never unpickled."
    marker = tmp_path/'EXECUTED'
    with open(tmp_path/'model.json', 'wb') as f: pickle.dump(_Evil(marker), f)
    with pytest.raises(ValueError): Predictor.from_file(tmp_path/'model.json')
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------------- training
import os, signal, subprocess, sys, time
from fastai.callback.core import Callback
from xraylib.training.learner import train, NonFiniteLossError
from xraylib.training.checkpoint import read_train_state

TRAIN_KW = dict(arch='resnet18', size=32, bs=16, epochs=3, pretrained=False, quiet=True, n_boot=10)


@pytest.fixture(scope='module')
def train_phantom(tmp_path_factory):
    from xraylib.datasets.phantom import make_phantom_sample
    return make_phantom_sample(tmp_path_factory.mktemp('trainph'), n=120, size=64, seed=5, num_workers=0)


@pytest.fixture(scope='module')
def uninterrupted(train_phantom, tmp_path_factory):
    "The reference: the same run, never interrupted."
    out = tmp_path_factory.mktemp('full')
    train(str(train_phantom), out=out, **TRAIN_KW)
    return out


def _xraylib_train(src, out, *extra):
    return ['xraylib', 'train', '--data', str(src), '--arch', 'resnet18', '--size', '32', '--bs', '16', '--epochs', '3',
            '--no-pretrained', '--out', str(out), '--quiet', *extra]


class CtrlC(Callback):
    "Ctrl-C in the second epoch of a run in this process."
    def after_batch(self):
        if self.epoch == 1: raise KeyboardInterrupt


def _same_predictions(a, b):
    pa, pb = pd.read_csv(Path(a)/'valid_preds.csv'), pd.read_csv(Path(b)/'valid_preds.csv')
    cols = [c for c in pa.columns if c.startswith('prob_')]
    return float((pa[cols] - pb[cols]).abs().max().max())


# Each moment of a run (xraylib.training.checkpoint.interruption_point), interrupted by a real SIGINT (Ctrl-C) or SIGKILL
# that the run sends itself there: no timer, so the moment is the same however busy the machine is.
MOMENTS = [('epoch1', 'kill'), ('epoch2', 'int'), ('evaluation', 'int'), ('evaluation', 'kill'), ('model-files', 'kill'),
           ('cleanup', 'int'), ('done', 'int')]  # epoch2 is the last epoch; model-files: model.json written, metrics.json not


@pytest.mark.slow
@pytest.mark.parametrize('point,how', MOMENTS, ids=[f'{p}-{h}' for p, h in MOMENTS])
def test_train_interrupted_at_any_moment(train_phantom, uninterrupted, tmp_path, point, how):
    out = tmp_path/'run'
    env = {**os.environ, 'XRAYLIB_INTERRUPT_AT': f'{point}:{how}'}
    r = subprocess.run(_xraylib_train(train_phantom, out), capture_output=True, text=True, timeout=600, env=env)
    if how == 'kill': assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-2000:])
    else: assert r.returncode == 130 and 'Traceback' not in r.stderr, (r.returncode, r.stderr[-2000:])
    if point == 'done':  # the run had finished: the message says so, and there is nothing to resume
        assert 'the run had already finished' in r.stderr and not (out/'checkpoint').exists(), r.stderr
        r = subprocess.run(_xraylib_train(train_phantom, out, '--resume'), capture_output=True, text=True, timeout=300)
        assert r.returncode == 1 and 'this run finished' in r.stderr, r.stderr
        assert _same_predictions(out, uninterrupted) < 1e-5
        return
    st = read_train_state(out)  # a resumable checkpoint, whatever the moment
    epochs = int(point[5:]) if point.startswith('epoch') else 3
    assert st['epochs_done'] == epochs and len(pd.read_csv(out/'history.csv')) == epochs
    if how == 'int': assert f'{epochs} finished epoch(s) are saved' in r.stderr and 'xraylib train --resume' in r.stderr, r.stderr
    r = subprocess.run(_xraylib_train(train_phantom, out, '--resume'), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert pd.read_csv(out/'history.csv')['epoch'].tolist() == [0, 1, 2]
    assert (out/'model.json').exists() and not (out/'checkpoint').exists()
    assert json.loads((out/'metrics.json').read_text())['resumed'] is True
    assert _same_predictions(out, uninterrupted) < 1e-5  # it ends with the model of the uninterrupted run


@pytest.mark.slow
def test_train_cross_validation_interrupted_resumes(train_phantom, tmp_path):
    "`--folds` is resumable like a single run: Ctrl-C in fold 0's evaluation, `--resume` (folds read from the run) finishes."
    out = tmp_path/'cv'
    env = {**os.environ, 'XRAYLIB_INTERRUPT_AT': 'evaluation:int'}
    r = subprocess.run(_xraylib_train(train_phantom, out, '--folds', '2'), capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 130 and '--resume --folds 2' in r.stderr, r.stderr[-2000:]
    r = subprocess.run(_xraylib_train(train_phantom, out, '--resume'), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    oof = pd.read_csv(out/'oof_preds.csv')
    assert len(oof) == len(pd.read_csv(Path(train_phantom)/'sample_labels.csv')) and oof['Image Index'].is_unique
    assert oof.groupby('Patient ID')['fold'].nunique().max() == 1  # no patient in two folds
    m = json.loads((out/'metrics.json').read_text())
    assert m['folds'] == 2 and len(m['cv_fold_mean_auroc']) == 2 and (out/'fold1'/'model.json').exists()


def test_train_resume_with_nothing_to_resume(train_phantom, tmp_path):
    r = subprocess.run(_xraylib_train(train_phantom, tmp_path/'never', '--resume'), capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and 'nothing to resume' in r.stderr and 'Traceback' not in r.stderr


@pytest.mark.slow
def test_train_resume_refuses_other_settings(train_phantom, tmp_path):
    with pytest.raises(KeyboardInterrupt): train(str(train_phantom), out=tmp_path, cbs=[CtrlC()], **TRAIN_KW)
    with pytest.raises(ValueError, match=r'size=48 \(run: 32\)'): train(str(train_phantom), out=tmp_path, resume=True, **{**TRAIN_KW, 'size': 48})


@pytest.mark.slow
def test_train_resume_uses_the_runs_settings_not_the_current_preset(train_phantom, uninterrupted, tmp_path, monkeypatch):
    "A run started on a CPU runtime and resumed on a GPU one (Colab's quota) keeps its own architecture and size."
    import xraylib.training.learner as xl
    kw = {k: v for k, v in TRAIN_KW.items() if k not in ('arch', 'size')}  # both from the preset
    monkeypatch.setattr(xl, 'default_preset', lambda: {**xl.CPU_PRESET, 'size': 32})
    with pytest.raises(KeyboardInterrupt): train(str(train_phantom), out=tmp_path, cbs=[CtrlC()], **kw)
    monkeypatch.setattr(xl, 'default_preset', lambda: dict(xl.GPU_PRESET))  # the runtime now has a GPU
    train(str(train_phantom), out=tmp_path, resume=True, **kw)
    meta = json.loads((tmp_path/'model.json').read_text())
    assert (meta['arch'], meta['size']) == ('resnet18', [32, 32])
    assert _same_predictions(tmp_path, uninterrupted) < 1e-5  # the model of the run that was never interrupted


def _as_if_saved_on_a_gpu(f):
    "Rewrite a `torch.save` file so that its tensors are recorded as on `cuda:0`, as in a checkpoint written on a GPU."
    import zipfile
    with zipfile.ZipFile(f) as z: entries = [(i, z.read(i)) for i in z.infolist()]
    with zipfile.ZipFile(f, 'w') as z:  # torch pickles with protocol 2: a storage's location is the string b'X<len>cpu'
        for i, b in entries: z.writestr(i, b.replace(b'X\x03\x00\x00\x00cpu', b'X\x06\x00\x00\x00cuda:0') if i.filename.endswith('data.pkl') else b)


@pytest.mark.slow
def test_train_resume_from_a_checkpoint_written_on_a_gpu(train_phantom, uninterrupted, tmp_path):
    "Issue 19.4: a checkpoint saved on a GPU resumes on a CPU runtime (its optimizer state mapped to the parameters' device)."
    import torch
    with pytest.raises(KeyboardInterrupt): train(str(train_phantom), out=tmp_path, cbs=[CtrlC()], **TRAIN_KW)
    extra = tmp_path/'checkpoint'/read_train_state(tmp_path)['extra']
    before = torch.load(extra, weights_only=True)
    _as_if_saved_on_a_gpu(extra)
    if not torch.cuda.is_available():  # the stand-in is what a GPU checkpoint is to a CPU runtime
        with pytest.raises(RuntimeError, match='CUDA'): torch.load(extra, weights_only=True)
    after = torch.load(extra, map_location='cpu', weights_only=True)
    assert torch.equal(after['rng']['torch'], before['rng']['torch'])
    train(str(train_phantom), out=tmp_path, resume=True, **TRAIN_KW)
    assert _same_predictions(tmp_path, uninterrupted) < 1e-5


@pytest.mark.slow
def test_train_resume_restores_the_loss_scaler(train_phantom, tmp_path):
    "fp16's GradScaler state is in the checkpoint and back after a resume (a CPU GradScaler stands in for CUDA's)."
    import torch
    class Scaler(Callback):
        order = 10  # where fastai's MixedPrecision makes its scaler, before TrainingState (70)
        def __init__(self, init): self.init, self.seen = init, []
        def before_fit(self): self.learn.scaler = torch.amp.GradScaler('cpu', init_scale=self.init)
        def before_epoch(self): self.seen.append(self.learn.scaler.get_scale())
    with pytest.raises(KeyboardInterrupt): train(str(train_phantom), out=tmp_path, cbs=[Scaler(256.), CtrlC()], **TRAIN_KW)
    s = Scaler(65536.)
    train(str(train_phantom), out=tmp_path, resume=True, cbs=[s], **TRAIN_KW)
    assert s.seen[0] == 256., s.seen


def test_nonfinite_loss_error_leaves_autocast(train_phantom):
    "After a NaN loss stops a mixed-precision fit, later work does not run under autocast (CPU autocast stands in for CUDA's)."
    import torch
    from fastcore.foundation import L
    from fastai.callback.fp16 import MixedPrecision
    from xraylib.data.block import xray_dataloaders
    from xraylib.training.learner import xray_learner, StopOnNonFiniteLoss
    class CPUMixedPrecision(MixedPrecision):  # fastai's callback, entering CPU autocast where it enters CUDA's
        def before_fit(self):
            self.autocast, self.learn.scaler, self.scales = torch.autocast('cpu', dtype=torch.bfloat16), torch.amp.GradScaler('cpu'), L()
    class Diverge(Callback):
        def before_batch(self): self.model[-1][-1].weight.data.fill_(float('nan'))
    dls = xray_dataloaders(train_phantom, size=32, bs=16, num_workers=0, device='cpu')
    learn = xray_learner(dls, 'resnet18', pretrained=False, cbs=[CPUMixedPrecision(), StopOnNonFiniteLoss(), Diverge()])
    with pytest.raises(NonFiniteLossError), learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert not torch.is_autocast_enabled('cpu'), 'the NaN error left the kernel inside autocast'


@pytest.mark.slow
def test_train_nan_loss_detected_and_reported(train_phantom, tmp_path):
    class Diverge(Callback):
        def before_batch(self):
            if self.epoch == 1 and self.iter == 2: self.model[-1][-1].weight.data.fill_(float('nan'))
    with pytest.raises(NonFiniteLossError, match=r'the loss is nan at epoch 1, training batch 2.*lower learning rate.*epochs up to 0 are saved'):
        train(str(train_phantom), out=tmp_path, cbs=[Diverge()], **TRAIN_KW)
    assert read_train_state(tmp_path)['epochs_done'] == 1 and not (tmp_path/'model.json').exists()


@pytest.mark.parametrize('lr', ['nan', '-1', '0'])
def test_train_bad_learning_rate_refused(train_phantom, tmp_path, lr):
    r = subprocess.run(_xraylib_train(train_phantom, tmp_path, '--lr', lr), capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and 'learning rate must be a positive number' in r.stderr and 'Traceback' not in r.stderr, r.stderr


@pytest.mark.slow
def test_train_valid_label_without_positives(uninterrupted):
    met = json.loads((uninterrupted/'metrics.json').read_text())
    empty = [l for l, n in met['valid_positives'].items() if n == 0]
    assert empty, 'this phantom split was meant to leave a label without validation positives'
    assert set(empty) <= set(met['labels_without_auroc'])
    assert all(met['auroc_point'][l] is None for l in empty)  # reported as missing, not 0.5
    assert np.isfinite(met['mean_auroc'])


# ---------------------------------------------------------------------------------------------------- other datasets
def _jpg(p:Path, v:int=128):
    p.parent.mkdir(parents=True, exist_ok=True)
    a = np.full((48, 48), v, np.uint8); a[:, :24] = 255 - v  # two halves: not a blank image, which load_image refuses
    Image.fromarray(a).save(p)


def _folders(root:Path, spec:dict)->Path:
    "`{'train/NORMAL': 2, ...}`: that many images in each folder (0: an empty folder)."
    for d, k in spec.items():
        (root/d).mkdir(parents=True, exist_ok=True)
        for i in range(k): _jpg(root/d/f'person{i + 1}_bacteria_{i}.jpeg', 40 * i)
    return root


CHEX_HDR = 'Path,Sex,Age,Frontal/Lateral,AP/PA,Edema,Atelectasis\n'

def _bad_dataset(tmp_path:Path, case:str)->tuple:
    "A dataset with one fault of the kind `case`, and the train options that read it."
    r = tmp_path/case
    ok = {'train/NORMAL': 2, 'train/PNEUMONIA': 2}
    if case == 'empty-class': return _folders(r, {**ok, 'train/VIRUS': 0}), []
    if case == 'clashing-classes': return _folders(r, {'NORMAL': 2, 'normal': 2, 'PNEUMONIA': 2}), []
    if case == 'reserved-class-name': return _folders(r, {'NORMAL': 2, 'patient': 2}), []
    if case == 'split-classes-differ': return _folders(r, {**ok, 'test/NORMAL': 1, 'test/VIRUS': 1}), []
    if case == 'mixed-layouts':
        _folders(r, {'NORMAL': 2, 'PNEUMONIA': 2}); (r/'sample_labels.csv').write_text(HDR + 'a.png,Mass,0,1,058Y,M,PA\n')
        return r, []
    if case == 'bad-label-value':
        r.mkdir(); (r/'train.csv').write_text(CHEX_HDR + 'train/patient00001/study1/view1_frontal.jpg,Male,50,Frontal,PA,1.0,\n'
                                              'train/patient00002/study1/view1_frontal.jpg,Female,60,Frontal,AP,yes,0.0\n')
        return r/'train.csv', []
    if case == 'regex-matches-nothing': return _folders(r, ok), ['--patient-regex', r'^(pt\d+)_']
    if case == 'unknown-label': return _folders(r, ok), ['--labels', 'PNEUMONIA,Effusion']
    raise KeyError(case)


@pytest.mark.parametrize('case,msg', [
    ('empty-class', 'VIRUS: empty class folder (no image files'),
    ('clashing-classes', "name the same class: merge them into one"),
    ('reserved-class-name', "'patient' has the name of a column of the frame"),
    ('split-classes-differ', "every split folder needs the same classes"),
    ('mixed-layouts', 'mixed layouts'),
    ('bad-label-value', "CSV row 3, column 'Edema': 'yes' is not a label value"),
    ('regex-matches-nothing', "--patient-regex '^(pt\\\\d+)_' matches none of the 4 file names"),
    ('unknown-label', '--labels Effusion: not a label of this dataset (its labels: PNEUMONIA, NORMAL)')])
def test_train_bad_dataset_one_line_error_nothing_written(tmp_path, capsys, case, msg):
    "Each fault of a dataset's layout or labels: `xraylib train` exits 1 with one line naming the folder, file, row or label and the fix; nothing is written."
    data, opts = _bad_dataset(tmp_path, case)
    _train_fails_in_one_line(tmp_path, capsys, ['--data', str(data), *opts], msg)


def _train_fails_in_one_line(tmp_path:Path, capsys, args:list, msg:str):
    "`xraylib train ARGS` (1 epoch, 32 px, no weights) exits 1 with one `xraylib train: ` line holding `msg`, and writes no output folder."
    from xraylib.cli import main
    out = tmp_path/'out'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # e.g. CSV sources whose images are not on disk: the error comes first
        rc = main(['train', *args, '--out', str(out), '--epochs', '1', '--size', '32', '--no-pretrained', '--quiet'])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.startswith('xraylib train: ') and len(err.splitlines()) == 1 and msg in err, err
    assert not out.exists()


def _label_csv(root:Path, rows:dict)->str:
    "A label CSV `{image: 'A|B'}` in `root` and the `--data` value that reads it (its own reader options)."
    root.mkdir(parents=True, exist_ok=True)
    (root/'labels.csv').write_text('img,finding\n' + ''.join(f'{k},{v}\n' for k, v in rows.items()))
    return f'{root/"labels.csv"}:image_col=img,label_col=finding'


def _bad_sources(r:Path, case:str)->list:
    "Two sources that cannot be one dataset, as `--data` values."
    kids = str(_folders(r/'kids', {'train/NORMAL': 2, 'train/PNEUMONIA': 2}))
    if case == 'same-image': return [kids, str(_folders(r/'kids2', {'NORMAL': 2, 'PNEUMONIA': 2}))]
    if case == 'one-label-twice': return [kids, _label_csv(r/'cx', {'c1.png': 'Effusion', 'c2.png': 'Pleural Effusion', 'c3.png': 'Pneumonia'})]
    if case == 'composite': return [_label_csv(r/'g', {'g1.png': 'Nodule or mass', 'g2.png': 'Pneumonia'}), _label_csv(r/'n', {'n1.png': 'Nodule', 'n2.png': 'Mass|Pneumonia'})]
    if case == 'nothing-in-common': return [kids, _label_csv(r/'frac', {'f1.png': 'Fracture', 'f2.png': 'No Finding'})]
    if case == 'unknown-holdout': return [kids, _label_csv(r/'cx', {'c1.png': 'Effusion', 'c2.png': 'Pneumonia'}), '--holdout-source', 'chexpert']
    raise KeyError(case)


@pytest.mark.parametrize('case,msg', [
    ('same-image', '--data kids and kids2: 2 image(s) in both (same file name, e.g. person1_bacteria_0.jpeg)'),
    ('one-label-twice', "--data cx: its labels 'Effusion' and 'Pleural Effusion' are one label after the synonym table"),
    ('composite', "--data g and n: g's 'Nodule or mass' is n's Nodule and Mass together"),
    ('nothing-in-common', '--data frac: no finding in common with kids'),
    ('unknown-holdout', '--holdout-source chexpert: not one of the sources (kids, cx)')])
def test_train_bad_sources_one_line_error_naming_them(tmp_path, capsys, case, msg):
    "Several sources that cannot be merged: `xraylib train --data A --data B` exits 1 with one line naming the sources; nothing is written."
    *data, = _bad_sources(tmp_path, case); opts = data[data.index('--holdout-source'):] if '--holdout-source' in data else []
    data = [d for d in data if d not in opts]
    _train_fails_in_one_line(tmp_path, capsys, [*sum((['--data', d] for d in data), []), *opts], msg)


def test_train_balance_needs_several_sources(tmp_path, capsys):
    from xraylib.cli import main
    assert main(['train', '--data', str(_folders(tmp_path/'k', {'NORMAL': 2, 'PNEUMONIA': 2})), '--balance', 'sources', '--out', str(tmp_path/'o'), '--quiet']) == 1
    assert '--balance sources: needs several sources (--data A --data B)' in capsys.readouterr().err

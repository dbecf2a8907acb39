"xraylib.datasets.nih_sample: credentials, dedupe, verification, reuse and faults, against a fake Kaggle API (no network)."
import errno, json, os, shutil, subprocess, sys, zipfile
from pathlib import Path
import pandas as pd
import pytest
import requests
import xraylib.datasets.nih_sample as dl
import xraylib.datasets.kermany as dk
import xraylib.datasets.fetch as fetch
from xraylib.datasets.phantom import make_phantom_sample
from xraylib.datasets.nih_sample import download_nih_sample, download_cli, verify_sample
from xraylib.core import is_complete, SAMPLE_COLUMNS, SAMPLE_CSV, MARKER
from xraylib.datasets.fetch import kaggle_credentials, DownloadError, KaggleCredentialsError, SampleVerificationError
from fakes import make_kaggle_zip, FakeKaggleApi

N = 20


@pytest.fixture(scope='module')
def src(tmp_path_factory):
    "A small phantom sample (Kaggle layout) to build fake archives from."
    return make_phantom_sample(tmp_path_factory.mktemp('src')/'phantom', n=N, size=64, seed=0, num_workers=0)


@pytest.fixture(scope='module')
def names(src):
    return sorted(p.name for p in (src/'images').iterdir())


@pytest.fixture(scope='module')
def good_zip(src, tmp_path_factory):
    return make_kaggle_zip(src, tmp_path_factory.mktemp('zip')/'sample.zip')


@pytest.fixture
def no_creds(monkeypatch, tmp_path):
    "An environment with no Kaggle credentials anywhere: no KAGGLE_* variables, HOME an empty temp folder."
    for k in list(os.environ):
        if k.startswith('KAGGLE_') or k == 'XDG_CONFIG_HOME': monkeypatch.delenv(k)
    home = tmp_path/'home'; home.mkdir()
    monkeypatch.setenv('HOME', str(home))
    for m in ('google.colab', 'google.colab.userdata'): monkeypatch.delitem(sys.modules, m, raising=False)
    return home


def good_zip_csv(zp: Path) -> bytes:
    with zipfile.ZipFile(zp) as z: return z.read(SAMPLE_CSV)


def _left(tmp: Path, name='nih'):
    "Leftover staging/download/old folders beside dest."
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith(f'.{name}.'))


def _get(tmp, api, name='nih', **kw):
    return download_nih_sample(tmp/name, api=api, n_rows=N, **kw)


# --- credentials --------------------------------------------------------------------------------------------

def test_no_credentials_fails_at_once(no_creds, tmp_path):
    with pytest.raises(KaggleCredentialsError) as e:  # not SystemExit: pytest.raises would not catch it
        download_nih_sample(tmp_path/'nih')
    msg = str(e.value)
    for way in ('KAGGLE_API_TOKEN', 'KAGGLE_USERNAME', 'KAGGLE_KEY', 'kaggle.json', 'Colab', 'kaggle.com/settings'):
        assert way in msg, way
    assert not (tmp_path/'nih').exists() and _left(tmp_path) == []


def test_no_credentials_never_imports_kaggle(no_creds, tmp_path):
    code = ("import sys\nfrom xraylib.datasets.nih_sample import download_nih_sample, KaggleCredentialsError\n"
            "try: download_nih_sample(sys.argv[1])\nexcept KaggleCredentialsError as e: print('CLEAR', str(e).splitlines()[0])\n"
            "print('kaggle imported:', any(m == 'kaggle' or m.startswith('kaggle.') for m in sys.modules))")
    r = subprocess.run([sys.executable, '-c', code, str(tmp_path/'nih')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert 'CLEAR No Kaggle credentials found' in r.stdout and 'kaggle imported: False' in r.stdout
    assert 'Traceback' not in r.stderr


def test_credential_sources(no_creds, tmp_path, monkeypatch):
    assert kaggle_credentials() is None
    (no_creds/'.kaggle').mkdir(); (no_creds/'.kaggle'/'kaggle.json').write_text('{"username":"u","key":"k"}')
    assert kaggle_credentials().endswith('.kaggle/kaggle.json')
    (no_creds/'.kaggle'/'kaggle.json').unlink()
    cfg = tmp_path/'cfg'; cfg.mkdir(); (cfg/'kaggle.json').write_text('{}')
    monkeypatch.setenv('KAGGLE_CONFIG_DIR', str(cfg))
    assert kaggle_credentials() == str(cfg/'kaggle.json')
    monkeypatch.delenv('KAGGLE_CONFIG_DIR')
    monkeypatch.setenv('KAGGLE_USERNAME', 'u')
    assert kaggle_credentials() is None  # a username alone is not enough
    monkeypatch.setenv('KAGGLE_KEY', 'k')
    assert kaggle_credentials() == 'KAGGLE_USERNAME/KAGGLE_KEY'
    monkeypatch.setenv('KAGGLE_API_TOKEN', 'tok')
    assert kaggle_credentials() == 'KAGGLE_API_TOKEN'


def test_colab_secrets_copied_to_env(no_creds, monkeypatch):
    import types
    secrets = {'KAGGLE_USERNAME': 'colab-user', 'KAGGLE_KEY': 'colab-key'}
    def get(k):
        if k not in secrets: raise KeyError(f'SecretNotFoundError: {k}')
        return secrets[k]
    colab = types.ModuleType('google.colab'); colab.userdata = types.SimpleNamespace(get=get)
    monkeypatch.setitem(sys.modules, 'google.colab', colab)
    assert kaggle_credentials() == 'Colab secrets KAGGLE_USERNAME/KAGGLE_KEY'
    assert os.environ['KAGGLE_USERNAME'] == 'colab-user' and os.environ['KAGGLE_KEY'] == 'colab-key'


def test_cli_with_fake_api(tmp_path, good_zip, monkeypatch, capsys):
    monkeypatch.setattr(fetch, 'make_api', lambda: FakeKaggleApi(good_zip))  # download_staged's
    real = dl.download_nih_sample
    monkeypatch.setattr(dl, 'download_nih_sample', lambda *a, **kw: real(*a, n_rows=N, **kw))
    assert download_cli(dest=str(tmp_path/'nih')) == 0
    assert str(tmp_path/'nih') in capsys.readouterr().out and is_complete(tmp_path/'nih')


def test_cli_arguments_parse():
    from fastcore.script import anno_parser
    a = anno_parser(download_cli).parse_args(['--dest', '/x/nih', '--force'])
    assert (a.dest, a.force) == ('/x/nih', True)


def test_default_dest_is_under_xraylib_home(tmp_path, good_zip, monkeypatch):
    monkeypatch.setenv('XRAYLIB_HOME', str(tmp_path/'home'))
    d = download_nih_sample(api=FakeKaggleApi(good_zip), n_rows=N)
    assert d == tmp_path/'home'/'nih-sample' and is_complete(d)


# --- the archive: dedupe, verification, reuse, force ------------------------------------------------------------

def test_dedupe_one_copy_of_each_image(tmp_path, src, good_zip):
    with zipfile.ZipFile(good_zip) as z: assert sum(n.endswith('.png') for n in z.namelist()) == 2*N
    d = _get(tmp_path, FakeKaggleApi(good_zip))
    assert d == tmp_path/'nih'
    assert sorted(p.name for p in d.iterdir()) == [MARKER, 'images', SAMPLE_CSV]
    imgs = sorted((d/'images').iterdir())
    assert [p.name for p in imgs] == sorted(p.name for p in (src/'images').iterdir())
    assert all(p.read_bytes() == (src/'images'/p.name).read_bytes() for p in imgs)
    assert (d/SAMPLE_CSV).read_bytes() == (src/SAMPLE_CSV).read_bytes()
    m = json.loads((d/MARKER).read_text())
    assert (m['n_rows'], m['n_images'], m['duplicates_skipped']) == (N, N, N)
    assert _left(tmp_path) == []  # staging and the archive are gone


def test_junk_and_nested_zip(tmp_path, src, good_zip, names):
    junk = tmp_path/'junk.zip'
    shutil.copy(good_zip, junk)
    with zipfile.ZipFile(junk, 'a') as z:
        z.writestr(f'__MACOSX/sample/images/._{names[0]}', b'junk')
        z.writestr('sample/.DS_Store', b'junk'); z.writestr('README.txt', b'hello')
    d = _get(tmp_path, FakeKaggleApi(junk))
    assert sorted(p.name for p in d.iterdir()) == [MARKER, 'images', SAMPLE_CSV] and len(list((d/'images').iterdir())) == N
    nested = tmp_path/'nested.zip'  # an older packaging: a zip holding sample.zip
    with zipfile.ZipFile(nested, 'w') as z: z.write(good_zip, 'sample.zip')
    assert is_complete(_get(tmp_path, FakeKaggleApi(nested), name='nested'))


def _zip_variant(tmp_path, src, name, edit):
    "A Kaggle-shaped zip of a copy of `src` changed by `edit(folder)`."
    s = tmp_path/f'{name}-src'; shutil.copytree(src, s); edit(s)
    return make_kaggle_zip(s, tmp_path/f'{name}.zip')


def test_missing_listed_image_is_an_error(tmp_path, src, names):
    z = _zip_variant(tmp_path, src, 'missing', lambda s: (s/'images'/names[3]).unlink())
    with pytest.raises(SampleVerificationError, match=rf'1 image\(s\) listed .* not in the archive.*{names[3]}'):
        _get(tmp_path, FakeKaggleApi(z))
    assert not (tmp_path/'nih').exists() and _left(tmp_path) == ['.nih.download']  # only the archive stays


@pytest.mark.parametrize('damage', ['truncated', 'text'])
def test_undecodable_image_is_an_error(tmp_path, src, names, damage):
    f = names[5]
    def edit(s): (s/'images'/f).write_bytes((s/'images'/f).read_bytes()[:60] if damage == 'truncated' else b'<html>')
    z = _zip_variant(tmp_path, src, 'corrupt-png', edit)
    with pytest.raises(SampleVerificationError, match=rf'1 unreadable image\(s\), e.g. {f}'):
        _get(tmp_path, FakeKaggleApi(z))
    assert not (tmp_path/'nih').exists() and '.nih.staging' not in _left(tmp_path)


def test_csv_checks(tmp_path, src, good_zip):
    with pytest.raises(SampleVerificationError, match=f'{N} rows, expected 5,606'):
        download_nih_sample(tmp_path/'nih', api=FakeKaggleApi(good_zip))
    def drop_col(s): pd.read_csv(s/SAMPLE_CSV).drop(columns=['Patient ID']).to_csv(s/SAMPLE_CSV, index=False)
    with pytest.raises(SampleVerificationError, match=r"missing column\(s\) \['Patient ID'\]"):
        _get(tmp_path, FakeKaggleApi(_zip_variant(tmp_path, src, 'nocol', drop_col)))
    assert not (tmp_path/'nih').exists()


def test_reuse_does_not_call_the_api(tmp_path, good_zip, names):
    api = FakeKaggleApi(good_zip)
    d = _get(tmp_path, api)
    assert _get(tmp_path, FakeKaggleApi(None, error=AssertionError('must not be called'))) == d
    assert len(api.calls) == 1
    (d/'images'/names[0]).unlink()  # damaged since: no longer complete, downloaded again
    assert not is_complete(d)
    assert is_complete(_get(tmp_path, api)) and len(api.calls) == 2
    with open(d/SAMPLE_CSV, 'a') as f: f.write('edited,by,hand\n')  # the CSV no longer matches its sha256
    assert not is_complete(d)
    assert is_complete(_get(tmp_path, api)) and len(api.calls) == 3
    assert (d/SAMPLE_CSV).read_bytes() == good_zip_csv(good_zip)


def test_force_downloads_again(tmp_path, good_zip):
    api = FakeKaggleApi(good_zip)
    d = _get(tmp_path, api)
    stamp = (d/MARKER).stat().st_mtime_ns
    assert _get(tmp_path, api, force=True) == d and len(api.calls) == 2 and is_complete(d)
    assert (d/MARKER).stat().st_mtime_ns >= stamp and _left(tmp_path) == []
    # a failing forced download leaves the earlier complete copy in place
    with pytest.raises(DownloadError): _get(tmp_path, FakeKaggleApi(good_zip, fail_after=100), force=True)
    assert is_complete(d)


def test_dest_that_is_not_ours_is_left_alone(tmp_path, good_zip):
    (tmp_path/'nih').mkdir(); (tmp_path/'nih'/'thesis.tex').write_text('precious')
    with pytest.raises(DownloadError, match='not an xraylib download'): _get(tmp_path, FakeKaggleApi(good_zip))
    assert (tmp_path/'nih'/'thesis.tex').read_text() == 'precious'


# --- faults ---------------------------------------------------------------------------------------------------

def test_truncated_archive_then_rerun(tmp_path, good_zip):
    bad = tmp_path/'truncated.zip'; data = good_zip.read_bytes(); bad.write_bytes(data[:len(data)*2//3])
    with pytest.raises(DownloadError, match='truncated or corrupt.*rerun'): _get(tmp_path, FakeKaggleApi(bad))
    assert not (tmp_path/'nih').exists() and _left(tmp_path) == []  # no marker, no staging, archive deleted
    assert is_complete(_get(tmp_path, FakeKaggleApi(good_zip)))


def test_corrupt_member_crc(tmp_path, good_zip, names):
    data = bytearray(good_zip.read_bytes())
    with zipfile.ZipFile(good_zip) as z: info = z.getinfo(f'sample/images/{names[0]}')
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # flip a byte inside the stored PNG
    bad = tmp_path/'crc.zip'; bad.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match='truncated or corrupt'): _get(tmp_path, FakeKaggleApi(bad))
    assert not (tmp_path/'nih').exists()


@pytest.mark.parametrize('status', [401, 403])
def test_rejected_credentials(tmp_path, good_zip, status):
    r = requests.Response(); r.status_code = status
    err = requests.HTTPError(f'{status} Client Error', response=r)
    with pytest.raises(KaggleCredentialsError, match='rejected the credentials.*accept the dataset'):
        _get(tmp_path, FakeKaggleApi(good_zip, error=err))
    with pytest.raises(KaggleCredentialsError, match='rejected'):
        _get(tmp_path, FakeKaggleApi(good_zip, auth_error=err))
    assert not (tmp_path/'nih').exists()


def test_authenticate_calling_exit_becomes_clear_error(tmp_path, good_zip):
    class Exits(FakeKaggleApi):
        def authenticate(self): print('Authentication required ...'); sys.exit(1)
    with pytest.raises(KaggleCredentialsError, match='rejected'): _get(tmp_path, Exits(good_zip))


def test_network_failure_mid_download_then_rerun(tmp_path, good_zip):
    with pytest.raises(DownloadError, match='failed.*ConnectionError.*rerun to resume or restart'):
        _get(tmp_path, FakeKaggleApi(good_zip, fail_after=good_zip.stat().st_size // 2))
    assert not (tmp_path/'nih').exists() and not is_complete(tmp_path/'nih')
    assert '.nih.staging' not in _left(tmp_path)
    assert is_complete(_get(tmp_path, FakeKaggleApi(good_zip))) and _left(tmp_path) == []


def disk_full_after(monkeypatch, k:int):
    "Make the download module's `shutil.copyfileobj` fail with ENOSPC on its `k`-th call."
    real, n = shutil.copyfileobj, [0]
    def copy(fsrc, fdst, *a):
        n[0] += 1
        if n[0] == k: raise OSError(errno.ENOSPC, 'No space left on device')
        return real(fsrc, fdst, *a)
    monkeypatch.setattr(dl.shutil, 'copyfileobj', copy)


def test_disk_full_while_extracting(tmp_path, good_zip, monkeypatch):
    disk_full_after(monkeypatch, 5)
    with pytest.raises(DownloadError, match='disk full.*rerun.*nothing was marked complete'):
        _get(tmp_path, FakeKaggleApi(good_zip))
    assert not (tmp_path/'nih').exists() and '.nih.staging' not in _left(tmp_path)
    monkeypatch.undo()  # the disk has room again
    assert is_complete(_get(tmp_path, FakeKaggleApi(good_zip)))


def test_stale_staging_is_removed(tmp_path, good_zip):
    st = tmp_path/'.nih.staging'; (st/'images').mkdir(parents=True); (st/'images'/'half.png').write_bytes(b'x')
    d = _get(tmp_path, FakeKaggleApi(good_zip))
    assert not (d/'images'/'half.png').exists() and _left(tmp_path) == []


def test_unmarked_dest_is_not_complete(tmp_path, good_zip):
    d = _get(tmp_path, FakeKaggleApi(good_zip))
    (d/MARKER).unlink()  # e.g. killed between the rename and the marker
    assert not is_complete(d)
    api = FakeKaggleApi(good_zip)
    assert is_complete(_get(tmp_path, api)) and len(api.calls) == 1


# --- real data ------------------------------------------------------------------------------------------------

def test_real_sample_csv_and_images(shared, tmp_path):
    csv = shared('nih-metadata', 'sample_labels.csv')
    assert len(dl._read_csv(csv, 5606)) == 5606  # the real file has the 11 expected columns and 5,606 rows
    imgs, labels = shared('nih-real-200', 'images'), shared('nih-real-200', 'labels.csv')
    d = tmp_path/'real'; d.mkdir(); shutil.copy(labels, d/SAMPLE_CSV); (d/'images').symlink_to(imgs)
    assert verify_sample(d, n_rows=200) == dict(n_rows=200, n_images=200)  # real PNGs, RGBA ones included


# --- the full ChestX-ray14 (download_nih_full) -----------------------------------------------------------------

import xraylib.datasets.nih_full as dlf
from xraylib.datasets.nih_full import download_nih_full, FULL_FOLDERS, FULL_FILES  # re-exported from xraylib.datasets.nih_full
from fakes import make_full_zip, full_rows

NF = 36  # 12 folders x 3 real file names


@pytest.fixture(scope='module')
def full_zip(tmp_path_factory):
    return make_full_zip(tmp_path_factory.mktemp('fullzip')/'data.zip', per_folder=3)


def _full(tmp, api, name='full', **kw):
    return download_nih_full(tmp/name, api=api, n_rows=NF, need_bytes=10_000, **kw)


def test_full_download_layout_and_reuse(tmp_path, full_zip):
    api = FakeKaggleApi(full_zip)
    d = _full(tmp_path, api)
    assert api.calls[0]['dataset'] == 'nih-chest-xrays/data'
    rows = full_rows(3)
    for fo, n in zip(rows['folder'], rows['Image Index']): assert (d/fo/'images'/n).is_file()
    assert sum(len(os.listdir(d/fo/'images')) for fo in FULL_FOLDERS) == NF
    assert all((d/f).is_file() for f in FULL_FILES) and (d/MARKER).is_file()
    assert _left(tmp_path, 'full') == []  # the archive is gone once complete
    from xraylib.data.block import load_labels
    from xraylib.data.splits import official_lists
    assert load_labels(d).path.notna().all() and official_lists(d) is not None
    _full(tmp_path, api)
    assert len(api.calls) == 1


def test_full_resumes_at_the_interrupted_folder(tmp_path, full_zip, monkeypatch):
    api, seen, real = FakeKaggleApi(full_zip), [], dlf._extract_folder
    def interrupted(z, members, dest, folder, quiet):
        if folder == 'images_005': raise KeyboardInterrupt
        seen.append(folder); return real(z, members, dest, folder, quiet)
    monkeypatch.setattr(dlf, '_extract_folder', interrupted)
    with pytest.raises(KeyboardInterrupt): _full(tmp_path, api)
    assert seen == list(FULL_FOLDERS[:4]) and not is_complete(tmp_path/'full')
    monkeypatch.setattr(dlf, '_extract_folder', lambda *a: (seen.append(a[3]), real(*a))[1])
    seen.clear()
    d = _full(tmp_path, api)
    assert seen == list(FULL_FOLDERS[4:])  # finished folders are not redone
    assert len(api.calls) == 1  # nor is the archive fetched again
    assert (d/MARKER).is_file() and sum(len(os.listdir(d/fo/'images')) for fo in FULL_FOLDERS) == NF


def test_full_interrupted_download_then_rerun(tmp_path, full_zip):
    with pytest.raises(DownloadError, match='rerun to resume or restart'):
        _full(tmp_path, FakeKaggleApi(full_zip, fail_after=1000))
    assert not (tmp_path/'full'/MARKER).exists()
    assert (_full(tmp_path, FakeKaggleApi(full_zip))/MARKER).is_file()


def test_full_disk_space_checked_first(tmp_path, full_zip, monkeypatch):
    api = FakeKaggleApi(full_zip)
    monkeypatch.setattr(dl.shutil, 'disk_usage', lambda p: shutil._ntuple_diskusage(100e9, 90e9, 10e9))
    with pytest.raises(DownloadError, match=r'needs about 90\.2 GB free.*only 10\.0 GB free'):
        download_nih_full(tmp_path/'full', api=api, n_rows=NF)
    assert api.calls == [] and not (tmp_path/'full').exists()


def test_full_folder_with_a_missing_image(tmp_path):
    rows = full_rows(3); gone = rows['Image Index'][rows['folder'] == 'images_007'].iloc[1]
    zp = make_full_zip(tmp_path/'data.zip', per_folder=3, skip=(gone,))
    with pytest.raises(SampleVerificationError, match=f'1 image.* not in the archive.*{gone}'):
        _full(tmp_path, FakeKaggleApi(zp))
    assert not (tmp_path/'full'/MARKER).exists()


def test_full_image_lost_after_completion_redoes_its_folder(tmp_path, full_zip, monkeypatch):
    api = FakeKaggleApi(full_zip); d = _full(tmp_path, api)
    sorted((d/'images_003'/'images').iterdir())[0].unlink()
    seen, real = [], dlf._extract_folder
    monkeypatch.setattr(dlf, '_extract_folder', lambda *a: (seen.append(a[3]), real(*a))[1])
    _full(tmp_path, api)
    assert seen == ['images_003'] and len(api.calls) == 2
    assert len(os.listdir(d/'images_003'/'images')) == 3


def test_full_undecodable_image_in_a_folder(tmp_path, full_zip):
    bad = tmp_path/'bad.zip'
    with zipfile.ZipFile(full_zip) as zi, zipfile.ZipFile(bad, 'w') as zo:
        for i in zi.infolist():
            data = zi.read(i)
            zo.writestr(i, data[:40] if i.filename.startswith('images_009/') else data)
    with pytest.raises(SampleVerificationError, match='images_009: 3 unreadable image'):
        _full(tmp_path, FakeKaggleApi(bad))
    assert len(os.listdir(tmp_path/'full'/'images_008'/'images')) == 3 and not (tmp_path/'full'/'images_009').exists()


def test_cli_full(tmp_path, full_zip, monkeypatch, capsys):
    monkeypatch.setattr(dlf, 'make_api', lambda: FakeKaggleApi(full_zip))
    monkeypatch.setattr(dlf, 'FULL_ROWS', NF)
    monkeypatch.setattr(dlf.download_nih_full, '__defaults__', (None, False, None, dlf.FULL_DATASET, NF, 10_000, True))
    assert download_cli(dest=str(tmp_path/'full'), full=True) == 0
    assert (tmp_path/'full'/MARKER).is_file() and str(tmp_path/'full') in capsys.readouterr().out


def test_full_rejected_credentials_name_the_full_dataset(tmp_path, full_zip):
    r = requests.Response(); r.status_code = 403
    with pytest.raises(KaggleCredentialsError, match=r'datasets/nih-chest-xrays/data \.'):
        _full(tmp_path, FakeKaggleApi(full_zip, error=requests.HTTPError('403', response=r)))
    assert not (tmp_path/'full'/MARKER).exists()


# --- the Kermany pediatric pneumonia set (download_kermany) ------------------------------------------------------

from xraylib.datasets.kermany import (download_kermany, verify_kermany, KERMANY_DATASET, KERMANY_COUNTS,
                                      default_kermany_dest)
from xraylib.datasets.phantom import make_phantom_folder_set
from fakes import make_kermany_zip

NK = 40
K_COUNTS = {'train': {'NORMAL': 12, 'PNEUMONIA': 19}, 'val': {'NORMAL': 2, 'PNEUMONIA': 1}, 'test': {'NORMAL': 2, 'PNEUMONIA': 4}}


@pytest.fixture(scope='module')
def ksrc(tmp_path_factory):
    "A 40-image phantom folder set in the Kermany layout, with val/."
    return make_phantom_folder_set(tmp_path_factory.mktemp('ksrc')/'set', n=NK, size=32, splits=('train', 'val', 'test'))


@pytest.fixture(scope='module')
def kzip(ksrc, tmp_path_factory):
    "Kaggle's packing: `chest_xray/...`, again under `chest_xray/chest_xray/...`, and macOS junk."
    return make_kermany_zip(ksrc, tmp_path_factory.mktemp('kzip')/'chest-xray-pneumonia.zip')


def _rel_images(d: Path) -> list:
    return sorted(p.relative_to(d).as_posix() for p in d.rglob('*') if p.is_file() and p.name != MARKER)


def _k(tmp, api, name='kermany', **kw):
    return download_kermany(tmp/name, api=api, counts=K_COUNTS, **kw)


def test_kermany_phantom_counts_are_the_fixture():
    "The phantom's own counts (the fixture's K_COUNTS) and the real constant: 5,856 = 5,216 + 16 + 624."
    assert {s: sum(c.values()) for s, c in KERMANY_COUNTS.items()} == {'train': 5216, 'val': 16, 'test': 624}
    assert sum(sum(c.values()) for c in K_COUNTS.values()) == NK


def test_kermany_counts_match_the_real_train_and_test(shared):
    "`KERMANY_COUNTS` agrees with the real Kermany train/ and test/ folders in ../shared (a 224 px copy)."
    real = shared('kermany-pneumonia-224', 'chest_xray')
    got = {s: {c.name: len(list(c.glob('*.jpeg'))) for c in sorted((real/s).iterdir())} for s in ('train', 'test')}
    assert got == {s: KERMANY_COUNTS[s] for s in ('train', 'test')}


def test_kermany_one_copy_in_the_read_folder_layout(tmp_path, ksrc, kzip):
    with zipfile.ZipFile(kzip) as z:
        names = z.namelist()
    assert sum(n.endswith('.jpeg') and '/._' not in n for n in names) == 2*NK  # two copies in the archive
    assert any(n.startswith('chest_xray/chest_xray/test/') for n in names) and any(n.startswith('__MACOSX/') for n in names)
    api = FakeKaggleApi(kzip)
    d = _k(tmp_path, api)
    assert d == tmp_path/'kermany' and api.calls[0]['dataset'] == KERMANY_DATASET == 'paultimothymooney/chest-xray-pneumonia'
    assert sorted(p.name for p in d.iterdir()) == [MARKER, 'test', 'train', 'val']
    want = sorted(p.relative_to(ksrc).as_posix() for p in ksrc.rglob('*.jpeg'))
    assert len(want) == NK and _rel_images(d) == want  # no ._* file, no .DS_Store, no nested chest_xray/
    assert all((d/r).read_bytes() == (ksrc/r).read_bytes() for r in want)
    m = json.loads((d/MARKER).read_text())
    assert (m['kind'], m['n_files'], m['copies_skipped'], m['root'], m['counts']) == ('kermany', NK, NK, 'chest_xray', K_COUNTS)
    assert _left(tmp_path, 'kermany') == []  # staging and archive gone
    from xraylib.data.readers import read_folder
    from xraylib.data.block import read_dataset
    f = read_folder(d)
    assert len(f) == NK and f['image'].str.startswith('val/').sum() == 3 and set(f['split']) == {'train', 'test'}
    assert len(read_dataset(d)) == NK


def test_kermany_shallowest_copy_wins_whatever_the_order(tmp_path, ksrc):
    "The nested copy first in the zip, with changed bytes and an extra image: the chest_xray/ copy is the one kept."
    files = sorted(p.relative_to(ksrc).as_posix() for p in ksrc.rglob('*.jpeg'))
    zp = tmp_path/'order.zip'
    with zipfile.ZipFile(zp, 'w') as z:
        for f in files: z.writestr('chest_xray/chest_xray/' + f, (ksrc/f).read_bytes()[:-2] + b'\xff\xd9')
        z.writestr('chest_xray/chest_xray/train/NORMAL/IM-9999-0001.jpeg', (ksrc/files[0]).read_bytes())
        for f in files: z.write(ksrc/f, 'chest_xray/' + f)
    d = _k(tmp_path, FakeKaggleApi(zp))
    assert _rel_images(d) == files and all((d/f).read_bytes() == (ksrc/f).read_bytes() for f in files)
    assert json.loads((d/MARKER).read_text())['copies_skipped'] == NK + 1


def test_kermany_macosx_set_is_never_taken(tmp_path, ksrc, kzip):
    "A complete-looking set under __MACOSX/ (as shallow as chest_xray/ and sorting before it) is junk, not data."
    zp = tmp_path/'macosx.zip'; shutil.copy(kzip, zp)
    some = sorted(p.relative_to(ksrc).as_posix() for p in ksrc.rglob('*.jpeg'))[1:7]  # [0] has its ._ file already
    with zipfile.ZipFile(zp, 'a') as z:
        for s in ('train', 'test'): z.writestr(f'__MACOSX/{s}/NORMAL/bogus.jpeg', b'\x00\x05\x16\x07')
        for f in some: z.writestr(f'chest_xray/{f.rsplit("/", 1)[0]}/._{f.rsplit("/", 1)[1]}', b'\x00\x05\x16\x07')
        z.writestr('chest_xray/train/NORMAL/notes.txt', b'not an image')
    d = _k(tmp_path, FakeKaggleApi(zp))
    assert json.loads((d/MARKER).read_text())['root'] == 'chest_xray'
    assert len(_rel_images(d)) == NK and not list(d.rglob('bogus.jpeg')) and not list(d.rglob('._*')) and not list(d.rglob('*.txt'))


@pytest.mark.parametrize('splits', [('train', 'val'), ('val', 'test')])
def test_kermany_archive_without_train_and_test_is_refused(tmp_path, ksrc, splits):
    zp = make_kermany_zip(ksrc, tmp_path/'partial.zip', splits=splits)
    with pytest.raises(DownloadError, match=r'no folder set with train/ and test/ in the archive.*paultimothymooney'):
        download_kermany(tmp_path/'kermany', api=FakeKaggleApi(zp), counts=None)
    assert not (tmp_path/'kermany').exists() and '.kermany.staging' not in _left(tmp_path, 'kermany')


def test_kermany_nih_archive_is_refused(tmp_path, good_zip):
    with pytest.raises(SampleVerificationError, match='no folder set with train/ and test/'):
        _k(tmp_path, FakeKaggleApi(good_zip))
    assert not (tmp_path/'kermany').exists()


def test_kermany_wrong_counts_are_refused(tmp_path, kzip, ksrc):
    "The real counts refuse the 40-image phantom; so does one image gone from the archive."
    with pytest.raises(SampleVerificationError, match=r"expected \{'train': \{'NORMAL': 1341, 'PNEUMONIA': 3875\}"):
        download_kermany(tmp_path/'kermany', api=FakeKaggleApi(kzip))
    s = tmp_path/'less'; shutil.copytree(ksrc, s); sorted((s/'val'/'NORMAL').iterdir())[0].unlink()
    with pytest.raises(SampleVerificationError, match=r"'val': \{'NORMAL': 1, 'PNEUMONIA': 1\}\}, expected"):
        _k(tmp_path, FakeKaggleApi(make_kermany_zip(s, tmp_path/'less.zip', copies=1)))
    assert not (tmp_path/'kermany').exists() and _left(tmp_path, 'kermany') == ['.kermany.download']


def test_kermany_undecodable_jpeg_is_refused(tmp_path, ksrc):
    s = tmp_path/'bad'; shutil.copytree(ksrc, s)
    f = sorted((s/'test'/'PNEUMONIA').iterdir())[1]; f.write_bytes(f.read_bytes()[:120])
    with pytest.raises(SampleVerificationError, match=rf'1 unreadable image\(s\), e.g. {f.name}'):
        _k(tmp_path, FakeKaggleApi(make_kermany_zip(s, tmp_path/'bad.zip')))
    assert not (tmp_path/'kermany').exists()


def test_kermany_interrupted_extraction_then_rerun(tmp_path, kzip, monkeypatch):
    real, n = shutil.copyfileobj, [0]
    def copy(fsrc, fdst, *a):
        n[0] += 1
        if n[0] == 25: raise KeyboardInterrupt  # mid-extraction: the archive is in, 24 images are out
        return real(fsrc, fdst, *a)
    api = FakeKaggleApi(kzip)
    monkeypatch.setattr(dl.shutil, 'copyfileobj', copy)
    with pytest.raises(KeyboardInterrupt): _k(tmp_path, api)
    assert not (tmp_path/'kermany').exists() and _left(tmp_path, 'kermany') == ['.kermany.download']
    monkeypatch.setattr(dl.shutil, 'copyfileobj', real)
    d = _k(tmp_path, api)
    assert len(_rel_images(d)) == NK and dk._kermany_complete(d) and _left(tmp_path, 'kermany') == []


def test_kermany_interrupted_forced_download_keeps_the_complete_copy(tmp_path, kzip, monkeypatch):
    d = _k(tmp_path, FakeKaggleApi(kzip))
    def interrupted(*a, **kw): raise KeyboardInterrupt
    monkeypatch.setattr(dk, 'copy_members', interrupted)
    with pytest.raises(KeyboardInterrupt): _k(tmp_path, FakeKaggleApi(kzip), force=True)
    assert dk._kermany_complete(d) and len(_rel_images(d)) == NK and '.kermany.staging' not in _left(tmp_path, 'kermany')


def test_kermany_reuse_and_damage(tmp_path, kzip):
    api = FakeKaggleApi(kzip)
    d = _k(tmp_path, api)
    assert _k(tmp_path, FakeKaggleApi(None, error=AssertionError('must not be called'))) == d and len(api.calls) == 1
    victim = sorted((d/'train'/'PNEUMONIA').iterdir())[3]
    victim.write_bytes(victim.read_bytes()[:50])  # cut short since: not complete, downloaded again
    assert not dk._kermany_complete(d)
    assert dk._kermany_complete(_k(tmp_path, api)) and len(api.calls) == 2 and victim.stat().st_size > 50
    victim.unlink()
    assert not dk._kermany_complete(d)
    assert dk._kermany_complete(_k(tmp_path, api)) and len(api.calls) == 3
    (d/MARKER).unlink()  # killed between the rename and the marker
    assert not dk._kermany_complete(d) and dk._kermany_complete(_k(tmp_path, api)) and len(api.calls) == 4
    assert _k(tmp_path, api, force=True) == d and len(api.calls) == 5 and len(_rel_images(d)) == NK


def test_kermany_truncated_archive_then_rerun(tmp_path, kzip):
    bad = tmp_path/'truncated.zip'; data = kzip.read_bytes(); bad.write_bytes(data[:len(data)//2])
    with pytest.raises(DownloadError, match='truncated or corrupt.*rerun'): _k(tmp_path, FakeKaggleApi(bad))
    assert not (tmp_path/'kermany').exists() and _left(tmp_path, 'kermany') == []
    assert dk._kermany_complete(_k(tmp_path, FakeKaggleApi(kzip)))


def test_kermany_network_failure_then_rerun(tmp_path, kzip):
    with pytest.raises(DownloadError, match='chest-xray-pneumonia failed.*ConnectionError.*rerun to resume'):
        _k(tmp_path, FakeKaggleApi(kzip, fail_after=kzip.stat().st_size // 3))
    assert not (tmp_path/'kermany').exists()
    assert dk._kermany_complete(_k(tmp_path, FakeKaggleApi(kzip)))


def test_kermany_rejected_credentials_name_the_dataset(tmp_path, kzip):
    r = requests.Response(); r.status_code = 403
    with pytest.raises(KaggleCredentialsError, match='datasets/paultimothymooney/chest-xray-pneumonia'):
        _k(tmp_path, FakeKaggleApi(kzip, error=requests.HTTPError('403 Client Error', response=r)))


def test_kermany_disk_full_while_extracting(tmp_path, kzip, monkeypatch):
    disk_full_after(monkeypatch, 7)
    with pytest.raises(DownloadError, match='disk full.*nothing was marked complete'): _k(tmp_path, FakeKaggleApi(kzip))
    assert not (tmp_path/'kermany').exists() and '.kermany.staging' not in _left(tmp_path, 'kermany')


def test_kermany_dest_that_is_not_ours_is_left_alone(tmp_path, kzip):
    (tmp_path/'kermany').mkdir(); (tmp_path/'kermany'/'thesis.tex').write_text('precious')
    with pytest.raises(DownloadError, match='not an xraylib download'): _k(tmp_path, FakeKaggleApi(kzip))
    assert (tmp_path/'kermany'/'thesis.tex').read_text() == 'precious'


def test_kermany_default_dest_is_under_xraylib_home(tmp_path, kzip, monkeypatch):
    monkeypatch.setenv('XRAYLIB_HOME', str(tmp_path/'home'))
    assert default_kermany_dest() == tmp_path/'home'/'kermany'
    d = download_kermany(api=FakeKaggleApi(kzip), counts=K_COUNTS)
    assert d == tmp_path/'home'/'kermany' and len(_rel_images(d)) == NK


def test_verify_kermany_reads_with_read_folder(tmp_path, ksrc):
    assert verify_kermany(ksrc, K_COUNTS) == dict(n_files=NK, counts=K_COUNTS)
    s = tmp_path/'loose'; shutil.copytree(ksrc, s); shutil.copy(next(ksrc.rglob('*.jpeg')), s/'train'/'loose.jpeg')
    with pytest.raises(SampleVerificationError, match='not a readable folder set.*loose.jpeg'): verify_kermany(s, None)


def test_readers_do_not_import_download():
    "xraylib.datasets.kermany imports xraylib.data.readers; readers (and what it imports) must not import the downloads back."
    code = ("import sys, xraylib.data.readers\nassert not any(m.startswith('xraylib.datasets.nih_sample') for m in sys.modules), sorted(m for m in sys.modules if m.startswith('xraylib'))\n"
            "import xraylib.datasets.nih_sample\nprint('ok', xraylib.datasets.kermany.read_folder is xraylib.data.readers.read_folder)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == 'ok True', r.stderr

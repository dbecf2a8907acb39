"""Bad input and faults (issue 7): one test per case, each asserting the message (file or row named, fix hinted)
or the recovery. Training faults (--resume, NaN loss, Ctrl-C) are tested in test_learner.py / test_cli.py.

Sections: CSVs, images, download, model files, widget, safe writes. Everything is built small in tmp_path."""
import errno, io, os, pickle, shutil, stat, struct, warnings, zlib
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image

from xraylib.core import LABELS, load_image, ImageLoadError, atomic_write, atomic_path, MAX_PIXELS

HDR = 'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position\n'


def _png(a, **kw)->bytes:
    b = io.BytesIO(); Image.fromarray(a).save(b, format='PNG', **kw); return b.getvalue()

A8 = (np.arange(40*30) % 256).astype(np.uint8).reshape(30, 40)  # a non-square 40 x 30 test image


@pytest.fixture(scope='module')
def phantom(tmp_path_factory):
    "A 16-image phantom sample at 32 px (Kaggle layout: sample_labels.csv + images/)."
    from xraylib.phantom import make_phantom_sample
    return make_phantom_sample(tmp_path_factory.mktemp('ph')/'phantom', n=16, size=32, seed=0, workers=0)


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

"""Issue 41, item 6: decoding is bounded by memory, not only by pixels.

Each image is read by `load_image` in a fresh process and its peak memory (ru_maxrss) compared with that of an
ordinary 1024 px NIH PNG: at most 300 MB more, within 5 s, whether it is accepted or refused. Before the fix a 16-bit
10000 x 10000 PNG of sparse bright dots (inside the 100 M-pixel cap) raised the peak by about 2.5 GB.
"""
import struct, subprocess, sys, zlib
import pytest
from conftest import shared_path

_READ = ('import resource, sys, time; from xraylib.imaging.load import load_image, ImageLoadError\n'
         'b = open(sys.argv[1], "rb").read(); r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n'
         't = time.time()\n'
         'try: im = load_image(b); out = f"{im.width}x{im.height}"\n'
         'except ImageLoadError as e: out = "refused: " + str(e)\n'
         'print(time.time() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0, out, sep="\\t")')


def _png(path, w:int, h:int, depth:int, dots:bool)->str:
    "A grayscale PNG of `depth` bits, black with (`dots`) a bright pixel every 100 in each direction, written by rows."
    z, px = zlib.compressobj(1), depth // 8
    dark, lit = bytes(1 + w * px), bytearray(1 + w * px)
    for x in range(0, w, 100): lit[1 + x * px:1 + (x + 1) * px] = b'\xff' * px
    data = b''.join(z.compress(bytes(lit) if dots and y % 100 == 0 else dark) for y in range(h)) + z.flush()
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, 0, 0, 0, 0)) +
                     chunk(b'IDAT', data) + chunk(b'IEND', b''))
    return str(path)


def _measure(path)->tuple:
    "`(seconds, peak rise in MB, outcome)` of `load_image` on the file, in a fresh process."
    r = subprocess.run([sys.executable, '-c', _READ, path], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    t, kb, out = r.stdout.strip().split('\t')
    return float(t), int(kb) / 1024, out


def _dicom(path, w:int, h:int, deflated:bool)->str:
    "A 16-bit MONOCHROME2 DICOM, black with a bright pixel every 100, rescaled and windowed (deflated: the whole file)."
    import numpy as np, pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid
    a = np.zeros((h, w), np.uint16); a[::100, ::100] = 4000
    meta = FileMetaDataset(); meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.1.1'
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian if deflated else ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = meta; ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = h, w, 1, 'MONOCHROME2'
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.WindowCenter, ds.WindowWidth = 1, -1024, 500, 3000
    ds.PixelData = a.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return str(path)


@pytest.mark.timeout(600)
def test_decoding_bounded_by_memory(tmp_path):
    base = _measure(str(sorted(shared_path('nih-real-200', 'images').glob('*.png'))[0]))
    cases = {'16-bit 10000x10000, sparse dots': _png(tmp_path/'dots16.png', 10_000, 10_000, 16, True),
             '16-bit 10000x10000, blank': _png(tmp_path/'blank16.png', 10_000, 10_000, 16, False),
             '8-bit 10000x10000, sparse dots': _png(tmp_path/'dots8.png', 10_000, 10_000, 8, True),
             '16-bit 4000x4000, sparse dots': _png(tmp_path/'dots16s.png', 4000, 4000, 16, True),
             '16-bit DICOM 7000x7000, deflated': _dicom(tmp_path/'big.dcm', 7000, 7000, True),
             '16-bit DICOM 4000x4000, windowed': _dicom(tmp_path/'ok.dcm', 4000, 4000, False)}
    got = {k: _measure(f) for k, f in cases.items()}
    for k, (t, mb, out) in got.items():  # before: 16-bit dots +2.5 GB (accepted), blank +1.1 GB, 16-bit 4000 px +395 MB,
        # the deflated 7000 px DICOM +1.6 GB (accepted)
        assert t < 5 and mb - base[1] < 300, f'{k}: {t:.1f} s, +{mb:.0f} MB ({out}); 1024 px PNG: +{base[1]:.0f} MB'
    dots = got['16-bit 10000x10000, sparse dots'][2]
    assert dots.startswith('refused: ') and 'memory guard' in dots, dots
    assert got['8-bit 10000x10000, sparse dots'][2] == '10000x10000', got
    assert got['16-bit 4000x4000, sparse dots'][2] == '4000x4000', got
    big = got['16-bit DICOM 7000x7000, deflated'][2]  # before: accepted, +1.6 GB
    assert big.startswith('refused: ') and 'memory guard' in big, big
    assert got['16-bit DICOM 4000x4000, windowed'][2] == '4000x4000', got

"Test doubles shared by tests/ and the 33_datasets.nih_sample notebook: a fake Kaggle API, a Kaggle-shaped zip, DICOM files."
import io, shutil, struct, zipfile, zlib
from pathlib import Path
from typing import Union
import numpy as np
from xraylib.core import SAMPLE_CSV, atomic_path


def make_kaggle_zip(src:Union[str,Path], # a folder with `sample_labels.csv` and `images/*.png`
                    zip_path:Union[str,Path], # the archive to write
                    copies:int=2 # image trees: `sample/images`, `sample/sample/images`, ...
                   )->Path:
    "Write a zip shaped like Kaggle's `sample.zip` (the CSV at the top, each image `copies` times)."
    src, zip_path = Path(src), Path(zip_path)
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, 'w', zipfile.ZIP_STORED) as z:
        z.write(src/SAMPLE_CSV, SAMPLE_CSV)
        for i in range(copies):
            for f in sorted((src/'images').glob('*.png')): z.write(f, 'sample/' + 'sample/'*i + 'images/' + f.name)
    return zip_path


def make_kermany_zip(src:Union[str,Path], # a folder set: `src/{train,val,test}/CLASS/*.jpeg`
                     zip_path:Union[str,Path], # the archive to write
                     copies:int=2, # folder sets: `chest_xray/`, `chest_xray/chest_xray/`, ...
                     junk:bool=True, # add macOS junk as Kaggle's has it: `__MACOSX/`, `._*` files, `.DS_Store`
                     splits:tuple=('train', 'val', 'test') # the split folders of `src` to pack
                    )->Path:
    "Write a zip shaped like Kaggle's `chest-xray-pneumonia.zip` (every image `copies` times, plus junk)."
    src, zip_path = Path(src), Path(zip_path)
    files = sorted(f.relative_to(src).as_posix() for s in splits for f in (src/s).glob('*/*.jpeg'))
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, 'w', zipfile.ZIP_STORED) as z:
        for i in range(copies):
            for f in files: z.write(src/f, 'chest_xray/' + 'chest_xray/'*i + f)
        if junk:
            z.writestr('chest_xray/.DS_Store', b'\0\0\0\1Bud1'); z.writestr('chest_xray/train/.DS_Store', b'\0\0\0\1Bud1')
            z.writestr('chest_xray/' + files[0].rsplit('/', 1)[0] + '/._' + files[0].rsplit('/', 1)[1], b'\0\5\26\7 AppleDouble')
            for f in files[:3]: z.writestr(f'__MACOSX/chest_xray/{f.rsplit("/", 1)[0]}/._{f.rsplit("/", 1)[1]}', b'\0\5\26\7')
            z.writestr('__MACOSX/chest_xray/._train', b'\0\5\26\7')
    return zip_path


class FakeKaggleApi:
    "Stands in for `KaggleApi`: serves `archive` as `<slug>.zip`, optionally failing like the real service."
    def __init__(self, archive:Union[str,Path,None], # the zip to serve
                 error:Exception=None, # raise this from `dataset_download_files` (e.g. an HTTP 403)
                 fail_after:int=None, # write this many bytes, then raise `ConnectionError`
                 auth_error:Exception=None): # raise this from `authenticate`
        self.archive, self.error, self.fail_after, self.auth_error = archive, error, fail_after, auth_error
        self.calls = []
    def authenticate(self):
        if self.auth_error: raise self.auth_error
    def dataset_download_files(self, dataset, path=None, force=False, quiet=True, unzip=False, **kwargs):
        self.calls.append(dict(dataset=dataset, path=path, force=force))
        if self.error: raise self.error
        out = Path(path)/(dataset.split('/')[-1] + '.zip'); out.parent.mkdir(parents=True, exist_ok=True)
        with open(self.archive, 'rb') as src, open(out, 'wb') as dst:  # streamed, like the real download
            if self.fail_after is None: return shutil.copyfileobj(src, dst, 1 << 20)
            dst.write(src.read(self.fail_after))
        raise ConnectionError('connection reset by peer (fake)')


def make_dicom(arr:np.ndarray, # the pixels (stored as uint16)
               photometric:str='MONOCHROME2', # or 'MONOCHROME1' (inverted storage)
               bits_stored:int=12,
               window:tuple=None, # (WindowCenter, WindowWidth), if any
               path:Union[str,Path]=None # write the file here and return its path; else return the bytes
              ):
    "A uint16 single-frame DICOM file (pydicom): its bytes, or its path when `path` is given."
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID, fm.MediaStorageSOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = fm
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = fm.MediaStorageSOPClassUID, fm.MediaStorageSOPInstanceUID, 'DX'
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 0
    if window: ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = arr.astype(np.uint16).tobytes()
    if path is not None: ds.save_as(path, enforce_file_format=True); return Path(path)
    buf = io.BytesIO(); ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _dicom_header(rows:int, cols:int, frames:int, bits:int, ts):
    "A DICOM dataset with an image header (no pixel data yet)."
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import SecondaryCaptureImageStorage, generate_uid
    fm = FileMetaDataset(); fm.TransferSyntaxUID = ts
    fm.MediaStorageSOPClassUID, fm.MediaStorageSOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    ds = Dataset(); ds.file_meta = fm
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = fm.MediaStorageSOPClassUID, fm.MediaStorageSOPInstanceUID, 'DX'
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, 'MONOCHROME2'
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if frames > 1: ds.NumberOfFrames = frames
    return ds


def make_dicom_frames(path:Union[str,Path], # the file to write
                      frames:int, side:int=2048, # frames of side x side pixels, 16-bit
                     )->Path:
    "A multi-frame 16-bit DICOM study (uncompressed): each frame a ramp, not blank."
    from pydicom.uid import ExplicitVRLittleEndian
    ds = _dicom_header(side, side, frames, 16, ExplicitVRLittleEndian)
    ds.PixelData = (np.arange(side * side) % 4096).astype(np.uint16).tobytes() * frames
    ds.save_as(path, enforce_file_format=True); return Path(path)


def make_dicom_bomb(path:Union[str,Path], # the file to write
                    side:int=30000 # side x side 8-bit zeros: 900 MB inflated, about 860 KB on disk
                   )->Path:
    "A deflated DICOM (PS3.5 A.5) of side x side zeros, made in a fraction of a second without ever holding them."
    from pydicom.uid import DeflatedExplicitVRLittleEndian
    ds = _dicom_header(side, side, 1, 8, DeflatedExplicitVRLittleEndian); ds.PixelData = b''
    buf = io.BytesIO(); ds.save_as(buf, enforce_file_format=True); f = buf.getvalue()
    meta_end = 144 + struct.unpack_from('<I', f, 140)[0]  # preamble, DICM, the file meta group (its length at 140)
    body = zlib.decompress(f[meta_end:], -zlib.MAX_WBITS)
    assert body.endswith(b'\xe0\x7f\x10\x00OB\x00\x00\x00\x00\x00\x00')  # an empty Pixel Data element ends the dataset
    c, n, blk = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS), side * side, 1 << 24
    out = [c.compress(body[:-4] + struct.pack('<I', n)) + c.flush(zlib.Z_FULL_FLUSH)]
    z = c.compress(bytes(blk)) + c.flush(zlib.Z_FULL_FLUSH)  # after a full flush, every block of zeros deflates alike
    out += [z] * (n // blk - 1) + [c.compress(bytes(n % blk)) + c.flush()]
    Path(path).write_bytes(f[:meta_end] + b''.join(out)); return Path(path)


FULL_FOLDERS = [f'images_{i:03d}' for i in range(1, 13)]
FULL_FIRST = [0, 4999] + [4999 + 10000*k for k in range(1, 11)]  # index of each folder's first image in the real data


def full_rows(per_folder:int=3)->'pd.DataFrame':
    "`per_folder` real rows of each of the 12 folders of ChestX-ray14 (from shared/ when present, else built-in), with a `folder` column."
    import pandas as pd
    f = Path(__file__).resolve().parents[2]/'shared'/'data'/'nih-metadata'/'Data_Entry_2017_v2020.csv.gz'
    if f.is_file():
        d = pd.read_csv(f, dtype=str, keep_default_na=False)
        idx = [i + k for i in FULL_FIRST for k in range(per_folder)]
        d = d.iloc[idx].reset_index(drop=True)
    else:  # the first images of each folder of the real data set: patient ids at the folder boundaries
        first = [1, 1336, 3923, 6585, 9232, 11559, 13774, 16052, 18387, 20945, 24718, 28173]
        d = pd.DataFrame({'Image Index': [f'{p+k:08d}_000.png' for p in first for k in range(per_folder)],
                          'Finding Labels': 'No Finding', 'Follow-up #': '0',
                          'Patient ID': [str(p+k) for p in first for k in range(per_folder)],
                          'Patient Age': '50', 'Patient Gender': 'M', 'View Position': 'PA'})
    d['folder'] = [fo for fo in FULL_FOLDERS for _ in range(per_folder)]
    return d


def make_full_zip(zip_path:Union[str,Path], # the archive to write
                  per_folder:int=3, # images in each of the 12 folders
                  size:int=16, # image width and height
                  skip:tuple=() # image names listed in the CSV but left out of the archive
                 )->Path:
    "A zip shaped like Kaggle's `nih-chest-xrays/data` archive: the 4 metadata files and `images_0XX/images/*.png`."
    from PIL import Image
    zip_path = Path(zip_path); d = full_rows(per_folder)
    test = set(d['Patient ID'].unique()[::4])
    is_test = d['Patient ID'].isin(test)
    rng = np.random.default_rng(0)
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('Data_Entry_2017.csv', d.drop(columns='folder').to_csv(index=False))
        z.writestr('BBox_List_2017.csv', 'Image Index,Finding Label,Bbox [x,y,w,h],,,\n')
        z.writestr('train_val_list.txt', '\n'.join(d['Image Index'][~is_test]) + '\n')
        z.writestr('test_list.txt', '\n'.join(d['Image Index'][is_test]) + '\n')
        for n, fo in zip(d['Image Index'], d['folder']):
            if n in skip: continue
            buf = io.BytesIO(); Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(buf, 'PNG')
            z.writestr(f'{fo}/images/{n}', buf.getvalue())
    return zip_path

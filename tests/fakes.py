"Test doubles shared by tests/ and the 02_download notebook: a fake Kaggle API, a Kaggle-shaped zip, DICOM files."
import io, shutil, zipfile
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

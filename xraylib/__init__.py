"""xraylib: chest X-ray classification with fastai, done the way a careful researcher would.

`from xraylib.all import *` gives the names a study needs. The package is laid out by stage; each stage may import
only the ones listed before it (tests/test_architecture.py holds it to this):

- `core`, `vocab`, `stats`, `progress`: foundations (NIH's labels, safe writes, the label vocabulary, statistics,
  progress bars); import nothing else of xraylib.
- `imaging`: reading any chest X-ray file (`load_image`: PNG, JPEG, DICOM) with bounded memory; imports the foundations.
- `data`: label files of any layout (`readers`, `frame`), patient-wise splits, the image cache and the fastai
  DataBlock/DataLoaders (`block`); imports imaging and the foundations.
- `datasets`: the built-in phantom and the NIH/Kermany downloads; imports data, imaging and the foundations.
- `inference`: safe model files, the calibration map, `Predictor` and Grad-CAM; imports imaging and the foundations,
  never data loaders, evaluation or training.
- `evaluation`: thresholds, AUROC with CIs, plots, calibration, subgroups, comparison, external validation, site
  calibration and localisation; imports inference, datasets, data, imaging and the foundations, never training.
- `training`: the learner, `train`, checkpoints, cross-validation, several sources; imports every stage above.
- `serving`: the upload widget, the web app and its JSON API; imports inference, evaluation and below, never training.
- `cli` and `all`: the command line and the one import; may import anything.
"""
__version__ = "0.1.0"

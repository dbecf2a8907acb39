"Shared set-up of the prediction benchmarks: an untrained, seeded model on the 200 real NIH PNGs, saved as xraylib model files."
import sys
from pathlib import Path


def real_model(arch:str, size:int, bs:int, tmp:Path):
    "`(src, dls, learn, model_dir)`: nih-real-200, its DataLoaders at `size`, a seeded `xray_learner`, and its saved files."
    import torch
    from xraylib.core import shared_data
    from xraylib.data.block import xray_dataloaders
    from xraylib.training.learner import xray_learner
    from xraylib.inference.modelfile import save_model
    src = shared_data('nih-real-200')
    if src is None: sys.exit('needs ../shared/data/nih-real-200 (see ../shared/README.md)')
    torch.manual_seed(0)
    dls = xray_dataloaders(src, size=size, bs=bs, cache_dir=tmp/'cache', device='cpu', quiet=True)
    learn = xray_learner(dls, arch, pretrained=False, path=tmp)
    save_model(learn, tmp/'model')
    return src, dls, learn, tmp/'model'

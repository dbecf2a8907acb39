"What 58_evaluation.localize cannot check: `xraylib localize` in a subprocess, on a model trained on the phantom (whose boxes are a known answer) and on the real NIH images with expert boxes in ../shared."
import json, subprocess
import numpy as np, pandas as pd, pytest

pytestmark = pytest.mark.slow  # every test uses a trained model

BOXES = 'BBox_List_2017.csv'


def run(*args):
    return subprocess.run(['xraylib', 'localize', *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A ResNet-18 trained from scratch for 1 epoch on 100 phantom images at 64 px (one model for the module: too short to localise;"
    "the CPU preset's model, which does, is measured in 58_evaluation.localize and nbs/topics/localization.md), and 12 held-out phantom images."
    from xraylib.training.learner import train
    from xraylib.datasets.phantom import make_phantom_sample
    tmp = tmp_path_factory.mktemp('loc')
    ph = make_phantom_sample(tmp/'ph', n=100, size=64, seed=1)
    train(data=str(ph), arch='resnet18', size=64, bs=32, epochs=1, freeze_epochs=0, lr=3e-3, pretrained=False, download=False,
          out=str(tmp/'run'), quiet=True, n_boot=20, seed=0)
    return tmp/'run', make_phantom_sample(tmp/'held', n=12, size=96, seed=5)


def test_localize_phantom_end_to_end(trained, tmp_path):
    "On held-out phantom images every box is scored (1024-px boxes scaled to the 96-px images), every pathology of the model reported, absent ones as such;"
    "with the default layer, which for this 64-px ResNet-18 is the second stage `0.5` (8 x 8 cells), not the last block (2 x 2)."
    from xraylib.inference.predict import Predictor
    from xraylib.inference.gradcam import default_layer
    model, held = trained
    m = Predictor.from_file(model).model
    assert next(n for n, o in m.named_modules() if o is default_layer(m, 64)) == '0.5'
    r = run(model, '--boxes', held/BOXES, held/'images', '--out', tmp_path/'o', '--level', '0.4',
            '--n-boot', '100', '--seed', '1', '--n-show', '1')
    assert r.returncode == 0, r.stderr
    pb, t = pd.read_csv(tmp_path/'o'/'localization_boxes.csv'), pd.read_csv(tmp_path/'o'/'localization.csv')
    bx = pd.read_csv(held/BOXES)
    assert len(pb) == len(bx) and set(pb.image) == set(bx['Image Index'])  # the phantom's labels are all the model's
    assert (tmp_path/'o'/'localization.png').stat().st_size > 10_000
    assert ((pb.x >= 0) & (pb.x + pb.w <= 96.01) & (pb.y + pb.h <= 96.01)).all()  # 1024-px boxes scaled to the 96-px images
    assert sorted(t.label) == sorted(l for l in json.loads((model/'model.json').read_text())['vocab'] if l != 'No Finding')
    assert set(t.label[t.boxes == 0]) == set(t.label[t.note == 'no boxes'])
    w = t[t.boxes > 0]
    assert ((w.hit_lo <= w.hit) & (w.hit <= w.hit_hi)).all()
    assert pb.prob.between(0, 1).all() and pb.chance.between(0, 1).all() and (pb.iobb >= pb.iou - 1e-12).all()  # IoBB >= IoU always
    assert all(l in r.stdout for l in t.label) and f"{len(pb)} boxes on {pb.image.nunique()} images scored (0 boxes' images not given)" in r.stdout


def test_localize_real_nih_boxes(trained, shared, tmp_path):
    "NIH's own box file on the 7 real images that have boxes: NIH's spelling and 1024 frame read, the other 977 boxes' images reported as not given."
    model, _ = trained
    r = run(model, '--boxes', shared('nih-metadata', 'BBox_List_2017.csv.gz'), shared('nih-real-200', 'images'), '--out', tmp_path/'o',
            '--frame', '1024', '--n-boot', '50', '--n-show', '2', '--layer', '0.5')  # the default layer for this model, named
    assert r.returncode == 0, r.stderr
    pb, t = pd.read_csv(tmp_path/'o'/'localization_boxes.csv'), pd.read_csv(tmp_path/'o'/'localization.csv').set_index('label')
    assert len(pb) == 7 and (pb.width == 1024).all()
    assert t.boxes['Cardiomegaly'] == 3 and t.note['Infiltration'] == 'no boxes' and t.note['Hernia'] == 'no boxes'
    assert "977 boxes' images not given" in r.stdout


def test_localize_bad_box_file(trained, tmp_path):
    "A box file with a bad row stops the command with the file, line and image named, exit status 1, nothing written."
    model, held = trained  # (--frame original --meta: the row is refused before the frames are read)
    (tmp_path/'bad.csv').write_text('Image Index,Finding Label,Bbox [x,y,w,h],,,\n'
                                    '00000001_000.png,Mass,10,20,30,40,,\n00000002_000.png,Nodule,12,20,-3,4,,\n')
    r = run(model, '--boxes', tmp_path/'bad.csv', held/'images', '--out', tmp_path/'o', '--frame', 'original', '--meta', held/'sample_labels.csv')
    assert r.returncode == 1 and "line 3 (image '00000002_000.png', label 'Nodule'): w and h must be positive" in r.stderr, r.stderr
    assert not (tmp_path/'o').exists()

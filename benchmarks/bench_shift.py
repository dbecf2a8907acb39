"""Issue 44: `xraylib shift` and the atypicality flag on real data (Kermany model). Usage:
    python benchmarks/bench_shift.py --model MODEL --out OUT [--splits 20]
MODEL: a Kermany model from `xraylib train --data .../chest_xray`; its reference is built from its own validation images
(valid_preds.csv) when it has none. Writes OUT/bench_shift.json and the shift reports; prints the figures."""
import argparse, json, os, time
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image, ImageDraw, ImageFilter
from scipy import stats
from xraylib.core import shared_data
from xraylib.inference.predict import Predictor, folder_images
from xraylib.inference.atypical import atypicality, group_hashes, reference_arrays
from xraylib.evaluation.shift import (NO_SHIFT, domain_auroc, domain_features, file_groups, image_features, ks_tests,
                                      make_reference, shift_check, verdict, write_shift_report)


def wilson(k, n):
    ci = stats.binomtest(int(k), int(n)).proportion_ci(method='wilson'); return dict(k=int(k), n=int(n), rate=k / n, lo=ci.low, hi=ci.high)


def scenes(out:Path, n:int=40, seed:int=0)->list:
    "Synthetic colour scenes (sky, ground, sun, houses, trees, texture): stand-ins for natural photographs."
    rng = np.random.default_rng(seed); out.mkdir(parents=True, exist_ok=True); fs = []
    for i in range(n):
        w = h = 256; im = Image.new('RGB', (w, h)); d = ImageDraw.Draw(im); hz = int(rng.integers(90, 170))
        for y in range(h):
            c = (np.array([90, 150, 230]) * (1 - y / hz) + np.array([200, 220, 250]) * y / hz) if y < hz else \
                np.array([60, 120 + rng.integers(0, 40), 50]) * (0.7 + 0.3 * (y - hz) / (h - hz))
            d.line([(0, y), (w, y)], fill=tuple(int(v) for v in np.clip(c, 0, 255)))
        x0 = int(rng.integers(10, 200)); d.ellipse([x0, 15, x0 + 30, 45], fill=(255, 230, 120))
        for _ in range(int(rng.integers(2, 6))):
            x, s = int(rng.integers(0, 220)), int(rng.integers(25, 60)); col = tuple(int(v) for v in rng.integers(60, 255, 3))
            d.rectangle([x, hz - s, x + s, hz + 5], fill=col); d.polygon([(x - 5, hz - s), (x + s + 5, hz - s), (x + s // 2, hz - s - 20)], fill=(150, 40, 30))
        for _ in range(int(rng.integers(1, 5))):
            x = int(rng.integers(0, 240)); d.rectangle([x, hz - 10, x + 6, hz + 15], fill=(90, 60, 30)); d.ellipse([x - 15, hz - 45, x + 21, hz - 5], fill=(30, 110 + int(rng.integers(0, 60)), 40))
        a = np.asarray(im, np.float32) + rng.normal(0, 6, (h, w, 3))
        f = out/f'scene{i:02d}.jpg'; Image.fromarray(a.clip(0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH).save(f, quality=90); fs.append(f)
    return fs


def link_folder(files, out:Path)->Path:
    out.mkdir(parents=True, exist_ok=True)
    for f in files:
        t = out/Path(f).name
        if not t.exists(): os.symlink(Path(f).resolve(), t)
    return out


def main(model, out, splits, n_boot):
    out = Path(out); out.mkdir(parents=True, exist_ok=True); R, t0 = {}, time.time()
    data = shared_data('kermany-pneumonia-224', 'chest_xray')
    v = pd.read_csv(Path(model)/'valid_preds.csv')
    vfiles = [data/'train'/p if (data/'train'/p).exists() else data/p for p in v['Image Index']]
    assert all(f.exists() for f in vfiles), vfiles[:3]
    meta = json.loads((Path(model)/'model.json').read_text())
    if 'reference' not in meta:
        t = time.time(); make_reference(model, vfiles, v[meta['vocab']].to_numpy(float), v['Patient ID'].tolist())
        R['reference_seconds'] = round(time.time() - t, 1)
    R['reference_bytes'] = (Path(model)/'reference.safetensors').stat().st_size
    runs = {'kermany_test': (data/'test', data/'test'), 'validation_copy': (link_folder(vfiles, out/'valid'), None),
            'nih_adults': (shared_data('nih-real-1000-64px', 'images'), None)}
    for name, (folder, labels) in runs.items():
        t = time.time(); s = shift_check(model, folder, labels, n_boot=n_boot); write_shift_report(s, out/name)
        R[name] = dict(verdict=s['verdict'], seconds=round(time.time() - t, 1), n=s['n_site'], atypical=s['atypical'],
                       tests=s['tests'].to_dict('records'), prevalence=s['prevalence'].to_dict('records'),
                       by_class=None if s['by_class'] is None else s['by_class'].to_dict('records'))
        print(name, s['verdict'], s['tests'][['test', 'statistic', 'p_holm']].to_dict('records'), s['atypical'], f'{time.time() - t:.0f}s')
    # the verdict's false-alarm rate on new images of the validation population: a reference from a random half of the
    # validation patients, the site the other half (none of its images in the reference), repeated
    pred = Predictor.from_file(model, engine='eager'); ref = pred.reference
    P, F, done, _ = image_features(pred, vfiles); a = atypicality(ref, F)
    g = np.array(v['Patient ID'].astype(str)); pats = np.unique(g); rng = np.random.default_rng(0); alarms, aucs = [], []
    for i in range(splits):
        half = np.isin(g, rng.permutation(pats)[:len(pats) // 2])
        arr, _ = reference_arrays(F[half], P[half], None, g[half], seed=i); r = dict(arr, resid_var=arr['resid_var'][0])
        ks = ks_tests(P[~half], P[half], pred.vocab)
        d = domain_auroc(domain_features(r, F[~half]), r['proj_feats'].astype(np.float32), group_hashes(g[~half]),
                         r['group_hash'], n_boot=200, seed=i)
        t, vv = verdict(pd.concat([ks, pd.DataFrame([dict(test='domain', statistic=d['auroc'], p=d['p'])])], ignore_index=True))
        alarms.append(vv != NO_SHIFT); aucs.append(d['auroc'])
    R['random_halves'] = dict(splits=splits, **wilson(sum(alarms), splits), domain_auroc_min=min(aucs), domain_auroc_max=max(aucs))
    print('new validation-like images (half against half): false alarms', R['random_halves'])
    # the flag's false-alarm rate, held out: reference from half the validation patients, flags on the other half
    fa = []
    for i in range(splits):
        half = np.isin(g, rng.permutation(pats)[:len(pats) // 2])
        arr, info = reference_arrays(F[half], P[half], None, g[half])
        r = dict(arr, resid_var=arr['resid_var'][0], threshold=info['threshold'])
        fa.append(atypicality(r, F[~half])['atypical'])
    fa = np.concatenate(fa); R['flag_false_alarm_heldout'] = wilson(fa.sum(), len(fa))
    R['flag_on_validation_insample'] = wilson(a['atypical'].sum(), len(a['atypical']))
    sc = scenes(out/'scenes'); sa = atypicality(ref, image_features(pred, sc)[1])['atypical']
    R['flag_scenes'] = wilson(sa.sum(), len(sa))
    inv = out/'inverted'; inv.mkdir(exist_ok=True)
    for f in folder_images(data/'test')[0][:100]: Image.fromarray(255 - np.asarray(Image.open(f).convert('L'))).save(inv/f.name)
    ia = atypicality(ref, image_features(pred, folder_images(inv)[0])[1])['atypical']; R['flag_inverted_test'] = wilson(ia.sum(), len(ia))
    for k in ('flag_false_alarm_heldout', 'flag_on_validation_insample', 'flag_scenes', 'flag_inverted_test'): print(k, R[k])
    R['seconds'] = round(time.time() - t0, 1)
    (out/'bench_shift.json').write_text(json.dumps(R, indent=1, default=float))


if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--model', required=True); ap.add_argument('--out', default='/tmp/bench_shift')
    ap.add_argument('--splits', type=int, default=20); ap.add_argument('--n_boot', type=int, default=1000)
    a = ap.parse_args(); main(a.model, a.out, a.splits, a.n_boot)

"""Pneumonia on each source's held-out images: the model trained on both sources against the model that never saw that
source (a `--holdout-source` run), paired on the same images with `xraylib compare` (patient bootstrap, DeLong).

    python benchmarks/compare_sources.py MERGED_RUN HOLDOUT_RUN --out DIR

MERGED_RUN is `xraylib train --data A --data B ...`; HOLDOUT_RUN is the same command with `--holdout-source NAME`. The
shared rows are NAME's images that the merged run scored without training on them: its held-out test set
(`test/test_preds.csv`) when it has one, else its validation images (`valid_preds.csv`); for a cross-validated merged
run (`--split patient --folds K`) every one of NAME's images, out of fold (`oof_preds.csv`). Only the labels the held-out
source annotates and both models output are compared (model outputs paired by the synonym table)."""
import argparse, json, subprocess, sys
from pathlib import Path
import pandas as pd
from xraylib.evaluation.external import label_key
from xraylib.training.sources import read_source, rows_of
from xraylib.vocab import target_matrix


def shared_rows(merged:Path, holdout:Path, out:Path)->list:
    "Write `a.csv` (merged model), `b.csv` (holdout run's model) and `labels.csv` for the shared rows; the `xraylib compare` arguments."
    h = json.loads((holdout/'model.json').read_text())['training']['holdout']
    name, src = h['name'], read_source(h['spec'], **h['read'])
    cv = (merged/'oof_preds.csv').exists()  # a cross-validation: each image predicted by the fold model that did not train on it
    pa = pd.concat([pd.read_csv(f) for f in ((merged/'oof_preds.csv',) if cv else (merged/'test'/'test_preds.csv', merged/'valid_preds.csv')) if f.exists()])
    meta = json.loads((merged/('fold0' if cv else '.')/'model.json').read_text())['training']['sources'][name]
    pa = pa[pa['Patient ID'].astype(str).str.startswith(f'{name}:')]
    in_test = pa['Image Index'].isin(src.loc[src['split'] == 'test', 'image']) if 'split' in src else None
    if in_test is not None and in_test.any(): pa = pa[in_test]  # the source's own test set, when the merged run scored it
    pb = pd.read_csv(holdout/'holdout'/name/'preds.csv').set_index('Image Index').loc[pa['Image Index']].reset_index()
    own = list(meta['outputs'])
    bcols = {label_key(c[5:]): c for c in pb.columns if c.startswith('prob_')}
    labs = [l for l in own if label_key(l) in bcols]
    pb = pb[['Image Index']].assign(**{f'prob_{l}': pb[bcols[label_key(l)]].to_numpy() for l in labs})
    rows = rows_of(src, pa['Image Index'])
    own_names = meta['labels']
    lab = pd.DataFrame({'Image Index': pa['Image Index'].to_numpy(), 'Patient ID': rows['patient'].to_numpy(),
                        **{l: target_matrix(rows, [own_names[l]])[:, 0] for l in labs}})
    out.mkdir(parents=True, exist_ok=True)
    pa[['Image Index', *[f'prob_{l}' for l in labs]]].to_csv(out/'a.csv', index=False); pb.to_csv(out/'b.csv', index=False); lab.to_csv(out/'labels.csv', index=False)
    print(f'{name}: {len(lab):,} shared images ({lab["Patient ID"].nunique():,} patients), labels {", ".join(labs)}; A = {merged}, B = {holdout}')
    return [str(out/'a.csv'), str(out/'b.csv'), '--labels', str(out/'labels.csv'), '--out', str(out/'compare')]


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('merged', type=Path); p.add_argument('holdout', type=Path); p.add_argument('--out', type=Path, required=True)
    a = p.parse_args()
    sys.exit(subprocess.run(['xraylib', 'compare', *shared_rows(a.merged, a.holdout, a.out)]).returncode)

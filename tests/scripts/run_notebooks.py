"""Execute notebooks and save their outputs in place, so that GitHub, Colab and the docs site show them unrun.

    python tests/scripts/run_notebooks.py nbs/00_core.ipynb nbs/90_tutorial_nih_sample.ipynb ...
    python tests/scripts/run_notebooks.py --all          # every nbs/*.ipynb but the tutorials (run those by name)
    python tests/scripts/run_notebooks.py --fit-only --all  # run nothing: shrink the saved outputs' images

Each notebook runs in its own process (execnb's `CaptureShell`, as `nbdev_test` runs it: from `nbs/`, cells flagged
with settings.ini's `tst_flags` (slow, gpu) or `#| eval: false` skipped). Only outputs are added: the run uses a copy,
and its outputs go back into the file's cells by cell id where the source is unchanged, so an edit made meanwhile is
kept (its cell just gets no output). Then `nbdev_clean` (settings.ini `clear_all = False` keeps outputs). Outputs are
made fit to commit: figures at 72 dpi and re-encoded smaller when above `--max-image-kb`, long texts cut, this machine's
paths written relative (the checkout as `..`, ../shared as `../../shared`, temporary folders as `/tmp/...`, the home
folder as `~`). A notebook that raises keeps its old outputs; the script says which one and exits 1.
Prints each notebook's seconds (the lead's figures: see the docs' developer page).
"""
import argparse, base64, io, json, os, re, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NBS = REPO/'nbs'
TUTORIALS = {'90_tutorial_nih_sample.ipynb', '91_tutorial_pneumonia.ipynb'}
SETUP = ("import matplotlib, warnings; matplotlib.rcParams['figure.dpi'] = 72\n"  # no library noise in the outputs
         "for w in (FutureWarning, DeprecationWarning): warnings.filterwarnings('ignore', category=w)")
MAX_TEXT = 20_000  # characters of one text output


def _run_one(src:Path, dest:Path)->None:
    "Child process: execute `src` as nbdev_test does and write it, with outputs, to `dest`."
    from fastcore.basics import str2bool
    from execnb.nbio import write_nb
    from execnb.shell import CaptureShell
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    os.environ['IN_TEST'] = '1'
    flags = set(get_config(path=NBS).tst_flags.split())
    nb = NBProcessor(src, procs=FrontmatterProc, process=True).nb
    for c in nb.cells:  # execnb keeps a cell's old outputs when it prints nothing now: start from none
        if c.cell_type == 'code': c.outputs = []
    def skip(cell):
        if cell.cell_type != 'code' or 'nbdev_export(' in cell.source: return True
        d = getattr(cell, 'directives_', {}) or {}
        if d.get('eval:', [''])[0].lower() == 'false': return True
        return bool(flags & d.keys())
    k = CaptureShell(src)
    os.chdir(src.parent)
    k.run_cell('%matplotlib inline'); k.run_cell(SETUP)
    k.run_all(nb, exc_stop=True, preproc=skip)
    write_nb(nb, dest)


def _shrink_png(b64:str, max_kb:int)->str:
    "A PNG over `max_kb` re-encoded with fewer colours, then halved until it fits."
    raw = base64.b64decode(b64)
    if len(raw) <= max_kb*1024: return b64
    from PIL import Image
    im = Image.open(io.BytesIO(raw)); im.load()
    while True:
        q = im.convert('RGB').quantize(256)
        buf = io.BytesIO(); q.save(buf, 'PNG', optimize=True)
        if buf.tell() <= max_kb*1024 or im.width < 200: return base64.b64encode(buf.getvalue()).decode()
        im = im.resize((im.width//2, im.height//2))


def _paths(text:str)->str:
    "This machine's paths in an output, written relative or generic."
    for p, r in [(REPO.parent/'shared', '../../shared'), (NBS, '.'), (REPO, '..'), (Path.home(), '~')]:
        text = text.replace(str(p), r)
    return re.sub(r'(/tmp|/var/folders/[\w/]+?/T)/(?:tmp|pytest-)[\w.-]+', '/tmp/...', text)


def _fit(out:dict, max_kb:int)->dict:
    "One output made fit to commit."
    def cut(t):
        t = _paths(''.join(t) if isinstance(t, list) else t)
        return t if len(t) <= MAX_TEXT else t[:MAX_TEXT] + f'\n... ({len(t) - MAX_TEXT:,} characters cut)\n'
    out = dict(out)
    if 'text' in out: out['text'] = cut(out['text'])
    if 'data' in out:
        data = dict(out['data'])
        for mime, v in list(data.items()):
            if mime == 'image/png': data[mime] = _shrink_png(''.join(v) if isinstance(v, list) else v, max_kb)
            elif mime.startswith('text/') or mime.endswith('json') and isinstance(v, str):
                if mime == 'text/html' and len(''.join(v)) > MAX_TEXT and 'text/plain' in data: del data[mime]
                else: data[mime] = cut(v)
        out['data'] = data
    if 'traceback' in out: out['traceback'] = [_paths(t) for t in out['traceback']]
    return out


def _body(src)->str:
    "A cell's source without its `#|` directive lines (nbdev's processing drops them from the copy it runs)."
    return re.sub(r'^\s*#\|.*(\n|$)', '', ''.join(src), flags=re.M).strip()


def add_outputs(nb_path:Path, ran_path:Path, max_kb:int)->tuple:
    "Outputs of `ran_path` into `nb_path`'s cells of the same id and source: (cells given outputs, cells left)."
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    ran = {c.get('id'): c for c in json.loads(ran_path.read_text(encoding='utf-8'))['cells']}
    n = left = 0
    for c in nb['cells']:
        if c['cell_type'] != 'code': continue
        r = ran.get(c.get('id'))
        if r is None or _body(r['source']) != _body(c['source']): left += 1; continue
        c['outputs'] = [_fit(o, max_kb) for o in r.get('outputs', [])]
        n += bool(c['outputs'])
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    return n, left


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('notebooks', nargs='*', type=Path, help='notebooks to run (paths)')
    ap.add_argument('--all', action='store_true', help='every nbs/*.ipynb but the two tutorials')
    ap.add_argument('--max-image-kb', type=int, default=40, help='larger PNG outputs are re-encoded (256 colours)')
    ap.add_argument('--fit-only', action='store_true', help='run nothing: make the saved outputs fit (sizes, paths)')
    ap.add_argument('--timeout', type=int, default=1800, help='seconds per notebook')
    ap.add_argument('--one', nargs=2, help=argparse.SUPPRESS)  # child process: SRC DEST
    a = ap.parse_args()
    if a.one: return _run_one(Path(a.one[0]).resolve(), Path(a.one[1]))
    nbs = [p.resolve() for p in a.notebooks]
    if a.all: nbs += [p for p in sorted(NBS.glob('*.ipynb')) if p.name not in TUTORIALS and p not in nbs]
    if a.fit_only:
        for nb in nbs:
            d = json.loads(nb.read_text(encoding='utf-8'))
            for c in d['cells']:
                if c.get('outputs'): c['outputs'] = [_fit(o, a.max_image_kb) for o in c['outputs']]
            nb.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
        return
    failed = []
    for nb in nbs:
        t = time.time()
        with tempfile.TemporaryDirectory() as d:
            dest = Path(d)/nb.name
            try: r = subprocess.run([sys.executable, __file__, '--one', str(nb), str(dest)], timeout=a.timeout,
                                    capture_output=True, text=True)
            except subprocess.TimeoutExpired as e:
                r = subprocess.CompletedProcess(e.cmd, 1, str(e.stdout or ''), f'timed out after {a.timeout} s')
            secs = time.time() - t
            if r.returncode or not dest.exists():
                failed.append(nb.name)
                tail = (r.stdout + r.stderr)[-3000:]
                print(f'FAILED {nb.name} after {secs:.0f} s (outputs unchanged):\n{tail}', flush=True)
                continue
            n, left = add_outputs(nb, dest, a.max_image_kb)
        subprocess.run(['nbdev_clean', '--fname', str(nb)], check=True, cwd=REPO)
        print(f'{nb.relative_to(REPO)}: {secs:.0f} s, {n} cells with outputs'
              + (f', {left} edited meanwhile (no output)' if left else ''), flush=True)
    if failed: sys.exit(f'failed: {", ".join(failed)}')


if __name__ == '__main__': main()

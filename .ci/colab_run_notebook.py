"""Execute a notebook offline with nbclient in this Python (a real kernel, like Colab's Run all), skipping cells
flagged with settings.ini's `tst_flags` (e.g. `#| slow`) and `#| eval: false` cells, as nbdev_test does.
Usage: python colab_run_notebook.py NOTEBOOK WORKDIR. Exit 1 on the first failing cell (its traceback printed)."""
import sys, re, json, time, tempfile, configparser, os
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

nb_path, work = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
cfg = configparser.ConfigParser(); cfg.read(Path(__file__).resolve().parents[1]/'settings.ini')
skip_flags = set(cfg['DEFAULT'].get('tst_flags', '').split())

def directives(src:str)->list:
    "The `#| ...` lines at the top of a cell, without the `#|`."
    out = []
    for line in src.splitlines():
        m = re.match(r'^\s*#\s*\|\s*(.*?)\s*$', line)
        if m: out.append(m[1])
        elif line.strip(): break
    return out

def skipped(cell)->bool:
    ds = directives(cell.source)
    return any(re.fullmatch(r'eval\s*:\s*false', d, re.I) or (d.split() and d.split()[0] in skip_flags) for d in ds)

nb = nbformat.read(nb_path, as_version=4)
code = [c for c in nb.cells if c.cell_type == 'code']
keep = [c for c in code if not skipped(c)]
print(f'  {nb_path.name}: {len(keep)} of {len(code)} code cells (skipping flags {sorted(skip_flags)} and eval: false)')
probe = nbformat.v4.new_code_cell('import sys; print(sys.executable)')
nb.cells = [probe] + keep

# a kernelspec for exactly this interpreter, so no other python3 kernel on the machine is picked up
kdir = Path(tempfile.mkdtemp())/'kernels'/'xraylib-colab'; kdir.mkdir(parents=True)
(kdir/'kernel.json').write_text(json.dumps(dict(argv=[sys.executable, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
                                                display_name='xraylib colab venv', language='python')))
os.environ['JUPYTER_PATH'] = str(kdir.parent.parent) + os.pathsep + os.environ.get('JUPYTER_PATH', '')
work.mkdir(parents=True, exist_ok=True)
client = NotebookClient(nb, timeout=900, kernel_name='xraylib-colab', resources={'metadata': {'path': str(work)}})
t0 = time.time()
try: client.execute()
except CellExecutionError as e:
    print(re.sub(r'\x1b\[[0-9;]*m', '', str(e))[-6000:]); sys.exit(f'colab-smoke: {nb_path.name} failed in a cell (above)')
got = ''.join(o.get('text', '') for o in nb.cells[0].outputs).strip()
if os.path.abspath(got) != os.path.abspath(sys.executable):
    sys.exit(f'colab-smoke: the notebook ran in {got!r}, not in {sys.executable}')
print(f'  {nb_path.name}: all {len(keep)} cells ran in {time.time() - t0:.0f} s (kernel: {got})')

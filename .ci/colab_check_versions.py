"Print the versions installed in the Colab-like venv and fail (exit 1) when a pin of the constraints file is not met."
import sys, re, importlib.metadata as md
from pathlib import Path

cons = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent/'colab-constraints.txt')
pins = dict(re.match(r'^\s*([A-Za-z0-9_.\-\[\]]+)\s*==\s*(\S+)', l).groups() for l in cons.read_text().splitlines()
            if re.match(r'^\s*[A-Za-z0-9_.\-]+\s*==', l))
want_py = re.search(r'Python\s+(\d+\.\d+)', cons.read_text())
bad = []
py = '.'.join(map(str, sys.version_info[:2]))
print(f'  {"python":16s} {sys.version.split()[0]}' + (f'   (Colab: {want_py[1]})' if want_py else ''))
if want_py and py != want_py[1]: bad.append(f'python {py} != {want_py[1]}')
for name, want in pins.items():
    try: got = md.version(name)
    except md.PackageNotFoundError: got = None
    ok = got is not None and got.split('+')[0] == want
    print(f'  {name:16s} {got or "MISSING":12s}' + ('' if ok else f'   != pinned {want}'))
    if not ok: bad.append(f'{name} {got} != {want}')
def _version(name):
    try: return md.version(name)
    except md.PackageNotFoundError: return None
extra = [(n, _version(n)) for n in ('xraylib', 'fastprogress', 'fasttransform', 'pillow', 'safetensors', 'pydicom', 'kaggle')]
print('  not pinned:', ', '.join(f'{n} {v}' for n, v in extra if v))
fast = [(n, _version(n)) for n in ('onnx', 'onnxruntime', 'numba', 'isal')]
print('  speed-ups (the `fast` extra):', ', '.join(f'{n} {v or "absent"}' for n, v in fast))
if bad: sys.exit('colab-smoke: installed versions differ from .ci/colab-constraints.txt: ' + '; '.join(bad))

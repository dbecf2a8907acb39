"""One request to a running xraylib web app (`python app.py` from `xraylib serve --write-app`), in the Colab-like venv.
Usage: python colab_app_smoke.py URL MODEL IMAGE. Waits up to 120 s for the server, sends IMAGE to its `/predict`
API with Gradio's client and exit 1 unless the answer has every label of the model, equal to `Predictor`'s (1e-5)."""
import sys, time, urllib.request
import numpy as np
from gradio_client import Client, handle_file
from xraylib.inference.predict import Predictor

url, model, img = sys.argv[1:4]
t0 = time.time()
while True:
    try: urllib.request.urlopen(url, timeout=2); break
    except Exception:
        if time.time() - t0 > 120: sys.exit(f'colab-smoke: the app at {url} did not answer in 120 s')
        time.sleep(0.5)
print(f'  the app answers at {url} after {time.time() - t0:.0f} s')
msg, tables, cams, probs = Client(url, verbose=False, download_files=False).predict(
    [handle_file(img)], '(most probable)', True, api_name='/predict')
pred = Predictor.from_file(model)
name = img.replace('\\', '/').split('/')[-1]
got = probs.get(name, {})
assert sorted(got) == sorted(pred.vocab), f'the answer has labels {sorted(got)}, the model {sorted(pred.vocab)}: {msg}'
exp = pred.predict(img).set_index('label').probability
d = max(abs(got[l] - exp[l]) for l in pred.vocab)
assert d <= 1e-5, f'the app and Predictor differ by {d:.2e}'
assert len(cams) == 1 and 'xraylib-preds' in tables, (msg, cams)
print(f'  {msg}: {len(got)} labels equal to Predictor.predict (max diff {d:.1e}), a Grad-CAM overlay; top: '
      + ', '.join(f'{l} {p:.3f}' for l, p in sorted(got.items(), key=lambda o: -o[1])[:3]))

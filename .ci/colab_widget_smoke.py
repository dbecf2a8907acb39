"""The upload widget's handler with an ipywidgets 7-style and an 8-style upload value, in the Colab-like venv.
Usage: python colab_widget_smoke.py MODEL IMAGE. Exit 1 when either value gives no sorted table of 15 labels."""
import sys, datetime
from pathlib import Path
import ipywidgets
from xraylib.core import LABELS
from xraylib.inference.predict import Predictor
from xraylib.serving.widgets import upload_widget

model, img = sys.argv[1], Path(sys.argv[2])
data, name = img.read_bytes(), img.name
v7 = {name: {'metadata': {'name': name, 'type': 'image/png', 'size': len(data), 'lastModified': 1767225600000},
             'content': data}}
v8 = ({'name': name, 'type': 'image/png', 'size': len(data), 'content': memoryview(data),
       'last_modified': datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)},)
major = int(ipywidgets.__version__.split('.')[0])
print(f'  ipywidgets {ipywidgets.__version__}; image {img} ({len(data):,} bytes)')

def check(w, res, how):
    assert len(res) == 1 and 'error' not in res[0], f'{how}: {res}'
    df = res[0]['predictions']
    assert sorted(df.label) == sorted(LABELS), f'{how}: labels {list(df.label)}'
    assert df.probability.is_monotonic_decreasing and df.probability.between(0, 1).all(), f'{how}: probabilities\n{df}'
    html = w.out.children[0].children[0].value
    assert 'xraylib-preds' in html and all(f'>{l}<' in html for l in LABELS), f'{how}: the widget shows no table'
    print(f'  {how}: OK, top 3: ' + ', '.join(f'{r.label} {r.probability:.3f}' for r in df.head(3).itertuples()))

pred = Predictor.from_file(model)
for how, value in [('ipywidgets 7 value', v7), ('ipywidgets 8 value', v8)]:
    w = upload_widget(pred)
    check(w, w.handle_upload(value), f'handle_upload({how})')
    if (major == 7) == (how.endswith('7 value')):  # the installed FileUpload's own value type, through its observer
        w = upload_widget(pred)
        w.upload.set_trait('value', value)  # what the browser's upload does; `value` is read-only in ipywidgets 7
        assert w.results and 'probs' in w.results[0], f'observer with {how}: {w.results}'
        check(w, [dict(name=w.results[0]['name'], predictions=w.table(w.results[0]))], f'FileUpload observer ({how})')

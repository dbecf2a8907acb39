#!/usr/bin/env bash
# The Colab-like job (issue 14): a Python 3.12 venv with Colab's preinstalled versions (.ci/colab-constraints.txt),
# the RUNTIME-ONLY install a Colab user makes (`pip install -e .`, no [dev], no [fast]), then every CLI command
# through the real console script, the upload widget's handler with ipywidgets 7 and 8 values, the two tutorial
# notebooks offline, three library notebooks, and last the web app's extra (`.[app]`): `xraylib serve --write-app` run as `python app.py`, one request answered. Every step runs and prints its time; the job exits 1 if any step failed (listed at the end).
# The venv is reused while Python, the constraints, setup.py and settings.ini's name and requirements are unchanged; a new
# one is cheap after the first: uv (a PyPI package, in its own small venv) hard-links the wheels from its cache.
# Env: XRAYLIB_COLAB_PYTHON (default: python3.12), XRAYLIB_COLAB_VENV (default: $TMPDIR/xraylib-colab-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD CI_DIR=$PWD/.ci CONS=$PWD/.ci/colab-constraints.txt
job_start=$SECONDS FAILED=()

step() {  # step NAME COMMAND...: run it and print its time; a failure is recorded and the job goes on
  local name=$1; shift; local t=$SECONDS rc=0
  echo "== colab: $name"
  "$@" || rc=$?
  if [ $rc = 0 ]; then echo "   ($name: ok, $((SECONDS - t)) s)"
  else echo "colab-smoke: FAILED: $name (exit $rc, after $((SECONDS - t)) s)" >&2; FAILED+=("$name"); fi
}
must() { step "$@"; [ ${#FAILED[@]} = 0 ] || { echo "colab-smoke: cannot go on without: ${FAILED[*]}" >&2; exit 1; }; }

# Python 3.12, as on Colab: the plain command, else pyenv's 3.12 (pyenv's shim refuses a version not selected)
find_python() {
  local c
  for c in "${XRAYLIB_COLAB_PYTHON:-}" python3.12 $(ls -d "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V -r); do
    [ -n "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { command -v "$c"; return 0; }
  done
  echo "colab-smoke: no Python 3.12 found (set XRAYLIB_COLAB_PYTHON)" >&2; return 1
}
PY=$(find_python)
VENV=${XRAYLIB_COLAB_VENV:-${TMPDIR:-/tmp}/xraylib-colab-venv}
UVENV=$VENV-uv  # uv alone, so the Colab-like venv holds only what the user's would
KEY=$( { "$PY" --version; cat "$CONS" setup.py; grep -E '^(lib_name|requirements|pip_requirements|min_python)' settings.ini; } | sha256sum | cut -c1-16)
pip_log() { grep -v -e "is ignored: it is neither a file nor a directory" "$1" || true; }  # this machine's pip.conf

install_pins() {  # Colab's versions: uv from its cache (seconds once warm), else pip (minutes: ~3 GB of wheels)
  if [ -x "$UVENV/bin/uv" ] || { "$PY" -m venv "$UVENV" && "$UVENV/bin/pip" install -q uv==0.13.9 > "$UVENV.log" 2>&1; }; then
    SSL_CERT_FILE=${SSL_CERT_FILE:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}} \
      "$UVENV/bin/uv" pip install -q --python "$VENV/bin/python" -r "$CONS" -c "$CONS" && return 0
    echo "   uv failed: installing with pip instead"
  else pip_log "$UVENV.log"; echo "   no uv: installing with pip"; fi
  local rc=0; "$VENV/bin/pip" install -q --progress-bar off -r "$CONS" -c "$CONS" > "$VENV.pip.log" 2>&1 || rc=$?
  pip_log "$VENV.pip.log"; return $rc
}
make_venv() {
  if [ -f "$VENV/.colab-key" ] && [ "$(cat "$VENV/.colab-key")" = "$KEY" ] && "$VENV/bin/python" -c '' 2>/dev/null; then
    echo "   reusing $VENV (same Python, constraints, setup.py and requirements)"; return 0
  fi
  rm -rf "$VENV" && "$PY" -m venv "$VENV" || return 1
  echo "   new venv $VENV ($("$VENV/bin/python" --version)); installing Colab's versions (torch 2.8.0 with CUDA wheels)"
  install_pins
}
install_runtime() {  # what a Colab user runs, from this checkout (a reused venv is pointed at it again)
  local rc=0; "$VENV/bin/pip" install -q --progress-bar off -e "$REPO" -c "$CONS" > "$VENV.pip.log" 2>&1 || rc=$?
  pip_log "$VENV.pip.log"
  [ $rc = 0 ] && echo "$KEY" > "$VENV/.colab-key"; return $rc
}
must "venv $VENV (Python 3.12, Colab's versions)" make_venv
must "runtime-only install: pip install -e . -c .ci/colab-constraints.txt" install_runtime
must "installed versions = the pins" "$VENV/bin/python" "$CI_DIR/colab_check_versions.py" "$CONS"

W=$(mktemp -d "${TMPDIR:-/tmp}/xraylib-colab-smoke.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
X=$VENV/bin/xraylib
export XRAYLIB_HOME=$W/home MPLBACKEND=Agg PYDEVD_DISABLE_FILE_VALIDATION=1
D=$W/phantom R=$W/run E=$W/eval

help_lists() { "$X" --help > help.txt && cat help.txt && grep -qE '^\s+train\s' help.txt; }
step "xraylib --help" help_lists
step "xraylib phantom" "$X" phantom --dest "$D" --n 60 --size 48
step "xraylib train (1 epoch, 32 px)" "$X" train --data "$D" --arch resnet18 --size 32 --bs 16 --epochs 1 --freeze-epochs 0 --no-pretrained --out "$R" --quiet
IMAGE=$(ls "$REPO"/../shared/data/nih-real-200/images/*.png 2>/dev/null | head -1 || true)
[ -n "$IMAGE" ] || IMAGE=$(find "$D" -name '*.png' | sort | head -1)
predict_json() {
  "$X" predict "$R" "$IMAGE" --json > pred.json || return 1
  "$VENV/bin/python" - pred.json <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
preds = out[0]['predictions']
probs = [p['probability'] for p in preds]
assert len(out) == 1 and len(probs) == 15 and all(0 <= p <= 1 for p in probs), out
print(f"   {out[0]['image']}: {len(probs)} probabilities, top {preds[0]['label']} {preds[0]['probability']:.3f}")
PY
}
step "xraylib predict --json ($(basename "$IMAGE"))" predict_json
step "xraylib evaluate" "$X" evaluate --preds "$R/valid_preds.csv" --labels "$D/sample_labels.csv" --out "$E" --n-boot 50
compare_two() {  # the run's validation predictions against a noisier copy of them (issue 17's CLI)
  "$VENV/bin/python" - "$R/valid_preds.csv" noisy_preds.csv <<'PY' || return 1
import sys, numpy as np, pandas as pd
df = pd.read_csv(sys.argv[1]); cols = [c for c in df.columns if c.startswith('prob_')]
df[cols] = (df[cols] + np.random.default_rng(0).normal(0, .2, (len(df), len(cols)))).clip(0, 1)
df.to_csv(sys.argv[2], index=False)
PY
  "$X" compare "$R/valid_preds.csv" noisy_preds.csv --labels "$D/sample_labels.csv" --out "$W/compare" --n-boot 50 && ls "$W/compare"
}
if grep -qE '^\s+compare\s' help.txt 2>/dev/null; then step "xraylib compare" compare_two
else echo "== colab: xraylib compare: skipped (xraylib --help does not list it yet)"; fi
download_no_credentials() {  # must exit 1 (bad input) with a message naming the credentials, no traceback
  local rc=0
  env -u KAGGLE_USERNAME -u KAGGLE_KEY -u KAGGLE_API_TOKEN HOME="$W/nohome" KAGGLE_CONFIG_DIR="$W/nokaggle" \
    "$X" download --dest "$W/nih" > dl.out 2> dl.err || rc=$?
  head -2 dl.err
  [ "$rc" = 1 ] || { echo "   expected exit 1, got $rc"; cat dl.out dl.err; return 1; }
  grep -q 'Kaggle credentials' dl.err || { echo "   no message about Kaggle credentials"; return 1; }
  ! grep -q 'Traceback' dl.out dl.err || { echo "   a traceback was printed"; cat dl.err; return 1; }
}
step "xraylib download without credentials: exit 1, a message, no traceback" download_no_credentials
step "upload widget handler: ipywidgets 7 and 8 values" "$VENV/bin/python" "$CI_DIR/colab_widget_smoke.py" "$R" "$IMAGE"
run_tutorial() {  # offline: no Kaggle credentials, so the tutorial takes its phantom fallback
  env -u KAGGLE_USERNAME -u KAGGLE_KEY -u KAGGLE_API_TOKEN KAGGLE_CONFIG_DIR="$W/nokaggle" \
    "$VENV/bin/python" "$CI_DIR/colab_run_notebook.py" "$REPO/nbs/90_tutorial_nih_sample.ipynb" "$W/tutorial"
}
step "tutorial notebook offline (nbclient; tst_flags and eval: false cells skipped)" run_tutorial
run_pneumonia() {  # the pneumonia tutorial on its phantom folder set (Colab would download Kermany with credentials)
  env -u KAGGLE_USERNAME -u KAGGLE_KEY -u KAGGLE_API_TOKEN KAGGLE_CONFIG_DIR="$W/nokaggle" XRAYLIB_USE_PHANTOM=1 \
    "$VENV/bin/python" "$CI_DIR/colab_run_notebook.py" "$REPO/nbs/91_tutorial_pneumonia.ipynb" "$W/pneumonia"
}
step "pneumonia tutorial offline on the phantom folder set" run_pneumonia
run_library_notebooks() {  # a sample of cheap library notebooks from their first cell (the guarded install cell: a no-op here)
  local nb rc=0
  for nb in 02_stats 01_vocab 23_data.splits; do
    env -u KAGGLE_USERNAME -u KAGGLE_KEY -u KAGGLE_API_TOKEN KAGGLE_CONFIG_DIR="$W/nokaggle" \
      "$VENV/bin/python" "$CI_DIR/colab_run_notebook.py" "$REPO/nbs/$nb.ipynb" "$W/nb-$nb" || rc=1
  done; return $rc
}
step "library notebooks 02_stats, 01_vocab, 23_data.splits (nbclient, runtime-only install)" run_library_notebooks
install_app() {  # the web app's extra on top of the runtime install (last: the steps above ran without gradio)
  local rc=0; "$VENV/bin/pip" install -q --progress-bar off -e "$REPO[app]" -c "$CONS" > "$VENV.pip.log" 2>&1 || rc=$?
  pip_log "$VENV.pip.log"; "$VENV/bin/python" -c 'import gradio; print("   gradio", gradio.__version__)' || rc=1; return $rc
}
serve_headless() {  # `xraylib serve --write-app`, then the Spaces way: `python app.py` on a free port, one request answered
  "$X" serve "$R" --write-app "$W/space" || return 1
  local port rc=0; port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd "$W/space" && exec env GRADIO_SERVER_PORT="$port" GRADIO_ANALYTICS_ENABLED=False "$VENV/bin/python" app.py) > "$W/app.log" 2>&1 &
  local pid=$!
  "$VENV/bin/python" "$CI_DIR/colab_app_smoke.py" "http://127.0.0.1:$port/" "$W/space/model" "$IMAGE" || rc=$?
  kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  [ $rc = 0 ] || tail -20 "$W/app.log"; return $rc
}
drop_app() { "$VENV/bin/pip" uninstall -q -y gradio gradio_client > /dev/null 2>&1 || true; }  # a reused venv starts runtime-only again
step "app extra: pip install -e .[app]" install_app
step "xraylib serve --write-app; python app.py headless, one request answered" serve_headless
drop_app
if [ ${#FAILED[@]} -gt 0 ]; then
  printf 'colab-smoke: %d step(s) FAILED after %d s:\n' ${#FAILED[@]} $((SECONDS - job_start)) >&2
  printf '  - %s\n' "${FAILED[@]}" >&2; exit 1
fi
echo "== colab: all steps passed in $((SECONDS - job_start)) s"

#!/usr/bin/env bash
# report.html in a real browser: headless Chromium opens a sweep's report with no network and
# must log no console message or failed load; the page it renders (its DOM) holds the table's
# rows and the inlined plots. Also leaves screenshots at phone and desktop widths in
# BUILD/tests/report-check/ for a person to look at. Skipped (exit 77) without chromium (Debian's
# `chromium`, which CIFAR_EXP_TEST_DEPS=1 scripts/install_deps.sh installs).
#   report_check.sh CIFAR_EXP MAKE_TEST_DATA OUT_DIR
set -euo pipefail
BIN=$1 MAKE_DATA=$2 OUT=$3
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$CHROMIUM" ]]; then
  echo "report_check: skipped: no chromium (apt-get install chromium)"
  exit 77
fi
fail() { echo "report_check: FAIL: $*" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
rm -rf "$OUT" && mkdir -p "$OUT"

"$MAKE_DATA" "$TMP/data" 300 100 > /dev/null
PLOT_PYTHON=${PLOT_PYTHON:-/usr/bin/python3} "$BIN" sweep --configs smoke,smoke_aug --seeds 2 \
  --data-dir "$TMP/data" --output-dir "$TMP/sweep" --device cpu --threads 2 > "$TMP/sweep.log" 2>&1 ||
  { tail -5 "$TMP/sweep.log"; fail "sweep failed"; }
page="$TMP/sweep/report.html"
[[ -s $page ]] || fail "the sweep wrote no report.html"

# --proxy-server to a closed port: any fetch the page tried would fail and be logged.
browse() {
  timeout 120 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --no-first-run \
    --proxy-server=127.0.0.1:9 --enable-logging=stderr --v=0 --hide-scrollbars "$@" "file://$page"
}
browse --dump-dom > "$TMP/dom.html" 2> "$TMP/console.log" || fail "chromium could not open the page"
if grep -E "CONSOLE|net::ERR|Failed to load|Uncaught" "$TMP/console.log"; then
  fail "console messages or failed loads (above)"
fi
for row in smoke smoke_aug; do
  grep -q "<td>$row</td>" "$TMP/dom.html" || fail "no row $row in the rendered page"
done
images=$(grep -o '<img ' "$TMP/dom.html" | wc -l)
plots=$(find "$TMP/sweep/plots" -name '*.png' 2> /dev/null | wc -l)
[[ $images == "$plots" ]] || fail "$plots plots in plots/, $images images in the page"
browse --window-size=390,2400 --screenshot="$OUT/phone.png" > /dev/null 2>&1 || true
browse --window-size=1200,2400 --screenshot="$OUT/desktop.png" > /dev/null 2>&1 || true
echo "report_check: chromium rendered report.html ($(wc -c < "$page") bytes, $images inlined plots) with no console message; screenshots in $OUT"

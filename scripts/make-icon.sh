#!/usr/bin/env bash
# Render docs/assets/her2-cds-icon.svg to the 100x100 PNG cards carry as source.icon
# (service/assets/her2-cds-icon.png) with Debian's headless chromium. Run after editing the SVG.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/service/assets/her2-cds-icon.png"
page=$(mktemp --suffix=.html)
trap 'rm -f "$page"' EXIT
printf '<html><body style="margin:0;background:transparent">%s</body></html>' "$(cat docs/assets/her2-cds-icon.svg)" >"$page"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --default-background-color=00000000 \
  --window-size=100,100 --screenshot="$out" "file://$page" 2>/dev/null
python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); print(sys.argv[1], struct.unpack('>II', d[16:24]))" "$out"

#!/usr/bin/env bash
# Rebuilds the pages' bundled fonts (appliance/web/static/fonts/*.woff2) from Debian's Noto TTFs:
# the Gujarati and Devanagari blocks only, every OpenType layout feature kept (conjuncts and
# vowel signs need them). The woff2 files are committed, so neither the box nor CI needs this;
# run it by hand after a Noto update:
#   apt-get install fonts-noto-core fonts-noto-cjk && .venv/bin/pip install fonttools brotli && bash scripts/fonts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=/usr/share/fonts/truetype/noto
OUT=appliance/web/static/fonts
COMMON="U+0964-0965,U+200B-200D,U+2010-2011,U+20B9,U+25CC,U+0020-0040,U+00A0"
for weight in Regular Bold; do
    .venv/bin/pyftsubset "$SRC/NotoSansGujarati-$weight.ttf" --flavor=woff2 \
        --unicodes="U+0A80-0AFF,U+A830-A839,$COMMON" --layout-features='*' \
        --output-file="$OUT/NotoSansGujarati-$weight.woff2"
    .venv/bin/pyftsubset "$SRC/NotoSansDevanagari-$weight.ttf" --flavor=woff2 \
        --unicodes="U+0900-097F,U+A8E0-A8FF,U+1CD0-1CFF,$COMMON" --layout-features='*' \
        --output-file="$OUT/NotoSansDevanagari-$weight.woff2"
done
# Only the four characters of the language switch's "简体中文": the Chinese pages themselves are for
# installers, whose phones and PCs carry CJK fonts (a whole CJK font would be megabytes).
.venv/bin/pyftsubset /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc --font-number=2 \
    --flavor=woff2 --text="简体中文" --layout-features='*' \
    --output-file="$OUT/NotoSansSC-LanguageName.woff2"
ls -l "$OUT"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the API reference and fail on any problem:
#   - doxygen (docs/Doxyfile.in, configured into BUILD/docs/Doxyfile) with
#     every warning an error: an undocumented function, type, member, enum
#     value or macro of a public header, or a malformed comment;
#   - every exported function (EBRA_API) that returns a value says what it
#     returns: its comment contains "Returns"/"returns"/"Return" or @return.
# Usage: scripts/docs.sh BUILD_DIR   (cmake configures the Doxyfile there)
set -euo pipefail
build=${1:?usage: scripts/docs.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v doxygen >/dev/null || { echo "docs: doxygen is not installed (scripts/deps.sh)"; exit 1; }
out="$build/docs"
mkdir -p "$out"
rm -f "$out/warnings.log"
if ! doxygen "$out/Doxyfile"; then
  echo "docs: doxygen failed:"; cat "$out/warnings.log" 2>/dev/null; exit 1
fi
if [[ -s "$out/warnings.log" ]]; then
  echo "docs: doxygen warnings:"; cat "$out/warnings.log"; exit 1
fi
python3 - "$out/xml" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
bad = []
n = 0
for f in glob.glob(sys.argv[1] + "/*.xml"):
    for m in ET.parse(f).getroot().iter("memberdef"):
        if m.get("kind") != "function":
            continue
        name = m.findtext("name")
        loc = m.find("location")
        if not name.startswith("ebra_") or loc is None or not loc.get("file", "").endswith(".h"):
            continue
        n += 1
        rtype = "".join(m.find("type").itertext()).strip()
        doc = "".join(m.find("briefdescription").itertext()) + "".join(
            m.find("detaileddescription").itertext())
        if not doc.strip():
            bad.append(f"{name}: no documentation")
        elif rtype != "void" and not any(w in doc for w in ("Return", "return", "NULL")):
            bad.append(f"{name}: returns {rtype} but the comment does not say what")
names = set()
for b in bad:
    print("docs:", b)
print(f"docs: {n} public functions checked, {len(bad)} problems")
sys.exit(1 if bad or n == 0 else 0)
PY
echo "docs: HTML in $out/html/index.html"

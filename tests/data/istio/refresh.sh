#!/usr/bin/env bash
# Refreshes the vendored Istio CRDs in this folder from istio/api's
# kubernetes/customresourcedefinitions.gen.yaml: downloads that file at REF and writes the three
# CRDs tests/istio_manifests.rs reads (found by metadata.name), byte for byte as published.
# Needs only curl and python3 (standard library). Never run by the tests; see README.md here.
#
#   tests/data/istio/refresh.sh [REF]     REF: an istio/api tag, branch or commit (default below)
#   ISTIO_CRDS_FILE=FILE tests/data/istio/refresh.sh
#                                         split an already-downloaded customresourcedefinitions.gen.yaml
#
# Afterwards: `git diff tests/data/istio`, update the provenance in README.md (ref, date, sha256),
# and run `cargo test --test istio_manifests`.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
ref="${1:-v1.31.0-alpha.0}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

src="${ISTIO_CRDS_FILE:-}"
if [ -z "$src" ]; then
  url="https://raw.githubusercontent.com/istio/api/$ref/kubernetes/customresourcedefinitions.gen.yaml"
  echo "refresh: $url"
  curl -fsSL --retry 3 -o "$tmp/customresourcedefinitions.gen.yaml" "$url"
  src="$tmp/customresourcedefinitions.gen.yaml"
fi

python3 - "$src" "$tmp/out" <<'PY'
import hashlib, os, re, sys

WANTED = [
    "wasmplugins.extensions.istio.io",
    "envoyfilters.networking.istio.io",
    "trafficextensions.extensions.istio.io",
]
src, out = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8", newline="") as f:
    text = f.read()

# YAML documents, split on the `---` separator lines; each keeps its text (comments included).
docs, cur = [], []
for line in text.splitlines(keepends=True):
    if line.rstrip("\r\n") == "---":
        docs.append("".join(cur))
        cur = []
    else:
        cur.append(line)
docs.append("".join(cur))

def metadata_name(doc):
    """The `name:` directly under the top-level `metadata:` key, or None."""
    in_metadata = False
    for line in doc.splitlines():
        if re.match(r"^[^\s#]", line):
            in_metadata = line.rstrip() == "metadata:"
            continue
        m = re.match(r"^  name: *(\S+) *$", line)
        if in_metadata and m:
            return m.group(1).strip("'\"")
    return None

found = {}
for doc in docs:
    name = metadata_name(doc)
    if name in WANTED:
        if name in found:
            sys.exit(f"refresh: {name} appears twice in {src}")
        found[name] = doc
missing = [n for n in WANTED if n not in found]
if missing:
    sys.exit(f"refresh: not in {src}: {', '.join(missing)}")

os.makedirs(out)
for name in WANTED:
    data = found[name].encode("utf-8")
    with open(os.path.join(out, f"{name}.crd.yaml"), "wb") as f:
        f.write(data)
    print(f"{hashlib.sha256(data).hexdigest()}  {name}.crd.yaml")
PY

mv -f "$tmp"/out/*.crd.yaml "$here"/
echo "refresh: wrote the three CRDs into $here"

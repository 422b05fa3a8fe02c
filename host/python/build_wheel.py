"""One command for the wheel: ``python3 host/python/build_wheel.py [OUT_DIR]``.

Copies the built components (``cargo build -p roster-components`` writes them, and lists the
built-in vendors in ``target/guests/vendors.json``) into ``roster_provider/components/``, then
builds ``roster_provider-VERSION-py3-none-any.whl`` into OUT_DIR (default ``target/wheels``) with
pip. The wheel carries the components, the host, the host rules and ``py.typed``.
"""

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def main() -> int:
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "wheels"))
    listing = os.path.join(ROOT, "target", "guests", "vendors.json")
    if not os.path.exists(listing):
        print(f"{listing} does not exist; fix: cargo build -p roster-components (from the repository root)", file=sys.stderr)
        return 1
    components = os.path.join(HERE, "roster_provider", "components")
    shutil.rmtree(components, ignore_errors=True)
    os.makedirs(components)
    with open(listing) as f:
        vendors = json.load(f)
    for vendor in vendors:
        shutil.copyfile(vendor["wasm"], os.path.join(components, f"{vendor['name']}.wasm"))
    os.makedirs(out, exist_ok=True)
    build = os.path.join(ROOT, "target", "python-build")
    shutil.rmtree(build, ignore_errors=True)
    # Build from a copy, so that setuptools' build/ and egg-info stay out of the source tree.
    shutil.copytree(HERE, build, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", "build"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, build])
    if done.returncode == 0:
        print("\n".join(os.path.join(out, f) for f in sorted(os.listdir(out)) if f.endswith(".whl")))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())

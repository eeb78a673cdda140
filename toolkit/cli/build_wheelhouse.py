"""Download the wheels an offline GPU machine needs on top of its own torch stack.

GPU clusters are often offline and already have torch, torchvision, numpy, opencv,
scikit-image and tqdm. This fetches the rest (the OpenMMLab stack, decord, PyAV,
constriction, scikit-video and their small pure-Python needs) for a target Python
and platform, with no dependencies resolved (the list is complete on its own, and
keeps exactly one OpenCV: the machine's).

    python tools/build_wheelhouse.py --out wheelhouse --python 3.12
    # on the offline machine:
    pip install --no-index --no-deps wheelhouse/*.whl   (then: pip install --no-deps -e .)
"""

from __future__ import annotations

import argparse
import subprocess
import sys

WHEELS = [
    "mmengine==0.10.7", "mmcv-lite==2.1.0", "mmaction2==1.2.0", "decord==0.6.0", "av",
    "constriction", "scikit-video", "addict", "yapf", "termcolor", "platformdirs",
    "importlib-metadata", "zipp", "lazy-importer",
]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="wheelhouse")
    parser.add_argument("--python", default="3.12", help="target Python version, e.g. 3.12")
    parser.add_argument("--skip", nargs="*", default=[], help="names to leave out, e.g. scikit-video")
    args = parser.parse_args(argv)
    wanted = [w for w in WHEELS if w.split("==")[0] not in args.skip]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", args.python, "--implementation", "cp", "-d", args.out]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    return subprocess.call(command + wanted)


if __name__ == "__main__":
    sys.exit(main())

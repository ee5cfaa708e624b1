"""Build the FrameBridge Blender extension zip: the add-on, its manifest and the wheels it needs.

    python scripts/build_blender_extension.py --out dist/            # this platform only, from what is installed
    python scripts/build_blender_extension.py --out dist/ --all-platforms   # linux-x64, macos-arm64/x64, windows-x64

The framebridge wheel is built from this checkout (``pip wheel --no-deps``). Its
runtime dependencies (pyzmq, msgpack, xxhash, openexr) are fetched as binary
wheels for Blender's Python (3.11): for this platform with ``pip wheel`` (works
offline from pip's cache or an index), for every platform Blender supports with
``pip download --only-binary=:all: --platform ...``. numpy is left out: Blender
ships it. The manifest in the zip lists exactly the wheels it holds.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "blender_addon"
DEPENDENCIES = ["pyzmq", "msgpack", "xxhash", "openexr"]
BLENDER_PYTHON = "3.11"
# Blender's platform name -> pip platform tags (newest first is enough for pip download to pick one).
PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "macos-arm64": ["macosx_11_0_arm64"],
    "macos-x64": ["macosx_10_15_x86_64", "macosx_10_9_x86_64"],
    "windows-x64": ["win_amd64"],
}
EXCLUDED = ("__pycache__", "demo_scene.py")
SETUPTOOLS_NEEDED = "77"


def run(command: list[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def build_framebridge_wheel(wheels: Path) -> None:
    """This checkout's wheel: with this Python's setuptools when it reads pyproject.toml, else in pip's build isolation."""
    isolation = ["--no-build-isolation"]
    if not setuptools_is_recent():
        isolation = []
        print(f"setuptools {setuptools_version() or '(none)'} is older than {SETUPTOOLS_NEEDED}, which pyproject.toml's "
              "license field needs: building in pip's build isolation instead", flush=True)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(wheels), str(ROOT)])


def setuptools_version() -> str | None:
    try:
        return importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return None


def setuptools_is_recent() -> bool:
    """This Python's setuptools understands a PEP 639 ``license`` string (setuptools 77 and newer)."""
    version = setuptools_version()
    numbers = re.findall(r"\d+", version or "")
    return bool(numbers) and int(numbers[0]) >= int(SETUPTOOLS_NEEDED)


def local_dependency_wheels(wheels: Path) -> None:
    """Wheels of the dependencies for this interpreter's platform (binary only, no numpy)."""
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--only-binary=:all:", "-q", "-w", str(wheels), *DEPENDENCIES])


def platform_dependency_wheels(wheels: Path, platform: str) -> None:
    tags = [argument for tag in PLATFORMS[platform] for argument in ("--platform", tag)]
    run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", BLENDER_PYTHON,
         "--implementation", "cp", *tags, "-q", "-d", str(wheels), *DEPENDENCIES])


def local_platform() -> str:
    machine = {"x86_64": "x64", "amd64": "x64", "arm64": "arm64", "aarch64": "arm64"}
    import platform

    system = {"linux": "linux", "darwin": "macos", "win32": "windows"}[sys.platform]
    return f"{system}-{machine[platform.machine().lower()]}"


def write_manifest(source: Path, target: Path, wheels: list[str], platforms: list[str]) -> None:
    """The manifest with its ``platforms`` and ``wheels`` lists replaced by what this build holds."""
    text = source.read_text()
    wheel_list = "wheels = [\n" + "".join(f'  "./wheels/{name}",\n' for name in wheels) + "]"
    text = re.sub(r"(?ms)^wheels = \[.*?^\]", wheel_list, text)
    text = re.sub(r"(?m)^platforms = \[.*\]$", "platforms = [" + ", ".join(f'"{p}"' for p in platforms) + "]", text)
    target.write_text(text)


def build(out: Path, platforms: list[str] | None) -> Path:
    """Build the extension zip into ``out``; ``platforms`` None means this platform from local wheels."""
    version = re.search(r'(?m)^version = "(.+)"', (ADDON / "blender_manifest.toml").read_text()).group(1)
    with tempfile.TemporaryDirectory(prefix="framebridge-extension-") as temporary:
        stage = Path(temporary) / "framebridge"
        shutil.copytree(ADDON, stage, ignore=shutil.ignore_patterns(*EXCLUDED))
        wheels = stage / "wheels"
        wheels.mkdir()
        build_framebridge_wheel(wheels)
        if platforms is None:
            platforms = [local_platform()]
            local_dependency_wheels(wheels)
        else:
            for platform in platforms:
                platform_dependency_wheels(wheels, platform)
        names = sorted(path.name for path in wheels.glob("*.whl"))
        write_manifest(ADDON / "blender_manifest.toml", stage / "blender_manifest.toml", names, platforms)
        out.mkdir(parents=True, exist_ok=True)
        suffix = platforms[0] if len(platforms) == 1 else "all"
        target = out / f"framebridge-{version}-{suffix}.zip"
        partial = target.with_suffix(".zip.tmp")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(stage.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(stage).as_posix())
        partial.replace(target)
    print(f"built {target} ({', '.join(platforms)}; {len(names)} wheels)")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--all-platforms", action="store_true", help="download wheels for every platform Blender supports")
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS), help="download wheels for this platform")
    arguments = parser.parse_args(argv)
    platforms = sorted(PLATFORMS) if arguments.all_platforms else arguments.platform
    try:
        build(arguments.out, platforms)
    except subprocess.CalledProcessError as error:
        print(f"build_blender_extension: error: `{' '.join(map(str, error.cmd[:6]))} ...` failed with exit status "
              f"{error.returncode} (its output is above); fix: pip needs setuptools>={SETUPTOOLS_NEEDED} and the "
              "dependency wheels, from an index or pip's cache", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"build_blender_extension: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

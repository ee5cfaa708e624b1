"""Build the one-step Nuke install: the plugin folder with a ``site-packages`` for one Nuke's Python and platform.

    python scripts/build_nuke_plugin.py --nuke 15 --platform linux --out dist/
    -> dist/FrameBridge-nuke15-linux.zip: FrameBridge/ (init.py, menu.py, icon, framebridge_send.py,
       README.md, site-packages/ with the framebridge wheel and its dependencies)

Install: unzip anywhere and add ``FrameBridge`` to ``NUKE_PATH`` (or ``nuke.pluginAddPath``).
The framebridge wheel is built from this checkout; pyzmq, msgpack, xxhash and openexr
are fetched from PyPI as binary wheels for that Nuke's CPython and platform
(``pip download --only-binary=:all: --python-version ... --platform ...``) at the
versions pinned in ``scripts/nuke_plugin_requirements.txt``, the ones the tests run.
numpy is left out on purpose: Nuke ships its own.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "nuke_plugin"
PINS = Path(__file__).with_name("nuke_plugin_requirements.txt")
NUKE_PYTHON = {"14": "3.9", "15": "3.10", "16": "3.11"}
# pip platform tags per platform (pip download takes the first that has a wheel). Nuke 15+ on macOS is arm64 native.
PLATFORM_TAGS = {
    "linux": ["manylinux_2_28_x86_64", "manylinux_2_26_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows": ["win_amd64"],
    "macos": ["macosx_11_0_arm64"],
    "macos-x64": ["macosx_10_15_x86_64", "macosx_10_9_x86_64"],
}
PLUGIN_FILES = ("init.py", "menu.py", "framebridge_send.py", "FrameBridge.png", "README.md")


def run(command: list[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def pinned() -> list[str]:
    """The pinned requirement lines of :data:`PINS`."""
    lines = (line.split("#", 1)[0].strip() for line in PINS.read_text().splitlines())
    return [line for line in lines if line]


def framebridge_wheel(folder: Path) -> Path:
    """The framebridge wheel built from this checkout (pure Python, one for every Nuke)."""
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)])
    return next(folder.glob("framebridge-*.whl"))


def target_options(python: str, platform: str) -> list[str]:
    tags = [argument for tag in PLATFORM_TAGS[platform] for argument in ("--platform", tag)]
    return ["--only-binary=:all:", "--python-version", python, "--implementation", "cp", *tags]


def build(nuke: str, platform: str, out: Path, wheel: Path | None = None) -> Path:
    """Write ``FrameBridge-nuke<nuke>-<platform>.zip`` into ``out``; ``wheel`` reuses a built framebridge wheel."""
    python = NUKE_PYTHON[nuke]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="framebridge-nuke-bundle-") as temporary:
        wheels = Path(temporary) / "wheels"
        wheels.mkdir()
        built = shutil.copy2(wheel, wheels) if wheel else framebridge_wheel(wheels)
        run([sys.executable, "-m", "pip", "download", "--no-deps", *target_options(python, platform), "-q",
             "-d", str(wheels), *pinned()])
        plugin = Path(temporary) / "FrameBridge"
        site = plugin / "site-packages"
        run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", "--target", str(site),
             *target_options(python, platform), "-q", str(built), *map(str, sorted(set(wheels.glob("*.whl")) - {Path(built)}))])
        for name in PLUGIN_FILES:
            shutil.copy2(PLUGIN / name, plugin / name)
        shipped = sorted(path.name for path in wheels.glob("*.whl"))
        (plugin / "BUNDLE.txt").write_text(f"FrameBridge for Nuke {nuke} (Python {python}, {platform})\n"
                                           + "".join(f"{name}\n" for name in shipped))
        target = out / f"FrameBridge-nuke{nuke}-{platform}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(plugin.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(plugin.parent).as_posix())
    print(f"wrote {target}", flush=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nuke", required=True, choices=sorted(NUKE_PYTHON), help="Nuke major version (14, 15, 16)")
    parser.add_argument("--platform", required=True, choices=sorted(PLATFORM_TAGS),
                        help="the machine Nuke runs on (macos: Apple silicon; macos-x64: Intel Macs)")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="folder for the zip (default dist/)")
    args = parser.parse_args(argv)
    if args.nuke == "14" and args.platform == "macos":
        parser.error("Nuke 14 on macOS runs as x86_64: use --platform macos-x64")
    build(args.nuke, args.platform, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The wheel as users install it: built here, installed in a venv outside the checkout.

Builds with the development environment's maturin and the already-compiled Cargo
target dir (CARGO_TARGET_DIR), so it takes seconds once the runtime is built. The
venv gets remotemedia only from the wheel; its dependencies are the running
environment's, seen through a path line (the test installs nothing from the network).
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

IMPORT_ALL = r"""
import importlib, pkgutil, sys
sys.modules["grpc_tools"] = None  # the stubs ship: nothing may generate them here
import remotemedia, remotemedia_server
names = []
for package in (remotemedia, remotemedia_server):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
print(remotemedia.__file__)
print(len(names), "modules")
"""

REMOTE_CALL = r"""
import sys
import remotemedia as rm
with rm.connect(sys.argv[1], sys.argv[2]) as session:
    print(session.execute("21 * 2").value_bundle["text/plain"])
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.setdefault("CARGO_TARGET_DIR", str(ROOT / "runtime" / "target"))
    if shutil.which("cargo") is None:
        print("cargo not found: building the pure-Python wheel")
        env["REMOTEMEDIA_PURE_PYTHON"] = "1"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        env=env,
        timeout=1800,
    )
    (built,) = out.glob("remotemedia-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    purelib = subprocess.run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Dependencies from the running environment; a plain path line runs none of its
    # .pth files, so its own (editable) remotemedia stays invisible.
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "zz_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    return python


def _run(python: Path, *args: str, cwd: Path, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH"}}
    result = subprocess.run(
        [str(python), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "remotemedia/remote/_proto/execution_pb2.py",
        "remotemedia/remote/_proto/execution_pb2_grpc.py",
        "remotemedia/data/speech.ogg",
        "remotemedia/data/clip.mp4",
        "remotemedia/core/manifest.schema.json",
        "remotemedia/py.typed",
        "remotemedia_server/app.py",
    ):
        assert needed in names, needed
    native = [n for n in names if re.match(r"remotemedia/_runtime\..*\.(so|pyd)$", n)]
    assert len(native) == (0 if "py3-none-any" in wheel.name else 1), native
    built_js = sorted((ROOT / "remotemedia" / "static").glob("*.js"))
    for js in built_js:
        assert f"remotemedia/static/{js.name}" in names
    assert not any(n.startswith(("protos/", "tests/")) for n in names)


def test_installed_wheel_imports_every_public_module(
    venv_python: Path, tmp_path: Path
) -> None:
    out = _run(venv_python, "-c", IMPORT_ALL, cwd=tmp_path)
    location = Path(out.splitlines()[0])
    assert str(venv_python.parent.parent) in str(location), location
    assert int(out.splitlines()[1].split()[0]) >= 20, out


def test_version_comes_from_one_place(venv_python: Path, tmp_path: Path) -> None:
    cargo = (ROOT / "runtime" / "Cargo.toml").read_text()
    expected = re.search(r'^version = "([^"]+)"', cargo, re.MULTILINE)
    assert expected is not None
    cli = venv_python.parent / "remotemedia"
    assert _run(cli, "--version", cwd=tmp_path).split() == [
        "remotemedia",
        expected.group(1),
    ]
    code = "import remotemedia; print(remotemedia.__version__)"
    assert _run(venv_python, "-c", code, cwd=tmp_path).strip() == expected.group(1)


def test_installed_demo_runs(venv_python: Path, tmp_path: Path) -> None:
    out = _run(venv_python, "-m", "remotemedia.demo", "--out", "out", cwd=tmp_path)
    assert "identical to local: True" in out, out
    assert (tmp_path / "out" / "resampled_16k.wav").is_file()


def test_installed_serve_answers_a_remote_call(
    venv_python: Path, tmp_path: Path
) -> None:
    server = subprocess.Popen(
        [
            str(venv_python.parent / "remotemedia"),
            "serve",
            "--port",
            "0",
            "--token",
            "wheel-test",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # blocks until it listens or exits
        found = re.search(r"listening on (\S+) token=(\S+)", line)
        assert found, line + server.stdout.read() if server.poll() is not None else line
        out = _run(
            venv_python,
            "-c",
            REMOTE_CALL,
            found.group(1),
            found.group(2),
            cwd=tmp_path,
            timeout=120,
        )
        assert out.strip() == "42"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_pure_python_switch_builds_a_wheel_without_rust(tmp_path: Path) -> None:
    env = {**os.environ, "REMOTEMEDIA_PURE_PYTHON": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        env=env,
        timeout=300,
    )
    (built,) = tmp_path.glob("remotemedia-*-py3-none-any.whl")
    with zipfile.ZipFile(built) as zf:
        names = zf.namelist()
        dist_info = next(n.split("/")[0] for n in names if ".dist-info/" in n)
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    assert not any(n.endswith((".so", ".pyd")) for n in names)
    assert "remotemedia/remote/_proto/execution_pb2.py" in names
    assert "Requires-Dist: grpcio>=1.85.1" in metadata
    assert "Provides-Extra: server" in metadata
    assert "remotemedia = remotemedia.cli:main" in entry_points

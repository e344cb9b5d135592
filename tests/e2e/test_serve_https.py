"""``tongban serve --certfile --keyfile`` serves HTTPS (the officers' pages sign only in a
secure context); a half-given or unusable certificate is refused before anything starts."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from api.cli import main
from tests.support.live import read_port, serve_command
from tests.support.tls import make_certificate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("https") / "demo"
    assert main(["demo", "--cases", "2", "--seed", "3", "--data-dir", str(data_dir)]) == 0
    return data_dir


def _serve(data_dir: Path, port_file: Path, *extra: str) -> subprocess.Popen[bytes]:
    log = port_file.with_suffix(".log").open("wb")
    return subprocess.Popen(
        [*serve_command(data_dir, port_file, 1), *extra],
        env={**os.environ, "TONGBAN_DATABASE_URL": "", "TONGBAN_WITNESS_PUSH_SECONDS": "0"},
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_serve_speaks_https_with_a_certificate(demo: Path, tmp_path: Path) -> None:
    cert = make_certificate(tmp_path / "tls")
    port_file = tmp_path / "node.port"
    process = _serve(
        demo, port_file, "--certfile", str(cert.certfile), "--keyfile", str(cert.keyfile)
    )
    try:
        port = read_port(port_file, process, port_file.with_suffix(".log"), 60)
        trusted = ssl.create_default_context(cafile=str(cert.certfile))
        with httpx.Client(verify=trusted, timeout=30) as client:
            for _ in range(300):  # the port file is written before the app has started
                try:
                    health = client.get(f"https://127.0.0.1:{port}/health")
                    break
                except httpx.ConnectError:
                    if process.poll() is not None:
                        raise
                    time.sleep(0.1)
            assert health.status_code == 200, health.text
            challenge = client.post(f"https://127.0.0.1:{port}/login/challenge").json()
            assert challenge["origin"] == f"https://127.0.0.1:{port}"
        with pytest.raises(httpx.RemoteProtocolError), httpx.Client(timeout=30) as plain:
            plain.get(f"http://127.0.0.1:{port}/health")  # no plain HTTP on that port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@pytest.mark.parametrize("given", ["certfile", "keyfile", "mismatch", "missing"])
def test_an_unusable_certificate_is_refused_naming_why(
    demo: Path, tmp_path: Path, given: str
) -> None:
    cert = make_certificate(tmp_path / "tls")
    other = make_certificate(tmp_path / "other")
    args = {
        "certfile": ["--certfile", str(cert.certfile)],
        "keyfile": ["--keyfile", str(cert.keyfile)],
        "mismatch": ["--certfile", str(cert.certfile), "--keyfile", str(other.keyfile)],
        "missing": ["--certfile", str(tmp_path / "nope.crt"), "--keyfile", str(cert.keyfile)],
    }[given]
    port_file = tmp_path / "node.port"
    done = subprocess.run(
        [*serve_command(demo, port_file, 1), *args],
        env={**os.environ, "TONGBAN_DATABASE_URL": ""},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 64, done.stderr
    expected = {
        "certfile": "--certfile needs --keyfile",
        "keyfile": "--keyfile needs --certfile",
        "mismatch": "cannot serve HTTPS with certificate",
        "missing": f"cannot serve HTTPS with certificate {tmp_path / 'nope.crt'}",
    }[given]
    assert expected in done.stderr
    assert not port_file.exists()  # it never listened

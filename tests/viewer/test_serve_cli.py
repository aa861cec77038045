"""`radpath serve`: options, the warning off loopback, errors, and a real server answering /healthz."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from radpath.cli.app import build_app, main
from radpath.cli.serve import network_warning

from .conftest import ViewerStudy


def test_help_documents_every_option() -> None:
    result = CliRunner().invoke(build_app(), ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--db", "--port", "--host", "--tile-cache-mb", "--max-open-slides", "--log-level"):
        assert option in result.output
    assert "visible on the network" in result.output


@pytest.mark.parametrize(("host", "warns"), [
    ("127.0.0.1", False), ("localhost", False), ("::1", False), ("127.0.0.2", False),
    ("0.0.0.0", True), ("192.168.1.20", True), ("::", True), ("myhost.example", True),
])
def test_network_warning(host: str, warns: bool) -> None:
    warning = network_warning(host)
    assert (warning is not None) == warns
    if warns:
        assert host in str(warning) and "visible" in str(warning)


def test_missing_warehouse_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--db", str(tmp_path / "none.duckdb"), "--port", "0"])
    assert exit_info.value.code == 2
    assert "no warehouse at" in capsys.readouterr().err


def test_serves_over_http(study: ViewerStudy) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "radpath.cli.app", "serve", "--db", str(study.db), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"radpath viewer on {study.db}: http://127.0.0.1:")
        url = line.split(": ", 1)[1].split()[0]
        for _ in range(100):
            try:
                response = httpx.get(url + "healthz", timeout=10)
                break
            except httpx.TransportError:
                import time

                time.sleep(0.1)
        assert response.status_code == 200 and response.text == "ok"
        # the first cohort page builds every manuscript table: allow for a loaded CI machine
        assert httpx.get(url + "cohorts/tcga_brca", timeout=120).status_code == 200
    finally:
        process.terminate()
        process.wait(10)
    assert "warning" not in (process.stderr.read() if process.stderr else "")


def test_port_in_use_exits_2(study: ViewerStudy, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", "--db", str(study.db), "--port", str(port)])
    assert exit_info.value.code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_listening_socket_lets_asyncio_disable_nagle() -> None:
    """asyncio sets TCP_NODELAY on accepted connections only when the listening socket's proto is TCP."""
    import asyncio
    import socket

    from radpath.cli.serve import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    nodelay: list[int] = []

    async def run() -> None:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nodelay.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        reader, writer = await asyncio.open_connection(*sock.getsockname())
        await reader.read()
        writer.close()
        server.close()

    asyncio.run(run())
    assert nodelay and nodelay[0] != 0


def test_bad_log_level_exits_2(study: ViewerStudy, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--db", str(study.db), "--log-level", "loud"])
    assert exit_info.value.code == 2 and "--log-level must be one of" in capsys.readouterr().err

"""Run a standalone OpenID Connect provider on loopback, for the tests and the demo.

The provider is `no.nav.security:mock-oauth2-server`, fetched from Maven Central through
`identity/pom.xml` and cached beside the broker's jars. Every first path segment is an issuer of
its own (`http://127.0.0.1:<port>/<issuer>`, with discovery, JWKS, the authorization-code flow
with a login page, and a token endpoint), so each tenant of a test gets its own issuer. Usage:

    python identity/localidp.py up   [--dir .local/idp] [--port 8089] [--config users.json]
    python identity/localidp.py down [--dir .local/idp]

`--config` is the provider's JSON configuration (which claims each sign-in gets); `up` waits
until the provider answers discovery and returns; running it again while it is up does nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE.parent / ".local" / "idp"
DEFAULT_PORT = 8089
HOST = "127.0.0.1"
MAIN_CLASS = "no.nav.security.mock.oauth2.StandaloneMockOAuth2ServerKt"
READY_TIMEOUT_S = 90.0


def _lib_dir() -> Path:
    # One jar cache per checkout, shared by every state folder (tests use temporary ones).
    return Path(os.environ.get("IDP_LIB_DIR", HERE.parent / ".local" / "idp-lib"))


def fetch_jars() -> Path:
    lib = _lib_dir()
    marker = lib / ".complete"
    if marker.exists():
        return lib
    lib.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(HERE / "pom.xml"),
         "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={lib}"],
        check=True,
    )
    marker.touch()
    return lib


def issuer_url(port: int, issuer: str) -> str:
    return f"http://{HOST}:{port}/{issuer}"


def _pid(state: Path) -> int | None:
    pid_file = state / "idp.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(
                f"{issuer_url(port, 'probe')}/.well-known/openid-configuration", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def up(state: Path, port: int, config: Path | None) -> None:
    if _pid(state) is not None and _answers(port):
        print(f"idp: already running on {HOST}:{port}")
        return
    lib = fetch_jars()
    env = dict(os.environ, SERVER_HOSTNAME=HOST, SERVER_PORT=str(port))
    if config is not None:
        env["JSON_CONFIG_PATH"] = str(config.resolve())
    with open(state / "idp.out", "ab") as out:
        proc = subprocess.Popen(
            ["java", "-Xmx256m", "-cp", f"{lib}/*", MAIN_CLASS],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env,
        )
    (state / "idp.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"idp: the provider exited with {proc.returncode}; see {state / 'idp.out'}")
        if _answers(port):
            print(f"idp: ready on {HOST}:{port}")
            return
        time.sleep(0.3)
    down(state)
    sys.exit(f"idp: not ready after {READY_TIMEOUT_S:.0f}s; see {state / 'idp.out'}")


def down(state: Path) -> None:
    pid = _pid(state)
    if pid is None:
        print("idp: not running")
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if _pid(state) is None:
            break
        time.sleep(0.2)
    if _pid(state) is not None:
        os.killpg(pid, signal.SIGKILL)
    (state / "idp.pid").unlink(missing_ok=True)
    print("idp: stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "fetch"])
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("IDP_DIR", DEFAULT_DIR)))
    parser.add_argument("--port", type=int, default=int(os.environ.get("IDP_PORT", DEFAULT_PORT)))
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    state: Path = args.dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    if args.action == "up":
        up(state, args.port, args.config)
    elif args.action == "fetch":
        fetch_jars()
    else:
        down(state)


if __name__ == "__main__":
    main()

"""Who can reach the dashboard: bound to 127.0.0.1 by default, and Streamlit's OIDC login.

A real ``streamlit run`` with the repository's .streamlit/config.toml, a minimal OpenID
Connect provider on 127.0.0.1 (discovery, authorize, token, JWKS; RS256 id tokens) and
Debian's Chromium driven by Playwright: before sign-in no campaign renders; after the
provider's round trip the overview shows the campaign and who is signed in.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline.settings import PROJECT_ROOT
from tests.browser import chromium, new_page, skip_without_chromium
from tests.local_server import free_port, stop, wait_until_answers

CLIENT_ID, CLIENT_SECRET = "audience-dashboard", "client-secret-for-tests"
USER = {"sub": "u-1", "email": "analyst@example.org", "name": "Ana Lyst"}


class _Provider(BaseHTTPRequestHandler):
    """Discovery, authorize (signs the user in at once), token and JWKS endpoints."""

    issuer = ""
    key: object = None
    codes: dict[str, str] = {}  # noqa: RUF012 - one provider per test run

    def log_message(self, *_: object) -> None:
        return

    def _json(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/.well-known/openid-configuration":
            self._json(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            )
        elif url.path == "/jwks":
            self._json({"keys": [self.key.as_dict(private=False)]})  # type: ignore[attr-defined]
        elif url.path == "/authorize":
            assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
            code = secrets.token_urlsafe(16)
            type(self).codes[code] = query.get("nonce", "")
            target = f"{query['redirect_uri']}?" + urllib.parse.urlencode(
                {"code": code, "state": query["state"]}
            )
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        from joserfc import jwt

        length = int(self.headers.get("Content-Length", 0))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        nonce = type(self).codes.pop(form.get("code", ""), None)
        if self.path != "/token" or nonce is None:
            self.send_error(400)
            return
        now = int(time.time())
        claims = {
            **USER,
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)  # type: ignore[arg-type]
        self._json(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }
        )


@pytest.fixture()
def provider() -> Iterator[str]:
    from joserfc.jwk import RSAKey

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    _Provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    _Provider.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield _Provider.issuer
    finally:
        server.shutdown()


def _serve(db: Path, tmp_path: Path, port: int, secrets_file: Path | None) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
        "--server.headless", "true", "--server.port", str(port),
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    if secrets_file is not None:
        command += ["--secrets.files", str(secrets_file)]
    env = {
        **os.environ,
        "EMOTION_DB_PATH": str(db),
        "EMOTION_UPLOAD_DIR": str(tmp_path / "uploads"),
        # The test provider speaks plain HTTP on 127.0.0.1; a real one is https.
        "AUTHLIB_INSECURE_TRANSPORT": "1",
    }
    log = (tmp_path / "streamlit.log").open("w")
    return subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def _healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
        return True


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_the_dashboard_listens_on_loopback_only(writable_db: Path, tmp_path: Path) -> None:
    port = free_port()
    server = _serve(writable_db, tmp_path, port, None)
    try:
        wait_until_answers(lambda: _healthy(port), server, tmp_path / "streamlit.log", timeout_s=90)
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
    finally:
        stop(server)


@pytest.mark.browser
@skip_without_chromium
def test_oidc_login_guards_every_page(writable_db: Path, tmp_path: Path, provider: str) -> None:
    from playwright.sync_api import expect

    port = free_port()
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    server = _serve(writable_db, tmp_path, port, secrets_file)
    try:
        wait_until_answers(lambda: _healthy(port), server, tmp_path / "streamlit.log", timeout_s=90)
        with chromium() as browser:
            page = new_page(browser)
            page.goto(f"http://127.0.0.1:{port}/reports")
            sign_in = page.get_by_role("button", name="Sign in")
            expect(sign_in).to_be_visible()
            expect(page.get_by_text("Spring launch")).to_have_count(0)
            expect(page.get_by_role("heading", name="Reports and exports")).to_have_count(0)
            sign_in.click()
            expect(page.get_by_text("Signed in as analyst@example.org")).to_be_visible()
            expect(page.get_by_text("Spring launch").first).to_be_visible()
            expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    finally:
        stop(server)

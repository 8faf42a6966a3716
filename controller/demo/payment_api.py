"""A stand-in payment API over HTTPS, for the demo and the tests.

It makes its own certificate authority at start-up, serves on loopback with a server
certificate from it, honours ``Idempotency-Key`` (a retried request returns the first
answer and charges once) and can misbehave on demand: answer late, fail, or drop the
connection after charging.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from controller.demo.extras import require_demo_extra

require_demo_extra()

from cryptography import x509  # noqa: E402 - after the check that explains its absence
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


@dataclass
class CertificateFiles:
    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path, hostname: str = "localhost") -> CertificateFiles:
    """A throw-away CA and a server certificate for ``hostname`` and 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reccontrol test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = CertificateFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    # reccontrol refuses a CA bundle that others could add a CA to, whatever the umask.
    files.ca.chmod(0o644)
    return files


@dataclass
class Received:
    idempotency_key: str
    body: dict[str, Any]
    tls: bool


@dataclass
class PaymentApi:
    """Approves every valid request unless told otherwise."""

    certificates: CertificateFiles
    decline_amounts: set[str] = field(default_factory=set)
    delay: float = 0.0
    fail_status: int | None = None
    drop_first_answer: bool = False
    redirect_to: str | None = None
    """Answer ``307 Temporary Redirect`` to this URL instead of charging."""
    raw_answer: str | None = None
    """Answer this body (``200``, ``application/json``) instead of charging: a broken or
    hostile payment API."""
    received: list[Received] = field(default_factory=list)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/v1/payments"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/payments", self._payments)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificates.cert, self.certificates.key)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _payments(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key", "")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": "not JSON"}, status=400)
        tls = request.transport is not None and request.transport.get_extra_info("sslcontext")
        self.received.append(Received(key, body, bool(tls)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.redirect_to is not None:
            return web.Response(status=307, headers={"Location": self.redirect_to})
        if self.raw_answer is not None:
            return web.Response(text=self.raw_answer, content_type="application/json")
        if self.fail_status is not None:
            return web.json_response({"error": "failure"}, status=self.fail_status)
        if not key:
            return web.json_response({"error": "Idempotency-Key required"}, status=400)
        if key not in self.charges:
            declined = body.get("amount") in self.decline_amounts
            self.charges[key] = {
                "status": "declined" if declined else "approved",
                "reference": f"PAY-{len(self.charges) + 1:05d}",
            }
            if self.drop_first_answer:
                # Charged, but the answer is lost on the way back.
                self.drop_first_answer = False
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
        return web.json_response(self.charges[key])

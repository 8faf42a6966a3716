"""The server's TLS context when ``web.tls`` names a certificate and key."""

from __future__ import annotations

import ssl

from controller.config.model import WebSettings


class TlsSetupError(Exception):
    """The certificate or key cannot be used; the message names the YAML key path."""


def server_context(settings: WebSettings) -> ssl.SSLContext | None:
    if settings.tls_certificate is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_certificate, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(
            f"web.tls: cannot use the certificate {settings.tls_certificate} with the key "
            f"{settings.tls_key}: {exc}"
        ) from None
    return context

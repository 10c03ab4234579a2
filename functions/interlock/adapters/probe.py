"""Adapters layer: the smoke check's one HTTP request to a serving revision (`Probe`).

POSTs JSON to a Cloud Run tag URL with a Google ID token for the service (its `uri` as the
audience, as Cloud Run's invoker check wants); an http:// URL (the local stand-in) gets none.
Only the status and the first `BODY_BYTES` of the body are kept, decoded leniently: the body is
the revision's own text (`core.smoke` makes it one bounded line before it reaches a reason). No
answer within the timeout is an answer too (`status` None); a URL that cannot be reached at all
(refused, reset, DNS) is a `TransientError`: retried, then parked, never a rejection.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Mapping

from interlock.core.errors import PermanentError, TransientError
from interlock.ports import ProbeAnswer

BODY_BYTES = 4096


class HttpProbe:
    def __init__(self, credentials_request: object = None) -> None:
        self._request = credentials_request  # a google.auth transport Request, made on first use

    def post(
        self, url: str, body: Mapping[str, object], audience: str | None, timeout_s: float
    ) -> ProbeAnswer:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PermanentError("url", f"{url[:200]!r} is not an http(s) URL")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if parts.scheme == "https" and audience:
            headers["Authorization"] = f"Bearer {self._id_token(audience, timeout_s)}"
        conn_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_type(parts.hostname, parts.port, timeout=timeout_s)
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        try:
            conn.request("POST", target, body=json.dumps(body).encode(), headers=headers)
            resp = conn.getresponse()
            data = resp.read(BODY_BYTES)
            return ProbeAnswer(resp.status, data.decode("utf-8", "replace"))
        except TimeoutError:
            return ProbeAnswer(None, f"no answer within {timeout_s:g}s")
        except (OSError, http.client.HTTPException) as e:
            raise TransientError(f"smoke check POST {parts.netloc}: {type(e).__name__}") from None
        finally:
            conn.close()

    def _id_token(self, audience: str, timeout_s: float) -> str:
        """An ID token from Application Default Credentials (on Google Cloud: the metadata
        server, for the function's own service account)."""
        import google.auth.exceptions
        import google.auth.transport.requests
        import google.oauth2.id_token

        if self._request is None:
            self._request = google.auth.transport.requests.Request()
        try:
            token: str = google.oauth2.id_token.fetch_id_token(  # type: ignore[no-untyped-call]
                self._request, audience
            )
        except google.auth.exceptions.DefaultCredentialsError:
            raise PermanentError(
                "credentials",
                "no Google credentials that can mint an ID token for the smoke check: run the "
                "function as a service account with roles/run.invoker on the service",
            ) from None
        except (TimeoutError, google.auth.exceptions.TransportError) as e:
            raise TransientError(f"ID token for the smoke check: {type(e).__name__}") from None
        except google.auth.exceptions.RefreshError as e:
            if getattr(e, "retryable", False):
                raise TransientError(f"ID token for the smoke check: {type(e).__name__}") from None
            raise PermanentError(
                "credentials", "ID token refresh failed for the smoke check"
            ) from None
        return token

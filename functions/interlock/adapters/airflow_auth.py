"""Adapters layer: who the Airflow adapter signs in as — the `Authorization` header it sends.

Three real targets:
- Cloud Composer (Gen 2 and Gen 3, Airflow 2 and 3): a Google OAuth access token with the
  cloud-platform scope, from the function's own identity (`GoogleTokenSource`);
- a self-managed Airflow 3: a JWT from `POST /auth/token` (`JwtLogin`);
- a self-managed Airflow 2: basic auth (`[api] auth_backends = ...basic_auth`, `BasicLogin`).
`PasswordLogin` picks JWT or basic auth by the API version the adapter found.

Credentials never appear in a message, a repr or a log line; Airflow's refusals name the user.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from interlock.adapters.airflow_http import Http
from interlock.core.errors import PermanentError, TransientError

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_EARLY_REFRESH_S = 120.0  # renew a JWT this long before it expires (clock skew, slow calls)
_DEFAULT_TOKEN_TTL_S = 300.0  # when a token carries no readable `exp`


class AuthSource(Protocol):
    def authorization(self, http: Http, api: str | None, *, force: bool = False) -> str | None:
        """The `Authorization` header for REST `api` ("v1" or "v2"), or None to send none.

        `api` is None while the version is still unknown (the version probe): a source whose
        header depends on it answers None there. `force` (after a refusal) asks for a fresh
        credential instead of a cached one.
        """
        ...

    def principal(self) -> str:
        """Who we authenticate as, for error messages (never a secret)."""
        ...


class GoogleTokenSource:
    """Google OAuth access token (Cloud Composer): Application Default Credentials."""

    def __init__(self, credentials: Any = None) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()

    def principal(self) -> str:
        email = getattr(self._credentials, "service_account_email", None)
        return f"Google principal {email or '(application default credentials)'}"

    def authorization(self, http: Http, api: str | None, *, force: bool = False) -> str:
        import google.auth
        import google.auth.exceptions
        import google.auth.transport.requests

        with self._lock:
            try:
                if self._credentials is None:
                    self._credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
                if force or not self._credentials.valid:
                    # google-auth's default transport timeout is 120 s; keep ours.
                    request = functools.partial(
                        google.auth.transport.requests.Request(), timeout=http.timeout_s
                    )
                    self._credentials.refresh(request)
            except google.auth.exceptions.DefaultCredentialsError:
                raise PermanentError(
                    "credentials",
                    "no Google credentials for Airflow: give the function a service account, "
                    "or set AIRFLOW_USERNAME for a self-managed Airflow",
                ) from None
            except google.auth.exceptions.RefreshError as e:
                if getattr(e, "retryable", False):
                    raise TransientError(f"Google token refresh: {type(e).__name__}") from None
                raise PermanentError(
                    "credentials", f"Google token refresh failed for {self.principal()}"
                ) from None
            except google.auth.exceptions.TransportError as e:
                raise TransientError(f"Google token refresh: {type(e).__name__}") from None
            return f"Bearer {self._credentials.token}"


class Password:
    """A password given inline or read from `file` (a mounted secret) at every `read()`, so a
    rotated secret is picked up at the next sign-in without a redeploy."""

    def __init__(self, value: str | None = None, file: Path | None = None) -> None:
        if value is None and file is None:
            raise PermanentError("AIRFLOW_PASSWORD", "set it or AIRFLOW_PASSWORD_FILE")
        self._value = value
        self._file = file

    def __repr__(self) -> str:  # the default repr would show the password
        return f"Password(file={self._file!r})" if self._file else "Password(<inline>)"

    def read(self) -> str:
        if self._value is not None:
            return self._value
        assert self._file is not None
        try:
            return self._file.read_text().rstrip("\r\n")  # mounted secrets often end in \n
        except OSError as e:
            raise PermanentError(
                "AIRFLOW_PASSWORD_FILE", f"cannot read {self._file}: {e.strerror}"
            ) from None


def _jwt_expiry(token: str) -> float | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


class JwtLogin:
    """Airflow 3: username/password exchanged at `POST {base}/auth/token` (answers 201) for a
    JWT, cached until shortly before it expires."""

    def __init__(self, username: str, password: Password) -> None:
        self.username = username
        self._password = password
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JwtLogin({self.username!r})"

    def principal(self) -> str:
        return f"user {self.username!r}"

    def authorization(self, http: Http, api: str | None, *, force: bool = False) -> str:
        with self._lock:
            if force or self._token is None or time.time() >= self._expires_at - _EARLY_REFRESH_S:
                self._token = None
                self._token = self._exchange(http)
                self._expires_at = _jwt_expiry(self._token) or time.time() + _DEFAULT_TOKEN_TTL_S
            return f"Bearer {self._token}"

    def _exchange(self, http: Http) -> str:
        what = "Airflow token exchange"
        body = {"username": self.username, "password": self._password.read()}
        answer = http.send("POST", "/auth/token", what, body=body)
        where = f"{http.base_url}/auth/token"
        if answer.status in (200, 201):
            parsed = answer.json()
            token = parsed.get("access_token") if isinstance(parsed, dict) else None
            if not isinstance(token, str) or not token:
                raise TransientError(f"{what} at {where}: no access_token in the answer")
            return token
        if answer.status in (401, 403):
            raise PermanentError(
                "AIRFLOW_PASSWORD",
                f"Airflow rejected the credentials of {self.principal()} at {http.base_url} "
                f"(HTTP {answer.status})",
            )
        if answer.status == 429 or answer.status >= 500:
            raise TransientError(
                f"{what} at {where}: HTTP {answer.status}", retry_after_s=answer.retry_after_s()
            )
        raise PermanentError(
            "INTERLOCK_AIRFLOW_URL",
            f"POST {where} answered HTTP {answer.status}: {answer.detail()} "
            "(is this an Airflow 3 API server with password login?)",
        )


class BasicLogin:
    """Airflow 2: HTTP basic auth (`[api] auth_backends = airflow.api.auth.backend.basic_auth`).
    The password is read for every request, so a rotated secret file is used at once."""

    def __init__(self, username: str, password: Password) -> None:
        self.username = username
        self._password = password

    def __repr__(self) -> str:
        return f"BasicLogin({self.username!r})"

    def principal(self) -> str:
        return f"user {self.username!r}"

    def authorization(self, http: Http, api: str | None, *, force: bool = False) -> str:
        pair = f"{self.username}:{self._password.read()}".encode()
        return "Basic " + base64.b64encode(pair).decode()


class PasswordLogin:
    """`AIRFLOW_USERNAME` and a password: a JWT on Airflow 3 (v2), basic auth on Airflow 2 (v1)."""

    def __init__(
        self, username: str, password: str | None = None, password_file: Path | None = None
    ) -> None:
        if not username:
            raise PermanentError("AIRFLOW_USERNAME", "is empty")
        secret = Password(password, password_file)
        self.username = username
        self.jwt = JwtLogin(username, secret)
        self.basic = BasicLogin(username, secret)

    def __repr__(self) -> str:
        return f"PasswordLogin({self.username!r})"

    def principal(self) -> str:
        return f"user {self.username!r}"

    def authorization(self, http: Http, api: str | None, *, force: bool = False) -> str | None:
        if api is None:
            return None  # the version probe: Airflow answers /api/v{1,2}/version to anyone
        login = self.jwt if api == "v2" else self.basic
        return login.authorization(http, api, force=force)

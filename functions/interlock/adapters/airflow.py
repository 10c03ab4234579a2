"""Adapters layer: start Airflow 3 DAG runs over its REST API (Cloud Composer or any Airflow 3).

A DAG run id is our idempotency key: a 409 on it means an earlier delivery already created the
run, which we read back and compare. Vendor failures become `TransientError` (retry) or
`PermanentError` (dead-letter). Credentials never appear in messages or logs.
`airflow_client.client` costs ~0.7 s to import, so it is imported on first use, not at load.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from interlock.core.errors import PermanentError, TransientError
from interlock.ports import DagRun, same_run_conf

log = logging.getLogger(__name__)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_EARLY_REFRESH_S = 120.0  # renew a JWT this long before it expires (clock skew, slow calls)
_DEFAULT_TOKEN_TTL_S = 300.0  # when a token carries no readable `exp`


class TokenSource(Protocol):
    def token(self, pool: Any, timeout_s: tuple[float, float], *, force: bool = False) -> str:
        """A bearer token; `force` (after a 401) fetches a new one instead of the cached one.

        `pool` is the client's urllib3 pool; `timeout_s` is (connect, read).
        """
        ...

    def principal(self) -> str:
        """Who we authenticate as, for error messages (never a secret)."""
        ...


def _retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _detail(body: bytes) -> str:
    """The server's `detail`, short: Airflow's error bodies echo the request, never our headers."""
    try:
        detail = json.loads(body).get("detail", body.decode(errors="replace"))
    except (ValueError, AttributeError):
        detail = body.decode(errors="replace")
    text = detail if isinstance(detail, str) else json.dumps(detail)
    return text[:300]


def _jwt_expiry(token: str) -> float | None:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


class PasswordTokenSource:
    """Airflow 3 JWT: username/password exchanged at `POST {base}/auth/token` (answers 201).

    The password comes from the constructor or is read from `password_file` (a mounted
    secret) on every exchange, so a rotated secret is picked up at the next refresh.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str | None = None,
        password_file: Path | None = None,
    ) -> None:
        if not username:
            raise PermanentError("AIRFLOW_USERNAME", "is empty")
        if password is None and password_file is None:
            raise PermanentError("AIRFLOW_PASSWORD", "set it or AIRFLOW_PASSWORD_FILE")
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self._password_file = password_file
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # the default repr would show the password
        return f"PasswordTokenSource({self.base_url!r}, {self.username!r})"

    def principal(self) -> str:
        return f"user {self.username!r} at {self.base_url}"

    def _read_password(self) -> str:
        if self._password is not None:
            return self._password
        assert self._password_file is not None
        try:
            return self._password_file.read_text().rstrip("\r\n")
        except OSError as e:
            raise PermanentError(
                "AIRFLOW_PASSWORD_FILE", f"cannot read {self._password_file}: {e.strerror}"
            ) from None

    def token(self, pool: Any, timeout_s: tuple[float, float], *, force: bool = False) -> str:
        with self._lock:
            if force or self._token is None or time.time() >= self._expires_at - _EARLY_REFRESH_S:
                self._token = None
                self._token = self._exchange(pool, timeout_s)
                expiry = _jwt_expiry(self._token)
                self._expires_at = expiry or time.time() + _DEFAULT_TOKEN_TTL_S
            return self._token

    def _exchange(self, pool: Any, timeout_s: tuple[float, float]) -> str:
        import urllib3

        body = json.dumps({"username": self.username, "password": self._read_password()})
        try:
            resp = pool.request(
                "POST",
                f"{self.base_url}/auth/token",
                body=body,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=urllib3.Timeout(connect=timeout_s[0], read=timeout_s[1]),
                retries=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise TransientError(
                f"Airflow token exchange at {self.base_url}: {type(e).__name__}"
            ) from None
        if resp.status in (200, 201):
            try:
                token = json.loads(resp.data)["access_token"]
            except (ValueError, KeyError, TypeError):
                token = None
            if not isinstance(token, str) or not token:
                raise TransientError(
                    f"Airflow token exchange at {self.base_url}: no access_token in the answer"
                )
            return token
        if resp.status in (401, 403):
            raise PermanentError(
                "AIRFLOW_PASSWORD",
                f"Airflow rejected the credentials of {self.principal()} (HTTP {resp.status})",
            )
        if resp.status == 429 or resp.status >= 500:
            raise TransientError(
                f"Airflow token exchange at {self.base_url}: HTTP {resp.status}",
                retry_after_s=_retry_after_s(resp.headers),
            )
        raise PermanentError(
            "AIRFLOW_BASE_URL",
            f"POST {self.base_url}/auth/token answered HTTP {resp.status}: {_detail(resp.data)} "
            "(is this an Airflow 3 API server with password login?)",
        )


class GoogleTokenSource:
    """Google OAuth access token (Cloud Composer): Application Default Credentials."""

    def __init__(self, credentials: Any = None) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()

    def principal(self) -> str:
        email = getattr(self._credentials, "service_account_email", None)
        return f"Google principal {email or '(application default credentials)'}"

    def token(self, pool: Any, timeout_s: tuple[float, float], *, force: bool = False) -> str:
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
                        google.auth.transport.requests.Request(), timeout=timeout_s
                    )
                    self._credentials.refresh(request)
            except google.auth.exceptions.DefaultCredentialsError as e:
                raise PermanentError("credentials", f"no Google credentials: {e}") from None
            except google.auth.exceptions.RefreshError as e:
                if getattr(e, "retryable", False):
                    raise TransientError(f"Google token refresh: {type(e).__name__}") from None
                raise PermanentError(
                    "credentials", f"Google token refresh failed for {self.principal()}"
                ) from None
            except google.auth.exceptions.TransportError as e:
                raise TransientError(f"Google token refresh: {type(e).__name__}") from None
            token: str = self._credentials.token
            return token


class AirflowDagTrigger:
    """The `DagTrigger` port on Airflow 3's REST API (`apache-airflow-client` 3.x)."""

    def __init__(
        self,
        base_url: str,
        auth: TokenSource,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._api: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, base_url: str, env: Mapping[str, str] | None = None) -> AirflowDagTrigger:
        """`AIRFLOW_USERNAME` + `AIRFLOW_PASSWORD` or `AIRFLOW_PASSWORD_FILE` → JWT login;
        no username → Google credentials (Cloud Composer)."""
        env = os.environ if env is None else env
        username = env.get("AIRFLOW_USERNAME")
        auth: TokenSource
        if username:
            file = env.get("AIRFLOW_PASSWORD_FILE")
            auth = PasswordTokenSource(
                base_url, username, env.get("AIRFLOW_PASSWORD"), Path(file) if file else None
            )
        else:
            auth = GoogleTokenSource()
        return cls(base_url, auth)

    def _client(self) -> Any:
        with self._lock:
            if self._api is None:
                import airflow_client.client as af
                import urllib3

                config = af.Configuration(host=self.base_url)
                # One quick reconnect on a refused/reset connection; never re-send a POST whose
                # answer was lost (the retry is Pub/Sub's, with backoff, and the 409 covers it).
                # Redirects are returned, not followed: one means a wrong URL or a login page.
                config.retries = urllib3.Retry(
                    total=1, connect=1, read=0, redirect=False, status=0, other=0
                )
                self._api = af.DagRunApi(af.ApiClient(config))
            return self._api

    def _call(self, what: str, send: Any) -> tuple[int, Any, bytes]:
        """Send with a bearer token; if it is refused, fetch a fresh one and send once more."""
        import urllib3

        api = self._client()
        pool = api.api_client.rest_client.pool_manager
        timeout = (self.connect_timeout_s, self.read_timeout_s)
        for attempt in (0, 1):
            token = self.auth.token(pool, timeout, force=attempt > 0)
            try:
                resp = send(api, {"Authorization": f"Bearer {token}"}, timeout)
                try:
                    status, headers, body = resp.status, resp.headers, resp.data
                finally:
                    resp.release_conn()
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise TransientError(f"{what} at {self.base_url}: {type(e).__name__}") from None
            # Airflow answers 401 "Token Expired", but 403 "Invalid JWT token" for one it
            # cannot verify (e.g. signed before a JWT secret rotation): both deserve a new token.
            if status != 401 and not (status == 403 and b"Invalid JWT token" in body):
                return status, headers, body
            log.info("airflow answered %s to %s; fetching a new token", status, what)
        raise PermanentError(
            "credentials", f"Airflow rejected the token of {self.auth.principal()} (HTTP {status})"
        )

    def _error(self, what: str, dag_id: str, status: int, headers: Any, body: bytes) -> Exception:
        if status == 403:
            return PermanentError(
                "credentials",
                f"{self.auth.principal()} may not {what} of DAG {dag_id!r} (HTTP 403)",
            )
        if status == 404:
            return PermanentError("dag_id", f"Airflow has no DAG {dag_id!r}: {_detail(body)}")
        if status == 429 or status >= 500:
            return TransientError(
                f"{what} of DAG {dag_id!r}: HTTP {status}", retry_after_s=_retry_after_s(headers)
            )
        if 300 <= status < 400:
            return PermanentError(
                "AIRFLOW_BASE_URL",
                f"{self.base_url} redirected to {(headers or {}).get('Location')!r} "
                f"(HTTP {status}): not the Airflow API server, or a login page in front of it",
            )
        detail = _detail(body)
        # 400 "Dag with dag_id ... has import errors / does not allow manual runs" is the DAG's
        # fault; other 400s and 422s are the body's (params validation).
        field = "dag_id" if detail.startswith("Dag with dag_id") else "conf"
        return PermanentError(field, f"{what} of DAG {dag_id!r}: HTTP {status}: {detail}")

    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, object]) -> DagRun:
        import airflow_client.client as af

        # Airflow 3 requires `logical_date` in the body (null = "no logical date"); the
        # client always sends it, null when unset.
        body = af.TriggerDAGRunPostBody(dag_run_id=run_id, conf=dict(conf), logical_date=None)
        status, headers, data = self._call(
            "trigger a run",
            lambda api, auth, timeout: api.trigger_dag_run_without_preload_content(
                dag_id, body, _headers=auth, _request_timeout=timeout
            ),
        )
        if status == 200:
            log.info("airflow run created", extra={"dag_id": dag_id, "run_id": run_id})
            return self._dag_run(dag_id, run_id, data, created=True)
        if status == 409:
            return self._existing(dag_id, run_id, conf)
        raise self._error("trigger a run", dag_id, status, headers, data)

    def _existing(self, dag_id: str, run_id: str, conf: Mapping[str, object]) -> DagRun:
        status, headers, data = self._call(
            "read a run",
            lambda api, auth, timeout: api.get_dag_run_without_preload_content(
                dag_id, run_id, _headers=auth, _request_timeout=timeout
            ),
        )
        if status == 404:
            # 409 said it exists: it was deleted in between. Retrying will create it.
            raise TransientError(f"run {run_id!r} of DAG {dag_id!r} vanished after a 409")
        if status != 200:
            raise self._error("read a run", dag_id, status, headers, data)
        run = self._dag_run(dag_id, run_id, data, created=False)
        # Compare as JSON: a tuple we send comes back as a list.
        if not same_run_conf(conf, run.conf):
            raise PermanentError(
                "run_id",
                f"run {run_id!r} of DAG {dag_id!r} already exists with a different conf",
            )
        log.info("airflow run already exists", extra={"dag_id": dag_id, "run_id": run_id})
        return run

    @staticmethod
    def _dag_run(dag_id: str, run_id: str, data: bytes, *, created: bool) -> DagRun:
        # Parsed leniently (not the client's strict models) so a newer Composer's extra states
        # or fields don't break us: we need only the state and the conf.
        try:
            run = json.loads(data)
            return DagRun(
                dag_id=str(run.get("dag_id", dag_id)),
                run_id=str(run.get("dag_run_id", run_id)),
                state=str(run.get("state", "")),
                conf=run.get("conf") or {},
                created=created,
            )
        except (ValueError, AttributeError):
            raise TransientError(f"unreadable Airflow answer for run {run_id!r}") from None

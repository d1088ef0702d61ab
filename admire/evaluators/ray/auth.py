"""Ray's token authentication as admire's clients meet it (Ray 2.60, measured).

* A head started with ``ray start --head`` turns token auth on when a token exists where Ray
  looks (``RAY_AUTH_TOKEN``, the file named by ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``)
  or when ``RAY_AUTH_MODE=token``; ``RAY_AUTH_MODE=disabled`` turns it off. Any ``ray.init()``
  that starts a local cluster (``admire tune``'s embedded one too) writes ``~/.ray/auth_token``,
  so after the first local study every stock head of that user has auth on.
* Clients send the token only when their own ``RAY_AUTH_MODE`` says ``token``: with it unset the
  Jobs SDK and ``ray job ...`` send nothing (HTTP 401), and ``ray.init(address=HOST:PORT)``
  never turns it on for an explicit address (it fails after about 20 s with a bare
  ``ConnectionError``, as it does with a wrong token).
* A head's dashboard answers ``GET /api/authentication_mode`` without a token.

The token is read through Ray's own loader, so admire and the ``ray`` CLI agree on which one
is used; only where it came from is worked out here, for error messages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MODE_VAR = "RAY_AUTH_MODE"
TOKEN_VAR = "RAY_AUTH_TOKEN"
TOKEN_PATH_VAR = "RAY_AUTH_TOKEN_PATH"
HEADER = "Authorization"


@dataclass(frozen=True)
class Token:
    """A token this process would send, and where Ray found it (never the value itself)."""

    value: str
    source: str

    @property
    def headers(self) -> dict[str, str]:
        return {HEADER: f"Bearer {self.value}"}


def token_source() -> str:
    """Where Ray looks first for a token right now (its precedence: variable, path, file)."""
    if os.environ.get(TOKEN_VAR, "").strip():
        return f"${TOKEN_VAR}"
    if os.environ.get(TOKEN_PATH_VAR):
        return f"{TOKEN_PATH_VAR}={os.environ[TOKEN_PATH_VAR]}"
    return str(Path.home() / ".ray" / "auth_token")


def find_token() -> Token | None:
    """The token Ray's clients would send in token mode, or None. A ``RAY_AUTH_TOKEN_PATH``
    naming a missing or empty file is an error in Ray too: reported as no token, with that
    path as the source, so the message says what to fix."""
    from ray._raylet import AuthenticationTokenLoader
    from ray.exceptions import AuthenticationError

    loader = AuthenticationTokenLoader.instance()
    loader.reset_cache()  # HOME or the variables may have changed since the last call
    try:
        value = loader.get_raw_token(ignore_auth_mode=True)
    except AuthenticationError:
        return None
    finally:
        # Ray's clients in this process read the cache: leave none, or a token found under
        # other settings would outlive them (a later ray.init would send a stale one).
        loader.reset_cache()
    return Token(value, token_source()) if value else None


def mode_is_set() -> bool:
    return bool(os.environ.get(MODE_VAR))


def enable_token_mode() -> None:
    """Make this process (and what it starts) a token-mode Ray client, as ``ray start`` does
    for itself: the variable, then Ray's cached config re-read."""
    from ray._raylet import Config

    os.environ[MODE_VAR] = "token"
    Config.initialize("")


def where_to_get_it(address: str) -> str:
    """What to do when a head wants a token this process does not have (or has wrong)."""
    return (f"put the head's token (`ray get-auth-token` on the head node) in ${TOKEN_VAR} or "
            f"~/.ray/auth_token here (a head started on this machine by this user already uses "
            f"~/.ray/auth_token; one started with {MODE_VAR}=disabled needs none); "
            f"then retry with --address {address}")

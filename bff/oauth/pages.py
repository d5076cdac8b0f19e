"""The consent pages' HTML: plain forms, one stylesheet from this server, no script at all.

Every value shown is escaped; the pages refuse framing and may post only to this server
(and, after the decision, be redirected to the client's registered redirect URI).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse, Response

from bff.domain.delegation import SCOPE_WORDS, TRANSFERS_WRITE
from bff.domain.models import Account

STYLESHEET_PATH = "/oauth/static/consent.css"
STYLESHEET = """
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem;
       color: #1b1f24; }
h1 { font-size: 1.4rem; }
form { display: grid; gap: .75rem; }
label { display: grid; gap: .25rem; }
fieldset { border: 1px solid #d0d7de; border-radius: .5rem; }
.check { display: flex; gap: .5rem; align-items: center; }
.error { color: #a40e26; }
.actions { display: flex; gap: 1rem; }
button { padding: .5rem 1rem; font-size: 1rem; }
"""


@dataclass(frozen=True)
class Hidden:
    """What every form of the flow carries back: the pushed request and the CSRF token."""

    client_id: str
    request_uri: str
    csrf: str

    def fields(self) -> str:
        return "".join(
            f'<input type="hidden" name="{name}" value="{escape(value)}">'
            for name, value in (
                ("client_id", self.client_id),
                ("request_uri", self.request_uri),
                ("csrf", self.csrf),
            )
        )


def _page(title: str, body: str, status: int, form_targets: str = "") -> HTMLResponse:
    policy = (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        f"form-action 'self'{form_targets}; frame-ancestors 'none'"
    )
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="{STYLESHEET_PATH}"></head>'
        f"<body><main>{body}</main></body></html>"
    )
    # same-origin, not no-referrer: browsers then send the real Origin with the page's own
    # form posts (checked as a second CSRF defence), and still nothing to the client.
    headers = {"content-security-policy": policy, "referrer-policy": "same-origin"}
    return HTMLResponse(html, status_code=status, headers=headers)


def stylesheet() -> Response:
    return Response(
        STYLESHEET,
        media_type="text/css",
        headers={"cache-control": "public, max-age=3600"},
    )


def error_page(message: str, status: int = 400) -> HTMLResponse:
    return _page(
        "Cannot continue",
        f'<h1>Cannot continue</h1><p class="error" role="alert">{escape(message)}</p>'
        "<p>Go back to the app and start connecting again.</p>",
        status,
    )


def sign_in_page(
    client_name: str, hidden: Hidden, problem: str | None = None, status: int = 200
) -> HTMLResponse:
    alert = f'<p class="error" role="alert">{escape(problem)}</p>' if problem else ""
    body = (
        f"<h1>Sign in to connect {escape(client_name)}</h1>{alert}"
        '<form method="post" action="/oauth/authorize">'
        f'{hidden.fields()}<input type="hidden" name="step" value="sign_in">'
        '<label>Email <input type="email" name="email" autocomplete="username" required></label>'
        '<label>Password <input type="password" name="password" '
        'autocomplete="current-password" required></label>'
        '<button type="submit">Sign in</button></form>'
    )
    return _page(f"Sign in: {client_name}", body, status)


def consent_page(
    client_name: str,
    scopes: list[str],
    accounts: list[Account],
    hidden: Hidden,
    redirect_uri: str,
    problem: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    alert = f'<p class="error" role="alert">{escape(problem)}</p>' if problem else ""
    words = "".join(f"<li>{escape(SCOPE_WORDS[scope])}</li>" for scope in scopes)
    choices = "".join(
        '<label class="check"><input type="checkbox" name="account" '
        f'value="{account.id}"> {escape(account.name)} ({escape(account.currency)}, '
        f"…{escape(account.account_number[-4:])})</label>"
        for account in accounts
    )
    limit = (
        "<label>Daily limit for payments by this app (whole units of the account's currency)"
        ' <input type="number" name="daily_limit" min="0" max="1000000" step="1" value="0" '
        "required></label>"
        if TRANSFERS_WRITE in scopes
        else ""
    )
    body = (
        f"<h1>{escape(client_name)} wants access to your bank</h1>{alert}"
        f"<p>If you approve, {escape(client_name)} can:</p><ul>{words}</ul>"
        '<form method="post" action="/oauth/authorize">'
        f'{hidden.fields()}<input type="hidden" name="step" value="decide">'
        f"<fieldset><legend>Accounts to share</legend>{choices}</fieldset>{limit}"
        '<div class="actions"><button type="submit" name="decision" value="approve">Approve'
        '</button><button type="submit" name="decision" value="deny">Deny</button></div>'
        "</form>"
    )
    target = urlsplit(redirect_uri)
    return _page(f"Connect {client_name}", body, status, f" {target.scheme}://{target.netloc}")

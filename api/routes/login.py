"""``/login``: an officer logs in as themselves with a proof their key signed in the browser;
an auditor, a supervisor or the administrator, who sign nothing, with their API token.

``POST /login/challenge`` gives the challenge; ``POST /login`` takes the signed proof
(``docs/login.md``) and opens a session: an HttpOnly, SameSite=Strict cookie (``Secure`` over
HTTPS) and a CSRF token the page sends back as ``X-CSRF-Token`` on every state-changing
request. ``POST /logout`` ends it. API tokens stay for programs.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from adapters.bootstrap import NodeServices
from adapters.sessions import Session, TokenSession
from api.deps import BEARER_CHALLENGE, SESSION_COOKIE, Caller, JsonBody, Services, b64_field
from api.errors import ApiProblem
from api.schemas import problem_responses
from ledger.application import now_micros
from ledger.errors import LedgerError, MalformedEncoding
from ledger.login import verify_login

router = APIRouter(tags=["login"], responses=problem_responses(401, 403, 415, 422))


class ChallengePublic(BaseModel):
    origin: str = Field(description="the origin the proof must name (docs/login.md §1)")
    nonce: str = Field(description="hex, 32 bytes")
    issued_at: int = Field(description="µs since the epoch")
    expires_at: int = Field(description="µs since the epoch")


class LoginRequest(BaseModel):
    proof: str = Field(description="the signed login proof (docs/login.md §2), base64")


class TokenLoginRequest(BaseModel):
    token: str = Field(
        max_length=200,
        description="an auditor's, a supervisor's or the administrator's API token (tb_...)",
    )


class SessionPublic(BaseModel):
    kind: str = Field(default="body", description="body (an officer), auditor, supervisor, admin")
    subject: str = Field(default="", description="the body, auditor, scope or admin")
    body_id: str = Field(default="", description="an officer's body")
    officer_id: str = ""
    kid: str = Field(default="", description="the key an officer logged in with")
    csrf_token: str | None = Field(
        default=None, description="shown once, at login: send it as X-CSRF-Token"
    )

    @classmethod
    def of(cls, found: Session | TokenSession, csrf: str | None = None) -> SessionPublic:
        if isinstance(found, TokenSession):
            return cls(kind=found.kind, subject=found.subject, csrf_token=csrf)
        return cls(
            subject=found.body_id,
            body_id=found.body_id,
            officer_id=found.officer_id,
            kid=found.kid,
            csrf_token=csrf,
        )


# Who may open a session with an API token: those who sign nothing. Officers log in as
# themselves with their key (docs/login.md); a body token is a program's, a peer is a node.
TOKEN_SESSION_KINDS = ("auditor", "supervisor", "admin")


def origin_of(request: Request, node: NodeServices) -> str:
    """The origin officers reach this node at: configured, else the request's own."""
    configured = node.settings.public_origin.rstrip("/")
    if configured:
        return configured
    url = request.url
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    port = f":{url.port}" if url.port and url.port != default_port else ""
    return f"{url.scheme}://{url.hostname}{port}"


@router.post(
    "/login/challenge",
    response_model=ChallengePublic,
    summary="a login challenge for an officer's page to sign (docs/login.md)",
)
def challenge(request: Request, node: Services) -> ChallengePublic:
    issued = node.session_store().issue_challenge(origin_of(request, node), now_micros())
    return ChallengePublic(**issued.as_json())


@router.post(
    "/login",
    response_model=SessionPublic,
    summary="log in with a signed login proof; opens a session (cookie)",
)
async def login(
    request: Request, response: Response, body: LoginRequest, node: Services, _: JsonBody
) -> SessionPublic:
    raw = b64_field(body.proof, "proof")
    origin = origin_of(request, node)

    def verify_and_open() -> tuple[str, str, SessionPublic]:
        now = now_micros()
        store = node.session_store()
        node.ledger.refresh_registry()
        try:
            proof = verify_login(
                raw, origin=origin, now=now, registry=node.ledger.registry, nonces=store
            )
        except MalformedEncoding as error:
            raise ApiProblem(
                422, error.detail, reason=error.reason, field=f"proof.{error.field or ''}"
            ) from error
        except LedgerError as error:
            raise ApiProblem(401, error.detail, reason=error.reason, field=error.field) from error
        token, csrf, session = store.open_session(proof, now)
        return token, csrf, SessionPublic.of(session, csrf)

    token, _csrf, shown = await run_in_threadpool(verify_and_open)
    _set_session_cookie(request, response, token)
    return shown


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post(
    "/login/token",
    response_model=SessionPublic,
    summary="an auditor, supervisor or the administrator opens a page session with an API token",
)
def login_with_token(
    request: Request, response: Response, body: TokenLoginRequest, node: Services, _: JsonBody
) -> SessionPublic:
    """The token is checked and forgotten: the browser keeps a session cookie, not the token,
    and the session ends when the token is revoked (checked on every request)."""
    holder = node.access.authenticate(body.token.strip())
    if holder is None:
        raise ApiProblem(
            401,
            "the token is unknown or revoked",
            reason="unauthenticated",
            field="token",
            headers=BEARER_CHALLENGE,
        )
    if holder.kind not in TOKEN_SESSION_KINDS:
        raise ApiProblem(
            403,
            f"a {holder.kind} token opens no page session: officers log in with their key "
            f"(/pages/login); token sessions are for {', '.join(TOKEN_SESSION_KINDS)}",
            reason="forbidden",
            field="token",
        )
    token, csrf, session = node.session_store().open_token_session(
        holder.token_id, holder.kind, holder.subject, now_micros()
    )
    _set_session_cookie(request, response, token)
    return SessionPublic.of(session, csrf)


@router.get(
    "/login/session",
    response_model=SessionPublic,
    summary="who the session cookie logs in as",
)
def session(request: Request, caller: Caller) -> SessionPublic:
    found = getattr(request.state, "session", None)
    if found is None:
        raise ApiProblem(
            401,
            "no session: log in first (an API token is not one)",
            reason="unauthenticated",
            headers=BEARER_CHALLENGE,
        )
    return SessionPublic.of(found)


@router.post("/logout", status_code=204, summary="end the session")
def logout(request: Request, caller: Caller, node: Services) -> Response:
    if caller.token_id.startswith("session:"):
        node.session_store().end_session(request.cookies.get(SESSION_COOKIE, ""), now_micros())
    answer = Response(status_code=204)
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return answer

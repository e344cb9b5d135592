"""``/login``: an officer logs in as themselves with a proof their key signed in the browser.

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


class SessionPublic(BaseModel):
    body_id: str
    officer_id: str
    kid: str
    csrf_token: str | None = Field(
        default=None, description="shown once, at login: send it as X-CSRF-Token"
    )


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
        shown = SessionPublic(
            body_id=session.body_id,
            officer_id=session.officer_id,
            kid=session.kid,
            csrf_token=csrf,
        )
        return token, csrf, shown

    token, _csrf, shown = await run_in_threadpool(verify_and_open)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return shown


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
    return SessionPublic(body_id=found.body_id, officer_id=found.officer_id, kid=found.kid)


@router.post("/logout", status_code=204, summary="end the session")
def logout(request: Request, caller: Caller, node: Services) -> Response:
    if caller.token_id.startswith("session:"):
        node.session_store().end_session(request.cookies.get(SESSION_COOKIE, ""), now_micros())
    answer = Response(status_code=204)
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return answer

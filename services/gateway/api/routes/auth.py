"""Sign-up (a new tenant and its owner), log-in, log-out, accepting an invite, and who the caller is:
the HTTP side (bodies, tokens and session cookies); the use cases are `application.auth`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import AfterValidator, BaseModel, EmailStr, Field

from contracts.numbers import Count
from services.gateway.api.deps import BearerDep, Components, ComponentsDep, CurrentPrincipal, client_address
from services.gateway.api.models.identity import MePublic
from services.gateway.api.sessions import clear_session_cookies, csrf_token, session_token, set_session_cookies
from services.gateway.application import auth
from services.gateway.errors import BadRequest, Unauthorized
from services.gateway.security import Principal, issue_token, password_problem, read_claims

router = APIRouter(prefix="/v1/auth", tags=["auth"])


def _acceptable(password: str) -> str:
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    return password


# A password being chosen (sign-up, invite acceptance, any change): refused with a 422 saying why.
NewPassword = Annotated[str, Field(max_length=200), AfterValidator(_acceptable)]


SessionKind = Literal["cookie"]
SESSION_FIELD = Field(
    default=None,
    description='"cookie": a browser session (HttpOnly cookie and a CSRF token) instead of a bearer token',
)


class SignupCreate(BaseModel):
    email: EmailStr
    password: NewPassword
    tenant_name: str = Field(min_length=1, max_length=120)
    session: SessionKind | None = SESSION_FIELD


class LoginCreate(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=200)
    session: SessionKind | None = SESSION_FIELD


class InviteAccept(BaseModel):
    invite_token: str = Field(min_length=1, max_length=200)
    password: NewPassword


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: Count
    tenant_id: str
    user_id: str


class CookieSession(BaseModel):
    """A browser session: the access token went into an HttpOnly cookie, never into this body."""

    token_type: Literal["cookie"] = "cookie"
    expires_in: Count
    csrf_token: str = Field(description="send it back as X-CSRF-Token on every request that changes something")


@router.post("/signup", status_code=201)
async def signup(
    body: SignupCreate, parts: ComponentsDep, request: Request, response: Response
) -> TokenPublic | CookieSession:
    """Create a tenant and its owner; answers with an access token.

    An email that already has an account gets the same answer, in about the same time (the
    password is hashed either way), so sign-up does not tell who has an account: its token is
    for a tenant that does not exist, and is refused wherever it is shown."""
    principal = await auth.sign_up(parts, client_address(request), body.email, body.password, body.tenant_name)
    return _answer(principal, parts, body.session, response)


@router.post("/login")
async def login(
    body: LoginCreate, parts: ComponentsDep, request: Request, response: Response
) -> TokenPublic | CookieSession:
    """Exchange email and password for an access token."""
    principal = await auth.log_in(parts, client_address(request), body.email, body.password)
    return _answer(principal, parts, body.session, response)


@router.post("/logout", status_code=204)
async def logout(who: CurrentPrincipal, parts: ComponentsDep, credentials: BearerDep, request: Request) -> Response:
    """Revoke the access token this request carries (the bearer token, or the session cookie's,
    whose cookies are then cleared): every replica refuses it from now until it expires."""
    if who.key_id is not None:
        raise BadRequest("an API key is not logged out but revoked (DELETE /v1/keys/{key_id})")
    token = credentials.credentials if credentials is not None else session_token(request)
    if token is None:  # authenticated, so one of them was there
        raise Unauthorized("missing bearer token or session cookie")
    await auth.revoke_token(parts, token)
    answer = Response(status_code=204)
    if credentials is None:
        clear_session_cookies(answer, _secure_cookies(parts))
    return answer


@router.post("/accept")
async def accept_invite(body: InviteAccept, parts: ComponentsDep, request: Request) -> TokenPublic:
    """An invited member chooses a password with the invite token an admin handed them (single
    use); answers with an access token. An address that has meanwhile become an account
    elsewhere cannot accept (409; the invite is spent)."""
    principal = await auth.accept_invite(parts, client_address(request), body.invite_token, body.password)
    return _token(principal, parts)


@router.get("/me")
async def me(who: CurrentPrincipal, parts: ComponentsDep) -> MePublic:
    """The caller: user, tenant (id and name), roles, what they may do (narrowed by the API key, if one is
    used), and the tenant's plan (null while billing does not answer)."""
    return await auth.me(parts, who)


def _token(principal: Principal, parts: Components) -> TokenPublic:
    ttl = parts.settings.access_token_ttl_s
    token = issue_token(principal, parts.settings.jwt_secret, ttl)
    return TokenPublic(access_token=token, expires_in=ttl, tenant_id=principal.tenant_id, user_id=principal.user_id)


def _answer(
    principal: Principal, parts: Components, session: SessionKind | None, response: Response
) -> TokenPublic | CookieSession:
    """A bearer token in the body, or (a browser session) the token in cookies and only the CSRF token in the body."""
    issued = _token(principal, parts)
    if session is None:
        return issued
    csrf = csrf_token(parts.settings.jwt_secret, read_claims(issued.access_token, parts.settings.jwt_secret).token_id)
    set_session_cookies(response, issued.access_token, csrf, issued.expires_in, _secure_cookies(parts))
    response.headers["Cache-Control"] = "no-store"
    return CookieSession(expires_in=issued.expires_in, csrf_token=csrf)


def _secure_cookies(parts: Components) -> bool:
    """Secure everywhere but a developer's plain-HTTP machine."""
    return parts.settings.environment != "development"

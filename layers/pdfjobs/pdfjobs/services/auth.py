"""API keys: generation, hashing, and resolving a request's key to a Principal."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping

from pdfjobs import clock, ids
from pdfjobs.errors import BadRequest, Forbidden, InvalidApiKey, MissingApiKey, NotFound, RevokedApiKey
from pdfjobs.records import DEFAULT_SCOPES, ApiKeyRecord, Principal, Scope
from pdfjobs.repositories.api_keys import ApiKeyRepository
from pdfjobs.settings import get_settings

KEY_PREFIX = "pdfj_"
DISPLAY_PREFIX_LENGTH = 8
TENANT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SCHEMES = ("bearer", "api-key", "apikey")


def generate_key() -> str:
    # 32 random bytes = 256 bits, URL-safe so it fits every header form.
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """Accepts `Authorization: Bearer <key>`, `Authorization: api-key <key>` or `X-API-Key: <key>`."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if explicit := lowered.get("x-api-key", "").strip():
        return explicit
    authorization = lowered.get("authorization", "").strip()
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() in _SCHEMES and value.strip():
        return value.strip()
    return None


class Authenticator:
    def __init__(self, keys: ApiKeyRepository | None = None) -> None:
        self.keys = keys or ApiKeyRepository()

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        key = key_from_headers(headers)
        if key is None:
            raise MissingApiKey()
        digest = hash_key(key)
        settings = get_settings()
        if settings.admin_key_sha256 and hmac.compare_digest(digest, settings.admin_key_sha256.lower()):
            return Principal(key_id="admin", tenant_id=settings.admin_tenant_id, scopes=frozenset({Scope.ADMIN}))
        if not key.startswith(KEY_PREFIX):
            raise InvalidApiKey()
        auth = self.keys.find_auth(digest)
        # The lookup is by hash; comparing again in constant time keeps timing flat either way.
        if auth is None or not hmac.compare_digest(str(auth["PK"]).partition("#")[2], digest):
            raise InvalidApiKey()
        if auth.get("revoked"):
            raise RevokedApiKey()
        return Principal(
            key_id=str(auth["key_id"]),
            tenant_id=str(auth["tenant_id"]),
            scopes=frozenset(Scope(s) for s in auth.get("scopes", [])),
        )


def require(principal: Principal, scope: Scope) -> None:
    if not principal.allows(scope):
        raise Forbidden(f"This API key lacks the `{scope}` scope.")


class ApiKeyService:
    def __init__(self, keys: ApiKeyRepository | None = None) -> None:
        self.keys = keys or ApiKeyRepository()

    def create(
        self, principal: Principal, name: str, scopes: list[Scope] | None, tenant_id: str | None
    ) -> tuple[ApiKeyRecord, str]:
        require(principal, Scope.KEYS_MANAGE)
        target_tenant = tenant_id or principal.tenant_id
        if not TENANT_ID_PATTERN.match(target_tenant):
            raise BadRequest("tenantId must be 1-63 characters of a-z, 0-9, '_' or '-'.", details={"field": "tenantId"})
        if target_tenant != principal.tenant_id and not principal.is_admin:
            raise Forbidden("Only the operator key may create keys for another tenant.")
        granted = list(dict.fromkeys(scopes)) if scopes else list(DEFAULT_SCOPES)
        if not principal.is_admin and any(scope not in principal.scopes for scope in granted):
            raise Forbidden("A key cannot grant scopes it does not hold.")
        secret = generate_key()
        record = ApiKeyRecord(
            id=ids.new_id("key"),
            tenant_id=target_tenant,
            name=name,
            prefix=secret[:DISPLAY_PREFIX_LENGTH],
            key_hash=hash_key(secret),
            scopes=granted,
            created_at=clock.now(),
        )
        self.keys.create(record)
        return record, secret

    def list(self, principal: Principal, tenant_id: str | None) -> list[ApiKeyRecord]:
        require(principal, Scope.KEYS_MANAGE)
        if principal.is_admin:
            return self.keys.list(tenant_id)
        if tenant_id and tenant_id != principal.tenant_id:
            raise Forbidden("Only the operator key may list another tenant's keys.")
        return self.keys.list(principal.tenant_id)

    def revoke(self, principal: Principal, key_id: str) -> ApiKeyRecord:
        require(principal, Scope.KEYS_MANAGE)
        record = None
        if ids.has_prefix(key_id, "key"):
            record = (
                self.keys.find_any_tenant(key_id) if principal.is_admin else self.keys.get(principal.tenant_id, key_id)
            )
        if record is None:
            raise NotFound("No API key with this id.")
        revoked_at = self.keys.revoke(record)
        return record.model_copy(update={"revoked_at": revoked_at})

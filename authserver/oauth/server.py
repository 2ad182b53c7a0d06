"""The authorization server: the single list of enabled grants, endpoints and client auth methods,
from which the metadata (``metadata.py``) is built, and the one place a request is dispatched to
its grant or endpoint, where the transaction that grant or endpoint declares (``READS_FIRST``,
``grants/base.py``) is applied."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer

from ..accounts import throttle
from ..errors import DPoPProofInvalid
from ..errors import InvalidClientError
from ..http.request_context import client_ip
from ..http.request_context import storable
from ..ops.request_log import annotate
from ..services import current_services
from ..store.database import reads_first
from ..store.database import settle_reads
from ..store.models import AUTH_METHODS
from ..tokens.access_tokens import AccessTokenGenerator
from ..tokens.dpop import current_proof
from .client_auth import authenticate_client_secret_basic
from .client_auth import authenticate_client_secret_post
from .client_auth import authenticate_none
from .client_auth import basic_credentials
from .endpoints.device_authorization import DeviceAuthorizationEndpoint
from .endpoints.introspection import IntrospectionEndpoint
from .endpoints.revocation import RevocationEndpoint
from .grants.authorization_code import AuthorizationCodeGrant
from .grants.authorization_code import S256CodeChallenge
from .grants.client_credentials import ClientCredentialsGrant
from .grants.device_code import DeviceCodeGrant
from .grants.password import PasswordGrant
from .grants.refresh_token import RefreshGrant
from .grants.token_exchange import TokenExchangeGrant
from .oidc.id_tokens import CodeIDToken
from .oidc.id_tokens import RefreshIDToken
from .oidc.logout import EndSession
from .registration.endpoints import ConfigurationEndpoint
from .registration.endpoints import RegistrationEndpoint
from .registration.metadata_documents import is_document_url

# Each grant with its Authlib extensions (OpenID Connect's ID tokens: oidc/id_tokens.py).
GRANTS = (
    (PasswordGrant, []),
    (RefreshGrant, [RefreshIDToken()]),
    (AuthorizationCodeGrant, [S256CodeChallenge(required=True), CodeIDToken()]),
    (ClientCredentialsGrant, []),
    (DeviceCodeGrant, []),
    (TokenExchangeGrant, []),
)
ENDPOINTS = (RevocationEndpoint, IntrospectionEndpoint, DeviceAuthorizationEndpoint, EndSession, RegistrationEndpoint,
             ConfigurationEndpoint)
ENDPOINTS_BY_NAME = {endpoint.ENDPOINT_NAME: endpoint for endpoint in ENDPOINTS}


def query_client(client_id):
    services = current_services()
    if not client_id or (is_document_url(client_id) and not services.settings.client_id_metadata_documents):
        return None
    # A metadata document's client is fetched at the authorization endpoint (metadata_documents.py);
    # the other endpoints use the copy stored there.
    return services.clients.get(client_id)


def save_token(token, request):
    # The grant has written the session and refresh-token rows; the request's unit of work commits them.
    # A DPoP proof's jti joins that transaction, last: a replay found here undoes the grant's writes.
    services = current_services()
    settle_reads()  # the lookup budgets' verdict, if no read carried it, before a token counts as issued
    proof = current_proof()
    if proof is not None:
        services.dpop.remember(proof)
    services.metrics.count("tokens_issued", grant_type=request.payload.grant_type)


def begin_transaction(handler) -> None:
    """The transaction a grant or endpoint declares: reads first, outside a transaction, until a
    store writes (``READS_FIRST``); otherwise one begun with the first statement."""
    if handler.READS_FIRST:
        reads_first()


class Server(AuthorizationServer):
    def get_token_grant(self, request):
        grant = super().get_token_grant(request)
        begin_transaction(grant)
        return grant

    def create_token_response(self, request=None):
        try:
            return super().create_token_response(request)
        finally:
            settle_reads()  # the lookup budgets' verdict, if no read carried it: it replaces any answer

    def create_endpoint_response(self, name, request=None):
        begin_transaction(ENDPOINTS_BY_NAME[name])
        try:
            return super().create_endpoint_response(name, request)
        finally:
            settle_reads()

    def authenticate_client(self, request, methods, endpoint="token"):
        """Every endpoint authenticates its client here, inside the lookup budgets (``throttle.py``):
        an IP that failed too often is refused whatever its credentials, and so is a confidential
        client that presented too many tokens not ours (as a resource server introspecting, a much
        larger budget). The credentials are checked first (a digest and a cached client: cheap) so
        that one query counts every budget."""
        services = current_services()
        ip = client_ip()
        try:
            client = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError:
            throttle.check_lookups(services, ip)
            throttle.record_client_auth_failure(services, claimed_client_id(request), ip, endpoint)
            # One answer whether the client is unknown or its secret wrong (no probing of ids).
            raise InvalidClientError(status_code=401, description="Client authentication failed.") from None
        # Counted with the request's next read (a token's): one statement, one round trip; the
        # answer waits for the verdict (create_token_response, create_endpoint_response).
        throttle.check_lookups(services, ip, client, with_next_read=True)
        annotate(client_id=client.client_id)
        if endpoint == "token" and client.dpop_bound_access_tokens and current_proof() is None:
            # RFC 9449 §5.2: a client registered for bound tokens gets none without a proof.
            raise DPoPProofInvalid("This client must send a DPoP proof.")
        return client


def claimed_client_id(request) -> str | None:
    """The client id a request that failed to authenticate gave, as it can be stored."""
    return storable(basic_credentials(request.headers)[0] or request.form.get("client_id"), 64)


def create_authorization_server(app, services) -> Server:
    server = Server()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", AccessTokenGenerator(services))
    server.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
    server.register_client_auth_method("client_secret_post", authenticate_client_secret_post)
    server.register_client_auth_method("none", authenticate_none)
    for grant, extensions in GRANTS:
        server.register_grant(grant, extensions)
    for endpoint in ENDPOINTS:
        server.register_endpoint(endpoint)
    return server


def supported_grant_types() -> list[str]:
    return [grant.GRANT_TYPE for grant, _ in GRANTS]


def supported_auth_methods(endpoint: str = "token") -> list[str]:
    """What RFC 8414 metadata advertises: public clients (``none``) can never introspect."""
    if endpoint == IntrospectionEndpoint.ENDPOINT_NAME:
        return [method for method in AUTH_METHODS if method != "none"]
    return list(AUTH_METHODS)

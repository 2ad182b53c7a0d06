// node oidc-provider 9 as a benchmark peer for benchmarks/compare.py. Loopback only, one process.
// Started by compare.py as:
//   node server.mjs PORT                              in memory (the library's own memory adapter)
//   REDIS_URL=redis://127.0.0.1:P/0 node server.mjs PORT   on Redis (redis_adapter.mjs: the adapter
//                                                     oidc-provider's documentation gives, on ioredis)
// Clients (secrets are fixed: this server only ever lives for one benchmark run on 127.0.0.1):
//   bench-jwt     refresh_token + client_credentials; access tokens are RS256 JWTs for the resource
//                 urn:bench:api (resource indicators), refresh tokens rotate on every use
//   bench-opaque  the same with opaque access tokens (no resource)
//   bench-rs      a resource server that introspects
// POST /bench/seed?client=ID&n=N (loopback, no auth) returns N fresh refresh tokens, each of its
// own grant (a virtual client's chain), and N opaque access tokens for introspection: the
// interactive sign-in that would normally open a grant is not what is measured.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 3000);
// The adapter module is only loaded when asked for: the in-memory server needs no Redis client.
const adapter = process.env.REDIS_URL ? (await import('./redis_adapter.mjs')).default : undefined;
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = 'urn:bench:api';
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', use: 'sig', alg: 'RS256' };

const common = {
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/cb'],
  scope: 'openid offline_access api',
};

const provider = new Provider(issuer, {
  ...(adapter ? { adapter } : {}),
  clients: [
    { ...common, client_id: 'bench-jwt', client_secret: 'bench-jwt-secret-0123456789abcdef' },
    { ...common, client_id: 'bench-opaque', client_secret: 'bench-opaque-secret-0123456789abcdef' },
    { ...common, client_id: 'bench-rs', client_secret: 'bench-rs-secret-0123456789abcdef',
      grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
  ],
  jwks: { keys: [jwk] },
  rotateRefreshToken: true,
  scopes: ['openid', 'offline_access', 'api'],
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => (client.clientId === 'bench-jwt' ? RESOURCE : oneOf),
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope: 'api',
        audience: RESOURCE,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
provider.proxy = false;

provider.use(async (ctx, next) => {
  if (ctx.path !== '/bench/seed' || ctx.method !== 'POST') return next();
  const clientId = ctx.query.client;
  const n = Number(ctx.query.n || 1);
  const client = await provider.Client.find(clientId);
  const jwtClient = clientId === 'bench-jwt';
  const refresh = [];
  const access = [];
  for (let i = 0; i < n; i += 1) {
    const accountId = `user-${clientId}-${i}-${Date.now()}`;
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope('offline_access');
    if (jwtClient) grant.addResourceScope(RESOURCE, 'api');
    const grantId = await grant.save();
    const base = { accountId, client, grantId, gty: 'authorization_code', expiresWithSession: false };
    const rt = new provider.RefreshToken({
      ...base,
      scope: jwtClient ? 'offline_access api' : 'offline_access',
      ...(jwtClient ? { resource: RESOURCE } : {}),
    });
    refresh.push(await rt.save());
    const at = new provider.AccessToken({ ...base, scope: 'offline_access' });
    access.push(await at.save());
  }
  ctx.body = { refresh_tokens: refresh, access_tokens: access };
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer} (${adapter ? 'Redis adapter' : 'in memory'})`);
});

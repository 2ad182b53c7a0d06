// oauth4webapi (panva's OAuth 2 client for JavaScript runtimes) driven against a live authserver.
//
//   node oauth4webapi.mjs --config run.json [--report ../results/oauth4webapi.md]
//
// run.json names the server and the users and clients made for the run (tests/conformance/
// test_oauth4webapi.py writes it after creating them with the `authserver` command):
//
//   {"server": "http://127.0.0.1:5000",               the URL the client is configured with: the expected issuer
//    "user": {"id", "username", "password"},
//    "clients": {"basic" | "post" | "public": {"client_id", "client_secret"?}   password + refresh_token, one per auth method
//                "introspector": {...}                                         registered with --introspect
//                "machine": {...}                                              client_credentials (when offered)
//                "webapp": {..., "redirect_uri"}                                authorization_code (when offered)
//                "device": {...}}}                                             device_code (when offered)
//
// Every flow is one row of the Markdown report: passed, failed (with the reason) or, for a grant
// the server's metadata does not advertise, "skipped: not offered". The exit status is 1 when any
// flow failed (a failed discovery fails every flow after it), 2 on a usage error.
//
// Every endpoint comes from the RFC 8414 metadata; the only paths named here are the resource
// server's (the account API), which no metadata lists.

import * as oauth from 'oauth4webapi'

import { Browser } from './browser.mjs'
import { finishRun, startRun } from './run.mjs'

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
// http:// is refused by default; the test server is plain HTTP on loopback.
const insecure = { [oauth.allowInsecureRequests]: true }

const started = await startRun('oauth4webapi')
const config = started.config
const server = config.server.replace(/\/$/, '')
const audience = config.audience ?? server
const user = config.user

// -- the run's bookkeeping ---------------------------------------------------------------------
const results = []
let as // the discovered metadata; undefined when discovery failed

class Skip extends Error {}

function check(condition, message) {
  if (!condition) throw new Error(message)
}

function describe(error) {
  if (error instanceof oauth.ResponseBodyError) {
    return `${error.status} ${error.error}${error.error_description ? `: ${error.error_description}` : ''}`
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    const challenge = error.cause?.[0]
    return `${error.status} challenge ${challenge?.scheme ?? ''} ${JSON.stringify(challenge?.parameters ?? {})}`
  }
  const code = error?.code ? ` (${error.code})` : ''
  return `${error?.message ?? error}${code}`
}

async function flow(name, run, { needs } = {}) {
  let result
  if (as === undefined && name !== DISCOVERY) {
    result = 'failed: not run, discovery failed'
  } else if (needs && !(as.grant_types_supported ?? []).includes(needs)) {
    result = 'skipped: not offered'
  } else {
    try {
      const detail = await run()
      result = detail ? `passed: ${detail}` : 'passed'
    } catch (error) {
      result = error instanceof Skip ? `skipped: ${error.message}` : `failed: ${describe(error)}`
    }
  }
  results.push({ flow: name, result })
  console.log(`${result.startsWith('failed') ? 'FAIL' : result.startsWith('skipped') ? 'skip' : ' ok '} ${name}: ${result}`)
}

function registered(name) {
  const client = config.clients?.[name]
  if (!client) throw new Error(`the server offers this flow but the run's config has no "${name}" client`)
  return client
}

function authFor(client, method) {
  if (method === 'client_secret_basic') return oauth.ClientSecretBasic(client.client_secret)
  if (method === 'client_secret_post') return oauth.ClientSecretPost(client.client_secret)
  return oauth.None()
}

async function expectOAuthError(promise, code) {
  try {
    await promise
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError && error.error === code) return
    throw new Error(`expected the error ${code}, got ${describe(error)}`)
  }
  throw new Error(`expected the error ${code}, got a success`)
}

// -- what a resource server and the client check on every token ---------------------------------
async function validateAccessToken(accessToken, expected = {}) {
  const request = new Request(`${server}/api`, { headers: { authorization: `Bearer ${accessToken}` } })
  const claims = await oauth.validateJwtAccessToken(as, request, audience, { ...insecure, signingAlgorithms: ['RS256'] })
  const [header] = accessToken.split('.')
  const { typ, alg, kid } = JSON.parse(Buffer.from(header, 'base64url').toString())
  check(typ === 'at+jwt' && alg === 'RS256' && kid, `header ${JSON.stringify({ typ, alg, kid })}`)
  for (const [claim, value] of Object.entries(expected)) {
    check(claims[claim] === value, `claim ${claim} is ${JSON.stringify(claims[claim])}, expected ${JSON.stringify(value)}`)
  }
  return claims
}

async function passwordGrant(client, method, scope = 'profile') {
  const response = await oauth.genericTokenEndpointRequest(
    as, { client_id: client.client_id }, authFor(client, method), 'password',
    { username: user.username, password: user.password, scope, device_name: `oauth4webapi ${method}` }, insecure)
  const token = await oauth.processGenericTokenEndpointResponse(as, { client_id: client.client_id }, response)
  check(token.token_type === 'bearer', `token_type ${token.token_type}`)
  check(typeof token.refresh_token === 'string', 'no refresh_token')
  check(token.scope === scope, `scope ${token.scope}`)
  check(Number.isInteger(token.expires_in) && token.expires_in > 0, `expires_in ${token.expires_in}`)
  return token
}

async function refresh(client, refreshToken, method = 'client_secret_basic') {
  const response = await oauth.refreshTokenGrantRequest(as, { client_id: client.client_id }, authFor(client, method),
    refreshToken, insecure)
  return oauth.processRefreshTokenResponse(as, { client_id: client.client_id }, response)
}

async function introspect(token, hint) {
  const introspector = registered('introspector')
  const client = { client_id: introspector.client_id }
  const response = await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(introspector.client_secret),
    token, { ...insecure, additionalParameters: hint ? { token_type_hint: hint } : undefined })
  return oauth.processIntrospectionResponse(as, client, response)
}

async function revoke(client, token, hint, method = 'client_secret_basic') {
  const response = await oauth.revocationRequest(as, { client_id: client.client_id }, authFor(client, method), token,
    { ...insecure, additionalParameters: hint ? { token_type_hint: hint } : undefined })
  await oauth.processRevocationResponse(response)
}

// -- the flows ---------------------------------------------------------------------------------
const DISCOVERY = 'discovery (RFC 8414) with the issuer check'

await flow(DISCOVERY, async () => {
  const issuer = new URL(server)
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  as = await oauth.processDiscoveryResponse(issuer, response)
  for (const member of ['token_endpoint', 'jwks_uri', 'revocation_endpoint', 'introspection_endpoint']) {
    check(typeof as[member] === 'string', `metadata has no ${member}`)
  }
  return `issuer ${as.issuer}; grants ${(as.grant_types_supported ?? []).join(', ')}`
})

const sessions = {}

for (const [name, method] of [['basic', 'client_secret_basic'], ['post', 'client_secret_post'], ['public', 'none']]) {
  await flow(`password grant (genericTokenEndpointRequest), ${method}`, async () => {
    const client = registered(name)
    const token = await passwordGrant(client, method)
    const claims = await validateAccessToken(token.access_token, { sub: user.id, client_id: client.client_id })
    check(typeof claims.sid === 'string', 'no sid claim')
    sessions[name] = { client, method, token, claims }
    return `sid ${claims.sid}`
  }, { needs: 'password' })
}

await flow('validateJwtAccessToken (RFC 9068) refuses a changed token and another audience', async () => {
  const { token } = sessions.basic ?? {}
  if (!token) throw new Skip('no access token (the password grant failed)')
  const [header, payload, signature] = token.access_token.split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
  const forged = [header, Buffer.from(JSON.stringify({ ...claims, sub: 'mallory' })).toString('base64url'), signature].join('.')
  const request = (accessToken) => new Request(`${server}/api`, { headers: { authorization: `Bearer ${accessToken}` } })
  const rejection = (promise) => promise.then(() => undefined, (error) => error)
  const forgedError = await rejection(oauth.validateJwtAccessToken(as, request(forged), audience, insecure))
  check(forgedError, 'a token with a changed payload was accepted')
  const audienceError = await rejection(
    oauth.validateJwtAccessToken(as, request(token.access_token), 'https://other.example', insecure))
  check(audienceError?.code === oauth.JWT_CLAIM_COMPARISON, `another audience: ${audienceError && describe(audienceError)}`)
  return `changed payload: ${describe(forgedError)}`
})

await flow('bearer requests (RFC 6750) to the account API', async () => {
  const { token, claims } = sessions.basic ?? {}
  if (!token) throw new Skip('no access token (the password grant failed)')
  const me = await oauth.protectedResourceRequest(token.access_token, 'GET', new URL(`${server}/api/me`),
    undefined, undefined, insecure)
  check(me.status === 200, `GET /api/me answered ${me.status}`)
  const who = await me.json()
  check(who.sub === user.id && who.username === user.username, `GET /api/me: ${JSON.stringify(who)}`)
  // The sessions API needs the `sessions` scope: oauth4webapi reads the RFC 6750 §3 challenge.
  const challenge = await oauth.protectedResourceRequest(token.access_token, 'GET', new URL(`${server}/api/sessions`),
    undefined, undefined, insecure).then(() => undefined, (error) => error)
  check(challenge instanceof oauth.WWWAuthenticateChallengeError, `GET /api/sessions: ${challenge && describe(challenge)}`)
  const [bearer] = challenge.cause
  check(challenge.status === 403 && bearer.scheme === 'bearer' && bearer.parameters.error === 'insufficient_scope' &&
    bearer.parameters.scope === 'sessions', `the challenge: ${JSON.stringify(challenge.cause)}`)
  return `sub ${claims.sub}; /api/sessions asks for scope "sessions"`
})

await flow('refresh with rotation; a rotated-out refresh token is refused', async () => {
  for (const name of ['basic', 'post', 'public']) {
    const started = sessions[name]
    if (!started) throw new Skip(`no ${name} session (the password grant failed)`)
    const { client, method, token, claims } = started
    const first = token.refresh_token
    const second = await refresh(client, first, method)
    check(second.refresh_token && second.refresh_token !== first, `${method}: the refresh token did not rotate`)
    const secondClaims = await validateAccessToken(second.access_token, { sid: claims.sid, sub: user.id })
    check(secondClaims.jti !== claims.jti, `${method}: the new access token has the old jti`)
    const third = await refresh(client, second.refresh_token, method)
    check(third.refresh_token !== second.refresh_token, `${method}: the second refresh did not rotate`)
    // The first generation is two rotations old: reuse, even inside the grace window, and reuse
    // ends the device session, so the live token dies with it.
    await expectOAuthError(refresh(client, first, method), 'invalid_grant')
    await expectOAuthError(refresh(client, third.refresh_token, method), 'invalid_grant')
  }
  return 'client_secret_basic, client_secret_post, none'
}, { needs: 'refresh_token' })

const DPOP_FLOW = 'DPoP (RFC 9449): bound tokens got, refreshed and used at /api/me'

await flow(DPOP_FLOW, async () => {
  if (!config.clients?.dpop) throw new Skip('the run has no DPoP client')
  check((as.dpop_signing_alg_values_supported ?? []).includes('ES256'),
    `dpop_signing_alg_values_supported ${JSON.stringify(as.dpop_signing_alg_values_supported)}`)
  const client = { client_id: registered('dpop').client_id }
  const keyPair = await oauth.generateKeyPair('ES256')
  const DPoP = oauth.DPoP(client, keyPair)
  const signIn = await oauth.genericTokenEndpointRequest(as, client, oauth.None(), 'password',
    { username: user.username, password: user.password, scope: 'profile' }, { ...insecure, DPoP })
  const token = await oauth.processGenericTokenEndpointResponse(as, client, signIn)
  check(token.token_type === 'dpop', `token_type ${token.token_type}`)
  // validateJwtAccessToken would want a DPoP proof of its own request: the claims are read here, and
  // /api/me below checks the signature. The client's own RFC 7638 thumbprint must be the token's cnf.jkt.
  const claims = JSON.parse(Buffer.from(token.access_token.split('.')[1], 'base64url').toString())
  const jkt = await DPoP.calculateThumbprint()
  check(claims.sub === user.id && claims.cnf?.jkt === jkt, `sub ${claims.sub}, cnf ${JSON.stringify(claims.cnf)}`)
  // The client was created with --dpop: nothing without a proof. The refresh token is bound: a proof by
  // another key is refused too (and the token is not spent).
  await expectOAuthError(refresh(client, token.refresh_token, 'none'), 'invalid_dpop_proof')
  const thief = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))
  await expectOAuthError(oauth.refreshTokenGrantRequest(as, client, oauth.None(), token.refresh_token,
    { ...insecure, DPoP: thief }).then((response) => oauth.processRefreshTokenResponse(as, client, response)),
  'invalid_grant')
  const refreshed = await oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, oauth.None(), token.refresh_token, { ...insecure, DPoP }))
  check(refreshed.token_type === 'dpop' && refreshed.refresh_token !== token.refresh_token, 'the refresh did not rotate')
  const refreshedClaims = JSON.parse(Buffer.from(refreshed.access_token.split('.')[1], 'base64url').toString())
  check(refreshedClaims.sid === claims.sid && refreshedClaims.cnf?.jkt === jkt, 'the refreshed token: another session or key')
  const me = await oauth.protectedResourceRequest(refreshed.access_token, 'GET', new URL(`${server}/api/me`),
    undefined, undefined, { ...insecure, DPoP })
  check(me.status === 200, `GET /api/me with DPoP answered ${me.status}`)
  check((await me.json()).sub === user.id, 'GET /api/me: another user')
  // The same token as a bearer token is refused: a copied token is useless without the key.
  const asBearer = await oauth.protectedResourceRequest(refreshed.access_token, 'GET', new URL(`${server}/api/me`),
    undefined, undefined, insecure).then(() => undefined, (error) => error)
  check(asBearer instanceof oauth.WWWAuthenticateChallengeError && asBearer.status === 401,
    `the bound token as Bearer: ${asBearer && describe(asBearer)}`)
  return `jkt ${jkt}; refreshed, used at /api/me; refused without the key and as Bearer`
}, { needs: 'refresh_token' })

await flow('introspection (RFC 7662)', async () => {
  const client = registered('basic')
  const token = await passwordGrant(client, 'client_secret_basic', 'profile email')
  const claims = await validateAccessToken(token.access_token)
  const active = await introspect(token.access_token)
  check(active.active === true, 'a live access token introspects inactive')
  for (const [member, value] of Object.entries({
    sub: user.id, username: user.username, client_id: client.client_id, scope: 'profile email', sid: claims.sid,
    jti: claims.jti, exp: claims.exp, iss: as.issuer, token_type: 'Bearer',
  })) {
    check(active[member] === value, `${member} is ${JSON.stringify(active[member])}, expected ${JSON.stringify(value)}`)
  }
  const refreshInfo = await introspect(token.refresh_token, 'refresh_token')
  check(refreshInfo.active === true && refreshInfo.token_type === 'refresh_token' && refreshInfo.sid === claims.sid,
    `refresh token: ${JSON.stringify(refreshInfo)}`)
  const unknown = await introspect('not-a-token')
  check(JSON.stringify(unknown) === '{"active":false}', `an unknown token: ${JSON.stringify(unknown)}`)
  sessions.introspected = { client, token, claims }
})

await flow('revocation (RFC 7009)', async () => {
  const client = registered('basic')
  // Logging out: revoking the refresh token ends the device session and its access tokens.
  const loggedOut = await passwordGrant(client, 'client_secret_basic')
  await revoke(client, loggedOut.refresh_token, 'refresh_token')
  await expectOAuthError(refresh(client, loggedOut.refresh_token), 'invalid_grant')
  const dead = await introspect(loggedOut.access_token)
  check(JSON.stringify(dead) === '{"active":false}', `the access token of a revoked session: ${JSON.stringify(dead)}`)
  // Revoking an access token: that token dies, its session lives on.
  const kept = await passwordGrant(client, 'client_secret_basic')
  await revoke(client, kept.access_token, 'access_token')
  check((await introspect(kept.access_token)).active === false, 'a revoked access token introspects active')
  const after = await refresh(client, kept.refresh_token)
  check((await introspect(after.access_token)).active === true, 'the session of a revoked access token ended')
  // An unknown token is answered 200 (RFC 7009 §2.2), by a public client too.
  await revoke(registered('public'), 'not-a-token', undefined, 'none')
})

await flow('client credentials grant', async () => {
  const client = registered('machine')
  const response = await oauth.clientCredentialsGrantRequest(as, { client_id: client.client_id },
    oauth.ClientSecretBasic(client.client_secret), {}, insecure)
  const token = await oauth.processClientCredentialsResponse(as, { client_id: client.client_id }, response)
  check(token.token_type === 'bearer', `token_type ${token.token_type}`)
  check(token.refresh_token === undefined, 'a client-credentials token came with a refresh token')
  const claims = await validateAccessToken(token.access_token, { sub: client.client_id, client_id: client.client_id })
  check(claims.sid === undefined, 'a client-credentials token has a sid')
  const info = await introspect(token.access_token)
  check(info.active === true && info.client_id === client.client_id, `introspection: ${JSON.stringify(info)}`)
}, { needs: 'client_credentials' })

await flow('authorization code grant with PKCE (S256) and RFC 9207 iss', async () => {
  const client = registered('webapp')
  check(as.authorization_endpoint, 'the metadata has no authorization_endpoint')
  check((as.code_challenge_methods_supported ?? []).includes('S256'), 'S256 is not advertised')
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const url = new URL(as.authorization_endpoint)
  url.search = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: client.redirect_uri, scope: 'profile',
    state, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }).toString()
  const browser = new Browser(user)
  const walked = await browser.walk(url.href, client.redirect_uri)
  check(walked.location, `the browser ended on ${walked.url} (${walked.status}) instead of the redirect URI`)
  const clientMeta = { client_id: client.client_id }
  const auth = authFor(client, client.auth_method ?? 'client_secret_basic')
  const params = oauth.validateAuthResponse(as, clientMeta, new URL(walked.location), state)
  const response = await oauth.authorizationCodeGrantRequest(as, clientMeta, auth, params, client.redirect_uri,
    verifier, insecure)
  const token = await oauth.processAuthorizationCodeResponse(as, clientMeta, response)
  const claims = await validateAccessToken(token.access_token, { sub: user.id, client_id: client.client_id })
  check(typeof token.refresh_token === 'string', 'no refresh token')
  // A code is single-use.
  const replay = await oauth.authorizationCodeGrantRequest(as, clientMeta, auth, params, client.redirect_uri,
    verifier, insecure)
  await expectOAuthError(oauth.processAuthorizationCodeResponse(as, clientMeta, replay), 'invalid_grant')
  // The same signed-in browser, having consented, is sent straight back with a new code.
  const again = await browser.walk(url.href.replace(state, `${state}2`), client.redirect_uri)
  check(again.location && new URL(again.location).searchParams.get('code'), 'a second authorization needed the user again')
  return `sid ${claims.sid}`
}, { needs: 'authorization_code' })

await flow('device authorization grant (RFC 8628)', async () => {
  const client = registered('device')
  check(as.device_authorization_endpoint, 'the metadata has no device_authorization_endpoint')
  const clientMeta = { client_id: client.client_id }
  const auth = authFor(client, client.auth_method ?? 'none')
  const started = await oauth.processDeviceAuthorizationResponse(as, clientMeta,
    await oauth.deviceAuthorizationRequest(as, clientMeta, auth, { scope: 'profile' }, insecure))
  const poll = async () => oauth.processDeviceCodeResponse(as, clientMeta,
    await oauth.deviceCodeGrantRequest(as, clientMeta, auth, started.device_code, insecure))
  await expectOAuthError(poll(), 'authorization_pending')
  const browser = new Browser(user)
  const walked = await browser.walk(started.verification_uri_complete ?? started.verification_uri, null)
  check(walked.status === 200, `the approval page answered ${walked.status}`)
  let interval = started.interval ?? 5
  const deadline = Date.now() + 60_000
  for (;;) {
    await new Promise((done) => setTimeout(done, interval * 1000))
    try {
      const token = await poll()
      const claims = await validateAccessToken(token.access_token, { sub: user.id, client_id: client.client_id })
      await expectOAuthError(poll(), 'invalid_grant') // single-use
      return `sid ${claims.sid}`
    } catch (error) {
      if (!(error instanceof oauth.ResponseBodyError) || Date.now() > deadline) throw error
      if (error.error === 'slow_down') interval += 5
      else if (error.error !== 'authorization_pending') throw error
    }
  }
}, { needs: DEVICE_GRANT })

// -- the report --------------------------------------------------------------------------------
await finishRun(started, results, `${server} (issuer ${as?.issuer ?? 'unknown'})`)

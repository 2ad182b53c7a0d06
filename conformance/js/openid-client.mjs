// openid-client (panva's certified OpenID Connect relying party library) driven against a live authserver.
//
//   node openid-client.mjs --config run.json [--report ../results/openid-client.md]
//
// run.json names the server, the user and the relying party made for the run (tests/conformance/
// test_openid_client.py writes it after creating them with the `authserver` command):
//
//   {"server": "http://127.0.0.1:5000",     the URL the client is configured with: the expected issuer
//    "user": {"id", "username", "password"},
//    "client": {"client_id", "client_secret", "redirect_uri",   authorization_code + refresh_token,
//               "post_logout_redirect_uri"}}                       scope "openid profile email", client_secret_basic
//
// Every flow is one row of the Markdown report: passed, failed (with the reason) or skipped. The exit
// status is 1 when any flow failed (a failed discovery fails every flow after it), 2 on a usage error.
// Every endpoint comes from the discovery document.

import * as client from 'openid-client'

import { Browser } from './browser.mjs'
import { finishRun, startRun } from './run.mjs'

const started = await startRun('openid-client')
const run = started.config
const server = run.server.replace(/\/$/, '')
const user = run.user
const rp = run.client

// -- the run's bookkeeping ---------------------------------------------------------------------
const results = []
let config // the discovered configuration; undefined when discovery failed

function check(condition, message) {
  if (!condition) throw new Error(message)
}

function describe(error) {
  if (error instanceof client.ResponseBodyError) {
    return `${error.status} ${error.error}${error.error_description ? `: ${error.error_description}` : ''}`
  }
  const code = error?.code ? ` (${error.code})` : ''
  const cause = error?.cause?.message ? `: ${error.cause.message}` : ''
  return `${error?.message ?? error}${code}${cause}`
}

async function flow(name, body) {
  let result
  if (config === undefined && name !== DISCOVERY) {
    result = 'failed: not run, discovery failed'
  } else {
    try {
      const detail = await body()
      result = detail ? `passed: ${detail}` : 'passed'
    } catch (error) {
      result = `failed: ${describe(error)}`
    }
  }
  results.push({ flow: name, result })
  console.log(`${result.startsWith('failed') ? 'FAIL' : ' ok '} ${name}: ${result}`)
}

// The browser goes to the authorization URL (signing in and allowing as needed) and comes back to
// the redirect URI; openid-client checks the response (state, iss) and exchanges the code.
async function signIn(browser, parameters = {}, checks = {}) {
  const codeVerifier = client.randomPKCECodeVerifier()
  const nonce = client.randomNonce()
  const state = client.randomState()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: rp.redirect_uri, scope: 'openid profile email', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
    ...parameters,
  })
  const walked = await browser.walk(url.href, rp.redirect_uri)
  check(walked.location, `the browser ended on ${walked.url} (${walked.status}) instead of the redirect URI`)
  const tokens = await client.authorizationCodeGrant(config, new URL(walked.location), {
    pkceCodeVerifier: codeVerifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true, ...checks,
  })
  return { tokens, nonce }
}

// -- the flows ---------------------------------------------------------------------------------
const DISCOVERY = 'discovery (OpenID Connect Discovery 1.0) with the issuer check'
const browser = new Browser(user)
let signedIn // {tokens, claims} of the first sign-in

await flow(DISCOVERY, async () => {
  config = await client.discovery(new URL(server), rp.client_id, undefined, client.ClientSecretBasic(rp.client_secret),
    { execute: [client.allowInsecureRequests] }) // the test server is plain HTTP on loopback
  // Check the ID token's signature against the JWKS too, not only what TLS would vouch for.
  client.enableNonRepudiationChecks(config)
  const metadata = config.serverMetadata()
  for (const member of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint']) {
    check(typeof metadata[member] === 'string', `the document has no ${member}`)
  }
  check(metadata.id_token_signing_alg_values_supported?.includes('RS256'), 'RS256 is not offered for ID tokens')
  check(metadata.supportsPKCE(), 'PKCE (S256) is not offered')
  return `issuer ${metadata.issuer}`
})

await flow('authorization code flow with PKCE, state, nonce and iss; the ID token validated', async () => {
  const { tokens, nonce } = await signIn(browser)
  const claims = tokens.claims()
  check(claims.sub === user.id, `sub ${claims.sub}`)
  check(claims.aud === rp.client_id || claims.aud?.includes?.(rp.client_id), `aud ${claims.aud}`)
  check(claims.nonce === nonce, 'the nonce is not the one sent')
  check(typeof claims.sid === 'string' && typeof claims.auth_time === 'number', 'no sid or auth_time')
  check(claims.preferred_username === user.username, `preferred_username ${claims.preferred_username}`)
  check(claims.email === user.email && claims.email_verified === false, `email ${claims.email}`)
  check(typeof tokens.refresh_token === 'string', 'no refresh token')
  signedIn = { tokens, claims }
  return `sid ${claims.sid}`
})

await flow('UserInfo (Core 1.0 §5.3)', async () => {
  check(signedIn, 'no sign-in to use')
  const info = await client.fetchUserInfo(config, signedIn.tokens.access_token, signedIn.claims.sub)
  check(info.preferred_username === user.username && info.email === user.email, `userinfo ${JSON.stringify(info)}`)
})

await flow('refresh: a new ID token of the same sign-in and session, without nonce', async () => {
  check(signedIn, 'no sign-in to use')
  const refreshed = await client.refreshTokenGrant(config, signedIn.tokens.refresh_token)
  const claims = refreshed.claims()
  check(claims, 'no ID token in the refresh response')
  check(claims.sid === signedIn.claims.sid && claims.auth_time === signedIn.claims.auth_time,
    `sid ${claims.sid}, auth_time ${claims.auth_time}`)
  check(claims.nonce === undefined, 'a refresh ID token carries a nonce')
  check(refreshed.refresh_token !== signedIn.tokens.refresh_token, 'the refresh token did not rotate')
  // A retry of the same refresh inside the grace window gets the same successor, and a new ID token.
  const retried = await client.refreshTokenGrant(config, signedIn.tokens.refresh_token)
  check(retried.refresh_token === refreshed.refresh_token, 'a retry inside the grace window got another successor')
  check(retried.claims()?.sid === claims.sid, 'the retry has no ID token of the session')
})

let latest // the tokens of the prompt=none sign-in, which RP-initiated logout ends

await flow('prompt=none and max_age with the signed-in browser: straight back, auth_time checked', async () => {
  const { tokens } = await signIn(browser, { prompt: 'none', max_age: '3600' }, { maxAge: 3600 })
  const claims = tokens.claims()
  check(claims.sub === user.id && claims.sid !== signedIn?.claims.sid, 'not a new session of the same user')
  latest = tokens
  return `sid ${claims.sid}`
})

await flow('RP-initiated logout: the session ends, the browser is signed out, back with state', async () => {
  check(latest, 'no sign-in to end')
  const state = client.randomState()
  const url = client.buildEndSessionUrl(config, {
    id_token_hint: latest.id_token, post_logout_redirect_uri: rp.post_logout_redirect_uri, state,
  })
  const walked = await browser.walk(url.href, rp.post_logout_redirect_uri)
  check(walked.location, `the browser ended on ${walked.url} (${walked.status}) instead of the post-logout URI`)
  check(new URL(walked.location).searchParams.get('state') === state, `back without our state: ${walked.location}`)
  try {
    await client.refreshTokenGrant(config, latest.refresh_token)
    throw new Error('the ended session still refreshes')
  } catch (error) {
    if (!(error instanceof client.ResponseBodyError && error.error === 'invalid_grant')) throw error
  }
  try {
    await signIn(browser, { prompt: 'none' })
    throw new Error('the browser is still signed in')
  } catch (error) {
    if (!(error instanceof client.AuthorizationResponseError && error.error === 'login_required')) throw error
  }
})

await flow('prompt=none with a browser that is not signed in: login_required', async () => {
  try {
    await signIn(new Browser(user), { prompt: 'none' })
  } catch (error) {
    if (error instanceof client.AuthorizationResponseError && error.error === 'login_required') return
    throw error
  }
  throw new Error('expected login_required')
})

// -- the report --------------------------------------------------------------------------------
await finishRun(started, results, server)

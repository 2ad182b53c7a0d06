// A minimal browser for the server's pages (sign-in, consent, device approval), shared by the
// conformance scripts (oauth4webapi.mjs, openid-client.mjs).
//
// Keeps cookies, follows redirects by hand (so the one to the client's redirect URI is seen, not
// fetched), and submits the forms it finds: the sign-in form gets the user's credentials, a
// consent or device-approval form is approved. The pages are server-rendered HTML without script.
export class Browser {
  cookies = new Map()

  // `user`: {username, password}, typed into the sign-in form.
  constructor(user) {
    this.user = user
  }

  async request(url, init = {}) {
    const headers = new Headers(init.headers)
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '))
    const response = await fetch(url, { ...init, headers, redirect: 'manual' })
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const at = pair.indexOf('=')
      this.cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim())
    }
    return response
  }

  // Follow redirects and submit forms until a redirect leaves the server (to `stopAt`) or a page
  // has nothing left to submit. Returns {location} or {page, status}.
  async walk(url, stopAt, { maxSteps = 12 } = {}) {
    let response = await this.request(url)
    let current = url
    const submitted = new Set()
    for (let stepCount = 0; stepCount < maxSteps; stepCount++) {
      const location = response.headers.get('location')
      if (response.status >= 300 && response.status < 400 && location) {
        const next = new URL(location, current).href
        if (stopAt && next.startsWith(stopAt)) return { location: next }
        current = next
        response = await this.request(next)
        continue
      }
      const page = await response.text()
      const form = pickForm(page, submitted)
      if (response.status !== 200 || !form) return { page, status: response.status, url: current }
      submitted.add(form.key)
      const action = new URL(form.action || current, current).href
      const body = new URLSearchParams(form.fields)
      if ('username' in form.fields) body.set('username', this.user.username)
      if ('password' in form.fields) body.set('password', this.user.password)
      current = action
      response = await this.request(action, {
        method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', referer: current },
      })
    }
    throw new Error(`no redirect to ${stopAt} after ${maxSteps} steps`)
  }
}

function attributes(tag) {
  const found = {}
  for (const match of tag.matchAll(/([a-zA-Z_:-]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    found[match[1].toLowerCase()] = decodeEntities(match[3] ?? match[4])
  }
  return found
}

function decodeEntities(text) {
  return text.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
    .replace(/&#x27;|&#39;/g, "'").replace(/&#x2F;/g, '/')
}

// The form to submit: a sign-in form (it has a password field) or an approval form (a submit
// button saying allow/approve/consent/confirm/continue). Sign-out and deny forms are never picked.
function pickForm(page, submitted) {
  const forms = [...page.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)].map(([, open, inner]) => {
    const attrs = attributes(open)
    const fields = {}
    for (const [input] of inner.matchAll(/<input\b[^>]*>/gi)) {
      const a = attributes(input)
      if (a.name && a.type !== 'submit' && a.type !== 'checkbox') fields[a.name] = a.value ?? ''
      if (a.name && a.type === 'checkbox' && /\bchecked\b/i.test(input)) fields[a.name] = a.value ?? 'on'
    }
    const buttons = [...inner.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/gi)]
      .map(([, battrs, label]) => ({ ...attributes(battrs), label: label.replace(/<[^>]+>/g, '').trim() }))
    return { action: attrs.action, method: (attrs.method ?? 'get').toLowerCase(), fields, buttons, key: open + inner }
  }).filter((form) => form.method === 'post' && !submitted.has(form.key))
  const signIn = forms.find((form) => 'password' in form.fields)
  if (signIn) return signIn
  const approving = /allow|approve|authori[sz]e|consent|confirm|continue|yes/i
  const denying = /deny|cancel|reject|sign out|no\b/i
  for (const form of forms) {
    const button = form.buttons.find((b) => approving.test(`${b.label} ${b.value ?? ''}`) && !denying.test(b.label))
    if (button) {
      if (button.name) form.fields[button.name] = button.value ?? ''
      return form
    }
  }
  return undefined
}

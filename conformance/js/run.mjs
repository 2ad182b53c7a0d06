// What the conformance scripts (oauth4webapi.mjs, openid-client.mjs) share: reading the run's
// arguments and configuration, and writing the Markdown report whose rows are the flows.

import { readFile, writeFile, mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const here = dirname(fileURLToPath(import.meta.url))

// `library`: the npm package under test, whose name is the script's and the report's.
// Returns {config, report (its path), client ("<library> <version>")}; exits 2 on a usage error.
export async function startRun(library) {
  const { values: args } = parseArgs({
    options: {
      config: { type: 'string' },
      report: { type: 'string', default: resolve(here, '..', 'results', `${library}.md`) },
    },
  })
  if (!args.config) {
    console.error(`usage: node ${library}.mjs --config run.json [--report file.md]`)
    process.exit(2)
  }
  const config = JSON.parse(await readFile(args.config, 'utf8'))
  const pkg = JSON.parse(await readFile(resolve(here, 'node_modules', library, 'package.json'), 'utf8'))
  return { config, report: args.report, client: `${library} ${pkg.version}` }
}

// Write the report ({flow, result} rows: passed, skipped or failed) and exit: 1 if a flow failed.
export async function finishRun(run, results, serverLine) {
  const failed = results.filter((r) => r.result.startsWith('failed'))
  const cell = (text) => text.replace(/\|/g, '\\|').replace(/\s+/g, ' ')
  const report = [
    `# Conformance run: ${run.client.split(' ')[0]}`,
    '',
    `Client: ${run.client} on Node.js ${process.version}. Server: ${serverLine}.`,
    `Run at ${new Date().toISOString()}: ${results.length - failed.length} of ${results.length} flows passed or were skipped, ${failed.length} failed.`,
    '',
    '| client | flow | result |',
    '| --- | --- | --- |',
    ...results.map((r) => `| ${run.client} | ${cell(r.flow)} | ${cell(r.result)} |`),
    '',
  ].join('\n')
  await mkdir(dirname(resolve(run.report)), { recursive: true })
  await writeFile(run.report, report)
  console.log(`report: ${resolve(run.report)}`)
  process.exit(failed.length ? 1 : 0)
}

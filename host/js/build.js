// `npm run build`: transpiles each provider component with jco into gen/<vendor>/.
//
// The components are the very files the Rust host runs, built by `cargo build -p
// roster-components`; ROSTER_<VENDOR>_WASM overrides where each is read from.
//
// jco runs with `--instantiation sync`: gen/<vendor>/provider.js exports `instantiate(getCoreModule,
// imports)` instead of binding its imports once, at module load, to fixed modules. roster.js passes
// each instance its own `roster:provider/secrets` and `wasi:http/outgoing-handler` (the
// allow-listed wrapper in http.js), so two providers never share secrets or an allow-list, and
// it can replace an instance that trapped without waiting. (With jco's default ESM output those
// imports would be mapped with `--map roster:provider/secrets=./secrets.js` and
// `--map wasi:http/outgoing-handler=./http.js#outgoingHandler`, but each gen/<vendor>/ module is
// then one instance per process, and every vendor shares those modules' state.)
//
// ROSTER_MISBEHAVE_WASM, when set, also transpiles the test component guest/test-programs into
// gen/misbehave/ (for test/trap.test.js).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const guests = here('../../target/guests/wasm32-wasip2/guest/');
// The built-in vendors, as host/components/build.rs found them (guest crates marked
// `[package.metadata.roster] vendor`): the one list, written beside the built components.
const listing = here('../../target/guests/vendors.json');
if (!existsSync(listing)) {
  console.error(`${listing} does not exist; fix: cargo build -p roster-components (from the repository root)`);
  process.exit(1);
}
const BUILT = Object.fromEntries(JSON.parse(readFileSync(listing, 'utf8')).map((v) => [v.name, v.wasm]));
const VENDORS = [...Object.keys(BUILT), ...(process.env.ROSTER_MISBEHAVE_WASM ? ['misbehave'] : [])];

const jcoManifest = here('./node_modules/@bytecodealliance/jco/package.json');
if (!existsSync(jcoManifest)) {
  console.error('jco is not installed; fix: npm ci --prefix host/js');
  process.exit(1);
}
const { version: jcoVersion, bin } = JSON.parse(readFileSync(jcoManifest, 'utf8'));
const jco = here(`./node_modules/@bytecodealliance/jco/${typeof bin === 'string' ? bin : bin.jco}`);

for (const vendor of VENDORS) {
  const wasm = process.env[`ROSTER_${vendor.toUpperCase()}_WASM`] || BUILT[vendor] || `${guests}roster_${vendor}.wasm`;
  if (!existsSync(wasm)) {
    console.error(`${wasm} does not exist; fix: cargo build -p roster-components (from the repository root)`);
    process.exit(1);
  }
  const out = here(`./gen/${vendor}/`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const started = performance.now();
  execFileSync(
    process.execPath,
    [jco, 'transpile', wasm, '--out-dir', out, '--name', 'provider', '--instantiation', 'sync', '--quiet'],
    { stdio: 'inherit' },
  );
  const bytes = readFileSync(wasm);
  const source = {
    wasm,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes: bytes.length,
    jco: jcoVersion,
  };
  writeFileSync(`${out}source.json`, `${JSON.stringify(source, null, 2)}\n`);
  const ms = Math.round(performance.now() - started);
  console.log(`transpiled ${vendor}: ${wasm} (${bytes.length} bytes, sha256 ${source.sha256.slice(0, 12)}…) -> gen/${vendor}/ in ${ms} ms`);
}

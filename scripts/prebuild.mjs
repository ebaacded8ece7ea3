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
// Fails unless a prebuild for every supported line is there at the end, so a
// tarball can never go out without them.
import { existsSync, readdirSync } from 'node:fs';
import { buildPrebuilds, ensureNode, MAJORS, PREBUILDS, prebuildFile } from './lib/nodes.mjs';

const force = process.argv.includes('--force');
const nodes = MAJORS.map(ensureNode);
const built = buildPrebuilds(nodes, { force });
const missing = nodes.filter(({ abi }) => !existsSync(prebuildFile(abi)));
if (missing.length > 0) {
  console.error(`prebuild: no prebuild for ${missing.map((n) => `Node ${n.version} (ABI ${n.abi})`).join(', ')} in ${PREBUILDS}`);
  process.exit(1);
}
const shipped = new Set(nodes.map(({ abi }) => `stackful.abi${abi}.node`));
const extra = readdirSync(PREBUILDS).filter((f) => !shipped.has(f));
if (extra.length > 0) {
  console.error(`prebuild: ${PREBUILDS} holds prebuilds for no supported line (${extra.join(', ')}): remove them`);
  process.exit(1);
}
console.log(
  `prebuilds: ${nodes.map((n) => `Node ${n.version} (ABI ${n.abi})${built.includes(n) ? ' built' : ' up to date'}`).join(', ')}`,
);

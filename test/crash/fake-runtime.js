// Pretends to be another runtime, then loads stackful: it must refuse clearly.
// Usage: fake-runtime.js <v8-version> [platform] [arch]
'use strict';
const [v8, platform, arch] = process.argv.slice(2);
Object.defineProperty(process.versions, 'v8', { value: v8 });
if (platform) Object.defineProperty(process, 'platform', { value: platform });
if (arch) Object.defineProperty(process, 'arch', { value: arch });
try {
  require('stackful');
  console.log(JSON.stringify({ loaded: true }));
} catch (err) {
  console.log(JSON.stringify({ loaded: false, name: err.name, code: err.code, message: err.message }));
}

import assert from 'node:assert/strict';
import { checkRuntime, runtime, SUPPORTED_V8 } from 'stackful';
import { describeChild, report, runChild } from './helpers';

describe('runtime support', () => {
  it('reports this runtime as supported, with versions and CPU', () => {
    assert.equal(runtime.supported, true, runtime.reason);
    assert.equal(runtime.reason, '');
    assert.equal(runtime.node, process.versions.node);
    assert.equal(runtime.v8, process.versions.v8);
    assert.equal(runtime.arch, process.arch);
  });

  it('refuses a V8 version it has not been validated against, naming the supported ones', () => {
    const info = checkRuntime({ platform: 'linux', arch: 'x64', node: '99.0.0', v8: '99.1.0' });
    assert.equal(info.supported, false);
    assert.match(info.reason, /V8 99\.1\.0/);
    for (const [v8, node] of Object.entries(SUPPORTED_V8)) assert.ok(info.reason.includes(`${node} (V8 ${v8})`));
  });

  it('refuses another OS or CPU', () => {
    assert.match(checkRuntime({ platform: 'linux', arch: 'ia32', node: '20.0.0', v8: '11.3.1' }).reason, /linux-ia32/);
    assert.match(checkRuntime({ platform: 'darwin', arch: 'arm64', node: '20.0.0', v8: '11.3.1' }).reason, /darwin-arm64/);
    assert.match(checkRuntime({ platform: 'darwin', arch: 'x64', node: '20.0.0', v8: '11.3.1' }).reason, /darwin-x64.*supported: .* on linux-x64, linux-arm64/);
  });

  it('lets linux-arm64 through to the load-time probes, as linux-x64', () => {
    const info = checkRuntime({ platform: 'linux', arch: 'arm64', node: '24.0.0', v8: '13.6.233.17' });
    assert.deepEqual([info.supported, info.reason, info.arch], [true, '', 'arm64']);
  });

  it('fails at require() with UnsupportedRuntimeError when the V8 version is unknown', () => {
    const child = runChild('fake-runtime.js', ['99.1.0']);
    assert.equal(child.status, 0, describeChild(child));
    const r = report(child);
    assert.equal(r.loaded, false);
    assert.equal(r.name, 'UnsupportedRuntimeError');
    assert.equal(r.code, 'ERR_STACKFUL_UNSUPPORTED');
    assert.match(r.message, /stackful cannot run here: checked the V8 version: .* V8 99\.1\.0.*supported: Node 20 \(V8 11\.3\)/);
  });

  it('loads an unknown V8 line with a warning when STACKFUL_ALLOW_UNTESTED_V8=1 (the probes still decide)', () => {
    const info = checkRuntime({ platform: 'linux', arch: 'x64', node: '99.0.0', v8: '99.1.0' }, true);
    assert.equal(info.supported, true);
    assert.equal(info.untested, true);
    const child = runChild('fake-runtime.js', ['99.1.0'], { env: { STACKFUL_ALLOW_UNTESTED_V8: '1' } });
    assert.equal(child.status, 0, describeChild(child));
    assert.equal(report(child).loaded, true);
    assert.match(child.stderr, /STACKFUL_UNTESTED_V8.*not been validated against V8 99\.1\.0/);
  });

  it('the override does not let another CPU through', () => {
    assert.equal(checkRuntime({ platform: 'linux', arch: 'riscv64', node: '20.0.0', v8: '11.3.1' }, true).supported, false);
  });

  it('fails at require() when the CPU is not supported', () => {
    const child = runChild('fake-runtime.js', [process.versions.v8, 'linux', 'riscv64']);
    const r = report(child);
    assert.equal(r.loaded, false);
    assert.equal(r.code, 'ERR_STACKFUL_UNSUPPORTED');
    assert.match(r.message, /linux-riscv64/);
  });
});

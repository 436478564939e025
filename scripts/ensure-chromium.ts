// Makes sure the Chromium that Playwright drives is installed, before `playwright test`.
// Playwright cannot download its own browser here, so the tests use Debian's package.
// As root it installs the package with apt-get; otherwise it says exactly what to run.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where playwright.config.ts expects the browser; CHROMIUM_PATH overrides it in both places. */
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const APT_PACKAGE = 'chromium';

function printVersion(): void {
  const version = spawnSync(CHROMIUM_PATH, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  const text = (version.stdout ?? '').trim();
  console.log(`ensure-chromium: ${CHROMIUM_PATH} is present${text ? ` (${text})` : ''}`);
}

function run(command: string, args: string[]): void {
  console.log(`ensure-chromium: running: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) {
    console.error(`ensure-chromium: could not run ${command}: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    console.error(`ensure-chromium: ${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
    process.exit(1);
  }
}

function main(): void {
  if (existsSync(CHROMIUM_PATH)) {
    printVersion();
    return;
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    console.error(
      [
        `ensure-chromium: Chromium is missing at ${CHROMIUM_PATH}, and this user is not root so it cannot be installed here.`,
        'Install the Debian package, then run the browser tests again:',
        '',
        `    sudo apt-get update && sudo apt-get install -y ${APT_PACKAGE}`,
        '',
        'Or point CHROMIUM_PATH at an installed Chromium binary.',
      ].join('\n'),
    );
    process.exit(1);
  }
  console.log(`ensure-chromium: ${CHROMIUM_PATH} is missing; installing the Debian package "${APT_PACKAGE}" with apt-get.`);
  run('apt-get', ['update']);
  run('apt-get', ['install', '-y', APT_PACKAGE]);
  if (!existsSync(CHROMIUM_PATH)) {
    console.error(`ensure-chromium: apt-get finished but ${CHROMIUM_PATH} is still missing.`);
    process.exit(1);
  }
  printVersion();
}

main();

// The dispatcher's pages, built in memory at start-up: esbuild bundles each page's
// entry point (Lit, TypeBox's Value and our client) into one ESM file, and the HTML
// pages are read from web/pages. Nothing is written to disk.

import { readFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface WebAsset {
  contentType: string;
  body: Buffer;
}

export interface BuildWebAssetsOptions {
  /** Minify the bundles (default true). */
  minify?: boolean;
  /** Append an inline source map to each bundle (default false: the pages stay small). */
  sourcemap?: boolean;
}

/** The repository's root, from this file's place in server/dispatcher/. */
const ROOT_DIRECTORY = fileURLToPath(new URL('../../', import.meta.url));

/** Bundle name (served as /assets/<name>.js) -> entry point, relative to the root. */
export const WEB_ENTRY_POINTS: Readonly<Record<string, string>> = {
  scoreboard: 'web/src/olympix-scoreboard.ts',
  cauldron: 'web/src/olympix-cauldron.ts',
  cluster: 'web/src/olympix-cluster.ts',
};

/** URL path -> page file, relative to the root. */
export const WEB_PAGES: Readonly<Record<string, string>> = {
  '/': 'web/pages/index.html',
  '/index.html': 'web/pages/index.html',
  '/cauldron': 'web/pages/cauldron.html',
  '/cauldron.html': 'web/pages/cauldron.html',
  '/cluster': 'web/pages/cluster.html',
  '/cluster.html': 'web/pages/cluster.html',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

function contentTypeOf(path: string): string {
  const dot = path.lastIndexOf('.');
  return CONTENT_TYPES[dot >= 0 ? path.slice(dot) : ''] ?? 'application/octet-stream';
}

/** Builds every page and bundle; resolves to URL path -> asset. Throws with esbuild's messages when a bundle does not build. */
export async function buildWebAssets(options: BuildWebAssetsOptions = {}): Promise<Map<string, WebAsset>> {
  const result = await build({
    absWorkingDir: ROOT_DIRECTORY,
    entryPoints: WEB_ENTRY_POINTS,
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: options.minify ?? true,
    sourcemap: options.sourcemap ? 'inline' : false,
    // Bundles live at /assets/<name>.js; outdir is only the prefix of the in-memory paths.
    outdir: 'assets',
    entryNames: '[name]',
    tsconfig: 'tsconfig.json',
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });

  const assets = new Map<string, WebAsset>();
  const outdir = resolve(ROOT_DIRECTORY, 'assets') + sep;
  for (const file of result.outputFiles) {
    const relative = file.path.startsWith(outdir) ? file.path.slice(outdir.length) : file.path.slice(file.path.lastIndexOf(sep) + 1);
    const urlPath = `/assets/${relative.split(sep).join('/')}`;
    assets.set(urlPath, { contentType: contentTypeOf(urlPath), body: Buffer.from(file.contents) });
  }

  const pageBodies = new Map<string, Buffer>();
  for (const [urlPath, file] of Object.entries(WEB_PAGES)) {
    let body = pageBodies.get(file);
    if (body === undefined) {
      body = await readFile(join(ROOT_DIRECTORY, file));
      pageBodies.set(file, body);
    }
    assets.set(urlPath, { contentType: contentTypeOf(file), body });
  }

  for (const [name] of Object.entries(WEB_ENTRY_POINTS)) {
    if (!assets.has(`/assets/${name}.js`)) throw new Error(`web assets: the bundle /assets/${name}.js was not produced`);
  }
  return assets;
}

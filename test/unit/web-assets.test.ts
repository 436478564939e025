// Checks that the dispatcher's pages build in memory: both bundles exist, hold their
// custom element, the HTML pages point at bundles that the map serves, and every
// asset has a content type.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { buildWebAssets, type WebAsset } from '../../server/dispatcher/web-assets.js';

describe('buildWebAssets', () => {
  let assets: Map<string, WebAsset>;

  before(async () => {
    assets = await buildWebAssets();
  });

  it('serves the scoreboard at / and /index.html and the cauldron at /cauldron', () => {
    for (const path of ['/', '/index.html', '/cauldron']) {
      const asset = assets.get(path);
      assert.ok(asset, `${path} is served`);
      assert.equal(asset.contentType, 'text/html; charset=utf-8');
    }
    assert.match(assets.get('/')!.body.toString(), /<olympix-scoreboard>/);
    assert.match(assets.get('/cauldron')!.body.toString(), /<olympix-cauldron>/);
  });

  it('bundles each page into one ESM file that defines its custom element', () => {
    const scoreboard = assets.get('/assets/scoreboard.js');
    const cauldron = assets.get('/assets/cauldron.js');
    assert.ok(scoreboard && cauldron);
    assert.equal(scoreboard.contentType, 'text/javascript; charset=utf-8');
    assert.match(scoreboard.body.toString(), /olympix-scoreboard/);
    assert.match(cauldron.body.toString(), /olympix-cauldron/);
    for (const bundle of [scoreboard, cauldron]) {
      const text = bundle.body.toString();
      assert.doesNotMatch(text, /^\s*import\s/m, 'no import left for the browser to resolve');
      assert.doesNotMatch(text, /new Function\(/, 'no eval-based validation in the browser');
    }
  });

  it('points every page at a script the map serves', () => {
    for (const [path, asset] of assets) {
      if (!asset.contentType.startsWith('text/html')) continue;
      const scripts = [...asset.body.toString().matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((match) => match[1]);
      assert.ok(scripts.length > 0, `${path} loads a script`);
      for (const script of scripts) assert.ok(assets.has(script!), `${path} loads ${script}, which is served`);
      assert.doesNotMatch(asset.body.toString(), /https?:\/\//, `${path} loads nothing from another host`);
    }
  });
});

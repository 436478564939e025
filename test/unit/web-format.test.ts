// Checks the pages' pure helpers: "last updated at" formatting (never for null, local
// time with seconds and milliseconds) and the cauldron's input checks.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkToken, parseScoreForm } from '../../web/src/cauldron-validation.js';
import { formatUpdatedAt, formatValue } from '../../web/src/format.js';

// Local time is what the page shows; pin the zone so the expected strings are fixed.
process.env.TZ = 'UTC';

describe('formatUpdatedAt', () => {
  const now = Date.UTC(2024, 6, 26, 18, 0, 0);
  const table: Array<[input: number | null, expected: string]> = [
    [null, 'never'],
    [Date.UTC(2024, 6, 26, 14, 3, 27, 45), '14:03:27.045'],
    [Date.UTC(2024, 6, 26, 0, 0, 0, 0), '00:00:00.000'],
    [Date.UTC(2024, 6, 25, 23, 59, 59, 999), '2024-07-25 23:59:59.999'],
    [0, '1970-01-01 00:00:00.000'],
    [Number.NaN, 'never'],
  ];
  for (const [input, expected] of table) {
    it(`${String(input)} -> ${expected}`, () => assert.equal(formatUpdatedAt(input, now), expected));
  }
  it('shows values plainly, with at most three decimals', () => {
    assert.equal(formatValue(3), '3');
    assert.equal(formatValue(-12), '-12');
    assert.equal(formatValue(61.23456), '61.235');
    assert.equal(formatValue(0.1 + 0.2), '0.3');
  });
});

describe('parseScoreForm', () => {
  it('keeps the filled fields, as numbers, and skips empty ones', () => {
    assert.deepEqual(parseScoreForm([['Gaul', ' 3 '], ['Rome', ''], ['Iberia', '12,5'], ['Egypt', '-1e2']]), {
      ok: true,
      scores: { Gaul: 3, Iberia: 12.5, Egypt: -100 },
    });
  });
  it('refuses an empty form', () => {
    const result = parseScoreForm([['Gaul', ''], ['Rome', '  ']]);
    assert.equal(result.ok, false);
  });
  const bad: Array<[text: string, pattern: RegExp]> = [
    ['abc', /not a number/],
    ['3x', /not a number/],
    ['Infinity', /not a number/],
    ['0x10', /not a number/],
    ['1e10', /between/],
  ];
  for (const [text, pattern] of bad) {
    it(`refuses "${text}", naming the team`, () => {
      const result = parseScoreForm([['Gaul', '1'], ['Rome', text]]);
      assert.equal(result.ok, false);
      if (!result.ok) {
        assert.match(result.message, pattern);
        assert.match(result.fieldErrors.Rome ?? '', /^Rome: /);
        assert.equal(result.fieldErrors.Gaul, undefined);
      }
    });
  }
});

describe('checkToken', () => {
  it('trims and accepts a printable token, refuses empty or odd ones', () => {
    assert.deepEqual(checkToken('  s3cret-token '), { ok: true, token: 's3cret-token' });
    assert.equal(checkToken('').ok, false);
    assert.equal(checkToken('with space').ok, false);
    assert.equal(checkToken('x'.repeat(600)).ok, false);
  });
});

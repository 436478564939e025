import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bearerToken, originAllowed, secretsEqual } from '../../server/auth.js';

describe('secretsEqual', () => {
  test('is true only for identical strings, whatever their lengths', () => {
    // Checks a table of pairs, including different lengths, case, prefixes and non-ASCII text.
    const secret = 'a-test-token-of-enough-length';
    const table: Array<[given: string, expected: string, equal: boolean]> = [
      [secret, secret, true],
      ['', '', true],
      ['', secret, false],
      [secret.slice(0, -1), secret, false],
      [secret + 'x', secret, false],
      [secret.toUpperCase(), secret, false],
      [` ${secret}`, secret, false],
      ['é', 'é', true],
      ['é', 'e\u0301', false],
      ['x'.repeat(10_000), 'x'.repeat(10_000), true],
      ['x'.repeat(10_000), 'x'.repeat(9_999) + 'y', false],
    ];
    for (const [given, expected, equal] of table) {
      assert.equal(secretsEqual(given, expected), equal, `${JSON.stringify(given.slice(0, 20))} vs ${JSON.stringify(expected.slice(0, 20))}`);
    }
  });
});

describe('bearerToken', () => {
  test('extracts the token of "Bearer <token>" and nothing else', () => {
    // Checks a table of Authorization header values, including arrays and undefined.
    const table: Array<[header: string | string[] | undefined, token: string | null]> = [
      ['Bearer abc', 'abc'],
      ['bearer abc', 'abc'],
      ['BEARER abc', 'abc'],
      ['Bearer    abc', 'abc'],
      ['Bearer abc  ', 'abc'],
      ['Bearer a-test-token-of-enough-length', 'a-test-token-of-enough-length'],
      ['Bearer ~!@#$%^&*()', '~!@#$%^&*()'],
      ['Bearer abc def', null],
      ['Bearer', null],
      ['Bearer ', null],
      ['Bearerabc', null],
      ['Basic YWxhZGRpbjpvcGVu', null],
      [' Bearer abc', null],
      ['Bearer\tabc', null],
      ['Token abc', null],
      ['abc', null],
      ['', null],
      [undefined, null],
      [['Bearer abc'], null],
      [['Bearer abc', 'Bearer def'], null],
    ];
    for (const [header, token] of table) assert.equal(bearerToken(header), token, JSON.stringify(header));
  });
});

describe('originAllowed', () => {
  test('allows no Origin, a listed Origin, and any Origin when "*" is listed', () => {
    // Checks a table of origins against three allow-lists.
    const listed = new Set(['http://127.0.0.1:4000', 'https://scores.example']);
    const star = new Set(['*']);
    const empty = new Set<string>();
    const table: Array<[origin: string | undefined, allowed: ReadonlySet<string>, expected: boolean]> = [
      [undefined, listed, true],
      [undefined, empty, true],
      ['http://127.0.0.1:4000', listed, true],
      ['https://scores.example', listed, true],
      ['http://evil.example', listed, false],
      ['http://127.0.0.1:4001', listed, false],
      ['http://localhost:4000', listed, false],
      ['http://127.0.0.1:4000/', listed, false],
      ['HTTP://127.0.0.1:4000', listed, false],
      ['null', listed, false],
      ['', listed, false],
      ['http://evil.example', star, true],
      ['null', star, true],
      ['http://127.0.0.1:4000', empty, false],
    ];
    for (const [origin, allowed, expected] of table) {
      assert.equal(originAllowed(origin, allowed), expected, `${String(origin)} in ${[...allowed].join(',') || '{}'}`);
    }
  });
});

// Tests for src/integrity/hex.ts: lowercase hex round-trips and strict rejection of malformed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromHex, isHex, toHex, IntegrityError } from '../../src/integrity/hex.js';

test('toHex/fromHex round-trip (property)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      const h = toHex(b);
      assert.match(h, /^[0-9a-f]*$/);
      assert.equal(h.length, b.length * 2);
      assert.deepEqual(fromHex(h), b);
      assert.deepEqual(fromHex(h, b.length), b);
      assert.ok(isHex(h, b.length));
    }),
  );
});

test('known values', () => {
  assert.equal(toHex(new Uint8Array([0, 1, 0x7f, 0x80, 0xab, 0xff])), '00017f80abff');
  assert.deepEqual(fromHex(''), new Uint8Array(0));
  assert.deepEqual(fromHex('00ff10'), new Uint8Array([0, 255, 16]));
});

test('fromHex rejects malformed input with BF_HEX_INVALID', () => {
  const bad: Array<[string, number | undefined]> = [
    ['0', undefined], ['abc', undefined], ['zz', undefined], ['0g', undefined], ['AB', undefined],
    ['aB', undefined], [' 00', undefined], ['00 ', undefined], ['0x00', undefined], ['-1', undefined],
    ['00', 2], ['0000', 1], ['', 32], ['é0', undefined],
  ];
  for (const [s, len] of bad) {
    assert.throws(() => fromHex(s, len), (e: unknown) => e instanceof IntegrityError && e instanceof Error && e.code === 'BF_HEX_INVALID', JSON.stringify(s));
    assert.equal(isHex(s, len), false, JSON.stringify(s));
  }
  assert.throws(() => fromHex(42 as unknown as string), { code: 'BF_HEX_INVALID' });
  assert.equal(isHex(42), false);
});

test('fromHex rejects any single non-hex character at any position (property)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 40 }),
      fc.nat(),
      fc.string({ minLength: 1, maxLength: 1 }).filter((c) => !/^[0-9a-f]$/.test(c)),
      (b, p, c) => {
        const h = toHex(b);
        const at = p % h.length;
        const s = h.slice(0, at) + c + h.slice(at + 1);
        assert.throws(() => fromHex(s), { code: 'BF_HEX_INVALID' });
      },
    ),
  );
});

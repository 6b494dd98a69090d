// Slots (the one counting semaphore): a waiter that is cancelled leaves the queue without taking a slot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Slots } from '../src/slots.js';
import { isBlockFrameError } from '../src/errors.js';

test('an aborted waiter gets BF_ABORTED, never runs, and the slot order of the others holds', async () => {
  const slots = new Slots(1);
  const ran: string[] = [];
  const first = slots.run(async () => {
    await sleep(30);
    ran.push('first');
  });
  const ac = new AbortController();
  const cancelled = slots.run(async () => void ran.push('cancelled'), ac.signal);
  const third = slots.run(async () => void ran.push('third'));
  assert.equal(slots.waiting, 2);
  ac.abort();
  await assert.rejects(cancelled, (e) => isBlockFrameError(e) && e.code === 'BF_ABORTED');
  assert.equal(slots.waiting, 1);
  await Promise.all([first, third]);
  assert.deepEqual(ran, ['first', 'third']);
  await assert.rejects(slots.run(async () => undefined, ac.signal), (e) => isBlockFrameError(e) && e.code === 'BF_ABORTED');
});

test('a size below 1 is refused', () => {
  assert.throws(() => new Slots(0), RangeError);
});

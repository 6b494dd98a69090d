// The whole-file hash of a commit from its 64 KiB units' chaining values, merged in file order as blocks finish,
// so the data pass may read the input in any order (a stripe's segments side by side) and still hash it once.
import { BlockFrameError } from '../../errors.js';
import { parentCV } from '../../integrity/blake3-cv.js';
import { toHex } from '../../integrity/hex.js';

const CV_LEN = 32;

/**
 * BLAKE3 of a message of `units` units (unitCVs' definition, docs/FORMAT.md §12.1) from the units' chaining values,
 * given in order, any number at a time. Memory: one chaining value per level of the tree (log2 of the units), not
 * one per unit. The result equals rootFromCVs over all of them (the same left-heavy merge, done incrementally).
 */
export class CvMerger {
  /** Complete subtrees, largest (left-most) first. */
  private readonly stack: Uint8Array[] = [];
  private merged = 0;
  /** The latest unit: held back until another follows, since the last unit merges differently. */
  private last: Uint8Array | null = null;

  constructor(private readonly units: number) {}

  /** Append the next units' values (32 bytes each, in file order). */
  push(cvs: Uint8Array): void {
    for (let o = 0; o < cvs.length; o += CV_LEN) {
      if (this.last) this.commit(this.last);
      this.last = cvs.slice(o, o + CV_LEN);
    }
  }

  /** After unit i (not the last): merge once per trailing zero bit of i + 1 (rootFromCVs' rule). */
  private commit(cv: Uint8Array): void {
    this.stack.push(cv);
    this.merged++;
    for (let t = this.merged; t % 2 === 0; t /= 2) {
      const right = this.stack.pop()!;
      const left = this.stack.pop()!;
      this.stack.push(parentCV(left, right, false));
    }
  }

  /** The message's hash (hex). BF_INTERNAL unless exactly `units` values were pushed. */
  digestHex(): string {
    if (!this.last || this.merged + 1 !== this.units) throw new BlockFrameError('BF_INTERNAL', `file hash: ${this.merged + (this.last ? 1 : 0)} unit values for ${this.units} units`);
    let out = this.last;
    // One unit: its value already is the hash. Otherwise the last unit folds into every stacked subtree from the right.
    for (let d = this.stack.length - 1; d >= 0; d--) out = parentCV(this.stack[d]!, out, d === 0);
    return toHex(out);
  }
}

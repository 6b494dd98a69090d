// AssemblyScript SIMD kernel: GF(2^8) split-nibble (i8x16.swizzle) matrix times shards, in groups of up to 4 rows.
//
// Memory layout (all prepared by src/codec/kernel-wasm.ts):
//   tables : for coefficient (r, c) 32 bytes at tbl + (r * cols + c) * 32:
//            bytes 0..15 = coef * n (n = 0..15, the low nibble), bytes 16..31 = coef * (n << 4).
//   ins    : cols u32 addresses, input c starts at load<u32>(ins + 4c); outs: rows u32 addresses of the outputs.
//   The kernel processes bytes [p0, p0 + n) of every shard, n a multiple of 32; the driver gives it the 32-byte
//   multiple of a shard in place (zero-copy) or a padded copy of the ragged tail, so nothing past a shard's
//   end is ever read or written.
// Multiplication by c, per byte b: c * b = c * (b & 15) XOR c * (b & 0xf0) = lo[b & 15] XOR hi[b >> 4], two
// 16-entry lookups, i.e. one swizzle each (the ISA-L approach; see docs/codec.md).

/** memory.copy of n bytes: for shared memory V8 runs it at twice the speed of TypedArray.prototype.set. */
export function copy(dst: usize, src: usize, n: usize): void {
  memory.copy(dst, src, n);
}

/** First free byte after static data; JS places its buffers from here on. */
export function heapBase(): usize {
  return __heap_base;
}

// @ts-ignore: decorator
@inline function mulv(tlo: v128, thi: v128, lo: v128, hi: v128): v128 {
  return v128.xor(i8x16.swizzle(tlo, lo), i8x16.swizzle(thi, hi));
}

// @ts-ignore: decorator
@inline function lowNib(v: v128): v128 {
  return v128.and(v, i8x16.splat(0x0f));
}

// @ts-ignore: decorator
@inline function highNib(v: v128): v128 {
  return v128.and(i16x8.shr_u(v, 4), i8x16.splat(0x0f));
}

/** An accumulator's start: the output's bytes when accumulating over a later block of columns, else zero. */
// @ts-ignore: decorator
@inline function init(acc: bool, at: usize): v128 {
  return acc ? v128.load(at) : i8x16.splat(0);
}

// @ts-ignore: decorator
@inline function addr(list: usize, i: i32): usize {
  return <usize>load<u32>(list + (<usize>i << 2));
}

// groupN: N multiplied rows at once, 32 bytes per step, so each input vector is loaded once per group.
// groupXN: the same with one more, first, row whose coefficients are all 1 (parity 0 of every encode is the
// plain XOR of the data, docs/codec.md): it only XORs the inputs, with no table lookups.

function group4(tbl: usize, rb: usize, cols: i32, ins: usize, outs: usize, p0: usize, end: usize, acc: bool): void {
  const o0 = addr(outs, 0), o1 = addr(outs, 1), o2 = addr(outs, 2), o3 = addr(outs, 3);
  for (let p = p0; p < end; p += 32) {
    let a0 = init(acc, o0 + p), a1 = init(acc, o0 + p + 16), b0 = init(acc, o1 + p), b1 = init(acc, o1 + p + 16);
    let c0 = init(acc, o2 + p), c1 = init(acc, o2 + p + 16), d0 = init(acc, o3 + p), d1 = init(acc, o3 + p + 16);
    let t = tbl;
    for (let c = 0; c < cols; c++) {
      const ip = addr(ins, c) + p;
      const v0 = v128.load(ip), v1 = v128.load(ip, 16);
      const l0 = lowNib(v0), h0 = highNib(v0), l1 = lowNib(v1), h1 = highNib(v1);
      let tl = v128.load(t), th = v128.load(t, 16);
      a0 = v128.xor(a0, mulv(tl, th, l0, h0)); a1 = v128.xor(a1, mulv(tl, th, l1, h1));
      tl = v128.load(t + rb); th = v128.load(t + rb, 16);
      b0 = v128.xor(b0, mulv(tl, th, l0, h0)); b1 = v128.xor(b1, mulv(tl, th, l1, h1));
      tl = v128.load(t + 2 * rb); th = v128.load(t + 2 * rb, 16);
      c0 = v128.xor(c0, mulv(tl, th, l0, h0)); c1 = v128.xor(c1, mulv(tl, th, l1, h1));
      tl = v128.load(t + 3 * rb); th = v128.load(t + 3 * rb, 16);
      d0 = v128.xor(d0, mulv(tl, th, l0, h0)); d1 = v128.xor(d1, mulv(tl, th, l1, h1));
      t += 32;
    }
    v128.store(o0 + p, a0); v128.store(o0 + p, a1, 16);
    v128.store(o1 + p, b0); v128.store(o1 + p, b1, 16);
    v128.store(o2 + p, c0); v128.store(o2 + p, c1, 16);
    v128.store(o3 + p, d0); v128.store(o3 + p, d1, 16);
  }
}

function group3(tbl: usize, rb: usize, cols: i32, ins: usize, outs: usize, p0: usize, end: usize, acc: bool, ones: bool): void {
  const o0 = addr(outs, 0), o1 = addr(outs, 1), o2 = addr(outs, 2);
  if (ones) {
    // Row 0 is the XOR row; rows 1 and 2 use tables tbl + rb and tbl + 2 rb.
    for (let p = p0; p < end; p += 32) {
      let x0 = init(acc, o0 + p), x1 = init(acc, o0 + p + 16), b0 = init(acc, o1 + p), b1 = init(acc, o1 + p + 16);
      let c0 = init(acc, o2 + p), c1 = init(acc, o2 + p + 16);
      let t = tbl + rb;
      for (let c = 0; c < cols; c++) {
        const ip = addr(ins, c) + p;
        const v0 = v128.load(ip), v1 = v128.load(ip, 16);
        x0 = v128.xor(x0, v0); x1 = v128.xor(x1, v1);
        const l0 = lowNib(v0), h0 = highNib(v0), l1 = lowNib(v1), h1 = highNib(v1);
        let tl = v128.load(t), th = v128.load(t, 16);
        b0 = v128.xor(b0, mulv(tl, th, l0, h0)); b1 = v128.xor(b1, mulv(tl, th, l1, h1));
        tl = v128.load(t + rb); th = v128.load(t + rb, 16);
        c0 = v128.xor(c0, mulv(tl, th, l0, h0)); c1 = v128.xor(c1, mulv(tl, th, l1, h1));
        t += 32;
      }
      v128.store(o0 + p, x0); v128.store(o0 + p, x1, 16);
      v128.store(o1 + p, b0); v128.store(o1 + p, b1, 16);
      v128.store(o2 + p, c0); v128.store(o2 + p, c1, 16);
    }
    return;
  }
  for (let p = p0; p < end; p += 32) {
    let a0 = init(acc, o0 + p), a1 = init(acc, o0 + p + 16), b0 = init(acc, o1 + p), b1 = init(acc, o1 + p + 16);
    let c0 = init(acc, o2 + p), c1 = init(acc, o2 + p + 16);
    let t = tbl;
    for (let c = 0; c < cols; c++) {
      const ip = addr(ins, c) + p;
      const v0 = v128.load(ip), v1 = v128.load(ip, 16);
      const l0 = lowNib(v0), h0 = highNib(v0), l1 = lowNib(v1), h1 = highNib(v1);
      let tl = v128.load(t), th = v128.load(t, 16);
      a0 = v128.xor(a0, mulv(tl, th, l0, h0)); a1 = v128.xor(a1, mulv(tl, th, l1, h1));
      tl = v128.load(t + rb); th = v128.load(t + rb, 16);
      b0 = v128.xor(b0, mulv(tl, th, l0, h0)); b1 = v128.xor(b1, mulv(tl, th, l1, h1));
      tl = v128.load(t + 2 * rb); th = v128.load(t + 2 * rb, 16);
      c0 = v128.xor(c0, mulv(tl, th, l0, h0)); c1 = v128.xor(c1, mulv(tl, th, l1, h1));
      t += 32;
    }
    v128.store(o0 + p, a0); v128.store(o0 + p, a1, 16);
    v128.store(o1 + p, b0); v128.store(o1 + p, b1, 16);
    v128.store(o2 + p, c0); v128.store(o2 + p, c1, 16);
  }
}

function group2(tbl: usize, rb: usize, cols: i32, ins: usize, outs: usize, p0: usize, end: usize, acc: bool, ones: bool): void {
  const o0 = addr(outs, 0), o1 = addr(outs, 1);
  if (ones) {
    for (let p = p0; p < end; p += 32) {
      let x0 = init(acc, o0 + p), x1 = init(acc, o0 + p + 16), b0 = init(acc, o1 + p), b1 = init(acc, o1 + p + 16);
      let t = tbl + rb;
      for (let c = 0; c < cols; c++) {
        const ip = addr(ins, c) + p;
        const v0 = v128.load(ip), v1 = v128.load(ip, 16);
        x0 = v128.xor(x0, v0); x1 = v128.xor(x1, v1);
        const tl = v128.load(t), th = v128.load(t, 16);
        b0 = v128.xor(b0, mulv(tl, th, lowNib(v0), highNib(v0)));
        b1 = v128.xor(b1, mulv(tl, th, lowNib(v1), highNib(v1)));
        t += 32;
      }
      v128.store(o0 + p, x0); v128.store(o0 + p, x1, 16);
      v128.store(o1 + p, b0); v128.store(o1 + p, b1, 16);
    }
    return;
  }
  for (let p = p0; p < end; p += 32) {
    let a0 = init(acc, o0 + p), a1 = init(acc, o0 + p + 16), b0 = init(acc, o1 + p), b1 = init(acc, o1 + p + 16);
    let t = tbl;
    for (let c = 0; c < cols; c++) {
      const ip = addr(ins, c) + p;
      const v0 = v128.load(ip), v1 = v128.load(ip, 16);
      const l0 = lowNib(v0), h0 = highNib(v0), l1 = lowNib(v1), h1 = highNib(v1);
      let tl = v128.load(t), th = v128.load(t, 16);
      a0 = v128.xor(a0, mulv(tl, th, l0, h0)); a1 = v128.xor(a1, mulv(tl, th, l1, h1));
      tl = v128.load(t + rb); th = v128.load(t + rb, 16);
      b0 = v128.xor(b0, mulv(tl, th, l0, h0)); b1 = v128.xor(b1, mulv(tl, th, l1, h1));
      t += 32;
    }
    v128.store(o0 + p, a0); v128.store(o0 + p, a1, 16);
    v128.store(o1 + p, b0); v128.store(o1 + p, b1, 16);
  }
}

function group1(tbl: usize, cols: i32, ins: usize, outs: usize, p0: usize, end: usize, acc: bool, ones: bool): void {
  const o0 = addr(outs, 0);
  if (ones) {
    for (let p = p0; p < end; p += 32) {
      let x0 = init(acc, o0 + p), x1 = init(acc, o0 + p + 16);
      for (let c = 0; c < cols; c++) {
        const ip = addr(ins, c) + p;
        x0 = v128.xor(x0, v128.load(ip)); x1 = v128.xor(x1, v128.load(ip, 16));
      }
      v128.store(o0 + p, x0); v128.store(o0 + p, x1, 16);
    }
    return;
  }
  for (let p = p0; p < end; p += 32) {
    let a0 = init(acc, o0 + p), a1 = init(acc, o0 + p + 16);
    let t = tbl;
    for (let c = 0; c < cols; c++) {
      const ip = addr(ins, c) + p;
      const v0 = v128.load(ip), v1 = v128.load(ip, 16);
      const tl = v128.load(t), th = v128.load(t, 16);
      a0 = v128.xor(a0, mulv(tl, th, lowNib(v0), highNib(v0)));
      a1 = v128.xor(a1, mulv(tl, th, lowNib(v1), highNib(v1)));
      t += 32;
    }
    v128.store(o0 + p, a0); v128.store(o0 + p, a1, 16);
  }
}

/**
 * outputs[r] = XOR over c of coef(r, c) * inputs[c] (or outputs[r] XOR that, with bit 1 of flags) over bytes
 * [p0, p0 + n) of every shard (n a multiple of 32), for the coefficient tables at tbl (row r, column c at
 * tbl + r * rb + c * 32), input addresses at ins and output addresses at outs. Bit 0 of flags says row 0's
 * coefficients are all 1 (its tables are present but unused): it is then a plain XOR, done with the next rows.
 * A caller can thus run the columns in blocks (tbl, ins advanced by the block's first column), accumulating.
 */
export function matmul(tbl: usize, rb: usize, rows: i32, cols: i32, ins: usize, outs: usize, p0: usize, n: usize, flags: i32): void {
  const end = p0 + n;
  const acc = (flags & 2) != 0;
  let r = 0;
  if ((flags & 1) != 0 && rows > 0) {
    // The XOR row shares a pass with up to two multiplied rows (more would spill V8's 15 vector registers).
    const g = min(rows, 3);
    if (g == 3) group3(tbl, rb, cols, ins, outs, p0, end, acc, true);
    else if (g == 2) group2(tbl, rb, cols, ins, outs, p0, end, acc, true);
    else group1(tbl, cols, ins, outs, p0, end, acc, true);
    r = g;
  }
  for (; rows - r >= 4; r += 4) group4(tbl + <usize>r * rb, rb, cols, ins, outs + (<usize>r << 2), p0, end, acc);
  const left = rows - r;
  const t = tbl + <usize>r * rb;
  const o = outs + (<usize>r << 2);
  if (left == 3) group3(t, rb, cols, ins, o, p0, end, acc, false);
  else if (left == 2) group2(t, rb, cols, ins, o, p0, end, acc, false);
  else if (left == 1) group1(t, cols, ins, o, p0, end, acc, false);
}

// AssemblyScript SIMD kernel: GF(2^8) split-nibble (i8x16.swizzle) matrix times shards, tiled in rows of 4.
//
// Memory layout (all prepared by src/codec/kernel-wasm.ts):
//   tables : for coefficient (r, c) 32 bytes at tbl + (r * cols + c) * 32:
//            bytes 0..15 = coef * n (n = 0..15, the low nibble), bytes 16..31 = coef * (n << 4).
//   inputs : input c at inp + c * stride; outputs: output r at out + r * stride.
//   stride is a multiple of 32 and every buffer is padded to it, so the kernel simply processes
//   ceil(len / 32) * 32 bytes; bytes past len are garbage-in / garbage-out and never copied back.

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

function group4(tbl: usize, cols: i32, inp: usize, out: usize, stride: usize, n: usize): void {
  const rb: usize = <usize>cols << 5;
  for (let p: usize = 0; p < n; p += 32) {
    let a0 = i8x16.splat(0), a1 = i8x16.splat(0), b0 = i8x16.splat(0), b1 = i8x16.splat(0);
    let c0 = i8x16.splat(0), c1 = i8x16.splat(0), d0 = i8x16.splat(0), d1 = i8x16.splat(0);
    let ip = inp + p;
    let t = tbl;
    for (let c = 0; c < cols; c++) {
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
      ip += stride;
      t += 32;
    }
    const op = out + p;
    v128.store(op, a0); v128.store(op, a1, 16);
    v128.store(op + stride, b0); v128.store(op + stride, b1, 16);
    v128.store(op + 2 * stride, c0); v128.store(op + 2 * stride, c1, 16);
    v128.store(op + 3 * stride, d0); v128.store(op + 3 * stride, d1, 16);
  }
}

function group3(tbl: usize, cols: i32, inp: usize, out: usize, stride: usize, n: usize): void {
  const rb: usize = <usize>cols << 5;
  for (let p: usize = 0; p < n; p += 32) {
    let a0 = i8x16.splat(0), a1 = i8x16.splat(0), b0 = i8x16.splat(0), b1 = i8x16.splat(0);
    let c0 = i8x16.splat(0), c1 = i8x16.splat(0);
    let ip = inp + p;
    let t = tbl;
    for (let c = 0; c < cols; c++) {
      const v0 = v128.load(ip), v1 = v128.load(ip, 16);
      const l0 = lowNib(v0), h0 = highNib(v0), l1 = lowNib(v1), h1 = highNib(v1);
      let tl = v128.load(t), th = v128.load(t, 16);
      a0 = v128.xor(a0, mulv(tl, th, l0, h0)); a1 = v128.xor(a1, mulv(tl, th, l1, h1));
      tl = v128.load(t + rb); th = v128.load(t + rb, 16);
      b0 = v128.xor(b0, mulv(tl, th, l0, h0)); b1 = v128.xor(b1, mulv(tl, th, l1, h1));
      tl = v128.load(t + 2 * rb); th = v128.load(t + 2 * rb, 16);
      c0 = v128.xor(c0, mulv(tl, th, l0, h0)); c1 = v128.xor(c1, mulv(tl, th, l1, h1));
      ip += stride;
      t += 32;
    }
    const op = out + p;
    v128.store(op, a0); v128.store(op, a1, 16);
    v128.store(op + stride, b0); v128.store(op + stride, b1, 16);
    v128.store(op + 2 * stride, c0); v128.store(op + 2 * stride, c1, 16);
  }
}

function group2(tbl: usize, cols: i32, inp: usize, out: usize, stride: usize, n: usize): void {
  const rb: usize = <usize>cols << 5;
  for (let p: usize = 0; p < n; p += 32) {
    let a0 = i8x16.splat(0), a1 = i8x16.splat(0), b0 = i8x16.splat(0), b1 = i8x16.splat(0);
    let ip = inp + p;
    let t = tbl;
    for (let c = 0; c < cols; c++) {
      const v0 = v128.load(ip), v1 = v128.load(ip, 16);
      const l0 = lowNib(v0), h0 = highNib(v0), l1 = lowNib(v1), h1 = highNib(v1);
      let tl = v128.load(t), th = v128.load(t, 16);
      a0 = v128.xor(a0, mulv(tl, th, l0, h0)); a1 = v128.xor(a1, mulv(tl, th, l1, h1));
      tl = v128.load(t + rb); th = v128.load(t + rb, 16);
      b0 = v128.xor(b0, mulv(tl, th, l0, h0)); b1 = v128.xor(b1, mulv(tl, th, l1, h1));
      ip += stride;
      t += 32;
    }
    const op = out + p;
    v128.store(op, a0); v128.store(op, a1, 16);
    v128.store(op + stride, b0); v128.store(op + stride, b1, 16);
  }
}

function group1(tbl: usize, cols: i32, inp: usize, out: usize, n: usize, stride: usize): void {
  for (let p: usize = 0; p < n; p += 32) {
    let a0 = i8x16.splat(0), a1 = i8x16.splat(0);
    let ip = inp + p;
    let t = tbl;
    for (let c = 0; c < cols; c++) {
      const v0 = v128.load(ip), v1 = v128.load(ip, 16);
      const tl = v128.load(t), th = v128.load(t, 16);
      a0 = v128.xor(a0, mulv(tl, th, lowNib(v0), highNib(v0)));
      a1 = v128.xor(a1, mulv(tl, th, lowNib(v1), highNib(v1)));
      ip += stride;
      t += 32;
    }
    v128.store(out + p, a0); v128.store(out + p, a1, 16);
  }
}

/** outputs[r] = XOR over c of coef(r, c) * inputs[c], over ceil(len / 32) * 32 bytes. */
export function matmul(tbl: usize, rows: i32, cols: i32, inp: usize, out: usize, stride: usize, len: usize): void {
  const n: usize = (len + 31) & ~(<usize>31);
  const rb: usize = <usize>cols << 5;
  let r = 0;
  for (; rows - r >= 4; r += 4) group4(tbl + <usize>r * rb, cols, inp, out + <usize>r * stride, stride, n);
  const left = rows - r;
  const t = tbl + <usize>r * rb;
  const o = out + <usize>r * stride;
  if (left == 3) group3(t, cols, inp, o, stride, n);
  else if (left == 2) group2(t, cols, inp, o, stride, n);
  else if (left == 1) group1(t, cols, inp, o, n, stride);
}

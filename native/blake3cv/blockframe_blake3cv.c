// Optional N-API addon: BLAKE3 subtree chaining values through the official BLAKE3 C library's SIMD kernels.
//
// Built by scripts/build-native.mjs against the C sources of BLAKE3 as the registry package @c4312/blake3-native
// ships them (its c/ directory); nothing of them is kept in this repository. It uses the library's internal entry
// points (blake3_impl.h): blake3_hash_many, which hashes up to MAX_SIMD_DEGREE equal-length inputs side by side
// with the widest kernel the CPU has (AVX-512, AVX2, SSE4.1, SSE2, NEON or portable, picked at run time by
// blake3_dispatch.c), and blake3_compress_in_place. The tree rules are those of the BLAKE3 paper (§2.1 "Tree
// Structure", "Chunk Chaining Values", "Parent Node Chaining Values"); src/integrity/blake3-cv.ts builds the rest.
//
// Exports (all synchronous; every byte array may live in an ArrayBuffer or a SharedArrayBuffer):
//   subtrees(data, offset, units, unitChunks, counter, out, outOffset) -> undefined
//       The non-root chaining values of `units` consecutive complete subtrees of `unitChunks` chunks each (a power
//       of two, 1..256), the first starting at data[offset] with chunk number `counter` (a safe integer, a
//       multiple of unitChunks), written 32 bytes each to out[outOffset...]. Reads units * unitChunks * 1024 bytes.
//   chunk(data, offset, len, counter, root, out, outOffset) -> undefined
//       The chaining value of one chunk of len (0..1024) bytes at data[offset], chunk number counter; with `root`
//       true it is the hash of a one-chunk message.
//   parent(block, root, out, outOffset) -> undefined
//       The chaining value of the parent whose children's values are block[0, 32) and block[32, 64).
//   degree() -> number
//       How many inputs blake3_hash_many hashes at once on this CPU: 16 (AVX-512), 8 (AVX2), 4 (SSE4.1, SSE2,
//       NEON) or 1 (portable). Informational.
// Errors: a TypeError (code BF_INTERNAL) for a wrong argument or a range outside an array; the driver
// (src/integrity/blake3-native-cv.ts) checks shapes first, so these mean a bug.
#include <stdint.h>
#include <string.h>
#include <node_api.h>
#include "blake3_impl.h"

// Chunks hashed per blake3_hash_many call; also the largest subtree (256 KiB) and the stack scratch (2 x 8 KiB).
#define BATCH 256

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_type_error(env, "BF_INTERNAL", msg);
  return NULL;
}

// Pointer and length of a Uint8Array argument; 0 on success.
static int bytes_of(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return -1;
  napi_typedarray_type type;
  void *p = NULL;
  size_t n = 0;
  if (napi_get_typedarray_info(env, v, &type, &n, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) return -1;
  *data = (uint8_t *)p;
  *len = n;
  return 0;
}

// A non-negative safe integer (JS number) argument; 0 on success.
static int count_of(napi_env env, napi_value v, uint64_t *out) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > 9007199254740991.0 || d != (double)(uint64_t)d) return -1;
  *out = (uint64_t)d;
  return 0;
}

static int bool_of(napi_env env, napi_value v, bool *out) {
  return napi_get_value_bool(env, v, out) == napi_ok ? 0 : -1;
}

static napi_value subtrees(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7) return fail(env, "subtrees: 7 arguments expected");
  uint8_t *data, *out;
  size_t dlen, olen;
  uint64_t off, units, uc, counter, ooff;
  if (bytes_of(env, argv[0], &data, &dlen) || count_of(env, argv[1], &off) || count_of(env, argv[2], &units) || count_of(env, argv[3], &uc) ||
      count_of(env, argv[4], &counter) || bytes_of(env, argv[5], &out, &olen) || count_of(env, argv[6], &ooff)) {
    return fail(env, "subtrees: bad argument");
  }
  if (uc == 0 || uc > BATCH || (uc & (uc - 1)) != 0 || counter % uc != 0) return fail(env, "subtrees: bad subtree size or counter");
  if (off > dlen || units > (dlen - off) / (uc * BLAKE3_CHUNK_LEN) || ooff > olen || units > (olen - ooff) / BLAKE3_OUT_LEN) return fail(env, "subtrees: range outside an array");
  const uint8_t *ptrs[BATCH];
  uint8_t a[BATCH * BLAKE3_OUT_LEN], b[BATCH * BLAKE3_OUT_LEN];
  const uint64_t per = BATCH / uc;  // subtrees per batch
  const uint8_t *src = data + off;
  uint8_t *dst = out + ooff;
  for (uint64_t u = 0; u < units; u += per) {
    size_t g = (size_t)(units - u < per ? units - u : per);
    size_t n = g * (size_t)uc;
    // The leaves: n whole chunks side by side, counters counter, counter + 1, ... (CHUNK_START / CHUNK_END on
    // their first and last blocks, no ROOT: a subtree of two or more units is never the root).
    for (size_t i = 0; i < n; i++) ptrs[i] = src + i * BLAKE3_CHUNK_LEN;
    blake3_hash_many(ptrs, n, BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN, IV, counter, true, 0, CHUNK_START, CHUNK_END, a);
    // Then each level's parents side by side (counter 0, PARENT): adjacent pairs of values never cross a subtree
    // boundary, since every subtree holds a power of two of them.
    uint8_t *cur = a, *next = b;
    for (size_t w = n; w > g; w /= 2) {
      for (size_t i = 0; i < w / 2; i++) ptrs[i] = cur + i * 2 * BLAKE3_OUT_LEN;
      blake3_hash_many(ptrs, w / 2, 1, IV, 0, false, PARENT, 0, 0, next);
      uint8_t *t = cur;
      cur = next;
      next = t;
    }
    memcpy(dst, cur, g * BLAKE3_OUT_LEN);
    src += n * BLAKE3_CHUNK_LEN;
    dst += g * BLAKE3_OUT_LEN;
    counter += n;
  }
  return NULL;
}

static napi_value chunk(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7) return fail(env, "chunk: 7 arguments expected");
  uint8_t *data, *out;
  size_t dlen, olen;
  uint64_t off, len, counter, ooff;
  bool root;
  if (bytes_of(env, argv[0], &data, &dlen) || count_of(env, argv[1], &off) || count_of(env, argv[2], &len) || count_of(env, argv[3], &counter) ||
      bool_of(env, argv[4], &root) || bytes_of(env, argv[5], &out, &olen) || count_of(env, argv[6], &ooff)) {
    return fail(env, "chunk: bad argument");
  }
  if (len > BLAKE3_CHUNK_LEN || off > dlen || len > dlen - off || ooff > olen || olen - ooff < BLAKE3_OUT_LEN) return fail(env, "chunk: range outside an array");
  uint32_t cv[8];
  memcpy(cv, IV, sizeof cv);
  size_t blocks = len == 0 ? 1 : (size_t)(len + BLAKE3_BLOCK_LEN - 1) / BLAKE3_BLOCK_LEN;
  uint8_t block[BLAKE3_BLOCK_LEN];
  for (size_t i = 0; i < blocks; i++) {
    bool last = i == blocks - 1;
    size_t blen = last ? (size_t)len - i * BLAKE3_BLOCK_LEN : BLAKE3_BLOCK_LEN;
    memset(block, 0, sizeof block);
    memcpy(block, data + off + i * BLAKE3_BLOCK_LEN, blen);
    uint8_t flags = (uint8_t)((i == 0 ? CHUNK_START : 0) | (last ? CHUNK_END | (root ? ROOT : 0) : 0));
    blake3_compress_in_place(cv, block, (uint8_t)blen, counter, flags);
  }
  store_cv_words(out + ooff, cv);
  return NULL;
}

static napi_value parent(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4) return fail(env, "parent: 4 arguments expected");
  uint8_t *block, *out;
  size_t blen, olen;
  uint64_t ooff;
  bool root;
  if (bytes_of(env, argv[0], &block, &blen) || bool_of(env, argv[1], &root) || bytes_of(env, argv[2], &out, &olen) || count_of(env, argv[3], &ooff)) {
    return fail(env, "parent: bad argument");
  }
  if (blen < BLAKE3_BLOCK_LEN || ooff > olen || olen - ooff < BLAKE3_OUT_LEN) return fail(env, "parent: range outside an array");
  uint32_t cv[8];
  memcpy(cv, IV, sizeof cv);
  uint8_t copy[BLAKE3_BLOCK_LEN];
  memcpy(copy, block, sizeof copy);  // out may overlap block
  blake3_compress_in_place(cv, copy, BLAKE3_BLOCK_LEN, 0, (uint8_t)(PARENT | (root ? ROOT : 0)));
  store_cv_words(out + ooff, cv);
  return NULL;
}

static napi_value degree(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_uint32(env, (uint32_t)blake3_simd_degree(), &v);
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"subtrees", NULL, subtrees, NULL, NULL, NULL, napi_default, NULL},
      {"chunk", NULL, chunk, NULL, NULL, NULL, napi_default, NULL},
      {"parent", NULL, parent, NULL, NULL, NULL, napi_default, NULL},
      {"degree", NULL, degree, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }

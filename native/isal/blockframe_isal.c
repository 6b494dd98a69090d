// Optional N-API addon: BlockFrame's GF(2^8) matrix-times-shards product through the system ISA-L library.
//
// Exports (all synchronous; every byte array may live in an ArrayBuffer or a SharedArrayBuffer):
//   initTables(coeffs: Uint8Array, rows, cols) -> Uint8Array
//       ISA-L's expanded tables (32 * rows * cols bytes) for the row-major rows x cols coefficient matrix,
//       from ec_init_tables(cols, rows, coeffs, tables) (ISA-L erasure_code.h).
//   matmul(tables: Uint8Array, rows, cols, inputs: Uint8Array[cols], outputs: Uint8Array[rows], len) -> undefined
//       outputs[r][p] = XOR over c of coeffs[r][c] * inputs[c][p] for p in [0, len), via ec_encode_data, which
//       picks the widest SIMD the CPU offers (SSE, AVX, AVX2, AVX-512) at run time. Inputs and outputs are read
//       and written in place: no copy. Lengths above 1 GiB are done in 1 GiB pieces (ISA-L takes an int).
//       Lengths below ISAL_MIN_LEN are done here, byte by byte from the same tables (see small_matmul).
//   cpu() -> string
//       The widest x86 vector extension this CPU reports ("avx512", "avx2", "avx", "sse4.1", "none"): the family
//       of ISA-L code ec_encode_data dispatches to. Informational only.
// Errors: a TypeError (code BF_INTERNAL) for a wrong argument count/type, an array shorter than len, or a table
// of the wrong size; the JS driver (src/codec/kernel-native.ts) checks shapes first, so these mean a bug.
#include <stdint.h>
#include <string.h>
#include <isa-l/erasure_code.h>
#include <node_api.h>

#define MAX_SHARDS 256

// ec_encode_data hands lengths below its vector width (16, 32 or 64 bytes) to ec_encode_data_base, which calls
// gf_mul through the PLT; the node binary exports an unrelated gf_mul that wins symbol resolution and crashes.
// So ISA-L only ever gets len >= 64 (its vector paths cover a ragged tail by overlapping the last block).
#define ISAL_MIN_LEN 64

// outputs = tables-coded product for len < ISAL_MIN_LEN: table c (32 bytes) holds c * n at n and
// c * (n << 4) at 16 + n, so c * b = t[b & 15] ^ t[16 + (b >> 4)] (the split-nibble rule of ISA-L's tables).
static void small_matmul(size_t len, int cols, int rows, const uint8_t *tables, uint8_t **in, uint8_t **out) {
  for (int r = 0; r < rows; r++) {
    for (size_t p = 0; p < len; p++) {
      uint8_t acc = 0;
      for (int c = 0; c < cols; c++) {
        const uint8_t *t = tables + 32 * ((size_t)r * (size_t)cols + (size_t)c);
        uint8_t b = in[c][p];
        acc ^= t[b & 15] ^ t[16 + (b >> 4)];
      }
      out[r][p] = acc;
    }
  }
}

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

static int int_of(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

// Fill ptrs[0..count) from a JS array of Uint8Arrays, each at least need bytes long.
static int pointers_of(napi_env env, napi_value arr, uint32_t count, size_t need, uint8_t **ptrs) {
  uint32_t n = 0;
  if (napi_get_array_length(env, arr, &n) != napi_ok || n != count) return -1;
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    size_t len = 0;
    if (napi_get_element(env, arr, i, &el) != napi_ok || bytes_of(env, el, &ptrs[i], &len) != 0 || len < need) return -1;
  }
  return 0;
}

static napi_value init_tables(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *coeffs;
  size_t n;
  int32_t rows, cols;
  if (argc != 3 || bytes_of(env, argv[0], &coeffs, &n) != 0 || int_of(env, argv[1], &rows) != 0 || int_of(env, argv[2], &cols) != 0 ||
      rows < 1 || cols < 1 || rows > MAX_SHARDS || cols > MAX_SHARDS || n != (size_t)rows * (size_t)cols) {
    return fail(env, "isal.initTables(coeffs, rows, cols): bad arguments");
  }
  napi_value ab, out;
  void *tables = NULL;
  size_t size = 32 * (size_t)rows * (size_t)cols;
  if (napi_create_arraybuffer(env, size, &tables, &ab) != napi_ok) return NULL;
  ec_init_tables(cols, rows, coeffs, (unsigned char *)tables);
  if (napi_create_typedarray(env, napi_uint8_array, size, ab, 0, &out) != napi_ok) return NULL;
  return out;
}

static napi_value matmul(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *tables;
  size_t tlen;
  int32_t rows, cols;
  double dlen;
  if (argc != 6 || bytes_of(env, argv[0], &tables, &tlen) != 0 || int_of(env, argv[1], &rows) != 0 || int_of(env, argv[2], &cols) != 0 ||
      napi_get_value_double(env, argv[5], &dlen) != napi_ok || rows < 1 || cols < 1 || rows > MAX_SHARDS || cols > MAX_SHARDS ||
      tlen != 32 * (size_t)rows * (size_t)cols || !(dlen >= 0) || dlen > (double)SIZE_MAX) {
    return fail(env, "isal.matmul(tables, rows, cols, inputs, outputs, len): bad arguments");
  }
  size_t len = (size_t)dlen;
  uint8_t *in[MAX_SHARDS], *out[MAX_SHARDS];
  if (pointers_of(env, argv[3], (uint32_t)cols, len, in) != 0 || pointers_of(env, argv[4], (uint32_t)rows, len, out) != 0) {
    return fail(env, "isal.matmul: inputs/outputs must be arrays of cols/rows Uint8Arrays of at least len bytes");
  }
  if (len < ISAL_MIN_LEN) {
    small_matmul(len, cols, rows, tables, in, out);
    return NULL;
  }
  for (size_t done = 0; done < len;) {
    // Pieces of at most 1 GiB; the last one is never shorter than ISAL_MIN_LEN.
    size_t n = len - done <= ((size_t)1 << 30) + ISAL_MIN_LEN ? len - done : (size_t)1 << 30;
    ec_encode_data((int)n, cols, rows, tables, in, out);
    done += n;
    if (done < len) {
      for (int32_t c = 0; c < cols; c++) in[c] += n;
      for (int32_t r = 0; r < rows; r++) out[r] += n;
    }
  }
  return NULL;
}

static napi_value cpu(napi_env env, napi_callback_info info) {
  (void)info;
  const char *name = "none";
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) name = "avx512";
  else if (__builtin_cpu_supports("avx2")) name = "avx2";
  else if (__builtin_cpu_supports("avx")) name = "avx";
  else if (__builtin_cpu_supports("sse4.1")) name = "sse4.1";
#elif defined(__aarch64__)
  name = "neon";
#endif
  napi_value s;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &s);
  return s;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
    { "initTables", NULL, init_tables, NULL, NULL, NULL, napi_enumerable, NULL },
    { "matmul", NULL, matmul, NULL, NULL, NULL, napi_enumerable, NULL },
    { "cpu", NULL, cpu, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

# node-gyp build of the optional BLAKE3 chaining-value addon (scripts/build-native.mjs runs it; see docs/hashing.md).
# BLAKE3_C_DIR is the c/ directory of the registry package @c4312/blake3-native (BLAKE3's official C sources);
# the build script resolves it and sets it. x86-64 gets the library's SSE2 / SSE4.1 / AVX2 / AVX-512 assembly
# (picked at run time by blake3_dispatch.c), arm64 its NEON code, anything else the portable code alone.
{
  "variables": { "blake3_c": "<!(node -p \"process.env.BLAKE3_C_DIR || ''\")" },
  "targets": [
    {
      "target_name": "blockframe_blake3cv",
      "sources": [
        "blockframe_blake3cv.c",
        "<(blake3_c)/blake3.c",
        "<(blake3_c)/blake3_dispatch.c",
        "<(blake3_c)/blake3_portable.c"
      ],
      "include_dirs": ["<(blake3_c)"],
      "cflags": ["-O3", "-Wall", "-fvisibility=hidden"],
      "conditions": [
        ["target_arch=='x64' and OS!='win'", {
          "sources": [
            "<(blake3_c)/blake3_sse2_x86-64_unix.S",
            "<(blake3_c)/blake3_sse41_x86-64_unix.S",
            "<(blake3_c)/blake3_avx2_x86-64_unix.S",
            "<(blake3_c)/blake3_avx512_x86-64_unix.S"
          ]
        }],
        ["target_arch=='arm64'", { "sources": ["<(blake3_c)/blake3_neon.c"], "defines": ["BLAKE3_USE_NEON=1"] }],
        ["target_arch!='x64' and target_arch!='arm64'", {
          "defines": ["BLAKE3_NO_SSE2", "BLAKE3_NO_SSE41", "BLAKE3_NO_AVX2", "BLAKE3_NO_AVX512", "BLAKE3_USE_NEON=0"]
        }]
      ]
    }
  ]
}

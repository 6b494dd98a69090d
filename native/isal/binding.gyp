# node-gyp build of the optional ISA-L erasure-code addon (scripts/build-native.mjs runs it; see docs/codec.md).
{
  "targets": [
    {
      "target_name": "blockframe_isal",
      "sources": ["blockframe_isal.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "libraries": ["-lisal"]
    }
  ]
}

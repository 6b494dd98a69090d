// The few WebAssembly types the in-repo kernels use (lib ES2022 and @types/node 20 declare no WebAssembly global).
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
  /** Pages of 64 KiB; `shared` makes `buffer` a SharedArrayBuffer. */
  Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}

/** The runtime's WebAssembly object, or undefined where there is none. */
export const WASM = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

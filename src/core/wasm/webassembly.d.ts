// The part of the WebAssembly JS API the kernels use (lib "ES2022" without "DOM"
// does not declare it; Node 20 provides it).
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Memory {
    /** A shared memory (shared: true, maximum required) has a SharedArrayBuffer. */
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    grow(pages: number): number;
  }
  class Instance {
    constructor(module: Module, imports?: object);
    readonly exports: Record<string, unknown>;
  }
}

/**
 * The file piscina loads in each worker thread. CommonJS on purpose: piscina
 * looks a task's handler up with require() first, and require() of an ES module
 * graph (Node ≥ 20.19) aborts the whole process when the worker is terminated
 * while the graph is being instantiated — V8's fatal "IsGraphAsync must be used
 * on an instantiated module" — which closing a pool while its workers start, or
 * replacing a worker, can do (a pool created and closed 200 times in a row
 * crashed within 50). Here the ES worker (worker.js) is loaded once with
 * import(), which a termination stops cleanly, and each task is forwarded to
 * the worker's handler of the same name.
 */
type Handler = (task: unknown) => unknown;

const worker = import('./worker.js') as Promise<Record<string, Handler | undefined>>;
// A failed load is reported by every task that awaits it, not as an unhandled rejection.
worker.catch(() => undefined);
const forwarders = new Map<string, (task: unknown) => Promise<unknown>>();

function forwarder(name: string): (task: unknown) => Promise<unknown> {
  let f = forwarders.get(name);
  if (f === undefined) {
    f = async (task) => {
      const handler = (await worker)[name];
      if (typeof handler !== 'function') throw new Error(`the worker has no task named ${name}`);
      return handler(task);
    };
    forwarders.set(name, f);
  }
  return f;
}

// piscina reads exports[name] for a task's handler. `__esModule` makes its
// interop helper use this object as it is; `then` stays undefined, or the
// object would pass for a promise.
export = new Proxy(
  {},
  {
    get: (_target, key) => (key === '__esModule' ? true : typeof key === 'string' && key !== 'then' ? forwarder(key) : undefined),
  },
);

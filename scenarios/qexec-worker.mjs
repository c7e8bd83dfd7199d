// Worker-thread entry of the quantized-network pool (qexec-pool.ts). Plain JavaScript, like the
// sweep's worker.mjs, so that it runs from the sources and from a compiled package alike: a worker
// thread starts without the parent's module hooks, so it registers tsx itself when the executor
// it imports is TypeScript (the sources).
import { parentPort, workerData } from 'node:worker_threads';

const { executorUrl, typeScript, net, opts } = workerData;
if (typeScript) await (await import('tsx/esm/api')).register();
const { QuantizedExecutor } = await import(executorUrl);
// one executor per worker: its layers are prepared on the first batch and reused by every other
const executor = new QuantizedExecutor(net, opts);
const inputName = net.inputs[0].name;
const outputName = net.outputs[0].name;

parentPort.on('message', ({ id, data, shape }) => {
  try {
    const r = executor.run({ [inputName]: { dtype: 'float32', shape, data } });
    const o = r.outputs[outputName].data;
    const out = o instanceof Float32Array ? o : Float32Array.from(o);
    const layers = Object.entries(r.overflow).map(([name, rep]) => [name, rep.events, rep.psumEvents, rep.maxAbs]);
    parentPort.postMessage({ id, ok: true, out, layers }, [out.buffer]);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    parentPort.postMessage({ id, ok: false, error: { name: err.name, kind: typeof err.kind === 'string' ? err.kind : null, message: err.message, stack: err.stack ?? '' } });
  }
});

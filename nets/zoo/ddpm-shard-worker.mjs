// Worker-thread entry of the DDPM trainer's gradient shards (ddpm-shard.ts). Plain JavaScript: a
// worker thread starts without the parent's module hooks, so it registers tsx itself when the
// shard module is TypeScript (the sources).
import { parentPort, workerData } from 'node:worker_threads';

const { shardUrl, typeScript, model, seed } = workerData;
if (typeScript) await (await import('tsx/esm/api')).register();
const { DdpmShard } = await import(shardUrl);
const shard = await DdpmShard.create(model, seed);
parentPort.postMessage({ ready: true });

parentPort.on('message', (req) => {
  try {
    const { loss, grads } = shard.grads(req);
    parentPort.postMessage({ ok: true, loss, grads }, [grads.buffer]);
  } catch (e) {
    parentPort.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) });
  }
});

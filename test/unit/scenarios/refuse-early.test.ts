/**
 * What can be refused is refused before the PTQ run (seconds to minutes): a sample count the data
 * set cannot give, a trace path that cannot be written. The PTQ entry point is replaced by one
 * that fails loudly, so a check that comes after it shows up as the wrong error.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { ResourceError, UsageError } from '../../../errors/index.js';
import { resolvePtqConfig } from '../../../quant/config.js';
import { evaluateQuantizedModel } from '../../../scenarios/models.js';
import { simulateModel } from '../../../scenarios/simulate-model.js';

vi.mock('../../../scenarios/quantize.js', async (original) => ({
  ...(await original<typeof import('../../../scenarios/quantize.js')>()),
  quantizeModel: vi.fn(async () => {
    throw new Error('the PTQ run started');
  }),
}));

const rejection = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

describe('refused before the PTQ run', () => {
  it('run --model: --samples above the test split, a trace under /proc', async () => {
    const many = await rejection(simulateModel({ arch: 'edge-npu', model: 'mnist-mlp', preset: 'w8a8-pt', data: 'mnist', samples: 99_999_999 }));
    expect(many).toBeInstanceOf(UsageError);
    expect((many as Error).message).toMatch(/^mnist\/test has \d+ images: samples must be an integer/);
    if (existsSync('/proc/self')) {
      const trace = await rejection(simulateModel({ arch: 'edge-npu', model: 'mnist-mlp', preset: 'w8a8-pt', data: 'mnist', samples: 4, trace: '/proc/x/t.json' }));
      expect(trace).toBeInstanceOf(ResourceError);
      expect((trace as Error).message).toBe('cannot write /proc/x/t.json: cannot create files in /proc: no such file or folder (ENOENT)');
    }
  });

  it('run --model: a per-channel preset on a per-tensor-only requant unit (mcu-npu), naming the arch and the field', async () => {
    const e = await rejection(simulateModel({ arch: 'mcu-npu', model: 'mnist-mlp', preset: 'w8a8-pc', data: 'mnist', samples: 4 }));
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(/^mcu-npu requantizes per tensor only \(requant\.perChannel false\); per-channel weights need one \(M0, shift\) per output channel: /);
  });

  it('eval --quant: --samples above the test split', async () => {
    const e = await rejection(evaluateQuantizedModel('mnist-mlp', { data: 'mnist', samples: 99_999_999, config: resolvePtqConfig('w8a8-pt') }));
    expect(e).toBeInstanceOf(UsageError);
  });

  it('the stand-in does fail a run that gets as far as PTQ', async () => {
    expect(await rejection(evaluateQuantizedModel('mnist-mlp', { data: 'mnist', samples: 4, config: resolvePtqConfig('w8a8-pt') }))).toMatchObject({ message: 'the PTQ run started' });
  });
});

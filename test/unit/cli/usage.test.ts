/**
 * The usage lines name every data set the commands accept: the lists are written by hand (the
 * command table stays free of heavy imports for a fast `--help`), so a data set added to the
 * library and not to the usage would go unseen without this.
 */
import { describe, expect, it } from 'vitest';
import { DEBUG_USAGE, EVAL_USAGE, QUANTIZE_USAGE, RUN_MODEL_USAGE } from '../../../cli/commands.js';
import { CALIB_DATASETS, TEXT_DATASETS } from '../../../scenarios/datasets.js';
import { EVAL_DATASETS } from '../../../scenarios/models.js';

describe('usage lines', () => {
  it('list every data set eval, run and debug accept (debug scores top-1: no text data set), and every calibration set quantize accepts', () => {
    const listed = (usage: string, flag: string): string[] => {
      const m = new RegExp(`${flag} <?([a-z|]+)>?`).exec(usage);
      return m ? m[1].split('|') : [];
    };
    expect(listed(EVAL_USAGE, '--data').sort()).toEqual([...EVAL_DATASETS].sort());
    const top1 = EVAL_DATASETS.filter((d) => !TEXT_DATASETS.includes(d));
    expect(listed(RUN_MODEL_USAGE, '--data').sort()).toEqual([...EVAL_DATASETS].sort());
    expect(listed(DEBUG_USAGE, '--data').sort()).toEqual([...top1].sort());
    expect(listed(QUANTIZE_USAGE, '--calib').sort()).toEqual([...CALIB_DATASETS].sort());
  });
});

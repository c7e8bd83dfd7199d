/**
 * tfjs *layers* models (Keras topology JSON) → the Network IR, one layer at a time through the
 * graph builder (builder.ts): Sequential, Model and Functional models whose layers are called once.
 */
import { numel, type OpType, type Tensor } from '../graph.js';
import { Builder, defineInput, depthwiseToOihw, emitConv, emitPool, flattenNhwc, hwioToOihw, isFloat, nhwcAxis, pair, transpose2d, type Attrs } from './builder.js';
interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown[];
}

/** a config value read as text: a string as it is, anything else as JSON (never '[object Object]') */
function text(v: unknown, dflt: string): string {
  if (v === undefined || v === null) return dflt;
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
}

export function convertLayers(topo: Record<string, unknown>, weights: Map<string, Tensor>, b: Builder): string {
  const mc = (topo.model_config ?? topo) as { class_name?: string; config?: unknown };
  const cls = mc.class_name ?? '';
  const cfg = (mc.config ?? {}) as Record<string, unknown>;
  const layers: KerasLayer[] = Array.isArray(cfg) ? (cfg as KerasLayer[]) : ((cfg.layers ?? []) as KerasLayer[]);
  if (!Array.isArray(layers)) {
    b.problem('', cls, 'the model config has no list of layers');
    return 'tfjs_model';
  }
  const bad = layers.findIndex((l: unknown) => {
    const o = l as KerasLayer | null;
    return typeof o !== 'object' || o === null || typeof o.class_name !== 'string' || typeof o.config !== 'object' || o.config === null;
  });
  if (bad >= 0) {
    b.problem('', cls, `layer ${bad} is not {class_name, config}`);
    return 'tfjs_model';
  }
  const modelName = typeof cfg.name === 'string' ? cfg.name : 'tfjs_model';
  const sequential = cls === 'Sequential';
  if (!sequential && cls !== 'Model' && cls !== 'Functional') {
    b.problem('', cls, `Keras model class '${cls}' is not supported (Model, Functional, Sequential are)`);
    return modelName;
  }

  // IR tensor standing for output (node k, tensor t) of a layer
  const tensorOf = new Map<string, string>();
  const key = (layer: string, nodeIdx: number, t: number): string => `${layer}\u0000${nodeIdx}\u0000${t}`;
  const lname = (l: KerasLayer): string => text(l.name ?? l.config.name, 'unnamed');

  const weight = (layer: string, param: string, op: string): Tensor | undefined => {
    const t = weights.get(`${layer}/${param}`);
    if (!t) {
      // some exporters prefix the model name: '<model>/<layer>/<param>'
      for (const [k, v] of weights) if (k.endsWith(`/${layer}/${param}`)) return v;
      b.problem(layer, op, `weight '${layer}/${param}' missing from the manifest`);
      return undefined;
    }
    if (!isFloat(t)) {
      b.problem(layer, op, `weight '${layer}/${param}' is ${t.dtype}, expected float32`);
      return undefined;
    }
    return t;
  };

  let prev: string | undefined; // Sequential: previous layer's output
  const outputs: string[] = [];
  // layers not converted: their consumers are skipped silently (one message per root cause)
  const failed = new Set<string>();
  for (let li = 0; li < layers.length; li++) {
    const layer = layers[li];
    const ln = lname(layer);
    const c = layer.config;
    const op = layer.class_name;
    if (!KERAS_LAYERS.has(op)) {
      b.problem(ln, op, 'Keras layer type is not supported');
      failed.add(ln);
      continue;
    }
    // inputs of this layer's first (and, for these models, only) call
    let ins: string[] = [];
    if (sequential) {
      if (prev === undefined && op !== 'InputLayer') {
        const bis = c.batch_input_shape as (number | null)[] | undefined;
        if (!bis) {
          b.problem(ln, op, 'first Sequential layer has no batch_input_shape');
          return modelName;
        }
        prev = defineInput(b, 'input', bis);
        if (prev === undefined) return modelName;
      }
      if (prev !== undefined) ins = [prev];
    } else {
      const nodes = (layer.inbound_nodes ?? []) as unknown[];
      if (nodes.length > 1) b.problem(ln, op, `layer is called ${nodes.length} times; shared layers are not supported`);
      const first = nodes[0];
      if (first !== undefined && !Array.isArray(first)) {
        b.problem(ln, op, 'inbound_nodes in a format other than tfjs / Keras 2 ([[layer, node, tensor, kwargs], ...])');
        continue;
      }
      let skip = false;
      for (const ref of (first ?? []) as unknown[]) {
        if (!Array.isArray(ref)) continue;
        const src = text(ref[0], '');
        const t = tensorOf.get(key(src, Number(ref[1] ?? 0), Number(ref[2] ?? 0)));
        if (t !== undefined) ins.push(t);
        else {
          if (!failed.has(src)) b.problem(ln, op, `input '${src}' is not defined before this layer`);
          skip = true;
        }
      }
      if (!skip && ins.length === 0 && op !== 'InputLayer') b.problem(ln, op, 'layer has no inputs');
      if (skip || (ins.length === 0 && op !== 'InputLayer')) {
        failed.add(ln);
        continue;
      }
    }
    const out = b.guarded(ln, op, () => convertLayer(b, layer, ln, ins, weight));
    if (out === undefined) {
      failed.add(ln);
      continue;
    }
    tensorOf.set(key(ln, 0, 0), out);
    prev = out;
  }

  if (sequential) {
    if (prev !== undefined) outputs.push(prev);
  } else {
    const earlier = b.problems.length > 0; // an unconverted output is then only their consequence
    const refs = Array.isArray(cfg.output_layers) ? (cfg.output_layers as unknown[]) : [];
    for (const ref of refs.map((r) => (Array.isArray(r) ? r : [r]))) {
      const t = tensorOf.get(key(text(ref[0], ''), Number(ref[1] ?? 0), Number(ref[2] ?? 0)));
      if (t !== undefined) outputs.push(t);
      else if (!earlier) b.problem(text(ref[0], ''), '', 'model output layer was not converted');
    }
  }
  b.outputs = outputs;
  return modelName;
}


function convertLayer(
  b: Builder,
  layer: KerasLayer,
  ln: string,
  ins: string[],
  weight: (layer: string, param: string, op: string) => Tensor | undefined,
): string | undefined {
  const c = layer.config;
  const op = layer.class_name;
  const x = ins[0];
  const need4d = (): boolean => {
    const v = b.val(x);
    if (v.nhwc) return true;
    b.problem(ln, op, `expects a rank-4 channels_last input, got shape [${v.shape.join(',')}]`);
    return false;
  };
  if (c.data_format !== undefined && c.data_format !== 'channels_last') {
    b.problem(ln, op, `data_format '${text(c.data_format, '')}' is not supported (channels_last only)`);
    return undefined;
  }
  switch (op) {
    case 'InputLayer':
      return defineInput(b, ln, c.batch_input_shape ?? c.batch_shape);

    case 'Dropout':
    case 'SpatialDropout2D':
    case 'GaussianDropout':
    case 'GaussianNoise':
    case 'AlphaDropout':
      // inference: identity
      return x;

    case 'ZeroPadding2D': {
      if (!need4d()) return undefined;
      // Keras forms: p (all sides), [h, w] (symmetric per axis), [[top, bottom], [left, right]]
      const p = c.padding ?? 1;
      let t: number, bo: number, l: number, r: number;
      if (typeof p === 'number') t = bo = l = r = p;
      else if (Array.isArray(p) && Array.isArray(p[0])) [[t, bo], [l, r]] = p as [[number, number], [number, number]];
      else {
        const [h, w] = p as [number, number];
        t = bo = h;
        l = r = w;
      }
      return b.spatialPad(ln, x, { top: t, bottom: bo, left: l, right: r }, 'constant', 0);
    }

    case 'Conv2D':
    case 'DepthwiseConv2D': {
      if (!need4d()) return undefined;
      const depthwise = op === 'DepthwiseConv2D';
      const kt = weight(ln, depthwise ? 'depthwise_kernel' : 'kernel', op);
      const useBias = c.use_bias !== false;
      const bt = useBias ? weight(ln, 'bias', op) : undefined;
      if (!kt || (useBias && !bt)) return undefined;
      const padding = text(c.padding, 'valid');
      if (padding !== 'same' && padding !== 'valid') {
        b.problem(ln, op, `padding '${padding}' is not supported`);
        return undefined;
      }
      const [kh, kw, ci, m] = kt.shape;
      const cin = b.val(x).shape[1];
      const groups = depthwise ? cin : Number(c.groups ?? 1);
      const co = depthwise ? ci * m : m;
      if (depthwise ? ci !== cin : ci * groups !== cin) {
        b.problem(ln, op, `kernel [${kt.shape.join(',')}] does not fit ${cin} input channels`);
        return undefined;
      }
      const w = b.init(`${ln}/weight`, depthwise ? depthwiseToOihw(kt) : hwioToOihw(kt));
      const bias = bt ? b.init(`${ln}/bias`, bt) : undefined;
      const act = text(c.activation, 'linear');
      const y = emitConv(b, {
        node: ln,
        x,
        w,
        bias,
        group: groups,
        kh,
        kw,
        co,
        strides: pair(c.strides, 1),
        dilations: pair(c.dilation_rate, 1),
        padding,
        out: act === 'linear' ? ln : `${ln}/preact`,
      });
      return b.activation(act, y, `${ln}/${act}`, ln);
    }

    case 'BatchNormalization': {
      const v = b.val(x);
      const axis = Number(Array.isArray(c.axis) ? c.axis[0] : (c.axis ?? -1));
      const rank = v.shape.length;
      if (!(axis === -1 || axis === rank - 1)) {
        b.problem(ln, op, `normalizes axis ${axis}; only the channel (last) axis is supported`);
        return undefined;
      }
      const ch = v.shape[1];
      const ones = (): Tensor => ({ dtype: 'float32', shape: [ch], data: new Float32Array(ch).fill(1) });
      const zeros = (): Tensor => ({ dtype: 'float32', shape: [ch], data: new Float32Array(ch) });
      const gamma = c.scale === false ? ones() : weight(ln, 'gamma', op);
      const beta = c.center === false ? zeros() : weight(ln, 'beta', op);
      const mean = weight(ln, 'moving_mean', op);
      const variance = weight(ln, 'moving_variance', op);
      if (!gamma || !beta || !mean || !variance) return undefined;
      const inputs = [
        x,
        b.init(`${ln}/gamma`, gamma),
        b.init(`${ln}/beta`, beta),
        b.init(`${ln}/moving_mean`, mean),
        b.init(`${ln}/moving_variance`, variance),
      ];
      const attrs: Attrs = { epsilon: Number(c.epsilon ?? 1e-3), momentum: Number(c.momentum ?? 0.99) };
      return b.node('BatchNormalization', ln, inputs, attrs, ln, v.shape, v.nhwc);
    }

    case 'ReLU': {
      const slope = Number(c.negative_slope ?? 0);
      const thr = Number(c.threshold ?? 0);
      if (slope !== 0 || thr !== 0) {
        b.problem(ln, op, `ReLU with negative_slope ${slope} / threshold ${thr} is not supported`);
        return undefined;
      }
      const v = b.val(x);
      const mx = c.max_value;
      if (mx === null || mx === undefined) return b.node('Relu', ln, [x], {}, ln, v.shape, v.nhwc);
      return b.node('Clip', ln, [x], { min: 0, max: Number(mx) }, ln, v.shape, v.nhwc);
    }

    case 'Activation':
      return b.activation(text(c.activation, 'linear'), x, ln, ln);

    case 'Softmax': {
      const axis = Number(c.axis ?? -1);
      const v = b.val(x);
      const a = v.nhwc ? nhwcAxis(axis) : axis;
      return b.node('Softmax', ln, [x], { axis: a }, ln, v.shape, v.nhwc);
    }

    case 'Add':
    case 'Multiply':
    case 'Subtract': {
      if (ins.length < 2 || (op === 'Subtract' && ins.length !== 2)) {
        b.problem(ln, op, `needs ${op === 'Subtract' ? 'exactly' : 'at least'} 2 inputs, got ${ins.length}`);
        return undefined;
      }
      const irOp: OpType = op === 'Add' ? 'Add' : op === 'Multiply' ? 'Mul' : 'Sub';
      const v = b.val(x);
      for (const i of ins) {
        const vi = b.val(i);
        if (vi.nhwc !== v.nhwc || vi.shape.join() !== v.shape.join()) {
          b.problem(ln, op, `input shapes differ ([${v.shape.join(',')}] vs [${vi.shape.join(',')}])`);
          return undefined;
        }
      }
      // ONNX Add/Mul are binary: chain them, the last one carrying the layer's name
      let acc = ins[0];
      for (let i = 1; i < ins.length; i++) {
        const last = i === ins.length - 1;
        acc = b.node(irOp, last ? ln : `${ln}/${i}`, [acc, ins[i]], {}, last ? ln : `${ln}/${i}`, v.shape, v.nhwc);
      }
      return acc;
    }

    case 'Concatenate':
      return b.concat(ln, ins, Number(c.axis ?? -1));

    case 'AveragePooling2D':
    case 'MaxPooling2D': {
      if (!need4d()) return undefined;
      const k = pair(c.pool_size, 2);
      const s = c.strides === null || c.strides === undefined ? k : pair(c.strides, 1);
      const padding = text(c.padding, 'valid');
      return emitPool(b, ln, op === 'AveragePooling2D' ? 'AveragePool' : 'MaxPool', x, k, s, padding, ln);
    }

    case 'GlobalAveragePooling2D': {
      if (!need4d()) return undefined;
      return b.globalAveragePool(ln, x, c.keepdims === true);
    }

    case 'Flatten': {
      const v = b.val(x);
      if (v.nhwc) return flattenNhwc(b, ln, x, ln);
      if (v.shape.length === 2) return x;
      const [n, ...rest] = v.shape;
      return b.node('Flatten', ln, [x], { axis: 1 }, ln, [n, numel(rest)], false);
    }

    case 'Dense': {
      const v = b.val(x);
      if (v.shape.length !== 2) {
        b.problem(ln, op, `Dense on a rank-${v.shape.length} input is not supported (rank 2 only)`);
        return undefined;
      }
      const kt = weight(ln, 'kernel', op);
      const useBias = c.use_bias !== false;
      const bt = useBias ? weight(ln, 'bias', op) : undefined;
      if (!kt || (useBias && !bt)) return undefined;
      const [fin, fout] = kt.shape;
      if (fin !== v.shape[1]) {
        b.problem(ln, op, `kernel [${kt.shape.join(',')}] does not fit ${v.shape[1]} input features`);
        return undefined;
      }
      const w = b.init(`${ln}/weight`, transpose2d(kt));
      const inputs = bt ? [x, w, b.init(`${ln}/bias`, bt)] : [x, w];
      const act = text(c.activation, 'linear');
      const y = b.node('Gemm', ln, inputs, { alpha: 1, beta: 1, transA: 0, transB: 1 }, act === 'linear' ? ln : `${ln}/preact`, [v.shape[0], fout], false);
      return b.activation(act, y, `${ln}/${act}`, ln);
    }

    default:
      // KERAS_LAYERS and this switch disagree: a bug here, reported like any other problem
      b.problem(ln, op, 'Keras layer type is not supported');
      return undefined;
  }
}

const KERAS_LAYERS = new Set([
  'InputLayer',
  'Dropout',
  'SpatialDropout2D',
  'GaussianDropout',
  'GaussianNoise',
  'AlphaDropout',
  'ZeroPadding2D',
  'Conv2D',
  'DepthwiseConv2D',
  'BatchNormalization',
  'ReLU',
  'Activation',
  'Softmax',
  'Add',
  'Multiply',
  'Subtract',
  'Concatenate',
  'AveragePooling2D',
  'MaxPooling2D',
  'GlobalAveragePooling2D',
  'Flatten',
  'Dense',
]);


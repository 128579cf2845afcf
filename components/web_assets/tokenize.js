// The tokenization of lineage's text-embedding modules, in the browser: what the module's graph
// does before its embedding lookup (components/hub.py, build_text_embedding), step for step.
//   ASCII letters lower-cased (tf.strings.lower); every character but a-z, 0-9, ' and space
//   becomes a space (tf.strings.regex_replace); split on whitespace (tf.strings.split); each
//   token's index in vocabulary.txt, unknown tokens the one out-of-vocabulary bucket (its
//   length). A batch is padded with -1 to its longest sentence: the web model ignores padding.
// Usage: const tok = await lineageTokenizer(new URL("web_model/", location.href).href); const ids = tok.encode(["Great ramen!"]);
//        model.execute({ids: tf.tensor2d(ids.values, ids.shape, "int32")})
(function (root) {
  "use strict";
  async function lineageTokenizer(base) {
    const spec = await (await fetch(base + "tokenizer.json")).json();
    const words = (await (await fetch(base + spec.vocabulary)).text()).split("\n").filter((w) => w.length);
    const index = new Map(words.map((w, i) => [w, i]));
    const tokens = (text) => text
      .replace(/[A-Z]/g, (c) => c.toLowerCase())
      .replace(/[^a-z0-9' ]/gu, " ")
      .split(/\s+/).filter((t) => t.length);
    function encode(texts) {
      const ids = texts.map((t) => tokens(String(t)).map((w) => (index.has(w) ? index.get(w) : spec.oov_id)));
      const width = Math.max(1, ...ids.map((r) => r.length));
      const values = new Int32Array(texts.length * width).fill(spec.pad_id);
      ids.forEach((r, i) => r.forEach((v, j) => { values[i * width + j] = v; }));
      return {values: values, shape: [texts.length, width]};
    }
    return {spec: spec, tokens: tokens, encode: encode};
  }
  root.lineageTokenizer = lineageTokenizer;
})(typeof window !== "undefined" ? window : globalThis);

// encode.mjs loads a tokenizer folder (tokenizer.json + tokenizer_config.json)
// with transformers.js's tokenizers (@lenml/tokenizers) and prints, as one
// JSON array, the ids of each text of the JSON array read from stdin,
// without special tokens, and the ids with them for the first text. The Go
// tests of tokenizer/ use it to check that the files golora writes load in
// transformers as golora reads them.
//
// Usage: node encode.mjs DIR < texts.json
import fs from "node:fs";
import path from "node:path";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node encode.mjs DIR < texts.json");
  process.exit(2);
}
const { TokenizerLoader } = await import("@lenml/tokenizers");
const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: read("tokenizer.json"),
  tokenizerConfig: read("tokenizer_config.json"),
});
const texts = JSON.parse(fs.readFileSync(0, "utf8"));
const ids = texts.map((t) => tok.encode(t, { add_special_tokens: false }));
const withSpecial = tok.encode(texts[0], { add_special_tokens: true });
process.stdout.write(JSON.stringify({ ids, with_special: withSpecial }));

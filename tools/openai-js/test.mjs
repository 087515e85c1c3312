// Drives a running golora serve with the official openai npm client.
// Usage: node test.mjs BASE_URL API_KEY EXPECTED_JSON
// EXPECTED_JSON: {"base": name, "prompt": p, "user": u, "max_tokens": n,
// "completion": {model: text}, "chat": {model: text}, "reload": dir} —
// each model's greedy answers when sent alone.
import OpenAI from "openai";

const [baseURL, apiKey, expectedJSON] = process.argv.slice(2);
const want = JSON.parse(expectedJSON);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
let checks = 0;
function check(cond, msg) {
  if (!cond) throw new Error(msg);
  checks++;
}
async function completion(model) {
  const r = await client.completions.create({ model, prompt: want.prompt, max_tokens: want.max_tokens, temperature: 0 });
  check(r.object === "text_completion" && r.usage.completion_tokens > 0, `completion shape ${JSON.stringify(r)}`);
  return r.choices[0].text;
}
async function chat(model) {
  const r = await client.chat.completions.create({
    model, temperature: 0, max_tokens: want.max_tokens,
    messages: [{ role: "system", content: "You tell stories." }, { role: "user", content: want.user }],
  });
  check(r.object === "chat.completion" && r.choices[0].message.role === "assistant", `chat shape ${JSON.stringify(r)}`);
  return r.choices[0].message.content;
}

// Listing.
const models = [];
for await (const m of client.models.list()) models.push(m.id);
check(models[0] === want.base && JSON.stringify([...models].sort()) === JSON.stringify(Object.keys(want.completion).sort()), `models ${models}`);

// Completions and chat per model.
for (const model of models) {
  const c = await completion(model);
  check(c === want.completion[model], `${model} completion ${JSON.stringify(c)} != ${JSON.stringify(want.completion[model])}`);
  const h = await chat(model);
  check(h === want.chat[model], `${model} chat ${JSON.stringify(h)} != ${JSON.stringify(want.chat[model])}`);
}

// Streaming chat with usage.
for (const model of models) {
  const stream = await client.chat.completions.create({
    model, temperature: 0, max_tokens: want.max_tokens, stream: true, stream_options: { include_usage: true },
    messages: [{ role: "system", content: "You tell stories." }, { role: "user", content: want.user }],
  });
  let text = "", finish = null, usage = null, first = true;
  for await (const chunk of stream) {
    if (first) check(chunk.choices[0].delta.role === "assistant", "first delta has no role");
    first = false;
    for (const ch of chunk.choices) {
      text += ch.delta.content ?? "";
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  check(text === want.chat[model], `${model} streamed ${JSON.stringify(text)}`);
  check(finish === "stop" || finish === "length", `finish_reason ${finish}`);
  check(usage && usage.completion_tokens > 0, "no usage chunk");
}

// Many concurrent clients mixing models: each equals its answer alone.
const jobs = [];
for (let i = 0; i < 24; i++) {
  const model = models[i % models.length];
  jobs.push(i % 2 ? chat(model).then((t) => [t, want.chat[model], model]) : completion(model).then((t) => [t, want.completion[model], model]));
}
for (const [got, exp, model] of await Promise.all(jobs)) check(got === exp, `${model} in a batch: ${JSON.stringify(got)} != ${JSON.stringify(exp)}`);

// Errors map to the SDK's classes.
async function fails(p, cls, what) {
  try {
    await p;
  } catch (e) {
    check(e instanceof cls, `${what}: ${e.constructor.name} ${e.message}`);
    return;
  }
  throw new Error(`${what}: no error`);
}
await fails(client.completions.create({ model: "nope", prompt: "x" }), OpenAI.NotFoundError, "unknown model");
await fails(client.completions.create({ model: want.base, prompt: "x", max_tokens: -1 }), OpenAI.BadRequestError, "negative max_tokens");
await fails(client.chat.completions.create({ model: want.base, messages: [{ role: "wizard", content: "x" }] }), OpenAI.BadRequestError, "unknown role");
const wrong = new OpenAI({ baseURL, apiKey: "wrong", maxRetries: 0 });
await fails(wrong.models.list(), OpenAI.AuthenticationError, "wrong key");

// Runtime load and unload through the client's generic methods.
const loaded = await client.post("/adapters", { body: { name: "js", path: want.reload } });
check(loaded.id === "js", `load ${JSON.stringify(loaded)}`);
const again = await client.completions.create({ model: "js", prompt: want.prompt, max_tokens: want.max_tokens, temperature: 0 });
check(again.choices[0].text === want.completion[want.reload], "reloaded adapter differs");
await client.delete("/adapters/js");
await fails(client.completions.create({ model: "js", prompt: "x" }), OpenAI.NotFoundError, "unloaded adapter");

console.log(`ok ${checks} checks`);

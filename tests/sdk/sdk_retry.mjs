// Drives llmgate's 429 of a client key with the official OpenAI Node SDK,
// unmodified: one chat completion with maxRetries RETRIES. Prints one JSON
// object: what the SDK returned (or its error) and how long it took, so the
// test can tell whether the SDK waited what retry-after-ms asked.
// Usage: node sdk_retry.mjs GATEWAY_URL MODEL API_KEY RETRIES
import OpenAI from "openai";

const [gateway, model, apiKey, retries] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${gateway}/v1`, apiKey, maxRetries: Number(retries) });
const started = Date.now();
const out = {};
try {
  const data = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] });
  out.content = data.choices[0].message.content;
} catch (e) {
  out.error = { status: e.status ?? null, message: String(e.message ?? e) };
}
out.ms = Date.now() - started;
console.log(JSON.stringify(out));

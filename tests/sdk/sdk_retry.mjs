// Drives llmgate's 429 of a client key with the official OpenAI Node SDK,
// unmodified. A slow request of the key goes first (plain fetch, the stub
// answering after SLOW_MS), so that a key with max_parallel_requests: 1 is
// full; 300 ms later the SDK sends one chat completion with maxRetries
// RETRIES. Prints one JSON object: what the SDK returned (or its error), how
// long it took and the slow request's status, so the test can tell whether
// the SDK waited what retry-after-ms asked.
// Usage: node sdk_retry.mjs GATEWAY_URL MODEL API_KEY RETRIES SLOW_MS
import OpenAI from "openai";

const [gateway, model, apiKey, retries, slowMs] = process.argv.slice(2);
const messages = [{ role: "user", content: "hi" }];
const slow = fetch(`${gateway}/v1/chat/completions`, {
  method: "POST",
  headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
  body: JSON.stringify({ model, messages, x_stub: { delay_ms: Number(slowMs) } }),
});
await new Promise((resolve) => setTimeout(resolve, 300));

const client = new OpenAI({ baseURL: `${gateway}/v1`, apiKey, maxRetries: Number(retries) });
const started = Date.now();
const out = {};
try {
  const data = await client.chat.completions.create({ model, messages });
  out.content = data.choices[0].message.content;
} catch (e) {
  out.error = { status: e.status ?? null, message: String(e.message ?? e) };
}
out.ms = Date.now() - started;
out.slow_status = (await slow).status;
console.log(JSON.stringify(out));

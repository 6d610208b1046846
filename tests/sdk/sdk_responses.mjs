// Drives llmgate's Responses API with the official OpenAI Node SDK, unmodified:
// responses.create plain and streamed (events iterated to response.completed),
// retrieve, inputItems.list, cancel (of a background response), del, and a
// follow-up with previous_response_id. Through `OpenAI` with a /v1 base URL
// (openai), `AzureOpenAI` (azure: the SDK's /openai/responses?api-version=),
// or `OpenAI` with an Azure v1 base URL (v1: /openai/v1). Prints one JSON
// object with what the SDK returned.
// Usage: node sdk_responses.mjs openai|azure|v1 GATEWAY_URL MODEL API_KEY
import OpenAI, { AzureOpenAI } from "openai";

const [mode, gateway, model, apiKey] = process.argv.slice(2);
const client =
  mode === "azure"
    ? new AzureOpenAI({ endpoint: gateway, apiKey, apiVersion: "2025-04-01-preview", maxRetries: 0 })
    : new OpenAI({ baseURL: mode === "v1" ? `${gateway}/openai/v1` : `${gateway}/v1`, apiKey, maxRetries: 0 });

const out = {};
try {
  const { data, response } = await client.responses
    .create({ model, input: "hello" })
    .withResponse();
  out.plain = {
    id: data.id,
    text: data.output_text,
    status: data.status,
    deployment: response.headers.get("x-llmgate-deployment"),
  };

  const stream = await client.responses.create({ model, input: "hello", stream: true });
  const types = [];
  let text = "";
  let completed = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === "response.output_text.delta") text += event.delta;
    if (event.type === "response.completed") completed = event.response.id;
  }
  out.stream = { types, text, completed };

  const got = await client.responses.retrieve(data.id);
  out.retrieve = { id: got.id, text: got.output?.[0]?.content?.[0]?.text ?? null };
  const items = [];
  for await (const item of client.responses.inputItems.list(data.id)) items.push(item);
  out.input_items = items.map((i) => i.content?.[0]?.text ?? null);

  const follow = await client.responses.create({ model, input: "and then?", previous_response_id: data.id });
  out.follow = { previous: follow.previous_response_id, status: follow.status };

  const bg = await client.responses.create({ model, input: "later", background: true });
  const cancelled = await client.responses.cancel(bg.id);
  out.cancel = { queued: bg.status, status: cancelled.status };

  await client.responses.del(data.id);
  try {
    await client.responses.retrieve(data.id);
    out.after_delete = { status: 200 };
  } catch (e) {
    out.after_delete = { status: e.status };
  }
} catch (e) {
  out.error = { status: e.status ?? null, message: String(e.message ?? e) };
}
console.log(JSON.stringify(out));

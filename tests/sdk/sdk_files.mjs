// Drives llmgate's files-API pass-through with the official OpenAI Node SDK,
// unmodified: a multipart file upload, a batch create and retrieve that name it,
// the file's content, through `OpenAI` (baseURL) or `AzureOpenAI` (the Azure
// SDK's /openai/files?api-version=... spelling). Prints one JSON object.
// Usage: node sdk_files.mjs openai|azure GATEWAY_URL API_KEY
import OpenAI, { AzureOpenAI, toFile } from "openai";

const [mode, gateway, apiKey] = process.argv.slice(2);
const client =
  mode === "azure"
    ? new AzureOpenAI({ endpoint: gateway, apiKey, apiVersion: "2024-10-21", maxRetries: 0 })
    : new OpenAI({ baseURL: `${gateway}/v1`, apiKey, maxRetries: 0 });

const line = JSON.stringify({
  custom_id: "r1",
  method: "POST",
  url: "/v1/chat/completions",
  body: { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] },
});
const out = {};
try {
  const { data: file, response } = await client.files
    .create({ file: await toFile(Buffer.from(line + "\n"), "batch.jsonl"), purpose: "batch" })
    .withResponse();
  out.file = { id: file.id, bytes: file.bytes, purpose: file.purpose, route: response.headers.get("x-llmgate-route") };
  const endpoint = mode === "azure" ? "/chat/completions" : "/v1/chat/completions";
  const batch = await client.batches.create({ input_file_id: file.id, endpoint, completion_window: "24h" });
  const again = await client.batches.retrieve(batch.id);
  out.batch = { id: batch.id, status: again.status, input_file_id: again.input_file_id };
  const content = await client.files.content(file.id);
  out.content = await content.text();
  try {
    await client.batches.create({ input_file_id: "file-nope", endpoint, completion_window: "24h" });
    out.bad = { status: 200 };
  } catch (e) {
    out.bad = { status: e.status, message: e.message };
  }
} catch (e) {
  out.error = { status: e.status ?? null, message: String(e.message ?? e) };
}
console.log(JSON.stringify(out));

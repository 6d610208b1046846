// Drives llmgate's images, audio and moderations routes with the official OpenAI Node SDK,
// unmodified: images.generate, images.edit (an image and a mask, multipart), audio.speech
// (audio bytes), audio.transcriptions and audio.translations (an audio file uploaded from
// disk, multipart; json, text, srt and vtt answers) and moderations, through `OpenAI`
// (baseURL GATEWAY/v1 or, mode v1, GATEWAY/openai/v1) or `AzureOpenAI` (the Azure-SDK
// ingress, the group as the deployment). Prints one JSON object with what the SDK returned.
// Usage: node sdk_media.mjs openai|v1|azure GATEWAY_URL AUDIO_FILE API_KEY
import fs from "node:fs";
import OpenAI, { AzureOpenAI, toFile } from "openai";

const [mode, gateway, audioFile, apiKey] = process.argv.slice(2);
const client =
  mode === "azure"
    ? new AzureOpenAI({ endpoint: gateway, apiKey, apiVersion: "2025-04-01-preview", maxRetries: 0 })
    : new OpenAI({ baseURL: mode === "v1" ? `${gateway}/openai/v1` : `${gateway}/v1`, apiKey, maxRetries: 0 });

const png = (n) => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.alloc(n)]);
const out = {};
try {
  const gen = await client.images.generate({ model: "painter", prompt: "a lighthouse" });
  out.generate = gen.data[0].revised_prompt;

  const edit = await client.images.edit({
    model: "painter",
    image: await toFile(png(2000), "photo.png", { type: "image/png" }),
    mask: await toFile(png(500), "mask.png", { type: "image/png" }),
    prompt: "add a hat",
  });
  out.edit = edit.data[0].revised_prompt;

  const speech = await client.audio.speech.create({ model: "tts", input: "hello there", voice: "alloy" });
  const audio = Buffer.from(await speech.arrayBuffer());
  out.speech = { type: speech.headers.get("content-type"), bytes: audio.length, head: audio.subarray(0, 40).toString("latin1") };

  out.transcriptions = {};
  for (const format of ["json", "text", "srt", "vtt"]) {
    const t = await client.audio.transcriptions.create({
      model: "whisper",
      file: fs.createReadStream(audioFile),
      response_format: format,
    });
    out.transcriptions[format] = typeof t === "string" ? t : t.text;
  }
  const tr = await client.audio.translations.create({ model: "whisper", file: fs.createReadStream(audioFile) });
  out.translation = tr.text;

  if (mode !== "azure") {
    const mod = await client.moderations.create({ model: "omni-mod", input: ["fine", "also fine"] });
    out.moderation = { results: mod.results.length, model: mod.model };
    const dflt = await client.moderations.create({ input: "no model" });
    out.moderation_default = { results: dflt.results.length, model: dflt.model };
  }
} catch (e) {
  out.error = { status: e.status ?? null, message: String(e.message ?? e) };
}
console.log(JSON.stringify(out));

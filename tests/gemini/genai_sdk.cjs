// The official Google GenAI SDK for JavaScript (@google/genai) through the gateway: a
// function-calling round trip (the first turn streamed, the second not), countTokens, the
// model list and an error. Usage: node genai_sdk.cjs <base url> <key> <model>
// (NODE_PATH names the node_modules the test installed).
const assert = require("node:assert/strict");
const { GoogleGenAI, Type } = require("@google/genai");

const [base, key, model] = process.argv.slice(2);
const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: base } });
const tools = [
  {
    functionDeclarations: [
      {
        name: "run_shell_command",
        description: "Runs a shell command and returns its output",
        parameters: {
          type: Type.OBJECT,
          properties: { command: { type: Type.STRING, description: "the command" } },
          required: ["command"],
        },
      },
    ],
  },
];

async function main() {
  const contents = [
    { role: "user", parts: [{ text: "Run `echo relay-ok-42` and tell me what it printed." }] },
  ];
  const calls = [];
  let usage;
  const stream = await ai.models.generateContentStream({ model, contents, config: { tools } });
  for await (const chunk of stream) {
    calls.push(...(chunk.functionCalls ?? []));
    usage = chunk.usageMetadata ?? usage;
  }
  assert.equal(calls.length, 1, JSON.stringify(calls));
  assert.equal(calls[0].name, "run_shell_command");
  assert.deepEqual(calls[0].args, { command: "echo relay-ok-42" });
  assert.ok(usage && usage.totalTokenCount > 0, JSON.stringify(usage));

  contents.push({ role: "model", parts: calls.map((functionCall) => ({ functionCall })) });
  contents.push({
    role: "user",
    parts: [
      {
        functionResponse: {
          id: calls[0].id,
          name: calls[0].name,
          response: { output: "relay-ok-42\n" },
        },
      },
    ],
  });
  const answer = await ai.models.generateContent({ model, contents, config: { tools } });
  assert.match(answer.text, /relay-ok-42/);
  assert.equal(answer.candidates[0].finishReason, "STOP");
  assert.ok(answer.usageMetadata.promptTokenCount > 0);

  const counted = await ai.models.countTokens({ model, contents });
  assert.ok(counted.totalTokens > 0, JSON.stringify(counted));

  const info = await ai.models.get({ model });
  assert.equal(info.name, `models/${model}`);
  const names = [];
  for await (const m of await ai.models.list()) names.push(m.name);
  assert.ok(names.includes(`models/${model}`), JSON.stringify(names));

  const stranger = new GoogleGenAI({ apiKey: "sk-wrong", httpOptions: { baseUrl: base } });
  await assert.rejects(
    stranger.models.generateContent({ model, contents: "hi" }),
    (e) => e.status === 401 && /API key/.test(e.message),
  );
  console.log("genai round trip OK");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

#!/usr/bin/env node
// A Node.js client of the gateway, from the contracts alone: loads protos/ at run time (no generated
// code), creates a run, follows WatchRun from the first event until the run ends, then prints one JSON
// line with what it saw. tests/test_node_client.py runs it against a real stack.
//
//   node run_and_watch.js [--gateway HOST:PORT] [--competition ID] [--agent NAME] [--env KEY=VALUE ...]
//
// The token comes from MLEREDUX_TOKEN (sent as `authorization: Bearer <token>`); the gateway from
// --gateway or MLEREDUX_GATEWAY (default 127.0.0.1:50051). Exit status 0 when the run SUCCEEDED.
"use strict";

const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTOS = path.resolve(__dirname, "..", "..", "protos");
const WATCH_DEADLINE_MS = 10 * 60 * 1000;

function parseArgs(argv) {
  const args = { gateway: process.env.MLEREDUX_GATEWAY || "127.0.0.1:50051", competition: "demo-digits", agent: "dummy", env: {} };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--gateway") args.gateway = value;
    else if (flag === "--competition") args.competition = value;
    else if (flag === "--agent") args.agent = value;
    else if (flag === "--env") {
      const eq = value.indexOf("=");
      if (eq < 1) throw new Error(`--env wants KEY=VALUE, got ${value}`);
      args.env[value.slice(0, eq)] = value.slice(eq + 1);
    } else throw new Error(`unknown argument ${flag}`);
  }
  return args;
}

function loadGateway() {
  const definition = protoLoader.loadSync(path.join(PROTOS, "mleredux", "v1", "gateway.proto"), {
    includeDirs: [PROTOS],
    keepCase: true, // field names exactly as in the .proto files
    longs: Number,
    enums: String, // enum values by name, e.g. RUN_STATE_SUCCEEDED
    defaults: true,
    oneofs: true, // each oneof's name holds which field is set
  });
  const v1 = grpc.loadPackageDefinition(definition).mleredux.v1;
  return { GatewayService: v1.GatewayService, definition };
}

// The request message's field names, read from the loaded proto, so the client follows the contract.
function fieldsOf(definition, methodName) {
  const method = definition["mleredux.v1.GatewayService"][methodName];
  return new Set(method.requestType.type.field.map((f) => f.name));
}

function call(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

function watch(client, request, metadata) {
  return new Promise((resolve, reject) => {
    const seqs = [];
    const states = [];
    let report = null;
    const deadline = new Date(Date.now() + WATCH_DEADLINE_MS);
    const stream = client.WatchRun(request, metadata, { deadline });
    stream.on("data", (batch) => {
      for (const event of batch.events) {
        seqs.push(Number(event.seq));
        if (event.payload === "status_change") states.push(event.status_change.state);
        if (event.payload === "report") report = event.report;
      }
    });
    stream.on("error", reject);
    stream.on("end", () => resolve({ seqs, states, report }));
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const token = process.env.MLEREDUX_TOKEN;
  if (!token) throw new Error("set MLEREDUX_TOKEN to an API token (mlx_...)");
  const { GatewayService, definition } = loadGateway();
  const client = new GatewayService(args.gateway, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  try {
    const create = { competition_id: args.competition, agent: args.agent };
    if (Object.keys(args.env).length > 0 && fieldsOf(definition, "CreateRun").has("env")) create.env = args.env;
    const created = await call(client, "CreateRun", create, metadata);
    // CreateRun answers a CreateRunResponse holding the run (older gateways answered the Run itself).
    const run = created.run || created;

    // Unset seq fields mean "from the beginning" whatever the field is called (from_seq, after_seq).
    const watched = await watch(client, { run_id: run.run_id }, metadata);
    const got = await call(client, "GetRun", { run_id: run.run_id }, metadata);
    const final = got.run || got; // a GetRunResponse holds the run
    const gapFree = watched.seqs.length > 0 && watched.seqs.every((seq, i) => seq === i + 1);
    const result = {
      run_id: run.run_id,
      state: final.state,
      failure_reason: final.failure_reason,
      message: final.message,
      last_seq: Number(final.last_seq),
      events: watched.seqs.length,
      first_seq: watched.seqs[0] ?? null,
      max_seq: watched.seqs.length ? Math.max(...watched.seqs) : null,
      gap_free: gapFree,
      states: watched.states,
      score: watched.report ? watched.report.score : null,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return final.state === "RUN_STATE_SUCCEEDED" ? 0 : 1;
  } finally {
    client.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    // One line for people; a gRPC error carries its status code name and the server's message.
    const code = err.code !== undefined ? ` (${grpc.status[err.code] || err.code})` : "";
    process.stderr.write(`run_and_watch: ${err.details || err.message}${code}\n`);
    process.exit(2);
  },
);

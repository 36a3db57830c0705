/** Path and query parameter helpers: requireParam, requireQuery, queryParams, MissingParamError. */
import { z } from "zod";
import {
  App,
  assert,
  type AuthResult,
  Consumer,
  memoryLogger,
  message,
  type MessageOf,
  MissingParamError,
  queryParams,
  requireParam,
  requireQuery,
  setLogger,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";

const WhereAmI = message("where_am_i");
const Here = message(
  "here",
  z.object({ room: z.string(), token: z.string(), tags: z.array(z.string()) }),
);
const Misread = message("misread");

class RoomConsumer extends Consumer {
  static override layer: null = null;
  static override sendCompletion = true;
  token = "";

  override authenticate(_request: Request): AuthResult {
    try {
      this.token = requireQuery(this, "token");
    } catch (error) {
      if (error instanceof MissingParamError) return error.response();
      throw error;
    }
    return true;
  }

  @wsHandler(WhereAmI, { output: Here })
  handleWhereAmI(_m: MessageOf<typeof WhereAmI>): MessageOf<typeof Here> {
    return Here.create({
      room: requireParam(this, "roomName"),
      token: this.token,
      tags: queryParams(this).tag ?? [],
    });
  }

  /** Reads a parameter the route does not have. */
  @wsHandler(Misread)
  handleMisread(_m: MessageOf<typeof Misread>): void {
    requireParam(this, "room");
  }
}

const app = new App().ws("/rooms/:roomName", RoomConsumer);

Deno.test("a consumer reads its required path and query parameters", async () => {
  await using comm = await WebsocketCommunicator.connect(
    app,
    "/rooms/lobby?token=t0k&tag=a&tag=b%20c",
    { consumer: RoomConsumer },
  );
  await comm.sendMessage(WhereAmI.create());
  assert.deepEqual(await comm.receiveAllMessages(), [
    Here.create({ room: "lobby", token: "t0k", tags: ["a", "b c"] }),
  ]);
});

Deno.test("a missing or empty required query parameter refuses the upgrade with 400 naming it", async () => {
  for (const path of ["/rooms/lobby", "/rooms/lobby?token=", "/rooms/lobby?tokens=x"]) {
    const comm = new WebsocketCommunicator(app, path, { consumer: RoomConsumer });
    const result = await comm.connect();
    assert.equal(result.accepted, false, path);
    assert.equal(result.status, 400, path);
    assert.equal(result.body, "Missing query parameter 'token'", path);
  }
});

Deno.test("reading a path parameter the route does not have is an error frame, not a crash", async () => {
  await using comm = await WebsocketCommunicator.connect(app, "/rooms/lobby?token=x", {
    consumer: RoomConsumer,
  });
  const logger = memoryLogger();
  const previous = setLogger(logger);
  try {
    await comm.sendMessage(Misread.create());
    assert.deepEqual(await comm.receiveAllMessages(), [{
      action: "error",
      payload: { detail: "Failed to process message for misread" },
    }]);
  } finally {
    setLogger(previous);
  }
  const logged = logger.lines.find((l) => l.level === "error");
  assert.equal(logged?.message, "Handler error for action 'misread'");
  assert.equal(
    (logged?.fields?.error as Error).message,
    `No path parameter 'room' on this route (got ["roomName"])`,
  );
});

Deno.test("requireParam: the value, or MissingParamError listing what the route has", () => {
  const source = { params: { roomName: "lobby", empty: "" } };
  assert.equal(requireParam(source, "roomName"), "lobby");
  assert.equal(requireParam(source, "empty"), "");
  for (const name of ["room", "constructor", "__proto__", "toString"]) {
    assert.throws(() => requireParam(source, name), (e: Error) => {
      assert.ok(e instanceof MissingParamError);
      assert.equal(e.param, name);
      assert.equal(e.location, "path");
      assert.equal(
        e.message,
        `No path parameter '${name}' on this route (got ["roomName","empty"])`,
      );
      return true;
    });
  }
});

Deno.test("requireQuery and queryParams accept URLSearchParams too", async () => {
  const query = new URLSearchParams("a=1&a=2&b=&__proto__=x&constructor=y");
  assert.equal(requireQuery(query, "a"), "1");
  assert.throws(() => requireQuery(query, "b"), { name: "MissingParamError" });
  const all = queryParams(query);
  assert.deepEqual(Object.keys(all), ["a", "b", "__proto__", "constructor"]);
  assert.deepEqual(all.a, ["1", "2"]);
  assert.deepEqual(all.b, [""]);
  assert.deepEqual(Object.getOwnPropertyDescriptor(all, "__proto__")?.value, ["x"]);
  assert.equal(Object.getPrototypeOf(all), Object.prototype);
  assert.deepEqual(queryParams(new URLSearchParams()), {});

  const error = new MissingParamError("query", "token");
  const response = error.response();
  assert.equal(response.status, 400);
  assert.equal(await response.text(), "Missing query parameter 'token'");
});

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
  type PathParams,
  queryParams,
  requireParam,
  requireQuery,
  setLogger,
  WebsocketCommunicator,
  wsHandler,
} from "./deps.ts";
import { compilePath } from "../../src/app/route.ts";

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

// ---- path parameters typed from the route, checked on read ---------------------------------

const Join = message("join");
const Joined = message("joined", z.object({ group: z.string() }));

/** The mistake: mounted on `/:room`, reads `roomName` (typed as any name: no declaration). */
class MisreadingConsumer extends Consumer {
  static override layer: null = null;
  static override sendCompletion = true;
  @wsHandler(Join, { output: Joined })
  handleJoin(_m: MessageOf<typeof Join>): MessageOf<typeof Joined> {
    return Joined.create({ group: `room.${this.params.roomName}` });
  }
}

/** Declares the parameter it reads: `this.params.room` is typed, `this.params.roomName` is not. */
class DeclaringConsumer extends Consumer<never, "room"> {
  static override layer: null = null;
  static override sendCompletion = true;
  @wsHandler(Join, { output: Joined })
  handleJoin(_m: MessageOf<typeof Join>): MessageOf<typeof Joined> {
    const never = false as boolean;
    // @ts-expect-error: not a declared parameter
    if (never) void this.params.roomName;
    return Joined.create({ group: `room.${this.params.room}` });
  }
}

Deno.test("reading a path parameter the route lacks throws MissingParamError, never undefined", async () => {
  const misApp = new App().ws("/ws/room/:room", MisreadingConsumer);
  await using comm = await WebsocketCommunicator.connect(misApp, "/ws/room/lobby");
  const logger = memoryLogger();
  const previous = setLogger(logger);
  try {
    await comm.sendMessage(Join.create());
    // Before: [{action: "joined", payload: {group: "room.undefined"}}]
    assert.deepEqual(await comm.receiveAllMessages(), [{
      action: "error",
      payload: { detail: "Failed to process message for join" },
    }]);
  } finally {
    setLogger(previous);
  }
  const error = logger.lines.find((l) => l.level === "error")?.fields?.error;
  assert.ok(error instanceof MissingParamError);
  assert.equal(error.message, `No path parameter 'roomName' on this route (got ["room"])`);
});

Deno.test("the params object: declared names read, probes answer undefined, plain-object behaviour", async () => {
  const okApp = new App().ws("/ws/room/:room", DeclaringConsumer);
  await using comm = await WebsocketCommunicator.connect(okApp, "/ws/room/lob%20by");
  await comm.sendMessage(Join.create());
  assert.deepEqual(await comm.receiveAllMessages(), [Joined.create({ group: "room.lob by" })]);
  const params = comm.consumer!.params as Record<string, unknown>;
  assert.deepEqual({ ...params }, { room: "lob by" });
  assert.equal(JSON.stringify(params), `{"room":"lob by"}`);
  assert.equal("roomName" in params, false);
  assert.equal(Object.hasOwn(params, "roomName"), false);
  assert.equal(params.then, undefined); // awaiting or returning it from an async function works
  assert.equal(await Promise.resolve(params), params);
  assert.ok(Object.isFrozen(params));
  assert.throws(() => params.roomName, MissingParamError);
  assert.deepEqual(params, { room: "lob by" }); // last: it narrows the type of `params`
});

Deno.test("a route parameter named like an Object.prototype key stays an own value", () => {
  const pattern = compilePath("/a/:__proto__/:constructor");
  const params = pattern.match("/a/x/y")!;
  assert.deepEqual(Object.keys(params), ["__proto__", "constructor"]);
  assert.equal(Object.getOwnPropertyDescriptor(params, "__proto__")?.value, "x");
  assert.equal(Object.getPrototypeOf(params), Object.prototype);
});

Deno.test("types: app.ws refuses a route that lacks a declared parameter", () => {
  type Equal<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false;
  const yes: Equal<PathParams<"/ws/room/:room/:user">, "room" | "user"> = true;
  const none: Equal<PathParams<"/ws/system">, never> = true;
  const loose: Equal<PathParams<string>, string> = true;
  const notMid: Equal<PathParams<"/a:b/c">, never> = true;
  assert.ok(yes && none && loose && notMid);

  const app = new App();
  app.ws("/ws/room/:room", DeclaringConsumer);
  app.ws("/ws/:org/room/:room", DeclaringConsumer); // extra parameters are fine
  app.ws("/ws/room/:room", MisreadingConsumer); // declares nothing: any route compiles
  // @ts-expect-error: the route has `roomName`, the consumer reads `room`
  app.ws("/ws/room/:roomName", DeclaringConsumer);
  const dynamic: string = "/ws/room/:roomName";
  app.ws(dynamic, DeclaringConsumer); // a path typed as string cannot be checked

  // HTTP routes: params typed from the path too
  app.get("/hello/:name", (_request, { params }) => {
    const name: string = params.name;
    // @ts-expect-error: not a parameter of this route
    void params.nope;
    return new Response(name);
  });
});

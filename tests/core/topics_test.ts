import {
  App,
  assert,
  Consumer,
  DefinitionError,
  InMemoryChannelLayerForTests,
  Topic,
} from "./deps.ts";
import { topicsSuite } from "./topics_suite.ts";

topicsSuite("memory", () => new InMemoryChannelLayerForTests());

Deno.test("mounting: a topic on another layer than its host, or a standalone route without its params", () => {
  class T extends Topic {
    static override pattern = "t:{id}";
    static override layer = "elsewhere";
  }
  class Host extends Consumer {
    static override layer = "here";
    static override topics = [T];
  }
  assert.throws(
    () => new App().ws("/h", Host),
    (e: Error) =>
      e instanceof DefinitionError &&
      /T broadcasts on layer 'elsewhere' but Host subscribes on 'here'/.test(e.message),
  );
  assert.throws(
    () => new App().ws("/t", T.asConsumer()),
    /default topic pattern 't:\{id\}' needs URL parameters \["id"\]/,
  );
  assert.throws(() =>
    new App().ws(
      "/t",
      class extends Consumer {
        static override topics = [class extends Topic {}];
      },
    ), /has no static pattern/);
});

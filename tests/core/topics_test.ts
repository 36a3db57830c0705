import { InMemoryChannelLayerForTests } from "./deps.ts";
import { topicsSuite } from "./topics_suite.ts";

topicsSuite("memory", () => new InMemoryChannelLayerForTests());

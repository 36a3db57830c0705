/** The runtime suite on the in-process transport: the communicator is the socket, no port. */
import { runtimeSuite } from "./suite.ts";

runtimeSuite("in-process", {
  start: (app) =>
    Promise.resolve({
      url: undefined, // the communicator drives app.upgrade() directly
      httpUrl: "http://localhost", // the origin of the in-process transport's requests
      close: () => app.close({ closeLayers: false }),
    }),
  capabilities: { pings: false },
});

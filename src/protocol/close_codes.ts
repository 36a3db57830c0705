/**
 * The WebSocket close codes the core sends (and the one it reports for a socket that ended without
 * a closing handshake).
 *
 * @module
 */

/** WebSocket close codes the core uses. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  /** Reported to `onDisconnect` when the socket ended without a closing handshake. */
  abnormal: 1006,
  tooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
} as const;

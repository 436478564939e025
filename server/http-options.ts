// Fastify options shared by every process's HTTP server.

const HEADERS_MAX_BYTES = 16 * 1024;

export const httpServerOptions = {
  logger: false,
  // Limits on the HTTP requests themselves, set here rather than left to Node's
  // defaults and flags: headers (and the request line) up to 16 KiB, else 431; the
  // headers within 10 s and the whole request within 15 s, else 408 and the socket is
  // closed (fastify turns Node's request timeout off by default, so a client sending
  // its body a byte a minute would hold its socket for ever). Checked every second.
  http: { maxHeaderSize: HEADERS_MAX_BYTES, headersTimeout: 10_000, connectionsCheckingInterval: 1000 },
  requestTimeout: 15_000,
  // Fastify's default silently strips unknown fields and coerces types; a body with a
  // field we do not know is more likely a mistake the sender should hear about.
  ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
} as const;

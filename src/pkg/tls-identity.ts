// Who a client proved to be at the transport: with --client-cert-auth on a TLS client port, the common
// name (CN) of its verified certificate. The gRPC side reads it from the connection (Call.tlsCommonName);
// HTTP/1.1 requests (gRPC-web, the JSON gateway) are tagged here by the listener, because the Request
// object the handlers see has no socket. Auth uses the name as the user when no token is sent, as etcd.
const names = new WeakMap<Request, string>();

/** Called by the HTTP/1.1 listener for each request on a connection with a verified client certificate. */
export function setRequestCommonName(req: Request, commonName: string | undefined): void {
  if (commonName) names.set(req, commonName);
}

/** The verified client certificate's CN for this request; undefined without one (or on a cleartext port). */
export function requestCommonName(req: Request): string | undefined {
  return names.get(req);
}

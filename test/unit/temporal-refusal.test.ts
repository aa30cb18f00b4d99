import { describe, expect, it } from 'vitest';
import { isTemporalUnavailable, temporalRefusal } from '../../src/temporal/client';

/** A gRPC status error as @grpc/grpc-js makes them. */
const grpcError = (code: number, details: string) => Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });

describe('a connection Temporal refused', () => {
  it("is told apart from an unreachable Temporal in the worker's native errors", () => {
    const alert = new Error(
      `Failed to call GetSystemInfo: code: 'Unknown error', message: "transport error", source: tonic::transport::Error(Transport, hyper::Error(Io, Custom { kind: InvalidData, error: "received fatal alert: UnknownCA" }))`,
    );
    alert.name = 'TransportError';
    expect(temporalRefusal(alert)).toBe("the server does not trust the CA that signed this process's client certificate (TEMPORAL_TLS_CLIENT_CERT_*)");
    const issuer = new Error('tonic::transport::Error(Transport, ConnectError(Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) }))');
    expect(temporalRefusal(issuer)).toMatch(/^the server's certificate is not signed by a CA this process trusts: set TEMPORAL_TLS_SERVER_CA_CERT_PATH/);
    expect(temporalRefusal(new Error('received fatal alert: DecryptError'))).toBe('the server ended the TLS handshake (DecryptError)');
    const refused = new Error('tonic::transport::Error(Transport, ConnectError(ConnectError("tcp connect error", Os { code: 111, kind: ConnectionRefused })))');
    refused.name = 'TransportError';
    expect(temporalRefusal(refused)).toBeUndefined();
    expect(isTemporalUnavailable(refused)).toBe(true);
  });

  it("is told apart in the client's (grpc-js, OpenSSL) errors, and in a refused API key", () => {
    const unknownCa = grpcError(14, 'No connection established. Last error: error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:SSL alert number 48');
    expect(temporalRefusal(unknownCa)).toMatch(/^the server does not trust the CA/);
    expect(temporalRefusal(grpcError(14, 'No connection established. Last error: Error: unable to verify the first certificate.'))).toMatch(
      /TEMPORAL_TLS_SERVER_CA_CERT_PATH/,
    );
    expect(temporalRefusal(grpcError(14, "Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames"))).toMatch(/TEMPORAL_TLS_SERVER_NAME/);
    expect(temporalRefusal(grpcError(16, 'Request unauthorized.'))).toBe(
      "the server refused this process's credentials (TEMPORAL_API_KEY or client certificate): Request unauthorized.",
    );
    expect(temporalRefusal(grpcError(14, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:7233'))).toBeUndefined();
  });
});

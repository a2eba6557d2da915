// The fields of an X.509 certificate that etcd's TLS checks look at, read from its DER: the serial
// number (CRLs), the subject's common name (--peer-cert-allowed-cn) and the subject alternative
// names (--peer-cert-allowed-hostname, --client-cert-allowed-hostname). Reading the DER ourselves
// gives Go's answers (last CN wins, IP SANs as bytes) whatever the TLS library prints.
import { children, contents, DerError, expectTag, integerMagnitudeHex, oidIs, readDer, stringValue, Tag } from "./tls-der.ts";

export interface CertificateNames {
  /** Hex of the serial's magnitude bytes (as tls-der integerMagnitudeHex). */
  readonly serial: string;
  /** The subject's CN; the last one when there are several (Go's pkix.Name.CommonName). "" when none. */
  readonly commonName: string;
  /** dNSName SANs, as written. */
  readonly dnsNames: readonly string[];
  /** iPAddress SANs: 4 or 16 bytes each. */
  readonly ipAddresses: readonly Uint8Array[];
}

const OID_COMMON_NAME = [0x55, 0x04, 0x03]; // 2.5.4.3
const OID_SUBJECT_ALT_NAME = [0x55, 0x1d, 0x11]; // 2.5.29.17
const SAN_DNS = 0x82; // [2] IMPLICIT IA5String
const SAN_IP = 0x87; // [7] IMPLICIT OCTET STRING

/** Reads a DER certificate. Throws DerError when it is not one. */
export function readCertificate(der: Uint8Array): CertificateNames {
  const cert = expectTag(readDer(der), Tag.SEQUENCE, "certificate");
  const tbs = children(expectTag(children(cert)[0], Tag.SEQUENCE, "tbsCertificate"));
  let i = 0;
  if (tbs[i]?.tag === 0xa0) i++; // version
  const serial = integerMagnitudeHex(expectTag(tbs[i++], Tag.INTEGER, "serialNumber"));
  i += 3; // signature algorithm, issuer, validity
  const subject = expectTag(tbs[i++], Tag.SEQUENCE, "subject");
  i++; // subjectPublicKeyInfo
  let commonName = "";
  for (const rdn of children(subject)) {
    for (const atv of children(rdn)) {
      const [type, value] = children(atv);
      if (type && value && oidIs(type, OID_COMMON_NAME)) commonName = stringValue(value);
    }
  }
  const dnsNames: string[] = [];
  const ipAddresses: Uint8Array[] = [];
  for (; i < tbs.length; i++) {
    if (tbs[i].tag !== 0xa3) continue; // issuer/subject unique ids
    const extensions = expectTag(readDer(tbs[i].bytes, tbs[i].start, tbs[i].end), Tag.SEQUENCE, "extensions");
    for (const ext of children(extensions)) {
      const parts = children(ext);
      if (!parts[0] || !oidIs(parts[0], OID_SUBJECT_ALT_NAME)) continue;
      const value = expectTag(parts[parts.length - 1], Tag.OCTET_STRING, "subjectAltName value");
      const names = expectTag(readDer(value.bytes, value.start, value.end), Tag.SEQUENCE, "subjectAltName");
      for (const n of children(names)) {
        if (n.tag === SAN_DNS) dnsNames.push(Buffer.from(contents(n)).toString("latin1"));
        else if (n.tag === SAN_IP) {
          if (n.end - n.start !== 4 && n.end - n.start !== 16) throw new DerError(`an IP address SAN of ${n.end - n.start} bytes`);
          ipAddresses.push(contents(n));
        }
      }
    }
  }
  return { serial, commonName, dnsNames, ipAddresses };
}

//! Subject Alternative Names of a DER certificate, for `client_allowed_sans`.
//!
//! A minimal DER walk (tag, length, value) down to the SAN extension: the certificate comes from a TLS peer and is
//! only read here after rustls accepted its handshake role, but it is still untrusted input, so every step is
//! bounds-checked and a malformed certificate simply yields `None`.

use std::net::{Ipv4Addr, Ipv6Addr};

const SEQUENCE: u8 = 0x30;
const EXTENSIONS: u8 = 0xa3; // [3] EXPLICIT in TBSCertificate
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
/// id-ce-subjectAltName, 2.5.29.17.
const SAN_OID: &[u8] = &[0x55, 0x1d, 0x11];

/// One DER element: `(tag, contents, rest after the element)`.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers never occur in the structures we walk
    }
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, input.get(header..end)?, input.get(end..)?))
}

/// The elements of a constructed value's contents.
fn elements(mut input: &[u8]) -> impl Iterator<Item = Option<(u8, &[u8])>> {
    std::iter::from_fn(move || {
        if input.is_empty() {
            return None;
        }
        match tlv(input) {
            Some((tag, body, rest)) => {
                input = rest;
                Some(Some((tag, body)))
            }
            None => {
                input = &[];
                Some(None)
            }
        }
    })
}

/// The SAN values of `cert` as Go's crypto/x509 prints them: DNS names, e-mail addresses, IP addresses and URIs.
/// `Some(vec![])` when the certificate has no SAN extension; `None` when it cannot be parsed.
pub(crate) fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    let (tag, cert_body, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = tlv(cert_body)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut out = Vec::new();
    for el in elements(tbs) {
        let (tag, body) = el?;
        if tag != EXTENSIONS {
            continue;
        }
        let (tag, exts, _) = tlv(body)?;
        if tag != SEQUENCE {
            return None;
        }
        for ext in elements(exts) {
            let (tag, ext) = ext?;
            if tag != SEQUENCE {
                return None;
            }
            let (tag, oid, mut rest) = tlv(ext)?;
            if tag != OID || oid != SAN_OID {
                continue;
            }
            let (mut tag, mut value, after) = tlv(rest)?;
            if tag == BOOLEAN {
                rest = after;
                (tag, value, _) = tlv(rest)?;
            }
            if tag != OCTET_STRING {
                return None;
            }
            let (tag, names, _) = tlv(value)?;
            if tag != SEQUENCE {
                return None;
            }
            for name in elements(names) {
                let (tag, v) = name?;
                match tag {
                    // rfc822Name [1], dNSName [2], uniformResourceIdentifier [6]: IA5String, implicit.
                    0x81 | 0x82 | 0x86 => {
                        if let Ok(s) = std::str::from_utf8(v) {
                            out.push(s.to_owned());
                        }
                    }
                    // iPAddress [7]
                    0x87 => {
                        if let Ok(b) = <[u8; 4]>::try_from(v) {
                            out.push(Ipv4Addr::from(b).to_string());
                        } else if let Ok(b) = <[u8; 16]>::try_from(v) {
                            let ip = Ipv6Addr::from(b);
                            // Go prints IPv4-mapped addresses in dotted form.
                            out.push(ip.to_ipv4_mapped().map_or_else(|| ip.to_string(), |v4| v4.to_string()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(sans: Vec<rcgen::SanType>) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = sans;
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn reads_every_kind_go_matches() {
        use rcgen::SanType;
        let der = cert_with(vec![
            SanType::DnsName("client.example".try_into().expect("dns")),
            SanType::IpAddress("127.0.0.1".parse().expect("ip")),
            SanType::IpAddress("::1".parse().expect("ip")),
            SanType::IpAddress("::ffff:10.1.2.3".parse().expect("ip")),
            SanType::Rfc822Name("ops@example.org".try_into().expect("mail")),
            SanType::URI("spiffe://example.org/ns/prom".try_into().expect("uri")),
        ]);
        assert_eq!(
            subject_alt_names(&der),
            Some(vec![
                "client.example".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
                "10.1.2.3".to_owned(),
                "ops@example.org".to_owned(),
                "spiffe://example.org/ns/prom".to_owned(),
            ])
        );
    }

    #[test]
    fn no_san_extension() {
        assert_eq!(subject_alt_names(&cert_with(vec![])), Some(vec![]));
    }

    #[test]
    fn garbage_never_panics() {
        let der = cert_with(vec![rcgen::SanType::DnsName("a.example".try_into().expect("dns"))]);
        for end in 0..der.len() {
            let _ = subject_alt_names(&der[..end]);
        }
        let mut flipped = der.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = subject_alt_names(&flipped);
            flipped[i] ^= 0xff;
        }
        for junk in [&[][..], &[0x30], &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], &[0x30, 0x80], &[0x1f, 0x01, 0x00]] {
            assert_eq!(subject_alt_names(junk), None);
        }
    }
}

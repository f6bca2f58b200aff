//! The certificate chain as OpenSSL (and so Townlet's Python client) judges
//! it: the CA flag and key usage of every issuer, path length constraints
//! and the validity window of every certificate, the trust anchor from
//! `ca_file` included.
//!
//! Written by hand over x509-parser because rustls' WebPKI verifier does not
//! judge a trust anchor at all: rustls-webpki keeps only the anchor's
//! subject, public key and name constraints (`TrustAnchor` in
//! rustls-pki-types), so an anchor with `CA:FALSE`, without `keyCertSign`,
//! with a `pathlen` its chain exceeds, or past its `notAfter` is accepted
//! (and webpki ignores the key usage of intermediates too: "For cert
//! validation, we ignore the KeyUsage extension", `verify_cert.rs`). OpenSSL
//! 3 refuses all of these (`check_chain_extensions` and `internal_verify` in
//! `crypto/x509/x509_vfy.c`), with the messages quoted in [`Rule`].
//!
//! The chain is built as OpenSSL builds it with Python's default flags
//! (trusted first, no partial chains): from the leaf, each issuer is looked
//! for among the `ca_file` certificates first, then among the presented
//! ones, by subject name and key identifier. A chain that does not end at a
//! `ca_file` certificate (a system root, or none) is not judged here.
//! Not judged: extended key usage and Netscape certificate types.

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate, X509Version};

use crate::inspect;

/// A certificate and where it came from (`` `ca_file` `certs/ca.pem` ``).
pub(crate) struct Link<'a> {
    pub der: &'a CertificateDer<'a>,
    pub origin: &'a str,
}

/// A rule of OpenSSL's that a certificate of the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    /// `basicConstraints` says `CA:FALSE`.
    NotCa,
    /// `keyUsage` is present without `keyCertSign`.
    NoKeyCertSign,
    /// No `basicConstraints` on an intermediate, or on a v3 root without
    /// `keyUsage`.
    NoBasicConstraints,
    /// `pathLenConstraint` smaller than the intermediate CAs below it.
    PathLength {
        limit: u32,
        below: u32,
    },
    Expired {
        not_after: String,
    },
    NotYetValid {
        not_before: String,
    },
}

impl Rule {
    /// OpenSSL's error string, as Python's `ssl` prints it after
    /// `certificate verify failed:`.
    pub(crate) fn openssl_error(&self) -> &'static str {
        match self {
            Rule::NotCa | Rule::NoKeyCertSign | Rule::NoBasicConstraints => {
                "invalid CA certificate"
            }
            Rule::PathLength { .. } => "path length constraint exceeded",
            Rule::Expired { .. } => "certificate has expired",
            Rule::NotYetValid { .. } => "certificate is not yet valid",
        }
    }

    /// Why, in the certificate's own terms.
    fn reason(&self) -> String {
        match self {
            Rule::NotCa => "it issues a certificate but its basicConstraints say CA:FALSE".into(),
            Rule::NoKeyCertSign => {
                "it issues a certificate but its keyUsage lacks keyCertSign".into()
            }
            Rule::NoBasicConstraints => {
                "it issues a certificate but has no basicConstraints CA:TRUE".into()
            }
            Rule::PathLength { limit, below } => format!(
                "its pathLenConstraint {limit} allows {limit} intermediate CA{} below it, the chain has {below}",
                if *limit == 1 { "" } else { "s" }
            ),
            Rule::Expired { not_after } => format!("notAfter {not_after}"),
            Rule::NotYetValid { not_before } => format!("notBefore {not_before}"),
        }
    }

    /// Whether this is a validity-window rule.
    pub(crate) fn is_time(&self) -> bool {
        matches!(self, Rule::Expired { .. } | Rule::NotYetValid { .. })
    }

    /// How to fix it.
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            Rule::NotCa | Rule::NoKeyCertSign | Rule::NoBasicConstraints => {
                "reissue the CA with `basicConstraints=critical,CA:TRUE` and `keyUsage=critical,keyCertSign,cRLSign` (`cargo xtask tls-smoke certs` makes such a dev CA)"
            }
            Rule::PathLength { .. } => {
                "reissue the constrained CA with a larger `pathlen` (or none), or issue the leaf from it directly"
            }
            Rule::Expired { .. } | Rule::NotYetValid { .. } => {
                "reissue the certificate, or check this machine's clock"
            }
        }
    }
}

/// A rule broken by one certificate of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The certificate's subject (exact; escape it for a terminal).
    pub subject: String,
    pub origin: String,
    /// Whether the certificate came from `ca_file`.
    pub is_anchor: bool,
    pub rule: Rule,
}

impl Violation {
    /// One line naming the certificate, OpenSSL's error, the reason and
    /// `who` refuses it (`Townlet's Python client fails`).
    pub(crate) fn message(&self, who: &str) -> String {
        format!(
            "{} in {}: {} ({}): {who} with `certificate verify failed: {}`",
            self.subject,
            self.origin,
            self.rule.openssl_error(),
            self.rule.reason(),
            self.rule.openssl_error()
        )
    }
}

/// Judges the chain from `leaf` (through `presented`) to a `ca_file`
/// certificate among `anchors` at `now` (Unix seconds), in OpenSSL's order:
/// extensions from the leaf up, then validity windows from the anchor
/// down. Empty when the chain is sound or does not end at an anchor.
pub(crate) fn judge(
    leaf: &Link<'_>,
    presented: &[Link<'_>],
    anchors: &[Link<'_>],
    now: i64,
) -> Vec<Violation> {
    let mut pool: Vec<Parsed<'_>> = anchors.iter().filter_map(|a| parse(a, true)).collect();
    pool.extend(presented.iter().filter_map(|p| parse(p, false)));
    // The leaf itself may be pinned in `ca_file`.
    let leaf_index = match pool
        .iter()
        .position(|p| p.is_anchor && p.der == leaf.der.as_ref())
    {
        Some(index) => index,
        None => match parse(leaf, false) {
            Some(parsed) => {
                pool.push(parsed);
                pool.len() - 1
            }
            None => return Vec::new(),
        },
    };
    let Some(chain) = build(&pool, leaf_index) else {
        return Vec::new();
    };
    let chain: Vec<&Parsed<'_>> = chain.into_iter().map(|index| &pool[index]).collect();
    let mut violations = extension_rules(&chain);
    violations.extend(time_rules(&chain, now));
    violations
}

fn parse<'a>(link: &Link<'a>, is_anchor: bool) -> Option<Parsed<'a>> {
    let der: &'a [u8] = link.der.as_ref();
    X509Certificate::from_der(der).ok().map(|(_, cert)| Parsed {
        cert,
        der,
        origin: link.origin.to_string(),
        is_anchor,
    })
}

/// A parsed certificate of the pool.
struct Parsed<'a> {
    cert: X509Certificate<'a>,
    der: &'a [u8],
    origin: String,
    /// Whether it came from `ca_file`.
    is_anchor: bool,
}

/// Builds the chain (pool indices, leaf first) trusted-first; `None` when
/// it does not reach an anchor.
fn build(pool: &[Parsed<'_>], leaf: usize) -> Option<Vec<usize>> {
    let mut chain = vec![leaf];
    for _ in 0..16 {
        let current = &pool[chain[chain.len() - 1]];
        if current.is_anchor && is_self_issued(&current.cert) {
            break;
        }
        let fits = |index: &usize, want_anchor: bool| {
            let candidate = &pool[*index];
            candidate.is_anchor == want_anchor
                && !chain.contains(index)
                && candidate.der != current.der
                && issued(&candidate.cert, &current.cert)
        };
        let next = (0..pool.len()).find(|index| fits(index, true)).or_else(|| {
            (!current.is_anchor)
                .then(|| (0..pool.len()).find(|index| fits(index, false)))
                .flatten()
        });
        match next {
            Some(index) => chain.push(index),
            None => break,
        }
    }
    pool[chain[chain.len() - 1]].is_anchor.then_some(chain)
}

/// OpenSSL's `X509_check_issued` short of the signature: the subject names
/// the issuer and the key identifiers, when both are there, agree.
fn issued(issuer: &X509Certificate<'_>, subject: &X509Certificate<'_>) -> bool {
    if issuer.subject().as_raw() != subject.issuer().as_raw() {
        return false;
    }
    match (authority_key_id(subject), subject_key_id(issuer)) {
        (Some(authority), Some(key)) => authority == key,
        _ => true,
    }
}

fn authority_key_id<'a>(cert: &X509Certificate<'a>) -> Option<&'a [u8]> {
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|id| id.0)
            }
            _ => None,
        })
}

fn subject_key_id<'a>(cert: &X509Certificate<'a>) -> Option<&'a [u8]> {
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
            _ => None,
        })
}

fn is_self_issued(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw()
}

/// What OpenSSL's `X509_check_ca` makes of a certificate.
enum CaKind {
    /// `basicConstraints` `CA:TRUE` (OpenSSL's 1).
    Ca,
    /// No `basicConstraints`, but a v1 self-signed root or a `keyUsage` with
    /// `keyCertSign` (OpenSSL's 3 and 4): accepted as the top of a chain
    /// only.
    RootOnly,
    Not(Rule),
}

fn check_ca(cert: &X509Certificate<'_>) -> CaKind {
    let key_usage = cert.key_usage().ok().flatten();
    if key_usage
        .as_ref()
        .is_some_and(|usage| !usage.value.key_cert_sign())
    {
        return CaKind::Not(Rule::NoKeyCertSign);
    }
    match cert.basic_constraints().ok().flatten() {
        Some(constraints) if constraints.value.ca => CaKind::Ca,
        Some(_) => CaKind::Not(Rule::NotCa),
        None if cert.version() == X509Version::V1 && is_self_issued(cert) => CaKind::RootOnly,
        None if key_usage.is_some() => CaKind::RootOnly,
        None => CaKind::Not(Rule::NoBasicConstraints),
    }
}

/// `check_chain_extensions`: every issuer a CA (intermediates strictly),
/// path lengths.
fn extension_rules(chain: &[&Parsed<'_>]) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut below: u32 = 0;
    let count = chain.len();
    for (index, parsed) in chain.iter().enumerate() {
        let cert = &parsed.cert;
        let mut push = |rule| violations.push(violation(parsed, rule));
        if index > 0 {
            match check_ca(cert) {
                CaKind::Ca => {}
                CaKind::RootOnly if index + 1 == count => {}
                CaKind::RootOnly => push(Rule::NoBasicConstraints),
                CaKind::Not(rule) => push(rule),
            }
        }
        let limit = cert
            .basic_constraints()
            .ok()
            .flatten()
            .and_then(|constraints| constraints.value.path_len_constraint);
        if let Some(limit) = limit
            && index > 1
            && below > limit
        {
            push(Rule::PathLength { limit, below });
        }
        if index > 0 && !is_self_issued(cert) {
            below += 1;
        }
    }
    violations
}

/// `internal_verify`'s time checks, from the anchor down.
fn time_rules(chain: &[&Parsed<'_>], now: i64) -> Vec<Violation> {
    let mut violations = Vec::new();
    for parsed in chain.iter().rev() {
        let validity = parsed.cert.validity();
        let (not_before, not_after) = (
            validity.not_before.timestamp(),
            validity.not_after.timestamp(),
        );
        if now < not_before {
            let not_before = inspect::rfc3339(not_before);
            violations.push(violation(parsed, Rule::NotYetValid { not_before }));
        } else if now > not_after {
            let not_after = inspect::rfc3339(not_after);
            violations.push(violation(parsed, Rule::Expired { not_after }));
        }
    }
    violations
}

fn violation(parsed: &Parsed<'_>, rule: Rule) -> Violation {
    let subject = parsed.cert.subject().to_string();
    Violation {
        subject: if subject.is_empty() {
            "(empty subject)".into()
        } else {
            subject
        },
        origin: parsed.origin.clone(),
        is_anchor: parsed.is_anchor,
        rule,
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    use time::{Duration, OffsetDateTime};

    use super::*;

    struct Made {
        der: CertificateDer<'static>,
        issuer: Issuer<'static, KeyPair>,
    }

    fn params(cn: &str, ca: IsCa, days: (i64, i64)) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        p.distinguished_name = dn;
        p.is_ca = ca;
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let now = OffsetDateTime::now_utc();
        p.not_before = now + Duration::days(days.0);
        p.not_after = now + Duration::days(days.1);
        p
    }

    fn root(cn: &str, ca: IsCa, days: (i64, i64)) -> Made {
        let key = KeyPair::generate().expect("key");
        let p = params(cn, ca, days);
        let der = p.self_signed(&key).expect("sign").der().clone();
        Made {
            der,
            issuer: Issuer::new(p, key),
        }
    }

    fn issued_by(parent: &Made, cn: &str, ca: IsCa) -> Made {
        let key = KeyPair::generate().expect("key");
        let p = params(cn, ca, (-1, 30));
        let der = p
            .signed_by(&key, &parent.issuer)
            .expect("sign")
            .der()
            .clone();
        Made {
            der,
            issuer: Issuer::new(p, key),
        }
    }

    fn rules(leaf: &Made, presented: &[&Made], anchors: &[&Made]) -> Vec<Rule> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let presented: Vec<Link<'_>> = presented.iter().map(link).collect();
        let anchors: Vec<Link<'_>> = anchors.iter().map(link).collect();
        judge(&link(&leaf), &presented, &anchors, now)
            .into_iter()
            .map(|violation| violation.rule)
            .collect()
    }

    fn link<'a>(made: &&'a Made) -> Link<'a> {
        Link {
            der: &made.der,
            origin: "test",
        }
    }

    const CA: IsCa = IsCa::Ca(BasicConstraints::Unconstrained);

    #[test]
    fn an_anchor_that_is_not_a_ca_breaks_the_ca_rule() {
        let anchor = root("anchor", IsCa::ExplicitNoCa, (-1, 30));
        let leaf = issued_by(&anchor, "leaf", IsCa::NoCa);
        assert_eq!(rules(&leaf, &[], &[&anchor]), vec![Rule::NotCa]);
    }

    #[test]
    fn path_length_counts_the_intermediates_below() {
        let anchor = root(
            "anchor",
            IsCa::Ca(BasicConstraints::Constrained(0)),
            (-1, 30),
        );
        let intermediate = issued_by(&anchor, "intermediate", CA);
        let leaf = issued_by(&intermediate, "leaf", IsCa::NoCa);
        assert_eq!(
            rules(&leaf, &[&intermediate], &[&anchor]),
            vec![Rule::PathLength { limit: 0, below: 1 }]
        );
        let direct = issued_by(&anchor, "leaf", IsCa::NoCa);
        assert_eq!(rules(&direct, &[], &[&anchor]), vec![]);
    }

    #[test]
    fn an_expired_anchor_is_expired() {
        let anchor = root("anchor", CA, (-30, -1));
        let leaf = issued_by(&anchor, "leaf", IsCa::NoCa);
        let found = rules(&leaf, &[], &[&anchor]);
        assert!(
            matches!(found.as_slice(), [Rule::Expired { .. }]),
            "{found:?}"
        );
    }

    #[test]
    fn a_pinned_leaf_and_a_chain_to_elsewhere_are_not_judged() {
        // A self-signed, non-CA certificate in `ca_file` is the whole chain.
        let pinned = root("pinned", IsCa::ExplicitNoCa, (-1, 30));
        assert_eq!(rules(&pinned, &[], &[&pinned]), vec![]);
        // A leaf whose issuer is not in `ca_file` (a system root, say).
        let other = root("other", IsCa::ExplicitNoCa, (-1, 30));
        let leaf = issued_by(&other, "leaf", IsCa::NoCa);
        let unrelated = root("unrelated", CA, (-1, 30));
        assert_eq!(rules(&leaf, &[], &[&unrelated]), vec![]);
    }
}

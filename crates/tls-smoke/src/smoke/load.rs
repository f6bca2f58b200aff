//! The static checks of the smoke: trust (`ca_file` and the system
//! roots), the client certificate and key, the loopback collector's
//! material, validity windows. No network I/O.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rollout_config::Transport;
use rollout_config::townlet::TlsSettings;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;

use super::dev_certs_dir;
use crate::certs;
use crate::chain::{self, Link};
use crate::material::{self, CertFile, Pair, PairSource, Source};
use crate::report::{Class, Severity};
use crate::sink::Sink;

/// The fix to suggest for missing or unreadable certificate material.
pub(super) struct CertsHint<'a> {
    pub host: &'a str,
}

impl CertsHint<'_> {
    pub(super) fn for_dir(&self, dir: Option<&Path>) -> String {
        format!(
            "generate dev certificates with `cargo xtask tls-smoke certs --out {} --host {}`, or fix the path",
            dir.map_or_else(|| "DIR".to_string(), |dir| dir.display().to_string()),
            self.host
        )
    }
}

/// What the static checks read: the transport, its TLS settings, the
/// crypto provider, the fix to suggest for missing material and the time.
pub(super) struct Loader<'t> {
    pub transport: &'t Transport,
    pub tls: &'t TlsSettings,
    pub provider: Arc<CryptoProvider>,
    pub hints: CertsHint<'t>,
    /// Unix seconds.
    pub now: i64,
}

/// What the client trusts: the system roots plus `ca_file`.
pub(super) struct Trust<'t> {
    pub(super) source: Option<Source<'t>>,
    pub(super) file: Option<CertFile>,
    pub(super) roots: rustls::RootCertStore,
    /// Words naming where trust comes from, for untrusted-issuer messages.
    pub(super) words: String,
}

impl Trust<'_> {
    /// The `ca_file` certificates with words naming the file.
    pub(super) fn anchors(&self) -> Vec<(CertificateDer<'static>, String)> {
        let (Some(source), Some(file)) = (&self.source, &self.file) else {
            return Vec::new();
        };
        let origin = format!("`ca_file` `{}`", source.path.display());
        file.ders
            .iter()
            .map(|der| (der.clone(), origin.clone()))
            .collect()
    }
}

/// Check 2, trust: reads `ca_file` and adds it to the system roots.
pub(super) fn load_trust<'t>(loader: &Loader<'t>, sink: &mut Sink) -> Trust<'t> {
    let (transport, tls, hints) = (loader.transport, loader.tls, &loader.hints);
    let source = tls.ca_file.as_deref().map(|path| Source {
        key: "ca_file",
        path,
        place: Some(transport.place("ca_file")),
    });
    let file = source.as_ref().and_then(|source| {
        let bytes = material::read(sink, "trust", source, &hints.for_dir(source.path.parent()))?;
        material::parse_certs(sink, "trust", source, &bytes)
    });
    let (roots, system) = material::roots(file.as_ref());
    let words = match (&source, &file) {
        (Some(source), Some(ca)) => format!(
            "`ca_file` `{}` ({}) or the {system} system roots",
            source.path.display(),
            ca.infos
                .iter()
                .map(|info| info.subject.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        _ => format!("the {system} system roots"),
    };
    sink.check(
        "trust",
        match (&source, &file) {
            (Some(source), Some(ca)) => format!(
                "{system} system roots + `ca_file` `{}` ({} certificate{})",
                source.path.display(),
                ca.ders.len(),
                if ca.ders.len() == 1 { "" } else { "s" }
            ),
            (Some(source), None) => format!("`ca_file` `{}`", source.path.display()),
            (None, _) => format!("{system} system roots (no `ca_file`)"),
        },
    );
    Trust {
        source,
        file,
        roots,
        words,
    }
}

/// The client certificate and key the transport presents, if any.
#[derive(Default)]
pub(super) struct Client<'t> {
    pub(super) source: Option<Source<'t>>,
    pub(super) chain: Option<CertFile>,
    pub(super) key: Option<Arc<rustls::sign::CertifiedKey>>,
    /// `cert_file` path words, for rejection messages.
    pub(super) words: String,
}

/// Check 3, client-cert: reads `cert_file` and `key_file` and checks that
/// they belong together.
pub(super) fn load_client<'t>(
    loader: &Loader<'t>,
    trust: &Trust<'_>,
    sink: &mut Sink,
) -> Client<'t> {
    let (transport, tls, hints) = (loader.transport, loader.tls, &loader.hints);
    let (Some(cert_path), Some(key_path)) = (tls.cert_file.as_deref(), tls.key_file.as_deref())
    else {
        sink.skip(
            "client-cert",
            "no `cert_file`/`key_file`: no client certificate to present",
        );
        return Client::default();
    };
    let sources = PairSource {
        check: "client-cert",
        cert: Source {
            key: "cert_file",
            path: cert_path,
            place: Some(transport.place("cert_file")),
        },
        key: Source {
            key: "key_file",
            path: key_path,
            place: Some(transport.place("key_file")),
        },
        cert_hint: hints.for_dir(cert_path.parent()),
        key_hint: hints.for_dir(key_path.parent()),
    };
    let pair = material::load_pair(sink, &sources, &loader.provider);
    if pair.key_read {
        material::key_permissions(sink, "client-cert", &sources.key);
    }
    let cert_source = sources.cert;
    let Pair {
        chain,
        key,
        algorithm,
        ..
    } = pair;
    if let Some(chain) = &chain {
        judge_client_chain(chain, &cert_source, trust, loader.now, sink);
    }
    let subject = first_subject(chain.as_ref());
    sink.check(
        "client-cert",
        if key.is_some() {
            format!(
                "`{}`{subject} with `{}` ({algorithm}): key matches",
                cert_path.display(),
                key_path.display()
            )
        } else {
            format!("`{}` with `{}`", cert_path.display(), key_path.display())
        },
    );
    Client {
        source: Some(cert_source),
        chain,
        key,
        words: format!("`{}`", cert_path.display()),
    }
}

/// The client chain under OpenSSL's rules, against `ca_file`: what a
/// collector that verifies client certificates with OpenSSL and trusts the
/// same CA (as `--loopback` does) would refuse. Validity windows are the
/// validity check's.
fn judge_client_chain(
    chain: &CertFile,
    cert_source: &Source<'_>,
    trust: &Trust<'_>,
    now: i64,
    sink: &mut Sink,
) {
    let Some((leaf_der, rest)) = chain.ders.split_first() else {
        return;
    };
    let origin = format!("`cert_file` `{}`", cert_source.path.display());
    let leaf = Link {
        der: leaf_der,
        origin: &origin,
    };
    let presented: Vec<Link<'_>> = rest
        .iter()
        .map(|der| Link {
            der,
            origin: &origin,
        })
        .collect();
    let anchor_list = trust.anchors();
    let anchors: Vec<Link<'_>> = anchor_list
        .iter()
        .map(|(der, origin)| Link { der, origin })
        .collect();
    for violation in chain::judge(&leaf, &presented, &anchors, now) {
        if violation.rule.is_time() {
            continue;
        }
        sink.finding("client-cert", Severity::Error, Class::InvalidChain, format!(
                "client chain: {}",
                violation.message(
                    "an OpenSSL-based collector (Python `ssl`, nginx) that trusts `ca_file` refuses it"
                )
            )).at(cert_source.place.clone()).hint(Some(violation.rule.hint().to_string()));
    }
}

fn first_subject(chain: Option<&CertFile>) -> String {
    chain
        .and_then(|chain| chain.infos.first())
        .map_or(String::new(), |info| format!(" ({})", info.subject))
}

/// The loopback collector's server certificate and key.
#[derive(Default)]
pub(super) struct Collector {
    pub(super) key: Option<Arc<rustls::sign::CertifiedKey>>,
    pub(super) chain: Option<CertFile>,
    pub(super) cert_path: PathBuf,
    pub(super) words: String,
}

/// Check 4, collector: the `--loopback` collector's material, by default
/// the dev certificates next to `ca_file`.
pub(super) fn load_collector(
    loader: &Loader<'_>,
    (server_cert, server_key): (Option<&Path>, Option<&Path>),
    ca: Option<&CertFile>,
    sink: &mut Sink,
) -> Collector {
    let transport = loader.transport;
    let Some(dir) = dev_certs_dir(transport) else {
        sink.finding("collector", Severity::Error, Class::Config, "`--loopback` needs `ca_file`: the in-process collector's certificate must be signed by the configured CA".into()).at(Some(transport.place("ca_file"))).hint(Some("set `ca_file`, or test against a real collector without `--loopback`".into()));
        return Collector::default();
    };
    if ca.is_none() {
        return Collector::default();
    }
    let cert_path = server_cert.map_or_else(|| dir.join(certs::SERVER_CERT), Path::to_path_buf);
    let key_path = server_key.map_or_else(|| dir.join(certs::SERVER_KEY), Path::to_path_buf);
    let hint = loader.hints.for_dir(Some(dir));
    let sources = PairSource {
        check: "collector",
        cert: Source {
            key: "--server-cert",
            path: &cert_path,
            place: None,
        },
        key: Source {
            key: "--server-key",
            path: &key_path,
            place: None,
        },
        cert_hint: hint.clone(),
        key_hint: hint,
    };
    let Pair { chain, key, .. } = material::load_pair(sink, &sources, &loader.provider);
    let words = format!(
        "server cert `{}`{}",
        cert_path.display(),
        first_subject(chain.as_ref())
    );
    Collector {
        key,
        chain,
        cert_path,
        words,
    }
}

/// Check 5, validity: the windows of every certificate loaded, with the
/// soonest expiry of the configured ones.
pub(super) fn check_validity(
    configured: [(Option<&Source<'_>>, Option<&CertFile>); 2],
    collector: &Collector,
    now: i64,
    expiry_warning_days: u32,
    sink: &mut Sink,
) {
    let mut soonest: Option<(i64, String)> = None;
    let mut count = 0;
    for (source, file) in configured {
        if let (Some(source), Some(file)) = (source, file) {
            count += file.infos.len();
            if let Some(expiry) = material::validity(sink, source, file, now, expiry_warning_days)
                && soonest.as_ref().is_none_or(|(days, _)| expiry.0 < *days)
            {
                soonest = Some(expiry);
            }
        }
    }
    if let Some(chain) = &collector.chain {
        let source = Source {
            key: "--server-cert",
            path: &collector.cert_path,
            place: None,
        };
        count += chain.infos.len();
        material::validity(sink, &source, chain, now, expiry_warning_days);
    }
    if count == 0 {
        sink.skip("validity", "no certificate loaded");
        return;
    }
    sink.check(
        "validity",
        match soonest {
            Some((days, subject)) => format!(
                "{count} certificate{} checked, soonest expiry in {days} days ({subject})",
                if count == 1 { "" } else { "s" }
            ),
            None => format!("{count} certificates checked"),
        },
    );
}

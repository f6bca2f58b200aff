//! Reader for Townlet's own simulation configs (for example
//! `configs/demo/poc_demo_tls.yaml`). Only `telemetry.transport` is read; every
//! other key of the file is ignored, as Townlet forwards unknown keys to its
//! modules. The validation mirrors Townlet's pydantic model
//! `TelemetryTransportConfig` rule for rule, so that a config this reader
//! accepts is one Townlet accepts too.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::error::{ConfigError, InvalidValue};
use crate::locate::Locator;
use crate::yaml;

/// Hosts for which Townlet permits plaintext TCP.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The warning Townlet logs when plaintext TCP telemetry is enabled.
pub const PLAINTEXT_WARNING: &str = "telemetry_tcp_plaintext_enabled";

const PREFIX: &str = "telemetry.transport";

/// Which transport Townlet would build.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TransportKind {
    Stdout,
    File { file_path: PathBuf },
    Tcp,
    Websocket { websocket_url: String },
}

/// `host:port` of a TCP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// TLS material and policy, with paths resolved against the Townlet root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct TlsSettings {
    pub verify_hostname: bool,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// The validated `telemetry.transport` of a Townlet simulation config.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Transport {
    /// The simulation config this was read from.
    pub source: PathBuf,
    #[serde(flatten)]
    pub kind: TransportKind,
    /// Set for `tcp`.
    pub endpoint: Option<Endpoint>,
    /// Set for `tcp` with TLS enabled (the default).
    pub tls: Option<TlsSettings>,
    /// Plaintext TCP was explicitly allowed for local development.
    pub plaintext: bool,
    /// Seconds.
    #[serde(serialize_with = "ser_secs")]
    #[schemars(with = "f64")]
    pub connect_timeout: Duration,
    /// Warnings Townlet itself would log when starting this transport.
    pub warnings: Vec<String>,
    /// Where each key of `telemetry.transport` stands in `source`.
    #[serde(skip)]
    pub key_locations: BTreeMap<String, (usize, usize)>,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Transport {
    /// `FILE:LINE:COL` of a key of `telemetry.transport` (for example
    /// `ca_file`), or just the file when the key is absent.
    pub fn place(&self, key: &str) -> String {
        match self.key_locations.get(key) {
            Some((line, col)) => format!("{}:{line}:{col}", self.source.display()),
            None => self.source.display().to_string(),
        }
    }
}

#[derive(Deserialize, Default)]
struct SimFile {
    #[serde(default)]
    telemetry: Option<TelemetryWire>,
}

#[derive(Deserialize, Default)]
struct TelemetryWire {
    #[serde(default)]
    transport: Option<TransportWire>,
}

#[derive(Deserialize, Default)]
struct TransportWire {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    endpoint: Option<String>,
    file_path: Option<String>,
    connect_timeout_seconds: Option<f64>,
    #[serde(default, deserialize_with = "lenient_bool")]
    enable_tls: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    verify_hostname: Option<bool>,
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    allow_plaintext: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    dev_allow_plaintext: Option<bool>,
    websocket_url: Option<String>,
}

/// Accepts what pydantic accepts for a `bool`: YAML booleans, 0/1, and the
/// strings true/false, yes/no, on/off, t/f, y/n, 1/0 in any case.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Int(i64),
        Str(String),
    }
    let raw: Option<Raw> = Option::deserialize(d)?;
    let invalid = |found: String| {
        serde::de::Error::custom(format!("expected a boolean (true or false), found {found}"))
    };
    match raw {
        None => Ok(None),
        Some(Raw::Bool(b)) => Ok(Some(b)),
        Some(Raw::Int(0)) => Ok(Some(false)),
        Some(Raw::Int(1)) => Ok(Some(true)),
        Some(Raw::Int(n)) => Err(invalid(n.to_string())),
        Some(Raw::Str(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "t" | "y" | "1" => Ok(Some(true)),
            "false" | "no" | "off" | "f" | "n" | "0" => Ok(Some(false)),
            _ => Err(invalid(format!("'{s}'"))),
        },
    }
}

/// Reads `telemetry.transport` from the Townlet simulation config at `path`.
/// Relative certificate and file paths resolve against `townlet_root`.
pub fn load_transport(path: &Path, townlet_root: &Path) -> Result<Transport, ConfigError> {
    let text = input::read_to_string(path, input::Kind::CONFIG).map_err(|error| {
        ConfigError::new(path, format!("the Townlet config {}", error.reason()))
            .hint("check `--sim-config` and `--root`")
    })?;
    parse_transport(&text, path, townlet_root)
}

/// As [`load_transport`], from text already in memory; `path` names it in
/// messages.
pub fn parse_transport(
    text: &str,
    path: &Path,
    townlet_root: &Path,
) -> Result<Transport, ConfigError> {
    let file: SimFile = yaml::from_townlet_str(text, path)?;
    let locator = Locator::new(text);
    let wire = file.telemetry.and_then(|t| t.transport).unwrap_or_default();
    validate(wire, path, townlet_root, &locator)
}

/// Makes the error of a key below `telemetry.transport` (the empty key is
/// the section itself).
type KeyError<'a> = dyn Fn(&str, String) -> ConfigError + 'a;

/// Townlet's validation of `telemetry.transport`, rule by rule.
fn validate(
    w: TransportWire,
    path: &Path,
    root: &Path,
    loc: &Locator,
) -> Result<Transport, ConfigError> {
    let err = |key: &str, msg: String| {
        let key_path = if key.is_empty() {
            PREFIX.to_string()
        } else {
            format!("{PREFIX}.{key}")
        };
        ConfigError::new(path, msg)
            .at(loc.value(&key_path).or_else(|| loc.nearest(&key_path)))
            .key(key_path)
    };
    let kind = w.kind.clone().unwrap_or_else(|| "stdout".to_string());
    let connect_timeout_seconds = w.connect_timeout_seconds.unwrap_or(5.0);
    let connect_timeout = Duration::try_from_secs_f64(connect_timeout_seconds)
        .ok()
        .filter(|timeout| *timeout <= Duration::from_secs(60));
    let Some(connect_timeout) = connect_timeout else {
        return Err(err(
            "connect_timeout_seconds",
            format!("expected seconds between 0 and 60, found {connect_timeout_seconds}"),
        ));
    };
    let mut transport = Transport {
        source: path.to_path_buf(),
        kind: TransportKind::Stdout,
        endpoint: None,
        tls: None,
        plaintext: false,
        connect_timeout,
        warnings: Vec::new(),
        key_locations: key_locations(loc),
    };
    match kind.as_str() {
        "stdout" => stdout_rules(&w, &err)?,
        "file" => transport.kind = file_rules(&w, root, &err)?,
        "websocket" => transport.kind = websocket_rules(&w, &err)?,
        "tcp" => tcp_rules(&w, root, &err, &mut transport)?,
        other => {
            return Err(err(
                "type",
                format!(
                    "unsupported transport type '{other}', expected one of stdout, file, tcp, websocket"
                ),
            ));
        }
    }
    Ok(transport)
}

/// Where each key of `telemetry.transport` is written, for later messages.
fn key_locations(loc: &Locator) -> BTreeMap<String, (usize, usize)> {
    let mut key_locations = BTreeMap::new();
    for key in [
        "type",
        "endpoint",
        "file_path",
        "connect_timeout_seconds",
        "enable_tls",
        "verify_hostname",
        "ca_file",
        "cert_file",
        "key_file",
        "allow_plaintext",
        "dev_allow_plaintext",
        "websocket_url",
    ] {
        if let Some(at) = loc.key(&format!("{PREFIX}.{key}")) {
            key_locations.insert(key.to_string(), at);
        }
    }
    key_locations
}

/// TLS options and the plaintext flags are errors on a transport that is
/// not tcp.
fn non_tcp(w: &TransportWire, name: &str, err: &KeyError<'_>) -> Result<(), ConfigError> {
    if w.enable_tls == Some(true) {
        return Err(err(
            "enable_tls",
            format!("TLS is only supported for tcp transport, not `{name}`"),
        ));
    }
    let tls_file = [
        ("ca_file", &w.ca_file),
        ("cert_file", &w.cert_file),
        ("key_file", &w.key_file),
    ]
    .into_iter()
    .find(|(_, value)| value.is_some());
    if let Some((key, _)) = tls_file {
        return Err(err(
            key,
            format!("TLS options are only supported for tcp transport, not `{name}`"),
        ));
    }
    for (key, set) in [
        ("allow_plaintext", w.allow_plaintext.unwrap_or(false)),
        (
            "dev_allow_plaintext",
            w.dev_allow_plaintext.unwrap_or(false),
        ),
    ] {
        if set {
            return Err(err(
                key,
                format!("only supported for tcp transport, not `{name}`"),
            ));
        }
    }
    Ok(())
}

fn stdout_rules(w: &TransportWire, err: &KeyError<'_>) -> Result<(), ConfigError> {
    non_tcp(w, "stdout", err)?;
    if w.endpoint.as_deref().is_some_and(|e| !e.is_empty()) {
        return Err(err("endpoint", "not supported for stdout transport".into()));
    }
    if w.file_path.is_some() {
        return Err(err(
            "file_path",
            "must be omitted for stdout transport".into(),
        ));
    }
    Ok(())
}

fn file_rules(
    w: &TransportWire,
    root: &Path,
    err: &KeyError<'_>,
) -> Result<TransportKind, ConfigError> {
    non_tcp(w, "file", err)?;
    let Some(file_path) = w.file_path.as_deref() else {
        return Err(err(
            "",
            "`file_path` is required when type is 'file'".into(),
        ));
    };
    if file_path.trim().is_empty() {
        return Err(err("file_path", "must not be blank".into()));
    }
    Ok(TransportKind::File {
        file_path: root.join(file_path),
    })
}

fn websocket_rules(w: &TransportWire, err: &KeyError<'_>) -> Result<TransportKind, ConfigError> {
    if w.endpoint.is_some() {
        return Err(err(
            "endpoint",
            "must be omitted for websocket transport".into(),
        ));
    }
    if w.file_path.is_some() {
        return Err(err(
            "file_path",
            "must be omitted for websocket transport".into(),
        ));
    }
    if w.ca_file.is_some() || w.cert_file.is_some() || w.key_file.is_some() {
        return Err(err(
            "ca_file",
            "websocket transport does not support TLS certificate options".into(),
        ));
    }
    if w.allow_plaintext.unwrap_or(false) || w.dev_allow_plaintext.unwrap_or(false) {
        return Err(err(
            "allow_plaintext",
            "websocket transport does not use allow_plaintext flags".into(),
        ));
    }
    let url = w.websocket_url.as_deref().unwrap_or("").trim().to_string();
    if url.is_empty() {
        return Err(err(
            "",
            "`websocket_url` is required when type is 'websocket'".into(),
        ));
    }
    Ok(TransportKind::Websocket { websocket_url: url })
}

fn tcp_rules(
    w: &TransportWire,
    root: &Path,
    err: &KeyError<'_>,
    transport: &mut Transport,
) -> Result<(), ConfigError> {
    let raw = w.endpoint.as_deref().unwrap_or("").trim();
    if raw.is_empty() {
        return Err(err(
            "",
            "`endpoint` is required when type is 'tcp', as `host:port`".into(),
        ));
    }
    let endpoint = parse_endpoint(raw).map_err(|m| err("endpoint", m.0))?;
    if w.file_path.is_some() {
        return Err(err("file_path", "must be omitted for tcp transport".into()));
    }
    transport.kind = TransportKind::Tcp;
    let allow_plaintext = w.allow_plaintext.unwrap_or(false);
    if w.enable_tls.unwrap_or(!allow_plaintext) {
        transport.tls = Some(tls_settings(w, root, err)?);
    } else {
        plaintext_rules(w, raw, &endpoint, err)?;
        transport.plaintext = true;
        transport
            .warnings
            .push(format!("{PLAINTEXT_WARNING} endpoint={raw}"));
    }
    transport.endpoint = Some(endpoint);
    Ok(())
}

/// TLS on: the certificate and key go together and no path is blank.
fn tls_settings(
    w: &TransportWire,
    root: &Path,
    err: &KeyError<'_>,
) -> Result<TlsSettings, ConfigError> {
    let blank = |v: &Option<String>| v.as_deref().is_some_and(|s| s.trim().is_empty());
    if w.key_file.is_some() && w.cert_file.is_none() {
        return Err(err(
            "key_file",
            "`cert_file` must be provided when `key_file` is set".into(),
        ));
    }
    if w.cert_file.is_some() && w.key_file.is_none() {
        return Err(err(
            "cert_file",
            "`key_file` must be provided when `cert_file` is set".into(),
        ));
    }
    for (key, value) in [
        ("cert_file", &w.cert_file),
        ("key_file", &w.key_file),
        ("ca_file", &w.ca_file),
    ] {
        if blank(value) {
            return Err(err(key, "must not be blank".into()));
        }
    }
    let resolve = |v: &Option<String>| v.as_deref().map(|p| root.join(p));
    Ok(TlsSettings {
        verify_hostname: w.verify_hostname.unwrap_or(true),
        ca_file: resolve(&w.ca_file),
        cert_file: resolve(&w.cert_file),
        key_file: resolve(&w.key_file),
    })
}

/// Plaintext tcp needs both flags and a loopback host, as Townlet reads it.
fn plaintext_rules(
    w: &TransportWire,
    raw: &str,
    endpoint: &Endpoint,
    err: &KeyError<'_>,
) -> Result<(), ConfigError> {
    if !w.allow_plaintext.unwrap_or(false) {
        return Err(err(
            "enable_tls",
            "tcp transport requires `enable_tls: true` or `allow_plaintext: true`".into(),
        ));
    }
    if !w.dev_allow_plaintext.unwrap_or(false) {
        return Err(err(
            "allow_plaintext",
            "plaintext tcp also requires `dev_allow_plaintext: true`".into(),
        ));
    }
    // Townlet takes the host as the text before the first ':' of the
    // endpoint, so `[::1]:8765` and `::1:8765` are rejected by Townlet
    // itself; we mirror that.
    let townlet_host = raw.split(':').next().unwrap_or("").trim();
    if LOOPBACK_HOSTS.contains(&townlet_host) {
        return Ok(());
    }
    let e = err(
        "endpoint",
        format!(
            "plaintext tcp is only permitted for localhost endpoints (localhost, 127.0.0.1), found host '{}'",
            endpoint.host
        ),
    );
    Err(if endpoint.host == "::1" {
        e.hint("Townlet splits the endpoint at the first ':', so an IPv6 loopback is rejected; use 127.0.0.1")
    } else {
        e.hint(
            "enable TLS for remote collectors, or point the endpoint at localhost for development",
        )
    })
}

/// Parses `host:port` or `[v6]:port`.
pub fn parse_endpoint(raw: &str) -> Result<Endpoint, InvalidValue> {
    let bad = || InvalidValue(format!("expected `host:port`, found '{raw}'"));
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        (host, after.strip_prefix(':').ok_or_else(bad)?)
    } else {
        raw.rsplit_once(':').ok_or_else(bad)?
    };
    let host = host.trim();
    if host.is_empty() {
        return Err(bad());
    }
    let port: u16 = port.trim().parse().map_err(|_| {
        InvalidValue(format!(
            "expected a port number from 1 to 65535 after ':', found '{port}' in '{raw}'"
        ))
    })?;
    if port == 0 {
        return Err(InvalidValue(format!(
            "port 0 is not a usable port in '{raw}'"
        )));
    }
    Ok(Endpoint {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_forms() {
        assert_eq!(
            parse_endpoint("demo.local:8765"),
            Ok(Endpoint {
                host: "demo.local".into(),
                port: 8765
            })
        );
        assert_eq!(
            parse_endpoint("[::1]:9"),
            Ok(Endpoint {
                host: "::1".into(),
                port: 9
            })
        );
        assert!(parse_endpoint("demo.local").is_err());
        assert!(parse_endpoint("demo.local:http").is_err());
        assert!(parse_endpoint(":8765").is_err());
        assert!(parse_endpoint("h:0").is_err());
    }
}

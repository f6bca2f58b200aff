//! `tls_smoke`: the TLS handshake smoke of Townlet's TCP telemetry.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSmokeSection {
    /// The Townlet simulation config to read `telemetry.transport` from,
    /// relative to the Townlet root.
    #[serde(default = "default_sim_config")]
    pub sim_config: String,
    /// Certificates expiring within this many days produce a warning.
    #[serde(default = "default_expiry_warning_days")]
    pub expiry_warning_days: u32,
}

fn default_sim_config() -> String {
    "configs/demo/poc_demo_tls.yaml".into()
}

fn default_expiry_warning_days() -> u32 {
    30
}

impl Default for TlsSmokeSection {
    fn default() -> Self {
        Self {
            sim_config: default_sim_config(),
            expiry_warning_days: default_expiry_warning_days(),
        }
    }
}

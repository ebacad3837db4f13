//! oxporter-zookeeper's flags: the shared ones plus the servers to watch and how to reach them.

use std::path::PathBuf;

use oxporter_core::cli::CommonArgs;
use oxporter_core::tls::ClientTlsSettings;

/// All flags of oxporter-zookeeper.
#[derive(Debug, Clone, clap::Parser)]
pub struct Args {
    /// Flags every exporter shares.
    #[command(flatten)]
    pub common: CommonArgs,
    /// ZooKeeper servers to watch, host:port, comma-separated: list every server of one ensemble to get the
    /// ensemble view. Every series carries zk_host.
    #[arg(
        long = "zk.hosts",
        env = "ZK_HOSTS",
        value_name = "HOST:PORT,...",
        value_delimiter = ',',
        default_value = "127.0.0.1:2181",
        help_heading = "ZooKeeper"
    )]
    pub hosts: Vec<String>,
    /// AdminServer command URLs (e.g. http://zk1:8080/commands), one per --zk.hosts entry in the same order; used
    /// when mntr is not in 4lw.commands.whitelist. Default: http://<host>:<--zk.admin-port>/commands.
    #[arg(long = "zk.admin-url", value_name = "URL,...", value_delimiter = ',', help_heading = "ZooKeeper")]
    pub admin_urls: Vec<String>,
    /// AdminServer port on each server's host, when --zk.admin-url is not given (also for /probe).
    #[arg(long = "zk.admin-port", value_name = "PORT", default_value_t = 8080, help_heading = "ZooKeeper")]
    pub admin_port: u16,
    /// Connect to the client ports with TLS (ZooKeeper's secureClientPort).
    #[arg(long = "zk.tls", help_heading = "ZooKeeper TLS")]
    pub tls: bool,
    /// PEM file of the CA certificates that signed the servers' certificates.
    #[arg(long = "zk.tls.ca-file", value_name = "FILE", help_heading = "ZooKeeper TLS")]
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate (ZooKeeper's secure port asks for one unless ssl.clientAuth=none).
    #[arg(long = "zk.tls.cert-file", value_name = "FILE", help_heading = "ZooKeeper TLS")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long = "zk.tls.key-file", value_name = "FILE", help_heading = "ZooKeeper TLS")]
    pub tls_key_file: Option<PathBuf>,
    /// Name to verify the servers' certificates against, instead of each address's host.
    #[arg(long = "zk.tls.server-name", value_name = "NAME", help_heading = "ZooKeeper TLS")]
    pub tls_server_name: Option<String>,
    /// Do not verify the servers' certificates (testing only).
    #[arg(long = "zk.tls.insecure-skip-verify", help_heading = "ZooKeeper TLS")]
    pub tls_insecure_skip_verify: bool,
}

impl Args {
    /// The TLS settings from the flags, if any TLS is wanted: `--zk.tls`, or an `https://` AdminServer URL. The
    /// servers are verified against `--zk.tls.ca-file` only (ZooKeeper ensembles run on private CAs, so the
    /// system's store is no default here), unless `--zk.tls.insecure-skip-verify`.
    pub fn tls_settings(&self) -> Result<Option<ClientTlsSettings>, String> {
        let https_admin = self.admin_urls.iter().any(|u| u.trim_start().starts_with("https://"));
        if !(self.tls || https_admin) {
            return Ok(None);
        }
        if self.tls_ca_file.is_none() && !self.tls_insecure_skip_verify {
            return Err("--zk.tls.ca-file is required to verify the servers (or --zk.tls.insecure-skip-verify)".into());
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err("--zk.tls.cert-file and --zk.tls.key-file go together".into());
        }
        Ok(Some(ClientTlsSettings {
            ca_file: self.tls_ca_file.clone(),
            cert_file: self.tls_cert_file.clone(),
            key_file: self.tls_key_file.clone(),
            server_name: self.tls_server_name.clone(),
            skip_verify: self.tls_insecure_skip_verify,
        }))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn tls(flags: &[&str]) -> Result<Option<ClientTlsSettings>, String> {
        let argv = std::iter::once("oxporter-zookeeper").chain(flags.iter().copied());
        Args::try_parse_from(argv).expect("valid flags").tls_settings()
    }

    #[test]
    fn tls_needs_roots_or_insecure() {
        assert_eq!(tls(&[]), Ok(None));
        let e = tls(&["--zk.tls"]).expect_err("no CA");
        assert!(e.starts_with("--zk.tls.ca-file is required"), "{e}");
        let e = tls(&["--zk.admin-url", "https://zk1:8080/commands"]).expect_err("https needs a CA too");
        assert!(e.starts_with("--zk.tls.ca-file is required"), "{e}");
        let insecure = tls(&["--zk.tls", "--zk.tls.insecure-skip-verify"]).expect("insecure").expect("TLS on");
        assert!(insecure.skip_verify && insecure.ca_file.is_none());
        insecure.load().expect("insecure settings load");
        let half = tls(&["--zk.tls", "--zk.tls.insecure-skip-verify", "--zk.tls.cert-file", "x"]);
        assert_eq!(half, Err("--zk.tls.cert-file and --zk.tls.key-file go together".into()));
        let full =
            tls(&["--zk.tls", "--zk.tls.ca-file", "ca", "--zk.tls.server-name", "zk", "--zk.tls.cert-file", "c"]);
        assert!(full.is_err());
        let full = tls(&["--zk.tls", "--zk.tls.ca-file", "ca", "--zk.tls.cert-file", "c", "--zk.tls.key-file", "k"])
            .expect("valid")
            .expect("TLS on");
        assert_eq!(full.ca_file.as_deref(), Some(std::path::Path::new("ca")));
        assert_eq!((full.cert_file.is_some(), full.key_file.is_some()), (true, true));
    }
}

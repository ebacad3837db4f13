//! Real `redis-server` processes for tests: standalone, with password or ACL user, replica, TLS (certificates made
//! here with rcgen), and a 3-primary cluster. Each server runs on free loopback ports in its own temporary
//! directory and is killed on drop. A missing `redis-server` fails the test, naming the Debian package.

// Test-only code: a failed setup step must fail the test, with the step named.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::ports::{free_port, wait_for_port};
use crate::process::{ChildGuard, require_binary};

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Certificates for a TLS test: a CA, a server certificate for `localhost`/`127.0.0.1`, and a client certificate,
/// as PEM files in a temporary directory.
#[derive(Debug)]
pub struct TlsFiles {
    dir: tempfile::TempDir,
    /// CA certificate.
    pub ca: PathBuf,
    /// Server certificate (signed by the CA).
    pub server_cert: PathBuf,
    /// Server key.
    pub server_key: PathBuf,
    /// Client certificate (signed by the CA).
    pub client_cert: PathBuf,
    /// Client key.
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// Generates a fresh CA and certificates.
    pub fn generate() -> TlsFiles {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let dir = tempfile::tempdir().expect("tempdir for certificates");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "oxporter test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let leaf = |name: &str| {
            let key = KeyPair::generate().expect("leaf key");
            let mut p = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("params");
            p.distinguished_name.push(DnType::CommonName, name);
            let cert = p.signed_by(&key, &issuer).expect("leaf certificate");
            (cert.pem(), key.serialize_pem())
        };
        let (server_pem, server_key_pem) = leaf("redis-server");
        let (client_pem, client_key_pem) = leaf("oxporter");
        let write = |name: &str, content: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, content).expect("write certificate file");
            p
        };
        TlsFiles {
            ca: write("ca.pem", &ca_cert.pem()),
            server_cert: write("server.pem", &server_pem),
            server_key: write("server.key", &server_key_pem),
            client_cert: write("client.pem", &client_pem),
            client_key: write("client.key", &client_key_pem),
            dir,
        }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    /// Plain TCP port (0 when TLS-only).
    pub port: u16,
    /// TLS port, for servers started with [`RedisServer::start_tls`].
    pub tls_port: Option<u16>,
    /// Password for `redis-cli` calls (`requirepass` or the default user's).
    pub password: Option<String>,
    args: Vec<String>,
    dir: tempfile::TempDir,
    child: Option<ChildGuard>,
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

impl RedisServer {
    /// A standalone server without persistence.
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// A standalone server with extra `redis-server` arguments (e.g. `["--requirepass", "pw"]` or
    /// `["--user", "alice", "on", ">secret", "~*", "&*", "+@all"]`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let port = free_port();
        let mut args = vec!["--port".to_owned(), port.to_string()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let password = extra.windows(2).find(|w| w[0] == "--requirepass").map(|w| w[1].to_owned());
        Self::spawn(port, None, args, password, None)
    }

    /// A server listening only on a TLS port, with client certificates optional.
    pub fn start_tls(files: &TlsFiles) -> RedisServer {
        let tls_port = free_port();
        let args = vec![
            "--port".to_owned(),
            "0".to_owned(),
            "--tls-port".to_owned(),
            tls_port.to_string(),
            "--tls-cert-file".to_owned(),
            files.server_cert.display().to_string(),
            "--tls-key-file".to_owned(),
            files.server_key.display().to_string(),
            "--tls-ca-cert-file".to_owned(),
            files.ca.display().to_string(),
            "--tls-auth-clients".to_owned(),
            "optional".to_owned(),
        ];
        let tls = Some((files.ca.clone(), files.client_cert.clone(), files.client_key.clone()));
        Self::spawn(0, Some(tls_port), args, None, tls)
    }

    /// A replica of `primary`.
    pub fn replica_of(primary: &RedisServer) -> RedisServer {
        let mut extra = vec!["--replicaof".to_owned(), "127.0.0.1".to_owned(), primary.port.to_string()];
        if let Some(pw) = &primary.password {
            extra.extend(["--masterauth".to_owned(), pw.clone()]);
        }
        let refs: Vec<&str> = extra.iter().map(String::as_str).collect();
        Self::start_with(&refs)
    }

    fn spawn(
        port: u16,
        tls_port: Option<u16>,
        mut args: Vec<String>,
        password: Option<String>,
        tls: Option<(PathBuf, PathBuf, PathBuf)>,
    ) -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir for redis-server");
        // No snapshots, no AOF, nothing outside the temporary directory.
        args.extend(
            ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"]
                .map(str::to_owned),
        );
        args.extend(["--dir".to_owned(), dir.path().display().to_string()]);
        let mut s = RedisServer { port, tls_port, password, args, dir, child: None, tls };
        s.launch();
        s
    }

    fn launch(&mut self) {
        let bin = require_binary("redis-server", "redis-server");
        let log = std::fs::File::create(self.dir.path().join("redis.log")).expect("redis log file");
        let mut cmd = Command::new(bin);
        cmd.args(&self.args).stdout(log.try_clone().expect("log handle")).stderr(log);
        self.child = Some(ChildGuard::spawn("redis-server", &mut cmd));
        let port = self.tls_port.unwrap_or(self.port);
        wait_for_port(port, START_TIMEOUT, "redis-server");
        // Accepting connections comes slightly before serving them (loading); wait for PONG.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let out = self.try_cli(&["PING"]);
            // NOAUTH also proves the server is serving (an ACL setup without a password for redis-cli).
            if out.as_deref().is_ok_and(|o| o.contains("PONG") || o.contains("NOAUTH")) {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server on {port} never answered PING: {out:?}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>` (or `rediss://` with the TLS port).
    pub fn url(&self) -> String {
        match self.tls_port {
            Some(p) => format!("rediss://localhost:{p}"),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, ChildGuard::pid)
    }

    /// Runs `redis-cli` against this server and returns its output; panics on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        match self.try_cli(args) {
            Ok(out) => out,
            Err(e) => panic!("redis-cli {args:?} on port {}: {e}", self.port),
        }
    }

    /// Runs `redis-cli` against this server.
    pub fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let bin = require_binary("redis-cli", "redis-tools");
        let mut cmd = Command::new(bin);
        cmd.arg("-h").arg("127.0.0.1");
        match (&self.tls, self.tls_port) {
            (Some((ca, cert, key)), Some(p)) => {
                cmd.arg("-p").arg(p.to_string()).arg("--tls").arg("--cacert").arg(ca).arg("--cert").arg(cert);
                cmd.arg("--key").arg(key).arg("--sni").arg("localhost");
            }
            _ => {
                cmd.arg("-p").arg(self.port.to_string());
            }
        }
        if let Some(pw) = &self.password {
            cmd.arg("-a").arg(pw).arg("--no-auth-warning");
        }
        let out = cmd.args(args).output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the process with SIGSTOP (it keeps its sockets but answers nothing).
    pub fn pause(&self) {
        if let Some(c) = &self.child {
            c.signal("STOP");
        }
    }

    /// Resumes a paused process.
    pub fn resume(&self) {
        if let Some(c) = &self.child {
            c.signal("CONT");
        }
    }

    /// Kills the process (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill();
        }
    }

    /// Starts the server again on the same ports and directory after [`RedisServer::kill`].
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }
}

/// A cluster of three primaries on loopback, slots assigned with `redis-cli --cluster create`.
#[derive(Debug)]
pub struct RedisCluster {
    /// The nodes.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled nodes and joins them; waits until `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect();
        let bin = require_binary("redis-cli", "redis-tools");
        let mut cmd = Command::new(bin);
        cmd.arg("--cluster").arg("create");
        for n in &nodes {
            cmd.arg(format!("127.0.0.1:{}", n.port));
        }
        let out =
            cmd.arg("--cluster-replicas").arg("0").arg("--cluster-yes").output().expect("redis-cli --cluster create");
        assert!(out.status.success(), "cluster create failed: {}", String::from_utf8_lossy(&out.stdout));
        let deadline = Instant::now() + Duration::from_secs(20);
        for n in &nodes {
            while !n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(Instant::now() < deadline, "cluster never reached state ok");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RedisCluster { nodes }
    }
}

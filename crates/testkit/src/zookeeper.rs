//! Real ZooKeeper servers (Debian's `zookeeper` package) for tests: standalone or an ensemble on free loopback
//! ports (client, quorum, election and AdminServer ports all picked free), with four-letter words and the
//! AdminServer switchable, servers that can be killed and restarted, and everything stopped on drop.
//!
//! Debian's `zkServer.sh` insists on `/etc/zookeeper/conf`, so the JVM is started directly:
//! `java -cp CONF:zookeeper.jar:servlet-api.jar:… QuorumPeerMain zoo.cfg` (the AdminServer needs servlet-api.jar).

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::free_port;
use crate::process::{ChildGuard, require_binary};

/// The jars ZooKeeper needs on the class path (the main jar's manifest names the rest, but not Netty's codec and
/// resolver, without which the Netty connection factory of a secure client port fails).
const JARS: &[&str] = &[
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/servlet-api.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
    "/usr/share/java/netty-codec.jar",
    "/usr/share/java/netty-resolver.jar",
];

/// How long a server may take to serve after start (a JVM on a busy 2-core machine is slow).
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// TLS for the secure client port: PEM files as ZooKeeper 3.8 reads them (`ssl.keyStore.type=PEM`).
#[derive(Debug, Clone)]
pub struct ZkTls {
    /// The server's private key and certificate chain in one PEM file.
    pub keystore_pem: PathBuf,
    /// The CA certificates clients' certificates must chain to.
    pub truststore_pem: PathBuf,
    /// Whether clients must present a certificate (`ssl.clientAuth=need`) or not (`none`).
    pub client_auth: bool,
}

/// Options for the servers.
#[derive(Debug, Clone)]
pub struct ZkOptions {
    /// `4lw.commands.whitelist=*` when true; ZooKeeper's own default (`srvr` only) when false.
    pub four_letter_words: bool,
    /// Whether the AdminServer (Jetty, `/commands/…`) runs.
    pub admin_server: bool,
    /// A secure client port (Netty) besides the plain one.
    pub tls: Option<ZkTls>,
}

impl Default for ZkOptions {
    fn default() -> Self {
        ZkOptions { four_letter_words: true, admin_server: true, tls: None }
    }
}

/// One server of a [`ZkEnsemble`].
#[derive(Debug)]
pub struct ZkServer {
    /// Its `myid` (1-based; 0 for a standalone server, which reports `serverId=0`).
    pub id: u32,
    /// Plain client port.
    pub client_port: u16,
    /// Secure client port, when TLS is on.
    pub secure_client_port: Option<u16>,
    /// Quorum (follower-to-leader) port.
    pub quorum_port: u16,
    /// Leader election port.
    pub election_port: u16,
    /// AdminServer port (free-picked even when the AdminServer is off, so nothing else is there).
    pub admin_port: u16,
    dir: PathBuf,
    child: Option<ChildGuard>,
}

impl ZkServer {
    /// `127.0.0.1:<client port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// `127.0.0.1:<secure client port>`.
    pub fn secure_addr(&self) -> Option<String> {
        self.secure_client_port.map(|p| format!("127.0.0.1:{p}"))
    }

    /// The AdminServer's command URL, `http://127.0.0.1:<port>/commands`.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}/commands", self.admin_port)
    }

    /// The JVM's PID while it runs (for measuring what scrapes cost the server).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(ChildGuard::pid)
    }

    /// Whether the JVM is running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| !c.has_exited())
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("zookeeper.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// A running standalone server or ensemble, stopped on drop.
#[derive(Debug)]
pub struct ZkEnsemble {
    /// The servers, in `myid` order.
    pub servers: Vec<ZkServer>,
    java: PathBuf,
    _dir: tempfile::TempDir,
}

/// Fails loudly unless java and ZooKeeper's jars are installed.
pub fn require_zookeeper() -> PathBuf {
    let java = require_binary("java", "default-jre-headless");
    for jar in JARS {
        assert!(
            Path::new(jar).exists(),
            "{jar} is missing: install the Debian package `zookeeper` (the README's test command installs every \
             test dependency)"
        );
    }
    java
}

impl ZkEnsemble {
    /// Starts one standalone server and waits until it serves.
    pub fn standalone(opts: ZkOptions) -> Self {
        Self::start(1, opts)
    }

    /// Starts `n` servers (1 = standalone, otherwise a quorum ensemble) and waits until all serve.
    pub fn start(n: usize, opts: ZkOptions) -> Self {
        assert!(n >= 1, "an ensemble needs a server");
        let java = require_zookeeper();
        let dir = tempfile::Builder::new()
            .prefix("oxporter-zk-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir for ZooKeeper: {e}"));
        let mut servers: Vec<ZkServer> = (0..n)
            .map(|i| {
                let id = if n == 1 { 0 } else { i as u32 + 1 };
                let sdir = dir.path().join(format!("server{id}"));
                fs::create_dir_all(sdir.join("data")).unwrap_or_else(|e| panic!("server data dir: {e}"));
                ZkServer {
                    id,
                    client_port: free_port(),
                    secure_client_port: opts.tls.as_ref().map(|_| free_port()),
                    quorum_port: free_port(),
                    election_port: free_port(),
                    admin_port: free_port(),
                    dir: sdir,
                    child: None,
                }
            })
            .collect();
        let members: String = if n == 1 {
            String::new()
        } else {
            servers
                .iter()
                .map(|s| format!("server.{}=127.0.0.1:{}:{}\n", s.id, s.quorum_port, s.election_port))
                .collect()
        };
        for s in &servers {
            write_config(s, &opts, &members);
        }
        for s in &mut servers {
            spawn(&java, s);
        }
        let ens = ZkEnsemble { servers, java, _dir: dir };
        for i in 0..n {
            ens.wait_serving(i, START_TIMEOUT);
        }
        ens
    }

    /// `host:port` of every server, comma-separated (for `--zk.hosts`).
    pub fn hosts(&self) -> String {
        self.servers.iter().map(ZkServer::addr).collect::<Vec<_>>().join(",")
    }

    /// Kills server `i` (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.servers[i].child.take() {
            c.kill();
        }
    }

    /// Starts server `i` again with its old configuration and data (does not wait for it to serve).
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        let java = self.java.clone();
        spawn(&java, &mut self.servers[i]);
    }

    /// Sends a four-letter word to server `i`'s plain client port and returns the reply.
    pub fn four_letter_word(&self, i: usize, word: &str) -> std::io::Result<String> {
        four_letter_word(self.servers[i].client_port, word)
    }

    /// Creates znode `path` with `data` through server `i`, with ZooKeeper's own command-line client (a JVM start, so
    /// about a second). Writes give the per-namespace statistics something to count.
    pub fn create_znode(&self, i: usize, path: &str, data: &str) {
        let classpath = JARS.join(":");
        let out = Command::new(&self.java)
            .args(["-Xmx64m", "-XX:TieredStopAtLevel=1", "-cp", &classpath, "org.apache.zookeeper.ZooKeeperMain"])
            .args(["-server", &self.servers[i].addr(), "create", path, data])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running ZooKeeperMain: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains("Created"), "creating {path} failed: {text}");
    }

    /// The `Mode:` server `i` reports in `srvr` (`leader`, `follower`, `standalone`), `None` while not serving.
    pub fn mode(&self, i: usize) -> Option<String> {
        let reply = self.four_letter_word(i, "srvr").ok()?;
        reply.lines().find_map(|l| l.strip_prefix("Mode: ")).map(|m| m.trim().to_owned())
    }

    /// Index of the server that reports `Mode: leader`.
    pub fn leader(&self) -> Option<usize> {
        (0..self.servers.len()).find(|&i| self.mode(i).as_deref() == Some("leader"))
    }

    /// Waits until server `i` serves requests (its `srvr` reports a mode), panicking with its log after `timeout`.
    pub fn wait_serving(&self, i: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.mode(i).is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "ZooKeeper server {} (client port {}) did not serve within {timeout:?}; log tail:\n{}",
            self.servers[i].id,
            self.servers[i].client_port,
            self.servers[i].log_tail()
        );
    }

    /// Waits until some server is leader and at least `serving` servers serve.
    pub fn wait_for_leader(&self, serving: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let modes: Vec<Option<String>> = (0..self.servers.len()).map(|i| self.mode(i)).collect();
            let leader = modes.iter().position(|m| m.as_deref() == Some("leader"));
            if let Some(l) = leader
                && modes.iter().filter(|m| m.is_some()).count() >= serving
            {
                return l;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no leader with {serving} serving servers within {timeout:?}");
    }
}

impl Drop for ZkEnsemble {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
    }
}

/// Sends a four-letter word to `127.0.0.1:port` and reads the reply.
pub fn four_letter_word(port: u16, word: &str) -> std::io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(word.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn write_config(s: &ZkServer, opts: &ZkOptions, members: &str) {
    let conf = s.dir.join("conf");
    fs::create_dir_all(&conf).unwrap_or_else(|e| panic!("conf dir: {e}"));
    let mut cfg = format!(
        "tickTime=500\ninitLimit=20\nsyncLimit=5\ndataDir={data}\nclientPort={client}\nclientPortAddress=127.0.0.1\n\
         admin.enableServer={admin}\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={admin_port}\n\
         4lw.commands.whitelist={words}\nstandaloneEnabled=true\n",
        data = s.dir.join("data").display(),
        client = s.client_port,
        admin = opts.admin_server,
        admin_port = s.admin_port,
        words = if opts.four_letter_words { "*" } else { "srvr" },
    );
    if let (Some(tls), Some(port)) = (&opts.tls, s.secure_client_port) {
        cfg.push_str(&format!(
            "secureClientPort={port}\nsecureClientPortAddress=127.0.0.1\n\
             serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             ssl.keyStore.location={ks}\nssl.keyStore.type=PEM\nssl.trustStore.location={ts}\nssl.trustStore.type=PEM\n\
             ssl.clientAuth={auth}\n",
            ks = tls.keystore_pem.display(),
            ts = tls.truststore_pem.display(),
            auth = if tls.client_auth { "need" } else { "none" },
        ));
    }
    cfg.push_str(members);
    fs::write(conf.join("zoo.cfg"), cfg).unwrap_or_else(|e| panic!("zoo.cfg: {e}"));
    fs::write(
        conf.join("log4j.properties"),
        "log4j.rootLogger=INFO, CONSOLE\nlog4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n\
         log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1}: %m%n\n",
    )
    .unwrap_or_else(|e| panic!("log4j.properties: {e}"));
    if !members.is_empty() {
        fs::write(s.dir.join("data").join("myid"), format!("{}\n", s.id)).unwrap_or_else(|e| panic!("myid: {e}"));
    }
}

fn spawn(java: &Path, s: &mut ZkServer) {
    let conf = s.dir.join("conf");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.dir.join("zookeeper.log"))
        .unwrap_or_else(|e| panic!("log file: {e}"));
    let log2 = log.try_clone().unwrap_or_else(|e| panic!("log file handle: {e}"));
    let classpath = std::iter::once(conf.display().to_string())
        .chain(JARS.iter().map(|j| j.to_string()))
        .collect::<Vec<_>>()
        .join(":");
    let mut cmd = Command::new(java);
    cmd.args(["-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"])
        .arg("-cp")
        .arg(classpath)
        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(conf.join("zoo.cfg"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
    s.child = Some(ChildGuard::spawn(&format!("zookeeper server {}", s.id), &mut cmd));
}

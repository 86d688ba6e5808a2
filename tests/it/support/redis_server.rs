//! A real `redis-server` per test: on a free loopback port, without persistence, in a
//! directory of its own, optionally over TLS only and with extra directives (ACL users);
//! killed by PID (and started again on the same port) when a test needs Redis to go away
//! and come back, and on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::TestCa;

/// A running `redis-server`.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Arguments besides the port and persistence.
    args: Vec<String>,
    /// Whether the port speaks TLS only.
    tls: bool,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it accepts connections.
    pub async fn start() -> Self {
        Self::start_with(Vec::new(), None).await
    }

    /// As [`RedisServer::start`] with `args` (e.g. `--user …`), over TLS only with a leaf
    /// of `ca` for 127.0.0.1 when given.
    pub async fn start_with(mut args: Vec<String>, ca: Option<&TestCa>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        if let Some(ca) = ca {
            let (cert, key) = ca.leaf_files(&["127.0.0.1"], dir.path());
            for (flag, path) in [("--tls-cert-file", cert), ("--tls-key-file", key)] {
                args.push(flag.to_owned());
                args.push(path.display().to_string());
            }
            args.extend(["--tls-auth-clients".to_owned(), "no".to_owned()]);
        }
        let mut server = Self {
            port,
            child: None,
            dir,
            args,
            tls: ca.is_some(),
        };
        server.restart().await;
        server
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` over TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL by its PID) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.kill();
        let log_path = self.dir.path().join("redis.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let port = self.port.to_string();
        let ports: [&str; 4] = if self.tls {
            ["--port", "0", "--tls-port", &port]
        } else {
            ["--port", &port, "--tls-port", "0"]
        };
        let child = Command::new("redis-server")
            .args(ports)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(&self.args)
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect(
                "redis-server is not installed (scripts/test installs the redis-server package)",
            );
        self.child = Some(child);
        super::eventually(
            "redis-server accepting connections",
            Duration::from_secs(10),
            || {
                let log = std::fs::read_to_string(&log_path).ok()?;
                log.contains("Ready to accept connections").then_some(())
            },
        )
        .await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

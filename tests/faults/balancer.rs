//! HAProxy (Debian's package) in front of every replicated service of a
//! [`super::stack::Topology::Replicated`] stack: one `listen` section per
//! service, round robin, each replica health-checked on `/health` every
//! 300 ms and taken out after two failures. A connection a dead replica
//! refuses is retried on the other (`retry-on conn-failure`, `redispatch`):
//! nothing was sent yet, so that is safe for any request. A request already
//! sent to a replica that dies is not retried by HAProxy: its client sees the
//! failure and retries as it would anywhere.

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Child, Command, Stdio},
};

use super::{
    backends::Unavailable,
    stack::Service,
    support::{free_port, wait_until_up},
};

/// The services that get a balancer (the workers take jobs from the queue).
const BALANCED: [&str; 5] = ["user", "activity", "ai", "admin", "router"];

pub struct Balancer {
    /// Service kind → the port HAProxy listens on for it.
    pub frontends: BTreeMap<&'static str, u16>,
    /// HAProxy's runtime API (`stats socket … level admin`).
    socket: std::path::PathBuf,
    process: Child,
}

impl Balancer {
    pub async fn start(dir: &Path, replicas: &BTreeMap<Service, u16>) -> Result<Self, Unavailable> {
        let found = Command::new("haproxy")
            .arg("-v")
            .output()
            .is_ok_and(|out| out.status.success());
        if !found {
            return Err("haproxy is not installed (apt-get install haproxy)".into());
        }
        let frontends: BTreeMap<&'static str, u16> =
            BALANCED.iter().map(|kind| (*kind, free_port())).collect();
        let socket = dir.join("haproxy.sock");
        let mut config = format!(
            "global\n  maxconn 4096\n  stats socket {} mode 600 level admin\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  \
             timeout server 60s\n  timeout tunnel 1h\n  timeout http-request 10s\n  \
             retries 3\n  option redispatch 1\n  retry-on conn-failure\n  \
             default-server check inter 300ms fall 2 rise 2\n",
            socket.display()
        );
        for kind in BALANCED {
            config.push_str(&format!(
                "listen {kind}\n  bind 127.0.0.1:{}\n  balance roundrobin\n  option httpchk GET /health\n",
                frontends[kind]
            ));
            for (service, port) in replicas {
                let (service_kind, replica) = service.kind();
                if service_kind == kind {
                    config.push_str(&format!("  server {kind}-{replica} 127.0.0.1:{port}\n"));
                }
            }
        }
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, config).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("logs").join("haproxy.log"))
            .map_err(|e| e.to_string())?;
        let process = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("haproxy: {e}"))?;
        Ok(Self {
            frontends,
            socket,
            process,
        })
    }

    /// Sets `service`'s server state through the runtime API: `maint` takes
    /// it out of rotation at once (as Kubernetes removes a terminating pod's
    /// endpoint), `ready` puts it back.
    pub async fn set_state(&self, service: Service, state: &str) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (kind, replica) = service.kind();
        if !self.frontends.contains_key(kind) {
            return;
        }
        // HAProxy opens its runtime socket some time after it starts; the
        // first call can come before that.
        let mut api = None;
        for _ in 0..100 {
            match tokio::net::UnixStream::connect(&self.socket).await {
                Ok(stream) => {
                    api = Some(stream);
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
        let mut api = api.expect("HAProxy's runtime API answers within 10 s");
        api.write_all(format!("set server {kind}/{kind}-{replica} state {state}\n").as_bytes())
            .await
            .expect("writes a command");
        let mut answer = String::new();
        let _ = api.read_to_string(&mut answer).await;
        assert!(
            answer.trim().is_empty(),
            "HAProxy refused `{state}` for {kind}-{replica}: {answer}"
        );
    }

    /// Every balanced service answers through its balancer.
    pub async fn wait_all_up(&self) {
        for (kind, port) in &self.frontends {
            let probe = if *kind == "router" {
                "readiness"
            } else {
                "health"
            };
            wait_until_up(&format!("http://127.0.0.1:{port}/{probe}")).await;
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

//! Network faults between two processes, through `noxious` (a Rust port of
//! Toxiproxy, with its toxics): every connection from a service to another
//! goes through a `FaultProxy` listening on its own port.
//!
//! - latency: Toxiproxy's `latency` toxic, both directions;
//! - black hole: its `timeout` toxic with timeout 0 (bytes vanish, the
//!   connection stays open: the worst case for a caller without a timeout);
//! - reset: the proxy is disabled (Toxiproxy's `enabled: false`): every open
//!   connection is cut and new ones are refused until it is enabled again.

use std::time::Duration;

use noxious::{
    proxy::{ProxyConfig, ProxyRunner, Runner as _, Toxics},
    signal::{Close, Stop, Stopper},
    socket::TcpListener,
    toxic::{StreamDirection, Toxic, ToxicEvent, ToxicEventKind, ToxicEventResult, ToxicKind},
};

use super::support::free_port;

pub struct FaultProxy {
    name: String,
    pub port: u16,
    upstream: String,
    running: Option<Running>,
}

struct Running {
    stopper: Stopper,
    events: bmrng::RequestSender<ToxicEvent, ToxicEventResult>,
}

impl FaultProxy {
    /// A proxy on a free port to `upstream` (`host:port`), passing bytes as is.
    pub async fn start(name: &str, upstream: &str) -> Self {
        let mut proxy = Self {
            name: name.to_owned(),
            port: free_port(),
            upstream: upstream.to_owned(),
            running: None,
        };
        proxy.enable().await;
        proxy
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Listens again after `disable` (no toxics).
    pub async fn enable(&mut self) {
        if self.running.is_some() {
            return;
        }
        let config = ProxyConfig {
            name: self.name.clone(),
            listen: self.address(),
            upstream: self.upstream.clone(),
            enabled: true,
            rand_seed: Some(13),
        };
        // The port was just released by `disable`; binding may need a moment.
        let mut bound = None;
        for _ in 0..100 {
            match ProxyRunner::initialize_proxy::<TcpListener>(config.clone(), Toxics::empty())
                .await
            {
                Ok(ready) => {
                    bound = Some(ready);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let (listener, info) = bound.expect("the proxy binds its port");
        let (stop, stopper) = Stop::new();
        let (_close, closer) = Close::new();
        let (events, receiver) = bmrng::channel(16);
        tokio::spawn(ProxyRunner::run_proxy(
            listener, info, receiver, stop, closer,
        ));
        self.running = Some(Running { stopper, events });
    }

    /// Cuts every connection and refuses new ones (a reset, as peers see it).
    pub fn disable(&mut self) {
        if let Some(running) = self.running.take() {
            running.stopper.stop();
        }
    }

    async fn toxic(&self, kind: ToxicEventKind) {
        let running = self.running.as_ref().expect("the proxy is enabled");
        running
            .events
            .send_receive(ToxicEvent::new(self.name.clone(), kind))
            .await
            .expect("the proxy answers")
            .expect("the toxic applies");
    }

    async fn add(&self, name: &str, kind: ToxicKind, direction: StreamDirection) {
        self.toxic(ToxicEventKind::AddToxic(Toxic {
            kind,
            name: name.to_owned(),
            toxicity: 1.0,
            direction,
        }))
        .await;
    }

    /// Adds `delay` each way to every byte stream through the proxy.
    pub async fn latency(&self, delay: Duration) {
        let latency = delay.as_millis() as u64;
        for (name, direction) in [
            ("latency_up", StreamDirection::Upstream),
            ("latency_down", StreamDirection::Downstream),
        ] {
            self.add(name, ToxicKind::Latency { latency, jitter: 0 }, direction)
                .await;
        }
    }

    /// Swallows every byte in both directions; connections stay open.
    pub async fn black_hole(&self) {
        for (name, direction) in [
            ("black_hole_up", StreamDirection::Upstream),
            ("black_hole_down", StreamDirection::Downstream),
        ] {
            self.add(name, ToxicKind::Timeout { timeout: 0 }, direction)
                .await;
        }
    }

    /// Back to passing bytes as they come.
    pub async fn heal(&self) {
        self.toxic(ToxicEventKind::RemoveAllToxics).await;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.disable();
    }
}

//! The mosquitto `otalab serve` starts when it is given no `--broker`: a plain MQTT listener on
//! `--host`:`--mqtt-port`, anonymous, its sessions and queued messages kept in the data
//! directory (`mosquitto/`). It outlives a crash of `otalab serve` (it is its own process), and
//! the next start finds it by its pid file and uses it again, so what devices sent meanwhile is
//! still queued for the platform's session. Ctrl-C stops it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A mosquitto of `otalab serve`'s own.
pub struct Broker {
    /// Where devices and the platform connect (`mqtt://host:port`).
    pub url: String,
    child: Option<Child>,
    /// Its pid, when it was found running rather than started here.
    found: Option<u32>,
}

const BINARIES: [&str; 2] = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"];

async fn accepting(host: IpAddr, port: u16) -> bool {
    tokio::net::TcpStream::connect((host, port)).await.is_ok()
}

fn running_mosquitto(pid_file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline)
        .contains("mosquitto")
        .then_some(pid)
}

impl Broker {
    /// Uses the mosquitto left running in `dir`, or starts one there.
    pub async fn start(dir: &Path, host: IpAddr, port: u16) -> Result<Broker, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let url = format!("mqtt://{host}:{port}");
        let connect = if host.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            host
        };
        let pid_file = dir.join("mosquitto.pid");
        if let Some(pid) = running_mosquitto(&pid_file)
            && accepting(connect, port).await
        {
            eprintln!("otalab serve: using the mosquitto left running (pid {pid}) on {url}");
            return Ok(Broker {
                url: format!("mqtt://{connect}:{port}"),
                child: None,
                found: Some(pid),
            });
        }
        if accepting(connect, port).await {
            return Err(format!(
                "port {port} is taken by another program: give --mqtt-port, or --broker mqtt://{connect}:{port} to use that broker"
            ));
        }
        let binary = BINARIES.iter().find(|b| Path::new(b).exists()).ok_or(
            "mosquitto is not installed (apt-get install mosquitto), or give --broker URL",
        )?;
        let root = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
        };
        let dir_text = dir
            .canonicalize()
            .unwrap_or_else(|_| PathBuf::from(dir))
            .display()
            .to_string();
        let mut conf = format!(
            "listener {port} {host}\nallow_anonymous true\nmax_queued_messages 100000\npersistence true\npersistence_location {dir_text}/\nautosave_interval 5\npid_file {dir_text}/mosquitto.pid\nlog_dest file {dir_text}/mosquitto.log\n"
        );
        if host.is_ipv4() {
            conf.push_str("socket_domain ipv4\n");
        }
        if root {
            // Started as root, mosquitto would drop to its own user and lose the directory.
            conf.push_str("user root\n");
        }
        let conf_path = dir.join("mosquitto.conf");
        std::fs::write(&conf_path, conf).map_err(|e| format!("{}: {e}", conf_path.display()))?;
        let mut child = Command::new(binary)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{binary}: {e}"))?;
        for _ in 0..200 {
            if accepting(connect, port).await {
                return Ok(Broker {
                    url: format!("mqtt://{connect}:{port}"),
                    child: Some(child),
                    found: None,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(3).collect();
                return Err(format!(
                    "mosquitto exited ({status}) on port {port}: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        Err(format!(
            "mosquitto did not listen on port {port} within 10 s"
        ))
    }

    /// Stops it.
    pub fn stop(mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        } else if let Some(pid) = self.found {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            // Gone when its /proc entry is (at most 5 s).
            for _ in 0..100 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

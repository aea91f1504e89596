//! Network namespaces and veth pairs for tests.
//!
//! Names are unique per process and per call, so tests run in parallel; every
//! namespace is deleted when its `Netns` is dropped.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::wait::wait_until;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short identifier unique to this process and call: used in namespace
/// and interface names (interface names have at most 15 bytes).
pub fn unique_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{n:x}", std::process::id() & 0xfffff)
}

/// Runs `ip ARGS`, returning an error with its stderr when it fails.
pub fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args).map(|_| ())
}

/// Runs a command, returning its output or an error with stderr.
pub fn run(program: &str, args: &[&str]) -> Result<Output, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    Ok(out)
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `fs-ROLE-ID` with its loopback up.
    pub fn new(role: &str) -> Result<Netns, String> {
        let name = format!("fs-{role}-{}", unique_id());
        ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` that runs `program` inside this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs a command inside the namespace and returns its output, whatever
    /// its exit status.
    pub fn exec(&self, argv: &[&str]) -> Result<Output, String> {
        let (program, args) = argv.split_first().ok_or("empty command")?;
        self.command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{program}: {e}"))
    }

    /// Runs a command inside the namespace; an error unless it exits 0.
    pub fn exec_ok(&self, argv: &[&str]) -> Result<Output, String> {
        let out = self.exec(argv)?;
        if !out.status.success() {
            return Err(format!(
                "[{}] {}: {}{}",
                self.name,
                argv.join(" "),
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        Ok(out)
    }

    /// Moves the calling thread into this namespace. Sockets the thread
    /// creates afterwards live in the namespace (and stay there when used
    /// from other threads). Use it on a thread made for that purpose.
    pub fn enter_current_thread(&self) -> Result<(), String> {
        let path = format!("/var/run/netns/{}", self.name);
        let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: the fd is a valid open namespace file for the duration of
        // the call; setns only changes the calling thread's namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes still running inside would keep the namespace's
        // interfaces alive; kill them first.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: kill(2) with a pid read from the kernel; at
                    // worst the process is already gone (ESRCH).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Two namespaces, "west" and "east", joined by a veth pair:
/// west 192.0.2.1/24 <-> east 192.0.2.2/24 (overridable), with a protected
/// inner address on each side's loopback (10.1.0.1 west, 10.2.0.1 east).
#[derive(Debug)]
pub struct NetPair {
    /// The west namespace.
    pub west: Netns,
    /// The east namespace.
    pub east: Netns,
    /// West's veth interface name.
    pub west_if: String,
    /// East's veth interface name.
    pub east_if: String,
    /// West's outer address.
    pub west_addr: Ipv4Addr,
    /// East's outer address.
    pub east_addr: Ipv4Addr,
    /// West's inner (protected) address, on lo.
    pub west_inner: Ipv4Addr,
    /// East's inner (protected) address, on lo.
    pub east_inner: Ipv4Addr,
}

impl NetPair {
    /// The default pair: 192.0.2.1 <-> 192.0.2.2, inner 10.1.0.1 / 10.2.0.1.
    pub fn new() -> Result<NetPair, String> {
        NetPair::with_addrs(
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(192, 0, 2, 2),
            Ipv4Addr::new(10, 1, 0, 1),
            Ipv4Addr::new(10, 2, 0, 1),
        )
    }

    /// A pair with the given outer and inner addresses (/24 outer, /32 inner).
    pub fn with_addrs(
        west_addr: Ipv4Addr,
        east_addr: Ipv4Addr,
        west_inner: Ipv4Addr,
        east_inner: Ipv4Addr,
    ) -> Result<NetPair, String> {
        let west = Netns::new("w")?;
        let east = Netns::new("e")?;
        let id = unique_id();
        let west_if = format!("vw{id}");
        let east_if = format!("ve{id}");
        ip(&[
            "link",
            "add",
            &west_if,
            "netns",
            west.name(),
            "type",
            "veth",
            "peer",
            "name",
            &east_if,
            "netns",
            east.name(),
        ])?;
        for (ns, ifname, outer, inner) in [
            (&west, &west_if, west_addr, west_inner),
            (&east, &east_if, east_addr, east_inner),
        ] {
            ns.exec_ok(&["ip", "addr", "add", &format!("{outer}/24"), "dev", ifname])?;
            ns.exec_ok(&["ip", "link", "set", ifname, "up"])?;
            ns.exec_ok(&["ip", "addr", "add", &format!("{inner}/32"), "dev", "lo"])?;
        }
        let pair = NetPair {
            west,
            east,
            west_if,
            east_if,
            west_addr,
            east_addr,
            west_inner,
            east_inner,
        };
        let target = east_addr.to_string();
        wait_until(Duration::from_secs(10), "veth carrier", || {
            pair.west
                .exec(&["ping", "-c1", "-W1", &target])
                .map(|o| o.status.success())
                .unwrap_or(false)
        })?;
        Ok(pair)
    }
}

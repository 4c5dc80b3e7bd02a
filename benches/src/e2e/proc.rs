//! The bench's child processes (this same binary, re-run with a hidden subcommand) and
//! the CPU time of a process from `/proc`, and the timer slack of the threads that pace
//! or poll.
//!
//! A child talks back through its stdout, one line per step (`ready`, …), and is told to
//! stop by closing its stdin; every wait is bounded, and a child that overstays is killed.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::E2eError;

/// A child process of the bench.
pub struct Child {
    role: &'static str,
    child: std::process::Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Child {
    /// Runs this executable with `args` (the first one names the role), stdin and stdout
    /// piped, stderr inherited.
    pub fn spawn(role: &'static str, args: Vec<OsString>) -> Result<Child, E2eError> {
        let exe = std::env::current_exe().map_err(|source| E2eError::Io {
            what: "locating the bench executable".into(),
            source,
        })?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| E2eError::Io {
                what: format!("starting the {role} process"),
                source,
            })?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            // Ends when the child closes its stdout (it exits).
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Child {
            role,
            child,
            stdin,
            lines,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn fail(&self, msg: impl Into<String>) -> E2eError {
        E2eError::Child {
            role: self.role,
            msg: msg.into(),
        }
    }

    /// Waits for a line starting with `word`; returns the rest of it.
    pub fn expect(&mut self, word: &str, timeout: Duration) -> Result<String, E2eError> {
        let give_up = Instant::now() + timeout;
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(word) {
                        return Ok(rest.trim().to_owned());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(self.fail(format!("no {word:?} within {timeout:?}")));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.try_wait().ok().flatten();
                    return Err(self.fail(format!("exited before {word:?} ({status:?})")));
                }
            }
        }
    }

    /// Closes the child's stdin: the signal to stop.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the child to exit, killing it after `timeout`; fails unless it exited 0.
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, E2eError> {
        self.close_stdin();
        let give_up = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(status),
                Ok(Some(status)) => return Err(self.fail(format!("exited with {status}"))),
                Ok(None) if Instant::now() >= give_up => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(self.fail(format!("still running after {timeout:?}: killed")));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(self.fail(format!("waiting: {e}"))),
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Makes the calling thread's sleeps end within about a microsecond of their deadline
/// (the default timer slack is 50 µs).
pub fn lower_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument (ns) and only changes the
    // calling thread's timer slack; the other arguments are ignored.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0);
    }
}

/// Nanoseconds per clock tick of `/proc/<pid>/stat`.
fn ns_per_tick() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        1_000_000_000 / ticks as u64
    } else {
        10_000_000
    }
}

/// CPU time (user + system) a process has used so far, ns, from `/proc/<pid>/stat`
/// (clock-tick resolution, 10 ms on most systems); `None` if it cannot be read.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    cpu_ns_at(&format!("/proc/{pid}/stat"))
}

/// CPU time this process has used so far, ns.
pub fn own_cpu_ns() -> Option<u64> {
    cpu_ns_at("/proc/self/stat")
}

fn cpu_ns_at(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) is in parentheses and may hold anything: fields
    // resume after the last ')', with field 3 (the state) first.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * ns_per_tick())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_from_proc() {
        let own = own_cpu_ns().expect("/proc/self/stat");
        let by_pid = cpu_ns(std::process::id()).expect("/proc/<pid>/stat");
        assert!(by_pid >= own);
        assert_eq!(cpu_ns(u32::MAX), None);
    }
}

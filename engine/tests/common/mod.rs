//! Helpers shared by the shared-memory tests: a child process running one test of the
//! same binary as the other side of a cross-process test, and bounded waits on marker files.
#![allow(dead_code)] // each test file uses only some of these

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest any wait in these tests lasts.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Waits (bounded) for `path` to exist.
pub fn wait_for(path: &Path) {
    let deadline = Instant::now() + TIMEOUT;
    while !path.exists() {
        assert!(Instant::now() < deadline, "timed out waiting for {path:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A child process running one test of this binary; killed if the parent test fails.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    pub fn spawn(test: &str, dir: &Path, vars: &[(&str, String)]) -> ChildGuard {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env("TF_SHM_CHILD_DIR", dir)
            .stdout(Stdio::null());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        ChildGuard(Some(cmd.spawn().expect("spawn child test")))
    }

    pub fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Waits (bounded) for the child and asserts it succeeded.
    pub fn wait_success(mut self) {
        let mut child = self.0.take().unwrap();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "child failed: {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("child did not finish");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

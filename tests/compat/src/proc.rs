//! A child process under test: stdout and stderr are collected by reader
//! threads (stdout as lines, the clients print one JSON object per line),
//! every wait has a deadline, and the process is killed when dropped. When the
//! test is panicking, dropping a [`Proc`] prints everything it wrote, so a
//! failure always shows the client's own words.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Lines kept in the failure dump of a chatty process (the broker).
const DUMP_TAIL_LINES: usize = 300;

#[derive(Debug, Default)]
struct Output {
    stdout: Vec<String>,
    stderr: Vec<String>,
    stdout_closed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    output: Mutex<Output>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Output> {
        // A panicking test may have poisoned it; the data is still what we want to print.
        self.output.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A spawned process (see the module docs).
#[derive(Debug)]
pub struct Proc {
    name: String,
    command_line: String,
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
}

impl Proc {
    /// Spawns `command` with piped stdio. The child gets SIGKILL if the
    /// spawning thread ends first, so a crashed test leaves no brokers or
    /// consumers behind.
    pub fn spawn(name: impl Into<String>, mut command: Command) -> Proc {
        let name = name.into();
        let command_line = format!("{command:?}");
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        kill_with_parent(&mut command);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot spawn {command_line}: {e}"));
        let shared = Arc::new(Shared::default());
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let readers = vec![
            read_lines(
                stdout,
                shared.clone(),
                |o, line| o.stdout.push(line),
                |o| o.stdout_closed = true,
            ),
            read_lines(
                stderr,
                shared.clone(),
                |o, line| o.stderr.push(line),
                |_| {},
            ),
        ];
        Proc {
            name,
            command_line,
            stdin: child.stdin.take(),
            child,
            shared,
            readers,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The JSON objects printed so far (non-JSON lines are skipped).
    pub fn events(&self) -> Vec<Value> {
        parse_events(&self.shared.lock().stdout)
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.shared.lock().stdout.join("\n")
    }

    /// Waits until `done` holds for the events printed so far; panics after `timeout`.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut output = self.shared.lock();
        loop {
            let events = parse_events(&output.stdout);
            if done(&events) {
                return events;
            }
            let now = Instant::now();
            if now >= deadline || output.stdout_closed {
                drop(output);
                let why = if now >= deadline {
                    "timed out"
                } else {
                    "stdout closed"
                };
                panic!("{}: {why} after {timeout:?} waiting for {what}", self.name);
            }
            output = self
                .shared
                .changed
                .wait_timeout(output, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Closes the child's stdin (the clients' "stop now" signal) and waits up
    /// to `timeout` for it to exit; kills it after that. None if it had to be
    /// killed.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.stdin = None;
        self.wait_exit(timeout)
    }

    /// Waits up to `timeout` for the process to exit by itself; kills it
    /// after that. None if it had to be killed.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.join_readers();
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.join_readers();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`: SIGKILL, then reaps the process (its output stays
    /// readable).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_readers();
    }

    /// Everything the process wrote, for failure messages.
    pub fn dump(&self) -> String {
        let output = self.shared.lock();
        let tail = |lines: &[String]| {
            let skip = lines.len().saturating_sub(DUMP_TAIL_LINES);
            let mut text = if skip > 0 {
                format!("[{skip} earlier lines omitted]\n")
            } else {
                String::new()
            };
            text.push_str(&lines[skip..].join("\n"));
            text
        };
        format!(
            "===== {} =====\n{}\n----- stdout -----\n{}\n----- stderr -----\n{}\n===== end {} =====",
            self.name,
            self.command_line,
            tail(&output.stdout),
            tail(&output.stderr),
            self.name
        )
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.join_readers();
        if std::thread::panicking() {
            eprintln!("{}", self.dump());
        }
    }
}

fn parse_events(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

fn read_lines(
    stream: impl Read + Send + 'static,
    shared: Arc<Shared>,
    push: fn(&mut Output, String),
    at_end: fn(&mut Output),
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            push(&mut shared.lock(), line);
            shared.changed.notify_all();
        }
        at_end(&mut shared.lock());
        shared.changed.notify_all();
    })
}

fn kill_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent;
    // this is the documented way to ask for a parent-death signal.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

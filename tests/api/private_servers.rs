//! PostgreSQL and Redis servers of one test, to stop and start at will without
//! disturbing the shared servers of `./scripts/test`. Same recipe as
//! `scripts/lib/servers.sh`: a fresh cluster under a temporary directory, owned by
//! the `postgres` user when the tests run as root (PostgreSQL refuses root).
//! Every wait is bounded; dropping a server kills it and removes its files.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn pg_bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop().unwrap_or_else(|| {
        panic!("no PostgreSQL under /usr/lib/postgresql/*/bin: install postgresql (./scripts/test does as root)")
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a command to completion within `limit`, panicking with its output if it
/// fails or overruns.
fn run_bounded(mut cmd: Command, what: &str, limit: Duration) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            assert!(
                status.success(),
                "{what} failed ({status}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct PrivatePostgres {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    pub port: u16,
}

impl PrivatePostgres {
    /// initdb and start, on a free loopback port.
    pub fn start() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("dream-private-pg-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pg = Self {
            dir,
            bin: pg_bin_dir(),
            as_postgres: running_as_root(),
            port,
        };
        if pg.as_postgres {
            let _ = Command::new("useradd")
                .args(["--system", "--no-create-home", "postgres"])
                .stderr(Stdio::null())
                .status();
            run_bounded(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres"]).arg(&pg.dir);
                    c
                },
                "chown",
                Duration::from_secs(10),
            );
        }
        let mut initdb = pg.command("initdb");
        initdb
            .arg("-D")
            .arg(pg.data())
            .args(["-U", "dream", "--auth=trust", "-E", "UTF8"]);
        run_bounded(initdb, "initdb", Duration::from_secs(60));
        pg.resume();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn pg_ctl(&self, args: &[&str], what: &str) {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.data()).args(["-w", "-t", "30"]);
        c.args(args);
        run_bounded(c, what, Duration::from_secs(45));
    }

    /// `postgres://` URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://dream@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again), on the same port and data.
    pub fn resume(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        self.pg_ctl(
            &["-l", &log.display().to_string(), "-o", &opts, "start"],
            "pg_ctl start",
        );
    }

    /// Stops the server; clients' connections are cut.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"], "pg_ctl stop");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let mut c = self.command("pg_ctl");
            c.arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "-t", "20", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = c.status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `redis-server` child process on a loopback port, without persistence.
pub struct PrivateRedis {
    child: Option<Child>,
    dir: PathBuf,
    /// Append-only file with `appendfsync always`: every acknowledged write
    /// survives a SIGKILL.
    durable: bool,
    pub port: u16,
}

impl PrivateRedis {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// With an AOF fsynced on every write, kept across [`stop`](Self::stop) and
    /// [`resume`](Self::resume).
    pub fn start_durable() -> Self {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("dream-private-redis-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut redis = Self {
            child: None,
            dir,
            durable,
            port,
        };
        redis.resume();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port, and waits until it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(if self.durable {
                ["--appendonly", "yes", "--appendfsync", "always"]
            } else {
                ["--appendonly", "no", "--appendfsync", "everysec"]
            })
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server: {e}: install redis-server (./scripts/test does as root)")
            });
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(20), "redis-server");
    }

    /// SIGKILL: no shutdown save, only what is already on disk survives.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_for_port(port: u16, limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A path under the temporary directory, removed first.
pub fn fresh_temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dream-{name}-{}", free_port()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

//! iceoryx2 (Rust) measured the way bench/c/bench_channel measures shmlink:
//! the native anchor of the benchmark (bench/native/anchor.py runs both,
//! interleaved).
//!
//!     iox2-bench stream SIZE COUNT WARMUP poll|event
//!     iox2-bench rtt    SIZE COUNT WARMUP poll|event
//!
//! Each run is one pair of processes: this process (the reader of a stream,
//! the pinger of a round trip) and a child running this program again (the
//! writer, the ponger). It prints one JSON object on stdout.
//!
//! Service: publish-subscribe with a dynamic byte payload (`[u8]`), one
//! publisher and one subscriber, history 0. Blocking back-pressure, nothing
//! dropped: the service is created with `enable_safe_overflow(false)` (a full
//! subscriber buffer is never overwritten) and the publisher with
//! `BackpressureStrategy::RetryUntilDelivered` (its `send()` retries until
//! the subscriber has taken a sample and there is room again). The writer
//! checks that every `send()` reached its one subscriber, the reader that it
//! got every message in order. The subscriber buffer holds about 4 MiB of
//! payload (at least 2 samples), like the 4 MiB ring of the shmlink cells.
//!
//! Waiting: `poll` spins on `Subscriber::receive()` (a busy core; what
//! iceoryx2's own benchmarks do); `event` adds an event service of the same
//! name: the writer calls `Notifier::notify()` after each send, the reader
//! blocks in `Listener::timed_wait` when nothing is buffered (no
//! spinning).
//!
//! Work per message, as shmlink's copying send/recv: the sender loans a
//! sample, copies its buffer in (`write_from_slice`) and sends; the receiver
//! copies the payload out into its own buffer and checks the sequence number
//! stamped into the first and last 8 bytes. The two processes are pinned
//! to CPUs 0 and 1 when there are two, as in bench_channel. Times: CLOCK_MONOTONIC
//! (`Instant`). Minor page faults: getrusage(RUSAGE_SELF) of each process
//! around its whole loop (warm-up included).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iceoryx2::port::backpressure_strategy::BackpressureStrategy;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;

/// Payload bytes the subscriber buffer holds (as the shmlink ring).
const BUFFER_BYTES: usize = 4 << 20;
/// How long a peer may take to appear before the run fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Listener wait slice in event mode; the reader looks again after it.
const EVENT_SLICE: Duration = Duration::from_millis(100);

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Clone, Copy, PartialEq)]
enum Wait {
    Poll,
    Event,
}

struct Args {
    kind: String,
    size: usize,
    count: u64,
    warmup: u64,
    wait: Wait,
}

fn usage() -> ! {
    eprintln!(
        "usage: iox2-bench stream|rtt SIZE COUNT WARMUP poll|event\n\
         SIZE >= 16 bytes, COUNT >= 1, WARMUP >= 1 (see the top of bench/native/src/main.rs)"
    );
    std::process::exit(2)
}

fn parse_num(what: &str, s: &str, min: u64) -> u64 {
    match s.parse::<u64>() {
        Ok(v) if v >= min => v,
        _ => {
            eprintln!("iox2-bench: {what} must be an integer >= {min}, got '{s}'");
            usage()
        }
    }
}

fn parse_args(a: &[String]) -> Args {
    if a.len() != 5 {
        usage()
    }
    if a[0] != "stream" && a[0] != "rtt" {
        eprintln!("iox2-bench: unknown kind '{}' (stream, rtt)", a[0]);
        usage()
    }
    let wait = match a[4].as_str() {
        "poll" => Wait::Poll,
        "event" => Wait::Event,
        w => {
            eprintln!("iox2-bench: unknown waiting mode '{w}' (poll, event)");
            usage()
        }
    };
    Args {
        kind: a[0].clone(),
        size: parse_num("SIZE", &a[1], 16) as usize,
        count: parse_num("COUNT", &a[2], 1),
        warmup: parse_num("WARMUP", &a[3], 1),
        wait,
    }
}

fn minflt() -> i64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init().ru_minflt
    }
}

/// Pins this process to one CPU when there are two or more, as
/// bench_channel does (writer/ponger on CPU 0, reader/pinger on CPU 1).
fn pin(cpu: usize) {
    // SAFETY: plain libc calls on a zeroed cpu_set_t of this process.
    unsafe {
        if libc::sysconf(libc::_SC_NPROCESSORS_ONLN) < 2 {
            return;
        }
        let mut set = std::mem::zeroed::<libc::cpu_set_t>();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn depth(size: usize) -> usize {
    (BUFFER_BYTES / size).max(2)
}

fn config(prefix: &str) -> Res<Config> {
    let mut cfg = Config::default();
    cfg.global.prefix = FileName::new(prefix.as_bytes())?;
    Ok(cfg)
}

fn stamp(b: &mut [u8], seq: u64) {
    let n = b.len();
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b[n - 8..].copy_from_slice(&seq.to_le_bytes());
}

fn check(b: &[u8], size: usize, seq: u64) -> Res<()> {
    if b.len() != size {
        return Err(format!("message {seq}: {} bytes, expected {size}", b.len()).into());
    }
    let x = u64::from_le_bytes(b[..8].try_into()?);
    let y = u64::from_le_bytes(b[size - 8..].try_into()?);
    if x != seq || y != seq {
        return Err(format!("message {seq} carries {x} / {y}").into());
    }
    Ok(())
}

/// One direction: a publish-subscribe service (and in event mode an event
/// service of the same name).
struct Link {
    pubsub: iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>,
    event: Option<iceoryx2::service::port_factory::event::PortFactory<ipc::Service>>,
}

fn link(node: &Node<ipc::Service>, name: &str, size: usize, wait: Wait) -> Res<Link> {
    let sname: ServiceName = name.try_into()?;
    let pubsub = node
        .service_builder(&sname)
        .publish_subscribe::<[u8]>()
        .enable_safe_overflow(false)
        .subscriber_max_buffer_size(depth(size))
        .subscriber_max_borrowed_samples(1)
        .history_size(0)
        .max_publishers(1)
        .max_subscribers(1)
        .open_or_create()?;
    let event = if wait == Wait::Event {
        Some(
            node.service_builder(&sname)
                .event()
                .max_notifiers(1)
                .max_listeners(1)
                .open_or_create()?,
        )
    } else {
        None
    };
    Ok(Link { pubsub, event })
}

struct Tx {
    publisher: iceoryx2::port::publisher::Publisher<ipc::Service, [u8], ()>,
    notifier: Option<iceoryx2::port::notifier::Notifier<ipc::Service>>,
}

struct Rx {
    subscriber: iceoryx2::port::subscriber::Subscriber<ipc::Service, [u8], ()>,
    listener: Option<iceoryx2::port::listener::Listener<ipc::Service>>,
}

impl Tx {
    fn new(l: &Link, size: usize) -> Res<Tx> {
        let publisher = l
            .pubsub
            .publisher_builder()
            .initial_max_slice_len(size)
            .allocation_strategy(AllocationStrategy::Static)
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .max_loaned_samples(1)
            .create()?;
        let notifier = match &l.event {
            Some(e) => Some(e.notifier_builder().create()?),
            None => None,
        };
        // A publisher delivers only to subscribers connected when it sends:
        // wait for the other process's Subscriber (and Listener).
        let t0 = Instant::now();
        while l.pubsub.dynamic_config().number_of_subscribers() < 1
            || l.event
                .as_ref()
                .is_some_and(|e| e.dynamic_config().number_of_listeners() < 1)
        {
            if t0.elapsed() > CONNECT_TIMEOUT {
                return Err("the peer's subscriber did not appear within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        publisher.update_connections()?;
        Ok(Tx {
            publisher,
            notifier,
        })
    }

    fn send(&self, buf: &[u8]) -> Res<()> {
        let t0 = Instant::now();
        loop {
            let sample = self.publisher.loan_slice_uninit(buf.len())?;
            let sample = sample.write_from_slice(buf);
            // RetryUntilDelivered: returns once the sample is in the
            // subscriber's buffer. 0 receivers happens only while the
            // connection the subscriber must attach to is being set up.
            if sample.send()? == 1 {
                break;
            }
            if let Some(n) = &self.notifier {
                n.notify()?;
            }
            if t0.elapsed() > CONNECT_TIMEOUT {
                return Err("send reached no subscriber for 30 s".into());
            }
            std::thread::sleep(Duration::from_micros(200));
            self.publisher.update_connections()?;
        }
        if let Some(n) = &self.notifier {
            n.notify()?;
        }
        Ok(())
    }
}

impl Rx {
    fn new(l: &Link, size: usize) -> Res<Rx> {
        let listener = match &l.event {
            Some(e) => Some(e.listener_builder().create()?),
            None => None,
        };
        let subscriber = l
            .pubsub
            .subscriber_builder()
            .buffer_size(depth(size))
            .create()?;
        Ok(Rx {
            subscriber,
            listener,
        })
    }

    /// Copies the next message into buf; returns its length.
    fn recv(&self, buf: &mut [u8]) -> Res<usize> {
        loop {
            if let Some(s) = self.subscriber.receive()? {
                let p = s.payload();
                if p.len() > buf.len() {
                    return Err(format!("message of {} bytes > {}", p.len(), buf.len()).into());
                }
                buf[..p.len()].copy_from_slice(p);
                return Ok(p.len());
            }
            match &self.listener {
                Some(l) => {
                    l.timed_wait(|_| {}, EVENT_SLICE)?;
                }
                None => std::hint::spin_loop(),
            }
        }
    }
}

fn node(prefix: &str) -> Res<Node<ipc::Service>> {
    Ok(NodeBuilder::new()
        .config(&config(prefix)?)
        .create::<ipc::Service>()?)
}

fn percentile(v: &[u64], per_mille: usize) -> u64 {
    // nearest rank, as bench/c and bench/peers/common.py
    let k = (per_mille * v.len()).div_ceil(1000);
    v[k.saturating_sub(1)]
}

/// Removes what this run's nodes left in /dev/shm and under the root path
/// (only names that carry its prefix).
fn sweep(prefix: &str) {
    let root = config(prefix)
        .map(|c| c.global.root_path().to_string())
        .unwrap_or_else(|_| "/tmp/iceoryx2/".into());
    let mut dirs = vec![std::path::PathBuf::from("/dev/shm")];
    let mut stack = vec![std::path::PathBuf::from(root)];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p.clone());
                }
            }
            dirs.push(d);
        }
    }
    for d in dirs {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(prefix) && !e.path().is_dir() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

// ---------------------------------------------------------------- children

fn child(role: &str, prefix: &str, a: &Args) -> Res<()> {
    pin(0);
    let node = node(prefix)?;
    let f0 = minflt();
    let mut buf = vec![0u8; a.size];
    let total = a.warmup + a.count;
    if role == "writer" {
        let l = link(&node, "slbench/stream", a.size, a.wait)?;
        let tx = Tx::new(&l, a.size)?;
        buf.fill(0x5a);
        for i in 0..total {
            stamp(&mut buf, i);
            tx.send(&buf)?;
        }
    } else {
        let req = link(&node, "slbench/req", a.size, a.wait)?;
        let rep = link(&node, "slbench/rep", a.size, a.wait)?;
        let rx = Rx::new(&req, a.size)?;
        let tx = Tx::new(&rep, a.size)?;
        for i in 0..total {
            let n = rx.recv(&mut buf)?;
            check(&buf[..n], a.size, i)?;
            tx.send(&buf[..n])?;
        }
        // the pinger has its last reply; wait until it says so, so that
        // the sample is not torn away with this process's ports
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
    }
    let faults = minflt() - f0;
    println!("{{\"child_minflt\": {faults}}}");
    std::io::stdout().flush()?;
    if role == "writer" {
        // keep the publisher (and its samples) until the reader has all
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
    }
    Ok(())
}

// ---------------------------------------------------------------- parent

fn parent(a: &Args, prefix: &str) -> Res<String> {
    pin(1);
    let node = node(prefix)?;
    let mut buf = vec![0u8; a.size];
    let total = a.warmup + a.count;
    let exe = std::env::current_exe()?;
    let role = if a.kind == "stream" { "writer" } else { "pong" };
    let wait = if a.wait == Wait::Poll {
        "poll"
    } else {
        "event"
    };
    // the reader's ports exist before the child starts, so its first send
    // finds them
    let mut out = String::new();
    if a.kind == "stream" {
        let l = link(&node, "slbench/stream", a.size, a.wait)?;
        let rx = Rx::new(&l, a.size)?;
        let mut ch = spawn(&exe, role, prefix, a, wait)?;
        let f0 = minflt();
        let mut t0 = Instant::now();
        for i in 0..total {
            let n = rx.recv(&mut buf)?;
            check(&buf[..n], a.size, i)?;
            if i + 1 == a.warmup {
                t0 = Instant::now();
            }
        }
        let ns = t0.elapsed().as_nanos() as u64;
        let faults = minflt() - f0;
        let cf = finish(&mut ch)?;
        out += &format!(
            "{{\"ok\": true, \"kind\": \"stream\", \"transport\": \"iceoryx2\", \"wait\": \"{wait}\", \
             \"size\": {}, \"messages\": {}, \"warmup\": {}, \"ns\": {ns}, \"bytes\": {}, \
             \"minflt\": {}, \"minflt_per_msg\": {:.6}",
            a.size,
            a.count,
            a.warmup,
            a.count * a.size as u64,
            faults + cf,
            (faults + cf) as f64 / total as f64
        );
    } else {
        let req = link(&node, "slbench/req", a.size, a.wait)?;
        let rep = link(&node, "slbench/rep", a.size, a.wait)?;
        let rx = Rx::new(&rep, a.size)?;
        let mut ch = spawn(&exe, role, prefix, a, wait)?;
        let tx = Tx::new(&req, a.size)?;
        let f0 = minflt();
        let mut v = Vec::with_capacity(a.count as usize);
        let mut sbuf = vec![0u8; a.size];
        for i in 0..total {
            stamp(&mut sbuf, i);
            let t0 = Instant::now();
            tx.send(&sbuf)?;
            let n = rx.recv(&mut buf)?;
            let dt = t0.elapsed().as_nanos() as u64;
            check(&buf[..n], a.size, i)?;
            if i >= a.warmup {
                v.push(dt);
            }
        }
        let faults = minflt() - f0;
        let cf = finish(&mut ch)?;
        v.sort_unstable();
        let mean = v.iter().sum::<u64>() as f64 / v.len() as f64;
        out += &format!(
            "{{\"ok\": true, \"kind\": \"rtt\", \"transport\": \"iceoryx2\", \"wait\": \"{wait}\", \
             \"size\": {}, \"samples\": {}, \"warmup\": {}, \"p50_ns\": {}, \"p99_ns\": {}, \
             \"p999_ns\": {}, \"min_ns\": {}, \"max_ns\": {}, \"mean_ns\": {mean:.1}, \
             \"minflt\": {}, \"minflt_per_msg\": {:.6}",
            a.size,
            v.len(),
            a.warmup,
            percentile(&v, 500),
            percentile(&v, 990),
            percentile(&v, 999),
            v[0],
            v[v.len() - 1],
            faults + cf,
            (faults + cf) as f64 / total as f64
        );
    }
    out += &format!(
        ", \"subscriber_buffer_samples\": {}, \"iceoryx2\": \"0.10\"}}",
        depth(a.size)
    );
    drop(node);
    Ok(out)
}

fn spawn(
    exe: &std::path::Path,
    role: &str,
    prefix: &str,
    a: &Args,
    wait: &str,
) -> Res<std::process::Child> {
    Ok(Command::new(exe)
        .args([
            "--child",
            role,
            prefix,
            &a.size.to_string(),
            &a.count.to_string(),
            &a.warmup.to_string(),
            wait,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?)
}

/// Tells the child that everything arrived, reads its fault count and
/// waits for it.
fn finish(ch: &mut std::process::Child) -> Res<i64> {
    let mut stdin = ch.stdin.take().ok_or("child has no stdin")?;
    writeln!(stdin, "done")?;
    drop(stdin);
    let mut line = String::new();
    BufReader::new(ch.stdout.take().ok_or("child has no stdout")?).read_line(&mut line)?;
    let st = ch.wait()?;
    if !st.success() {
        return Err(format!("child exited with {st}").into());
    }
    let v = line
        .trim()
        .strip_prefix("{\"child_minflt\": ")
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| format!("child printed '{}'", line.trim()))?;
    Ok(v.parse()?)
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    set_log_level_from_env_or(LogLevel::Warn);
    if argv.first().map(String::as_str) == Some("--child") && argv.len() == 7 {
        let a = Args {
            kind: String::new(),
            size: argv[3].parse().unwrap_or(16),
            count: argv[4].parse().unwrap_or(1),
            warmup: argv[5].parse().unwrap_or(1),
            wait: if argv[6] == "event" {
                Wait::Event
            } else {
                Wait::Poll
            },
        };
        if let Err(e) = child(&argv[1], &argv[2], &a) {
            eprintln!("iox2-bench child ({}): {e}", argv[1]);
            std::process::exit(1);
        }
        return;
    }
    let a = parse_args(&argv);
    let prefix = format!("iox2_slb14_{}_", std::process::id());
    let r = parent(&a, &prefix);
    sweep(&prefix);
    match r {
        Ok(s) => println!("{s}"),
        Err(e) => {
            println!(
                "{{\"ok\": false, \"error\": \"{}\"}}",
                e.to_string().replace('"', "'")
            );
            eprintln!("iox2-bench: {e}");
            std::process::exit(1);
        }
    }
}

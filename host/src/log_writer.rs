//! Where the log goes: lines are gathered in memory and written to stderr
//! together, by a thread that wakes every [`FLUSH_EVERY`], instead of one
//! `write` system call per line (one per request at the default `info`).
//!
//! A warning or an error is written at once, with every line before it, and
//! so is a batch past [`FLUSH_AT`]; a panic and the end of `main` write what
//! is left. What a `SIGKILL` can lose is the last [`FLUSH_EVERY`] of `info`
//! and `debug` lines.

use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait in memory.
pub const FLUSH_EVERY: Duration = Duration::from_millis(10);
/// A batch this big is written by the thread that filled it.
const FLUSH_AT: usize = 64 * 1024;

/// Lines waiting for `sink`, in the order they were logged.
pub struct Batched<W: Write + Send> {
    state: Mutex<(Vec<u8>, W)>,
}

impl<W: Write + Send> Batched<W> {
    pub fn new(sink: W) -> Self {
        Batched { state: Mutex::new((Vec::with_capacity(FLUSH_AT), sink)) }
    }

    fn lock(&self) -> MutexGuard<'_, (Vec<u8>, W)> {
        // A panic while holding the lock leaves bytes, not a broken invariant.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one formatted line; writes the batch now if `urgent` or full.
    pub fn push(&self, line: &[u8], urgent: bool) -> io::Result<()> {
        let mut state = self.lock();
        state.0.extend_from_slice(line);
        if urgent || state.0.len() >= FLUSH_AT { write_out(&mut state) } else { Ok(()) }
    }

    /// Writes every waiting line.
    pub fn flush(&self) -> io::Result<()> {
        let mut state = self.lock();
        if state.0.is_empty() { Ok(()) } else { write_out(&mut state) }
    }
}

fn write_out<W: Write>(state: &mut (Vec<u8>, W)) -> io::Result<()> {
    let (pending, sink) = state;
    let written = sink.write_all(pending).and_then(|()| sink.flush());
    // A sink that failed (a closed stderr) does not make the batch grow forever.
    pending.clear();
    written
}

/// A `tracing` writer over a shared [`Batched`]: one line per event.
pub struct Line<'a, W: Write + Send> {
    batch: &'a Batched<W>,
    urgent: bool,
}

impl<W: Write + Send> Write for Line<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.batch.push(buf, self.urgent)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write + Send + 'static> MakeWriter<'_> for &'static Batched<W> {
    type Writer = Line<'static, W>;

    fn make_writer(&self) -> Self::Writer {
        Line { batch: self, urgent: false }
    }

    fn make_writer_for(&self, meta: &Metadata<'_>) -> Self::Writer {
        Line { batch: self, urgent: *meta.level() <= Level::WARN }
    }
}

static STDERR: OnceLock<Batched<io::Stderr>> = OnceLock::new();

/// The process's batched stderr; the first call starts its flushing thread
/// and makes a panic flush before the panic's own message.
pub fn stderr() -> &'static Batched<io::Stderr> {
    STDERR.get_or_init(|| {
        let spawned = std::thread::Builder::new().name("switchboard-log".into()).spawn(|| {
            loop {
                std::thread::sleep(FLUSH_EVERY);
                flush();
            }
        });
        if let Err(e) = spawned {
            eprintln!("switchboard: cannot start the log thread ({e}); log lines wait for a warning or 64 KiB");
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            flush();
            previous(info);
        }));
        Batched::new(io::stderr())
    })
}

/// Writes what the log holds (the end of `main` calls it).
pub fn flush() {
    if let Some(batch) = STDERR.get() {
        let _ = batch.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tracing_subscriber::fmt::MakeWriter;

    /// A sink that shows what reached it and how many writes it took.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            s.0.extend_from_slice(buf);
            s.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().0.clone()).unwrap()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().1
        }
    }

    /// A batch over a new sink (leaked: `tracing` writers borrow for `'static`).
    fn batched() -> (Sink, &'static Batched<Sink>) {
        let sink = Sink::default();
        (sink.clone(), Box::leak(Box::new(Batched::new(sink))))
    }

    fn log_to(batch: &'static Batched<Sink>, f: impl FnOnce()) {
        let subscriber = tracing_subscriber::fmt().with_writer(batch).with_ansi(false).finish();
        tracing::subscriber::with_default(subscriber, f);
    }

    #[test]
    fn info_lines_wait_and_leave_in_one_write_in_order() {
        let (sink, batch) = batched();
        log_to(batch, || {
            tracing::info!("first");
            tracing::info!("second");
        });
        assert_eq!(sink.text(), "", "nothing written before a flush");
        batch.flush().unwrap();
        let text = sink.text();
        assert_eq!(sink.writes(), 1, "{text}");
        let (first, second) = (text.find("first").unwrap(), text.find("second").unwrap());
        assert!(first < second, "{text}");
        batch.flush().unwrap();
        assert_eq!(sink.writes(), 1, "an empty batch writes nothing");
    }

    #[test]
    fn a_warning_is_written_at_once_with_what_came_before_it() {
        let (sink, batch) = batched();
        log_to(batch, || {
            tracing::info!("served");
            tracing::warn!("webhook endpoint disabled");
        });
        let text = sink.text();
        assert!(text.contains("served") && text.contains("webhook endpoint disabled"), "{text}");
        assert!(text.find("served") < text.find("webhook endpoint disabled"), "{text}");
    }

    #[test]
    fn a_full_batch_is_written_without_waiting() {
        let (sink, batch) = batched();
        let line = [b'x'; 1000];
        let lines = FLUSH_AT / line.len() + 1;
        for _ in 0..lines {
            batch.make_writer().write_all(&line).unwrap();
        }
        assert_eq!(sink.text().len(), lines * line.len(), "the line that filled it is written too");
    }
}

//! What `/proc` says about a process and its threads, without touching them.

use std::io;
use std::path::PathBuf;

/// One thread of the target.
#[derive(Clone, Debug)]
pub(crate) struct ThreadInfo {
    pub(crate) tid: i32,
    /// Its name (`comm`: at most 15 bytes, so `tokio-runtime-worker` reads `tokio-runtime-w`).
    pub(crate) name: String,
    /// `R` running or runnable, `S` asleep, `D` in uninterruptible sleep (disk), ….
    pub(crate) state: char,
    /// Time on a CPU so far, in nanoseconds (`schedstat`), if known.
    pub(crate) cpu_ns: Option<u64>,
}

impl ThreadInfo {
    pub(crate) fn running(&self) -> bool {
        self.state == 'R'
    }
}

/// The threads of process `pid`, main thread first. `NotFound` if there is no such process.
pub(crate) fn threads(pid: i32) -> io::Result<Vec<ThreadInfo>> {
    let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable_by_key(|&t| (t != pid, t));
    Ok(tids.into_iter().filter_map(|t| thread(pid, t)).collect())
}

/// Thread `tid` of process `pid`, if it still exists.
pub(crate) fn thread(pid: i32, tid: i32) -> Option<ThreadInfo> {
    let dir = format!("/proc/{pid}/task/{tid}");
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    // `tid (comm) S …`: the name may hold spaces and parentheses, so split at the last `)`.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let state = stat.get(close + 2..)?.chars().next()?;
    let cpu_ns = std::fs::read_to_string(format!("{dir}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok());
    Some(ThreadInfo {
        tid,
        name,
        state,
        cpu_ns,
    })
}

/// The process's name (`comm`).
pub(crate) fn command(pid: i32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(s.trim_end().to_owned())
}

/// The process's executable, if it may be read.
pub(crate) fn exe(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// The process's working directory, if it may be read.
pub(crate) fn cwd(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// Whether process `pid` exists (a zombie counts as gone).
pub(crate) fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let close = s.rfind(')')?;
            s.get(close + 2..)?.chars().next()
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_lists_its_threads_main_first() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::Builder::new()
            .name("a (strange) name".into())
            .spawn(move || {
                // The new thread names itself as it starts.
                started.send(()).unwrap();
                rx.recv()
            })
            .unwrap();
        running.recv().unwrap();
        let threads = threads(pid).unwrap();
        assert_eq!(threads[0].tid, pid);
        assert!(
            threads.iter().any(|t| t.name == "a (strange) nam"),
            "{threads:?}"
        );
        assert!(threads.iter().all(|t| t.cpu_ns.is_some()));
        tx.send(()).unwrap();
        helper.join().unwrap().unwrap();
        assert!(alive(pid));
        assert!(!alive(i32::MAX));
        assert_eq!(threads_err_kind(i32::MAX), Some(io::ErrorKind::NotFound));
    }

    fn threads_err_kind(pid: i32) -> Option<io::ErrorKind> {
        threads(pid).err().map(|e| e.kind())
    }
}

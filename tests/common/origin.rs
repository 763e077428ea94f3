//! `CountingOrigin`: a real HTTP/1.1 origin on a loopback port that counts and
//! records every request and answers with replies the test scripts at runtime.
//!
//! It runs on its own thread and runtime, so it keeps serving while a test
//! blocks, and `stop()` returns only once its port is closed and every
//! connection is gone (the edge sees refused connects from then on).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::playlist::LivePlaylist;
use super::reply::Reply;
use super::wire::{find_header, request_framing, Conn, Head};

/// A request as the origin received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The request target as sent, e.g. `/hls/a.ts?x=1`.
    pub path_and_query: String,
    /// `path_and_query` without the query.
    pub path: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    pub fn query(&self) -> Option<&str> {
        self.path_and_query.split_once('?').map(|(_, q)| q)
    }

    /// The value of query parameter `name` (`Some("")` for a bare `name`).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

type Handler = Arc<dyn Fn(&RecordedRequest) -> Reply + Send + Sync>;

enum Route {
    Fixed(Reply),
    /// Each request takes the next reply; the last one repeats.
    Sequence(VecDeque<Reply>),
    Live(Arc<LivePlaylist>),
    Handler(Handler),
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    fallback: Option<Handler>,
    requests: Vec<RecordedRequest>,
    connections: usize,
}

impl State {
    /// Records the request and picks its reply: the route of the exact
    /// `path_and_query`, else of `path`, else the fallback, else 404.
    fn record_and_route(&mut self, request: RecordedRequest) -> Reply {
        let key = if self.routes.contains_key(&request.path_and_query) {
            request.path_and_query.clone()
        } else {
            request.path.clone()
        };
        let reply = match self.routes.get_mut(&key) {
            Some(Route::Fixed(reply)) => reply.clone(),
            Some(Route::Sequence(replies)) if replies.len() > 1 => {
                replies.pop_front().expect("len > 1")
            }
            Some(Route::Sequence(replies)) => replies
                .front()
                .cloned()
                .unwrap_or_else(|| Reply::status(404)),
            Some(Route::Live(playlist)) => Reply::playlist(playlist.render()),
            Some(Route::Handler(handler)) => handler(&request),
            None => match &self.fallback {
                Some(handler) => handler(&request),
                None => Reply::status(404),
            },
        };
        self.requests.push(request);
        reply
    }
}

struct Running {
    shutdown: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// See the module docs. Dropping it stops it.
pub struct CountingOrigin {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    running: Mutex<Option<Running>>,
}

impl CountingOrigin {
    /// Starts on `127.0.0.1:0`. Panics if no port can be bound.
    pub fn start() -> CountingOrigin {
        CountingOrigin::start_at("127.0.0.1:0".parse().expect("literal address"))
            .expect("bind a loopback port for the counting origin")
    }

    /// Starts on a given address (e.g. the port of an origin stopped earlier).
    pub fn start_at(addr: SocketAddr) -> io::Result<CountingOrigin> {
        let listener = StdListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let running = spawn_server(listener, state.clone())?;
        Ok(CountingOrigin {
            addr,
            state,
            running: Mutex::new(Some(running)),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for origin lists in edge configs.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers `path` (or an exact `path?query`) with `reply` from now on.
    pub fn set(&self, path: &str, reply: Reply) {
        self.lock()
            .routes
            .insert(path.to_string(), Route::Fixed(reply));
    }

    /// Answers successive requests with successive replies; the last repeats.
    pub fn set_sequence(&self, path: &str, replies: Vec<Reply>) {
        self.lock()
            .routes
            .insert(path.to_string(), Route::Sequence(replies.into()));
    }

    /// Answers with whatever `handler` returns for each request (called under
    /// the origin's lock: keep it short, never block in it).
    pub fn set_fn(
        &self,
        path: &str,
        handler: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    ) {
        self.lock()
            .routes
            .insert(path.to_string(), Route::Handler(Arc::new(handler)));
    }

    /// Answers every path without a route (default: 404).
    pub fn set_fallback(
        &self,
        handler: impl Fn(&RecordedRequest) -> Reply + Send + Sync + 'static,
    ) {
        self.lock().fallback = Some(Arc::new(handler));
    }

    pub fn remove(&self, path: &str) {
        self.lock().routes.remove(path);
    }

    /// Serves `playlist` at `path`, rendered at each request.
    pub fn set_live_playlist(&self, path: &str, playlist: LivePlaylist) -> Arc<LivePlaylist> {
        let playlist = Arc::new(playlist);
        self.lock()
            .routes
            .insert(path.to_string(), Route::Live(playlist.clone()));
        playlist
    }

    pub fn live_playlist(&self, path: &str) -> Option<Arc<LivePlaylist>> {
        match self.lock().routes.get(path) {
            Some(Route::Live(playlist)) => Some(playlist.clone()),
            _ => None,
        }
    }

    /// Publishes one more segment on the live playlist at `path`; returns the
    /// new media sequence. Panics if `path` is not a live playlist.
    pub fn advance_live(&self, path: &str) -> u64 {
        self.live_playlist(path)
            .unwrap_or_else(|| panic!("no live playlist at {path}"))
            .advance()
    }

    /// Requests received for `path`: matched against the path without query,
    /// or against the whole target when `path` contains `?`.
    pub fn hits(&self, path: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| matches(r, path))
            .count()
    }

    pub fn total(&self) -> usize {
        self.lock().requests.len()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// The latest request for `path` (matched as in `hits`).
    pub fn last_request(&self, path: &str) -> Option<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .rev()
            .find(|r| matches(r, path))
            .cloned()
    }

    /// Forgets recorded requests and connection counts; routes stay.
    pub fn reset_counts(&self) {
        let mut state = self.lock();
        state.requests.clear();
        state.connections = 0;
    }

    /// Polls (every 5 ms) until `hits(path) >= at_least` or `within` passes;
    /// returns whether it got there.
    pub async fn wait_for_hits(&self, path: &str, at_least: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.hits(path) >= at_least {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Closes the port and every connection (hanging ones included); returns
    /// once they are closed. Idempotent.
    pub fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(running) = running {
            let _ = running.shutdown.send(());
            let _ = running.thread.join();
        }
    }

    /// Starts again on the same address with the same routes and counts.
    pub fn restart(&self) -> io::Result<()> {
        self.stop();
        let listener = StdListener::bind(self.addr)?;
        let running = spawn_server(listener, self.state.clone())?;
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(running);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl Drop for CountingOrigin {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking handler must not turn every later assertion into a poison error.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn matches(request: &RecordedRequest, path: &str) -> bool {
    if path.contains('?') {
        request.path_and_query == path
    } else {
        request.path == path
    }
}

fn spawn_server(listener: StdListener, state: Arc<Mutex<State>>) -> io::Result<Running> {
    listener.set_nonblocking(true)?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("counting-origin".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime for the counting origin");
            runtime.block_on(async move {
                let listener =
                    TcpListener::from_std(listener).expect("register the origin listener");
                tokio::select! {
                    _ = accept_loop(listener, state) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every connection task, closing its socket.
        })?;
    Ok(Running { shutdown, thread })
}

async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                lock(&state).connections += 1;
                tokio::spawn(serve_connection(stream, state.clone()));
            }
            // Out of descriptors or similar: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<Mutex<State>>) {
    let _ = stream.set_nodelay(true);
    let mut conn = Conn::new(stream, None);
    loop {
        let Ok(Some(head)) = conn.read_head().await else {
            return;
        };
        let Some(request) = read_request(&mut conn, head).await else {
            return;
        };
        let keep_alive = request.version == "HTTP/1.1"
            && !request.headers.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close")
            });
        let head_only = request.method == "HEAD";
        let reply = lock(&state).record_and_route(request);
        match reply
            .write_to(conn.stream_mut(), head_only, keep_alive)
            .await
        {
            Ok(true) => continue,
            _ => return,
        }
    }
}

/// Parses the request line and reads the body; `None` on anything malformed
/// (the connection is then dropped, as a strict origin would).
async fn read_request(conn: &mut Conn, head: Head) -> Option<RecordedRequest> {
    let mut parts = head.start_line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let framing = request_framing(&head).ok()?;
    let body = conn.read_body(framing).await;
    if !body.complete {
        return None;
    }
    Some(RecordedRequest {
        method: method.to_string(),
        path_and_query: target.to_string(),
        path: target.split('?').next().unwrap_or(target).to_string(),
        version: version.to_string(),
        headers: head.headers,
        body: body.bytes,
    })
}
